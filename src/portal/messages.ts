// Every string the portal shows, one catalogue file per language in locales/<lang>.json: a
// translator adds a language by adding a file (en.json is the list of keys; a unit test fails when
// a key is missing in any language). `{name}` is replaced. Numbers and dates are formatted, and
// decimals read, by the language's own conventions (Intl). Messages that services write in English
// (validation details, findings, risk flags) are matched against the English templates under
// `msg.*` and said again in the reader's language (localizeMessage).
import { readdirSync, readFileSync } from 'node:fs';

const LOCALES = new URL('./locales/', import.meta.url);

export type Lang = string;
export type MessageKey = string;

/** Every catalogue, by language code (the file's name). */
export const catalogue: Record<Lang, Record<MessageKey, string>> = Object.fromEntries(
  readdirSync(LOCALES)
    .filter((file) => /^[a-z]{2}\.json$/.test(file))
    .map((file) => [file.slice(0, 2), JSON.parse(readFileSync(new URL(file, LOCALES), 'utf8')) as Record<string, string>]),
);
if (!catalogue.en) throw new Error('src/portal/locales/en.json is missing');

/** English first, then the others in alphabetical order. */
export const langs: readonly Lang[] = [
  'en',
  ...Object.keys(catalogue)
    .filter((l) => l !== 'en')
    .sort(),
];

export const isLang = (value: unknown): value is Lang => typeof value === 'string' && Object.hasOwn(catalogue, value);

/** The best of the Accept-Language header's languages that we have, else English. */
export function preferredLang(header: string | undefined): Lang {
  for (const part of (header ?? '').slice(0, 200).split(',')) {
    const code = part.trim().slice(0, 2).toLowerCase();
    if (isLang(code)) return code;
  }
  return 'en';
}

export type Translate = (key: string, vars?: Record<string, string | number>) => string;

/** The translator for a language: a key missing there is said in English (a test keeps that from happening). */
export function translator(lang: Lang): Translate {
  const messages = catalogue[lang] ?? catalogue.en!;
  return (key, vars = {}) => (messages[key] ?? catalogue.en![key] ?? key).replace(/\{(\w+)\}/g, (_, name: string) => String(vars[name] ?? `{${name}}`));
}

type NumberSymbols = { group: string; decimal: string };
const symbolsCache = new Map<Lang, NumberSymbols>();
function numberSymbols(lang: Lang): NumberSymbols {
  let symbols = symbolsCache.get(lang);
  if (!symbols) {
    const parts = new Intl.NumberFormat(lang, { useGrouping: 'always' } as Intl.NumberFormatOptions).formatToParts(12345.5);
    symbols = { group: parts.find((p) => p.type === 'group')?.value ?? ',', decimal: parts.find((p) => p.type === 'decimal')?.value ?? '.' };
    symbolsCache.set(lang, symbols);
  }
  return symbols;
}

/** An exact decimal string ("12345.5") as the language writes it ("12 345,5"): digits are kept, never rounded through a float. */
export function formatDecimal(lang: Lang, value: string | number): string {
  const text = String(value);
  const match = /^(-?)(\d+)(?:\.(\d+))?$/.exec(text);
  if (!match) return text;
  const { group, decimal } = numberSymbols(lang);
  const whole = match[2]!.replace(/\B(?=(\d{3})+(?!\d))/g, group);
  return `${match[1]}${whole}${match[3] ? decimal + match[3] : ''}`;
}

/**
 * A decimal typed in the language's way ("350,5" or "1 234,5" in French, "1.234,5" in Spanish), as
 * the dataset's decimal string ("350.5"). Text that is not such a number is returned as typed, for
 * the schema to refuse. A point is read as a group separator only in a language that groups with
 * points, and only where it separates groups of three ("1.500" is 1500 in Spanish, 1.5 in English).
 */
