// The e-CO dataset: its schema (docs/wire.md "The certificate"), the code lists it checks against,
// decimal arithmetic, and text Postgres can keep. A leaf: it imports no module of the gateway.

export { type CodeList, codeLists, type ListName, loadCodeLists } from './code-lists.ts';
export { countriesOf, countrySchema, isCountry, isPartyId, partyIdSchema } from './codes.ts';
export { add, compare, divideUp, type Exact, exact, format, multiply, subtract } from './decimal.ts';
export { toPointer } from './pointer.ts';
export { type Certificate, certificateKinds, certificateNumberSchema, certificateSchema, decimalSchema, type HsEdition, hsEditionOn, hsEditionSchema } from './schema.ts';
export { findUnsafeText, isSafeText, MAX_JSON_DEPTH, safeJson, safeText, type TextProblem } from './text.ts';
export { convert, convertibleUnits, type Dimension, dimensionOf } from './units.ts';
