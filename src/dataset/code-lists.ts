// The UN/ECE code lists vendored in code-lists/: Rec. 20 (units), Rec. 21 (package kinds) and, once
// it is vendored, UN/LOCODE. scripts/refresh-code-lists.ts writes them; sources.json says where each
// came from and which edition it is (docs/code-lists.md). They are read once, when this module is
// first imported (at start-up), into a Set each: a lookup is one hash probe.
import { existsSync, readFileSync } from 'node:fs';

export type ListName = 'rec20' | 'rec21' | 'unlocode';

/** A code list: what it is called in a message, its edition, and membership. */
export type CodeList = {
  readonly name: string;
  readonly edition: string;
  readonly size: number;
  has(code: string): boolean;
};

type Source = { edition: string; file: string; codes: number };

const NAMES: Record<ListName, string> = {
  rec20: 'UN/ECE Recommendation 20',
  rec21: 'UN/ECE Recommendation 21',
  unlocode: 'UN/LOCODE',
};

const lines = (text: string) => text.split('\n').filter((line) => line !== '' && !line.startsWith('#'));

/** Rec. 20 and Rec. 21: one code a line. */
export const parseCodeLines = (text: string): Set<string> => new Set(lines(text));

/** UN/LOCODE: one country a line, its code then its locations' three characters (`KR PUS SEL …`). */
export function parseLocodeLines(text: string): Set<string> {
  const codes = new Set<string>();
  for (const line of lines(text)) {
    const [country, ...locations] = line.split(' ');
    for (const location of locations) codes.add(country + location);
  }
  return codes;
}

/** The lists in `dir` that sources.json names; a list it does not name is not vendored (undefined). */
export function loadCodeLists(dir: URL): Partial<Record<ListName, CodeList>> {
  const sourcesFile = new URL('sources.json', dir);
  const sources: Partial<Record<ListName, Source>> = existsSync(sourcesFile) ? JSON.parse(readFileSync(sourcesFile, 'utf8')) : {};
  const lists: Partial<Record<ListName, CodeList>> = {};
  for (const name of Object.keys(NAMES) as ListName[]) {
    const source = sources[name];
    if (!source) continue;
    const text = readFileSync(new URL(source.file, dir), 'utf8');
    const codes = name === 'unlocode' ? parseLocodeLines(text) : parseCodeLines(text);
    // A list cut short (a bad merge, a failed refresh) would refuse good codes: fail at start-up instead.
    if (codes.size !== source.codes) throw new Error(`code list ${source.file} has ${codes.size} codes, sources.json says ${source.codes}`);
    lists[name] = { name: NAMES[name], edition: source.edition, size: codes.size, has: (code) => codes.has(code) };
  }
  return lists;
}

/** The vendored lists, read once. */
export const codeLists = loadCodeLists(new URL('./code-lists/', import.meta.url));
