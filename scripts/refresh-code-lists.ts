// `npm run refresh-code-lists -- [options]`: regenerates the vendored code lists in
// src/dataset/code-lists/ (one code a line, or one country a line for UN/LOCODE) and records in
// sources.json where each came from: the source, its edition, the day it was read and the sha256
// of what was read. Not run in CI: it reads the network or files given to it. docs/code-lists.md
// says how to use it and which official URLs to give it.
//
//   --npm SPEC|DIR|TGZ     UN/ECE Rec. 20 and Rec. 21 from the npm package un-ece-recommendation
//                          (e.g. un-ece-recommendation@0.1.1, fetched with `npm pack`): its
//                          lists 20/3 (Rec. 20 rev. 17, codes in force) and 21/3 (Rec. 21 rev. 12,
//                          codes in force, "X"-prefixed as in EN 16931). How the vendored lists were made.
//   --rec20 PATH|URL       Rec. 20 Annex II/III as CSV (columns Status, Common Code, …), as UN/CEFACT
//                          publishes it; codes whose status is X (deleted) or D (deprecated) are left out.
//   --rec21 PATH|URL       Rec. 21 Annex V/VI as CSV (columns Status, Code, …); status X is left out.
//   --unlocode PATH|URL    UN/LOCODE: the official CSV zip (e.g. loc242csv.zip), a folder of its CSV
//                          files, or one CSV file; entries marked X (to be removed) are left out.
//   --edition LIST=TEXT    the edition to record (e.g. unlocode=2024-2, rec20="Revision 18 (2023)");
//                          needed for --rec20, --rec21 and --unlocode.
//   --out DIR              where to write (default src/dataset/code-lists).
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { inflateRawSync } from 'node:zlib';

export type ListName = 'rec20' | 'rec21' | 'unlocode';

export type Source = {
  title: string;
  edition: string;
  file: string;
  codes: number;
  selection: string;
  official: string;
  source: { url: string; sha256: string; member?: string; memberSha256?: string; licence?: string; note?: string };
  retrieved: string;
};

export const TITLES: Record<ListName, string> = {
  rec20: 'UN/ECE Recommendation 20: Codes for Units of Measure Used in International Trade',
  rec21: 'UN/ECE Recommendation 21: Codes for Passengers, Types of Cargo, Packages and Packaging Materials',
  unlocode: 'UN/LOCODE: United Nations Code for Trade and Transport Locations',
};

export const OFFICIAL: Record<ListName, string> = {
  rec20: 'https://unece.org/trade/uncefact/cl-recommendations',
  rec21: 'https://unece.org/trade/uncefact/cl-recommendations',
  unlocode: 'https://unece.org/trade/cefact/UNLOCODE-Download',
};

export const sha256 = (data: Uint8Array | string) => createHash('sha256').update(data).digest('hex');

/** RFC 4180 CSV: quoted fields may hold commas, quotes ("") and line breaks. */
export function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      row.push(field);
      field = '';
    } else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i++;
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
    } else field += c;
  }
  if (field !== '' || row.length > 0) {
    row.push(field);
    rows.push(row);
  }
  return rows;
}

/** The codes of a CSV with a header row: those whose status is not one of `leaveOut`. */
export function codesFromCsv(text: string, codeColumn: string, leaveOut: string[]): string[] {
  const [header, ...rows] = parseCsv(text.replace(/^\uFEFF/, ''));
  const find = (name: string) => header?.findIndex((h) => h.trim().toLowerCase() === name.toLowerCase()) ?? -1;
  const status = find('Status');
  const code = find(codeColumn);
  if (status < 0 || code < 0) throw new Error(`the CSV has no "Status" and "${codeColumn}" columns (header: ${header?.join(', ')})`);
  return rows.filter((r) => r.length > code && r[code]!.trim() !== '' && !leaveOut.includes(r[status]!.trim())).map((r) => r[code]!.trim());
}

/**
 * UN/LOCODE entries of the official CSV (no header: Change, Country, Location, Name, …): every
 * country and 3-character location, less those marked X (to be removed) and the country rows
 * (which have no location).
 */
export function locodesFromCsv(text: string): string[] {
  return parseCsv(text)
    .filter((r) => /^[A-Z]{2}$/.test(r[1] ?? '') && /^[A-Z2-9]{3}$/.test(r[2] ?? '') && (r[0] ?? '').trim() !== 'X')
    .map((r) => `${r[1]}${r[2]}`);
}

