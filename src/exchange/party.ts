import { z } from 'zod';

/** ISO 3166-1 alpha-2 country, a hyphen, an authority code of 2-16 upper-case letters or digits. */
export const partyIdSchema = z
  .string()
  .regex(/^[A-Z]{2}-[A-Z0-9]{2,16}$/, 'must be a party id such as KR-KCS (country code, hyphen, 2-16 upper-case letters or digits)');
