// The receipt (PROFILE "Receipts"): the receiver's signed acknowledgement of one message.
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { rejectionCodes } from './codes.ts';

export const receiptBodySchema = z
  .object({
    status: z.enum(['accepted', 'rejected']),
    digest: z.string().regex(/^[A-Za-z0-9_-]{43}$/, 'must be the base64url SHA-256 of the message body'),
    errors: z.array(z.object({ code: z.enum(rejectionCodes), path: z.string().optional(), message: z.string() })),
  })
  .meta({ id: 'ReceiptBody' });
export type ReceiptBody = z.infer<typeof receiptBodySchema>;

/** PROFILE's digest: base64url SHA-256 of the AMQP body bytes. */
export function bodyDigest(body: Buffer | string): string {
  return createHash('sha256').update(body).digest('base64url');
}