/** The files of a zip archive (stored or deflated), by name. Enough for the UN/LOCODE download. */
export function unzip(zip: Buffer): Map<string, Buffer> {
  let end = zip.length - 22;
  while (end >= 0 && zip.readUInt32LE(end) !== 0x06054b50) end--;
  if (end < 0) throw new Error('not a zip archive');
  const entries = zip.readUInt16LE(end + 10);
  let at = zip.readUInt32LE(end + 16);
  const files = new Map<string, Buffer>();
  for (let n = 0; n < entries; n++) {
    if (zip.readUInt32LE(at) !== 0x02014b50) throw new Error('bad zip central directory');
    const method = zip.readUInt16LE(at + 10);
    const size = zip.readUInt32LE(at + 20);
    const nameLength = zip.readUInt16LE(at + 28);
    const extra = zip.readUInt16LE(at + 30);
    const comment = zip.readUInt16LE(at + 32);
    const local = zip.readUInt32LE(at + 42);
    const name = zip.subarray(at + 46, at + 46 + nameLength).toString('latin1');
    const dataAt = local + 30 + zip.readUInt16LE(local + 26) + zip.readUInt16LE(local + 28);
    const data = zip.subarray(dataAt, dataAt + size);
    if (!name.endsWith('/')) files.set(name, method === 8 ? inflateRawSync(data) : Buffer.from(data));
    at += 46 + nameLength + extra + comment;
  }
  return files;
}

/** One line per country: its code, then its locations' three characters, space-separated. */
export function unlocodeText(codes: Iterable<string>): string {
  const byCountry = new Map<string, Set<string>>();
  for (const code of codes) byCountry.set(code.slice(0, 2), (byCountry.get(code.slice(0, 2)) ?? new Set()).add(code.slice(2)));
  return [...byCountry.keys()]
    .sort()
    .map((country) => `${country} ${[...byCountry.get(country)!].sort().join(' ')}\n`)
    .join('');
}

const codeLines = (codes: Iterable<string>) => `${[...new Set(codes)].sort().join('\n')}\n`;

async function read(pathOrUrl: string): Promise<Buffer> {
  if (/^https?:\/\//.test(pathOrUrl)) {
    const response = await fetch(pathOrUrl);
    if (!response.ok) throw new Error(`${pathOrUrl}: HTTP ${response.status}`);
    return Buffer.from(await response.arrayBuffer());
  }
  return readFileSync(pathOrUrl);
}

/**
 * The npm package un-ece-recommendation, unpacked: its folder, where it came from (`npm:name@version`,
 * the package as the npm client names it) and the sha256 of its tarball.
 */
function npmPackage(spec: string): { dir: string; url: string; sha256: string } {
  const work = mkdtempSync(join(tmpdir(), 'code-lists-'));
  let tarball = spec;
  if (existsSync(spec) && statSync(spec).isDirectory()) return { dir: spec, url: spec, sha256: 'n/a (a folder)' };
  if (!existsSync(spec)) {
    const name = execFileSync('npm', ['pack', spec, '--silent', '--pack-destination', work], { encoding: 'utf8' }).trim().split('\n').pop()!;
    tarball = join(work, name);
  }
  execFileSync('tar', ['xzf', tarball, '-C', work]);
  const { name, version } = JSON.parse(readFileSync(join(work, 'package', 'package.json'), 'utf8')) as { name: string; version: string };
  return { dir: join(work, 'package'), url: `npm:${name}@${version}`, sha256: sha256(readFileSync(tarball)) };
}

