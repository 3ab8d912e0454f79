// The pickers' code lists, in the user's language: countries (ISO 3166-1, from i18n-iso-countries)
// and currencies (ISO 4217, from currency-codes) in full; units (UN/ECE Rec. 20) and package kinds
// (Rec. 21) as the common codes, in a datalist: no maintained package carries those lists, and the
// schema accepts any well-formed code, so the list suggests and never restricts.
import { createRequire } from 'node:module';
import currencyCodes from 'currency-codes';
import countries from 'i18n-iso-countries';
import type { Lang } from './messages.ts';

const require = createRequire(import.meta.url);
countries.registerLocale(require('i18n-iso-countries/langs/en.json'));
countries.registerLocale(require('i18n-iso-countries/langs/fr.json'));

export type Option = { code: string; name: string };

const byLang = new Map<Lang, Option[]>();
export function countryOptions(lang: Lang): Option[] {
  let list = byLang.get(lang);
  if (!list) {
    list = Object.entries(countries.getNames(lang, { select: 'official' }))
      .map(([code, name]) => ({ code, name }))
      .sort((a, b) => a.name.localeCompare(b.name, lang));
    byLang.set(lang, list);
  }
  return list;
}

export const currencyOptions: Option[] = currencyCodes.data.map((c) => ({ code: c.code, name: c.currency }));

/** Common UN/ECE Rec. 20 units. */
export const unitOptions: Record<Lang, Option[]> = {
  en: [
    { code: 'NAR', name: 'number of articles' },
    { code: 'C62', name: 'one (unit)' },
    { code: 'KGM', name: 'kilogram' },
    { code: 'GRM', name: 'gram' },
    { code: 'TNE', name: 'tonne' },
    { code: 'LTR', name: 'litre' },
    { code: 'MTR', name: 'metre' },
    { code: 'MTK', name: 'square metre' },
    { code: 'MTQ', name: 'cubic metre' },
    { code: 'PR', name: 'pair' },
    { code: 'SET', name: 'set' },
    { code: 'DZN', name: 'dozen' },
  ],
  fr: [
    { code: 'NAR', name: "nombre d'articles" },
    { code: 'C62', name: 'un (unité)' },
    { code: 'KGM', name: 'kilogramme' },
    { code: 'GRM', name: 'gramme' },
    { code: 'TNE', name: 'tonne' },
    { code: 'LTR', name: 'litre' },
    { code: 'MTR', name: 'mètre' },
    { code: 'MTK', name: 'mètre carré' },
    { code: 'MTQ', name: 'mètre cube' },
    { code: 'PR', name: 'paire' },
    { code: 'SET', name: 'ensemble' },
    { code: 'DZN', name: 'douzaine' },
  ],
};

/** Common UN/ECE Rec. 21 package kinds. */
export const packageOptions: Record<Lang, Option[]> = {
  en: [
    { code: 'CT', name: 'carton' },
    { code: 'BX', name: 'box' },
    { code: 'PK', name: 'package' },
    { code: 'PX', name: 'pallet' },
    { code: 'BG', name: 'bag' },
    { code: 'CS', name: 'case' },
    { code: 'CR', name: 'crate' },
    { code: 'DR', name: 'drum' },
    { code: 'BA', name: 'barrel' },
    { code: 'RO', name: 'roll' },
    { code: 'NE', name: 'unpacked' },
  ],
  fr: [
    { code: 'CT', name: 'carton' },
    { code: 'BX', name: 'boîte' },
    { code: 'PK', name: 'colis' },
    { code: 'PX', name: 'palette' },
    { code: 'BG', name: 'sac' },
    { code: 'CS', name: 'caisse' },
    { code: 'CR', name: 'cageot' },
    { code: 'DR', name: 'fût' },
    { code: 'BA', name: 'tonneau' },
    { code: 'RO', name: 'rouleau' },
    { code: 'NE', name: 'non emballé' },
  ],
};

/** UN/ECE Rec. 19 transport modes: all ten. */
export const modeOptions: Record<Lang, Option[]> = {
  en: ['not specified', 'maritime', 'rail', 'road', 'air', 'mail', 'multimodal', 'fixed installation', 'inland water', 'not applicable'].map((name, i) => ({ code: String(i), name })),
  fr: ['non précisé', 'maritime', 'ferroviaire', 'routier', 'aérien', 'postal', 'multimodal', 'installation fixe', 'navigation intérieure', 'sans objet'].map((name, i) => ({ code: String(i), name })),
};
