// The e-CO dataset: its schema (PROFILE.md "The certificate"), the code lists it checks against,
// decimal arithmetic, and text Postgres can keep. A leaf: it imports no module of the gateway.
export { certificateKinds, certificateNumberSchema, certificateSchema, type Certificate } from './schema.ts';
export { countriesOf, countrySchema, isCountry, isPartyId, partyIdSchema } from './codes.ts';
export { toPointer } from './pointer.ts';
export { fromScaled, sumDecimals, toScaled } from './decimal.ts';
export { findUnsafeText, isSafeText, MAX_JSON_DEPTH, safeJson, safeText, type TextProblem } from './text.ts';
