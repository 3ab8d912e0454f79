// The printed seal, the status answer and the trust list (PROFILE 1.2): formats, making, reading, verifying.
// page.ts is not here: it is the /verify page's script, bundled for the browser by page-bundle.ts.
export { runVerify } from './cli.ts';
export {
  canonicalJson,
  hasProfileHeader,
  isStatusUrl,
  KIND_LETTERS,
  MAX_TRUST_LIST_CHARS,
  readCompactJws,
  type SealPayload,
  STATUS_HASH_CHARS,
  STATUS_TYP,
  type StatusAnswer,
  TRUST_LIST_MAX_LIFETIME_MS,
  TRUST_TYP,
  type TrustList,
} from './format.ts';
export { verifyPage } from './page-bundle.ts';
export { canonicalForm, certificateJws, fillCanonicalHashes, makeSeal, sealPayload } from './produce.ts';
export { readPdfCopy, sealFromPng, sealPng } from './qr.ts';
export { acceptTrustList, pinsAfter, REASON_TEXT, REASONS, type Reason, type Verdict, verifySeal } from './verify.ts';