export function readDecimal(lang: Lang, typed: string): string {
  const { group, decimal } = numberSymbols(lang);
  let text = typed.trim();
  // A space is a group separator only between groups of three, in a language that groups with one ("1 5" stays refused).
  if (/^[\s\u00a0\u202f]$/.test(group) && /^\d{1,3}([ \u00a0\u202f]\d{3})+(,\d+)?$/.test(text)) text = text.replace(/[ \u00a0\u202f]/g, '');
  if (decimal === '.') return /^\d{1,3}(,\d{3})+(\.\d+)?$/.test(text) ? text.replaceAll(',', '') : text;
  if (group === '.' && /^\d{1,3}(\.\d{3})+(,\d+)?$/.test(text)) text = text.replaceAll('.', '');
  return /^\d+,\d+$/.test(text) ? text.replace(',', '.') : text;
}

/** A calendar date (YYYY-MM-DD) in the language's medium style. */
export function formatDate(lang: Lang, date: string | Date | null | undefined): string {
  if (!date) return '—';
  const day = typeof date === 'string' ? new Date(`${date.slice(0, 10)}T00:00:00Z`) : date;
  return Number.isNaN(day.getTime()) ? String(date) : new Intl.DateTimeFormat(lang, { dateStyle: 'medium', timeZone: 'UTC' }).format(day);
}

/** An instant, in UTC and saying so: officers in two countries read the same time. */
export function formatTime(lang: Lang, at: string | Date | null | undefined): string {
  if (!at) return '—';
  const instant = typeof at === 'string' ? new Date(at) : at;
  if (Number.isNaN(instant.getTime())) return String(at);
  return `${new Intl.DateTimeFormat(lang, { dateStyle: 'medium', timeStyle: 'short', timeZone: 'UTC', hourCycle: 'h23' }).format(instant)} UTC`;
}

/** A `msg.*` template: its literal parts, and the names of the values between them. */
type Template = { key: string; literals: string[]; names: string[] };
/** The English `msg.*` entries, the longest first (the most specific wins). */
const templates: Template[] = Object.entries(catalogue.en!)
  .filter(([key]) => key.startsWith('msg.'))
  .sort(([, a], [, b]) => b.length - a.length)
  .map(([key, text]) => {
    const parts = text.split(/\{(\w+)\}/);
    return { key, literals: parts.filter((_, i) => i % 2 === 0), names: parts.filter((_, i) => i % 2 === 1) };
  });

/**
 * The values of a message that has the template's shape, or undefined. Linear: each literal part
 * is found with indexOf after the previous one (each value as short as it can be, the last one
 * running to the end), never by backtracking, so that no message costs more than a scan per part.
 */
function matchTemplate(template: Template, message: string): string[] | undefined {
  const { literals } = template;
  if (literals.length === 1) return message === literals[0] ? [] : undefined;
  const last = literals.at(-1)!;
  if (!message.startsWith(literals[0]!) || !message.endsWith(last) || message.length < literals[0]!.length + last.length) return undefined;
  const end = message.length - last.length;
  const values: string[] = [];
  let at = literals[0]!.length;
  for (let i = 1; i < literals.length - 1; i++) {
    const found = literals[i] === '' ? at : message.indexOf(literals[i]!, at);
    if (found < 0 || found > end) return undefined;
    values.push(message.slice(at, found));
    at = found + literals[i]!.length;
  }
  if (at > end) return undefined;
  values.push(message.slice(at, end));
  return values;
}

/**
 * A service's English message (a validation detail, a finding, a risk flag) in the reader's
 * language, when it matches one of the English templates; otherwise as it came. Values that are
 * themselves catalogue words (a certificate kind, a status) are translated too.
 */
export function localizeMessage(lang: Lang, message: string): string {
  if (lang === 'en' || message.length > 2000) return message;
  const t = translator(lang);
  for (const template of templates) {
    const match = matchTemplate(template, message);
    if (!match) continue;
    const vars: Record<string, string> = {};
    template.names.forEach((name, i) => {
      const value = match[i]!;
      const word = [`kind.${value}`, `status.${value}`].find((k) => catalogue.en![k]);
      vars[name] = word ? t(word) : value;
    });
    return t(template.key, vars);
  }
  return message;
}
