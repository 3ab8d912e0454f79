import { safeText } from '../dataset/index.ts';
// Rejection codes of PROFILE "Receipts": what a receiver answers a message with when it refuses it.
export const rejectionCodes = [
  'SIGNATURE_INVALID',
  'UNKNOWN_SENDER',
  'UNKNOWN_KEY',
  'NOT_ADDRESSED_TO_RECEIVER',
  'SENDER_MISMATCH',
  'DECRYPTION_FAILED',
  'UNSUPPORTED_PROFILE',
  'STALE_MESSAGE',
  'SCHEMA_INVALID',
  'CONFLICTING_CERTIFICATE',
  'UNKNOWN_CERTIFICATE',
  'NOT_A_PARTY',
  'NOT_FOUND',
] as const;
export type RejectionCode = (typeof rejectionCodes)[number];
/** Codes only ever seen in a dead letter's x-eco-error: no receipt carries them. */
export type DeadLetterCode = RejectionCode | 'MESSAGE_TOO_LARGE' | 'PROCESSING_FAILED';
export type MessageError = { code: RejectionCode; path?: string; message: string };

/** Messages may echo what a peer sent: kept safe to store and short. */
export function messageError(code: RejectionCode, message: string, path?: string): MessageError {
  return { code, message: safeText(message, 500), ...(path ? { path: safeText(path, 500) } : {}) };
}