async function fromNpm(spec: string, retrieved: string): Promise<Partial<Record<ListName, { text: string; source: Source }>>> {
  const pkg = npmPackage(spec);
  const list = async (member: string) => {
    const file = join(pkg.dir, member);
    const module = (await import(pathToFileURL(file).href)) as Record<string, { code: string }[]>;
    return { codes: Object.values(module)[0]!.map((e) => e.code), memberSha256: sha256(readFileSync(file)) };
  };
  const licence = 'MIT (the package, by Julien Scholz); the code lists are UNECE publications';
  const rec20 = await list('dist/esm/20/3/index.js');
  const rec21 = await list('dist/esm/21/3/index.js');
  const rec21Codes = rec21.codes.map((code) => {
    if (!/^X[A-Z0-9]{2}$/.test(code)) throw new Error(`unexpected Rec. 21 code ${code}`);
    return code.slice(1); // EN 16931 writes a Rec. 21 code with an "X" before it; the e-CO dataset does not.
  });
  const note =
    'a JavaScript transcription of the UNECE lists (its lists 20/3 and 21/3, named like the XRechnung code lists rec20_3 and rec21_3); checked on 2026-11-27 against the UN/CEFACT ' +
    'publication (Rec. 20 rev. 17 Annex II/III: codes 05 to B10, RL to ZZ and the rev. 17 additions; Rec. 21 rev. 12 Annex V/VI: all 405 codes in force, one for one)';
  const source = (member: string, memberSha256: string) => ({ url: pkg.url, sha256: pkg.sha256, member, memberSha256, licence, note });
  return {
    rec20: {
      text: codeLines(rec20.codes),
      source: {
        title: TITLES.rec20,
        edition: 'Revision 17 (2021)',
        file: 'rec20.txt',
        codes: new Set(rec20.codes).size,
        selection: 'Annexes II and III, the codes in force: deleted (X) and deprecated (D) codes left out',
        official: OFFICIAL.rec20,
        source: source('package/dist/esm/20/3/index.js', rec20.memberSha256),
        retrieved,
      },
    },
    rec21: {
      text: codeLines(rec21Codes),
      source: {
        title: TITLES.rec21,
        edition: 'Revision 12 (2021)',
        file: 'rec21.txt',
        codes: new Set(rec21Codes).size,
        selection: 'Annexes V and VI, the package type codes in force: deleted (X) codes left out; written without the "X" prefix EN 16931 adds',
        official: OFFICIAL.rec21,
        source: source('package/dist/esm/21/3/index.js', rec21.memberSha256),
        retrieved,
      },
    },
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      npm: { type: 'string' },
      rec20: { type: 'string' },
      rec21: { type: 'string' },
      unlocode: { type: 'string' },
      edition: { type: 'string', multiple: true },
      out: { type: 'string' },
      retrieved: { type: 'string' },
    },
  });
  const out = resolve(values.out ?? fileURLToPath(new URL('../src/dataset/code-lists/', import.meta.url)));
  const retrieved = values.retrieved ?? new Date().toISOString().slice(0, 10);
  const editions = new Map((values.edition ?? []).map((e) => e.split(/=(.*)/s).slice(0, 2) as [string, string]));
  const edition = (list: ListName) => {
    const text = editions.get(list);
    if (!text) throw new Error(`give the edition of ${list}: --edition ${list}=…`);
    return text;
  };
  const made: Partial<Record<ListName, { text: string; source: Source }>> = {};

  if (values.npm) Object.assign(made, await fromNpm(values.npm, retrieved));
  for (const [list, column, leaveOut, file] of [
    ['rec20', 'Common Code', ['X', 'D'], values.rec20],
    ['rec21', 'Code', ['X'], values.rec21],
  ] as const) {
    if (!file) continue;
    const data = await read(file);
    const codes = codesFromCsv(data.toString('utf8'), column, [...leaveOut]);
    made[list] = {
      text: codeLines(codes),
      source: {
        title: TITLES[list],
        edition: edition(list),
        file: `${list}.txt`,
        codes: new Set(codes).size,
        selection: `the codes in force: status ${leaveOut.join(' and ')} left out`,
        official: OFFICIAL[list],
        source: { url: file, sha256: sha256(data) },
        retrieved,
      },
    };
  }
  if (values.unlocode) {
    const data = await read(values.unlocode);
    const isDir = existsSync(values.unlocode) && statSync(values.unlocode).isDirectory();
    const texts = isDir
      ? readdirSync(values.unlocode)
          .filter((n) => /codelist.*\.csv$/i.test(n))
          .map((n) => readFileSync(join(values.unlocode!, n)).toString('latin1'))
      : data.subarray(0, 2).toString() === 'PK'
        ? [...unzip(data)].filter(([n]) => /codelist.*\.csv$/i.test(basename(n))).map(([, b]) => b.toString('latin1'))
        : [data.toString('latin1')];
    const codes = new Set(texts.flatMap(locodesFromCsv));
    if (codes.size === 0) throw new Error(`no UN/LOCODE entries in ${values.unlocode}`);
    made.unlocode = {
      text: unlocodeText(codes),
      source: {
        title: TITLES.unlocode,
        edition: edition('unlocode'),
        file: 'unlocode.txt',
        codes: codes.size,
        selection: 'every country and location of the code list, less the entries marked X (to be removed)',
        official: OFFICIAL.unlocode,
        source: { url: values.unlocode, sha256: isDir ? 'n/a (a folder)' : sha256(data) },
        retrieved,
      },
    };
  }
  if (Object.keys(made).length === 0) throw new Error('nothing to refresh: give --npm, --rec20, --rec21 or --unlocode (see docs/code-lists.md)');

  const sourcesFile = join(out, 'sources.json');
  const sources: Partial<Record<ListName, Source>> = existsSync(sourcesFile) ? JSON.parse(readFileSync(sourcesFile, 'utf8')) : {};
  for (const [list, { text, source }] of Object.entries(made) as [ListName, { text: string; source: Source }][]) {
    writeFileSync(join(out, source.file), text);
    sources[list] = source;
    console.log(`${source.file}: ${source.codes} codes, ${source.edition}, ${text.length} bytes`);
  }
  const ordered = Object.fromEntries((['rec20', 'rec21', 'unlocode'] as const).filter((l) => sources[l]).map((l) => [l, sources[l]]));
  writeFileSync(sourcesFile, `${JSON.stringify(ordered, null, 2)}\n`);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    process.exit(1);
  });
}
