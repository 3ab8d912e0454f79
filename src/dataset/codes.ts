import countries from 'i18n-iso-countries';
import { z } from 'zod';

/** ISO 3166-1 alpha-2 */
export const isCountry = (code: string) => /^[A-Z]{2}$/.test(code) && countries.isValid(code);
// The format first: it bounds the length, and shows in the contract.
export const countrySchema = z
  .string()
  .regex(/^[A-Z]{2}$/, { error: 'must be an ISO 3166-1 alpha-2 country code such as KR', abort: true })
  .refine(isCountry, 'must be an ISO 3166-1 alpha-2 country code such as KR');

/** ISO 3166-1 alpha-2 country, a hyphen, an authority code of 2-16 upper-case letters or digits. */
export const partyIdSchema = z.string().regex(/^[A-Z]{2}-[A-Z0-9]{2,16}$/, 'must be a party id such as KR-KCS (country code, hyphen, 2-16 upper-case letters or digits)');

export const isPartyId = (text: string) => partyIdSchema.safeParse(text).success;

/**
 * The countries a party acts for when its registration names none: the country of its party id
 * (none for a party such as EU-TAXUD, which must then name its countries).
 */
export function countriesOf(partyId: string): string[] {
  const country = partyId.slice(0, 2);
  return isCountry(country) ? [country] : [];
}
