// The receipt (PROFILE "Receipts"): the receiver's signed acknowledgement of one message.
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { rejectionCodes } from './codes.ts';

/** A receipt's errors are kept and shown up to this many. */
export const MAX_KEPT_RECEIPT_ERRORS = 100;

export const receiptBodySchema = z
  .object({
    status: z.enum(['accepted', 'rejected']),
    digest: z.string().regex(/^[A-Za-z0-9_-]{43}$/, 'must be the base64url SHA-256 of the message body'),
    // Kept and shown bounded, whatever a peer sends: the first 100 errors, each text cut (the signed
    // receipt itself is kept whole, as proof).
    errors: z
      .array(
        z.object({
          code: z.enum(rejectionCodes),
          path: z
            .string()
            .transform((path) => path.slice(0, 500))
            .optional(),
          message: z.string().transform((message) => message.slice(0, 1000)),
        }),
      )
      .transform((errors) => errors.slice(0, MAX_KEPT_RECEIPT_ERRORS)),
  })
  .meta({ id: 'ReceiptBody' });
export type ReceiptBody = z.infer<typeof receiptBodySchema>;

/** PROFILE's digest: base64url SHA-256 of the AMQP body bytes. */
export function bodyDigest(body: Buffer | string): string {
  return createHash('sha256').update(body).digest('base64url');
}
