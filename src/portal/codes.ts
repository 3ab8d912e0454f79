// The pickers' code lists, in the user's language: countries (ISO 3166-1, names from
// i18n-iso-countries in every language it has) and currencies (ISO 4217, from currency-codes) in
// full; units (UN/ECE Rec. 20), package kinds (Rec. 21) and transport modes (Rec. 19) as the
// common codes, named in the catalogue (`unit.KGM`, …) so that a translator names them with the
// rest. The lists suggest and never restrict: the schema accepts any well-formed listed code.
import { createRequire } from 'node:module';
import currencyCodes from 'currency-codes';
import countries from 'i18n-iso-countries';
import type { Lang, Translate } from './messages.ts';

const require = createRequire(import.meta.url);

/** Registers the country names of a language, if i18n-iso-countries has them. */
function countryLocale(lang: Lang): boolean {
  if (countries.getSupportedLanguages().includes(lang) && Object.keys(countries.getNames(lang)).length) return true;
  try {
    countries.registerLocale(require(`i18n-iso-countries/langs/${lang}.json`));
    return true;
  } catch {
    return false;
  }
}
countryLocale('en');

export type Option = { code: string; name: string };

const byLang = new Map<Lang, Option[]>();
export function countryOptions(lang: Lang): Option[] {
  let list = byLang.get(lang);
  if (!list) {
    const named = countryLocale(lang) ? lang : 'en';
    list = Object.entries(countries.getNames(named, { select: 'official' }))
      .map(([code, name]) => ({ code, name }))
      .sort((a, b) => a.name.localeCompare(b.name, named));
    byLang.set(lang, list);
  }
  return list;
}

const fold = (text: string) =>
  text
    .normalize('NFD')
    .replace(/\p{M}/gu, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '');
/** Folded name -> code; null where one name names two countries ("Congo"), which is then not guessed. */
const countryByName = new Map<string, string | null>();
const namesRead = new Set<Lang>();
/**
 * A country as an officer types it: its code ("vn") or a name in their language or English
 * ("Vietnam", "Viet Nam", "Corée du Sud"), whatever its case, accents, spaces and punctuation. Anything else is returned as typed, for the schema to
 * refuse at the field (never cut to its first two letters).
 */
export function countryCode(typed: string, lang: Lang): string {
  const text = typed.trim();
  if (/^[A-Za-z]{2}$/.test(text)) return text.toUpperCase();
  for (const l of ['en', lang]) {
    if (namesRead.has(l) || !countryLocale(l)) continue;
    namesRead.add(l);
    for (const [code, names] of Object.entries(countries.getNames(l, { select: 'all' }))) {
      for (const name of names) {
        const key = fold(name);
        const known = countryByName.get(key);
        countryByName.set(key, known === undefined || known === code ? code : null);
      }
    }
  }
  return countryByName.get(fold(text)) ?? text;
}

export const currencyOptions: Option[] = currencyCodes.data.map((c) => ({ code: c.code, name: c.currency }));

const unitCodes = ['NAR', 'C62', 'KGM', 'GRM', 'TNE', 'LTR', 'MTR', 'MTK', 'MTQ', 'PR', 'SET', 'DZN'];
const packageCodes = ['CT', 'BX', 'PK', 'PX', 'BG', 'CS', 'CR', 'DR', 'BA', 'RO', 'NE'];
const modeCodes = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'];

const named = (prefix: string, codes: string[]) => (t: Translate) => codes.map((code) => ({ code, name: t(`${prefix}.${code}`) }));
/** Common UN/ECE Rec. 20 units. */
export const unitOptions = named('unit', unitCodes);
/** Common UN/ECE Rec. 21 package kinds. */
export const packageOptions = named('package', packageCodes);
/** UN/ECE Rec. 19 transport modes: all ten. */
export const modeOptions = named('mode', modeCodes);
