// The signed envelope every message carries (docs/wire.md, "Body: a signed envelope").
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { partyIdSchema } from '../dataset/index.ts';

export const PROFILE_VERSION = 'eco/1.0';

export const messageTypes = [
  'certificate.issued',
  'certificate.replaced',
  'certificate.cancelled',
  'certificate.utilized',
  'verification.requested',
  'verification.answered',
  'certificate.requested',
  'reconciliation.statement',
  'reconciliation.answered',
  'receipt',
] as const;
export type MessageType = (typeof messageTypes)[number];

/** Only the members the receiver needs before it can trust anything; the body is checked per type. */
export const envelopeSchema = z.object({
  profile: z.string(),
  id: z.uuid(),
  type: z.enum(messageTypes),
  from: partyIdSchema,
  to: partyIdSchema,
  sentAt: z.iso.datetime({ offset: true }),
  inReplyTo: z.uuid().optional(),
  body: z.record(z.string(), z.unknown()),
});
export type Envelope = z.infer<typeof envelopeSchema>;

/** `id` is made here unless the caller had to know it before (a receipt its inbox row names). */
export function buildEnvelope(fields: { id?: string; type: MessageType; from: string; to: string; body: Record<string, unknown>; inReplyTo?: string }): Envelope {
  return {
    profile: PROFILE_VERSION,
    id: fields.id ?? randomUUID(),
    type: fields.type,
    from: fields.from,
    to: fields.to,
    sentAt: new Date().toISOString(),
    ...(fields.inReplyTo ? { inReplyTo: fields.inReplyTo } : {}),
    body: fields.body,
  };
}
