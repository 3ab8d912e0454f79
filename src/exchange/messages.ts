// The body of each message type (PROFILE "Message types"): one zod schema per type, used to check
// inbound messages and to publish asyncapi.yaml.
import { z } from 'zod';
import { certificateNumberSchema, certificateSchema, decimalSchema as decimal } from '../dataset/index.ts';
import type { MessageType } from './envelope.ts';
import { receiptBodySchema } from './receipt.ts';

export const cancellationBodySchema = z
  .object({ certificateNumber: certificateNumberSchema, reason: z.string().trim().min(1).max(1000), cancelledAt: z.iso.datetime({ offset: true }) })
  .meta({ id: 'CertificateCancelled' });

export const utilizationBodySchema = z
  .object({
    certificateNumber: certificateNumberSchema,
    declarationRef: z.string().trim().min(1).max(70),
    items: z.array(z.object({ itemNumber: z.number().int().min(1), quantity: decimal.describe("in the CO item's unit (a claim in another unit is converted before it is drawn)") })).min(1),
    clearedAt: z.iso.datetime({ offset: true }),
  })
  .meta({ id: 'CertificateUtilized' });

export const verificationRequestBodySchema = z
  .object({
    requestId: z.uuid(),
    certificateNumber: certificateNumberSchema,
    reasons: z.array(z.string().trim().min(1).max(200)).min(1),
    questions: z.string().max(4000),
  })
  .meta({ id: 'VerificationRequested' });

export const verificationAnswerBodySchema = z
  .object({
    requestId: z.uuid(),
    certificateNumber: certificateNumberSchema,
    result: z.enum(['confirmed', 'not-confirmed', 'partially-confirmed']),
    findings: z.string().max(4000),
  })
  .meta({ id: 'VerificationAnswered' });

export const certificateRequestBodySchema = z.object({ certificateNumber: certificateNumberSchema }).meta({ id: 'CertificateRequested' });

/** PROFILE 1.1 reconciliation: a line is one message, its id and the digest of its bytes. */
const digestSchema = z.string().regex(/^[A-Za-z0-9_-]{43}$/, 'must be the base64url SHA-256 of the message body');
export const BUCKETS = [...'0123456789abcdef'] as const;
/** A statement costs its answerer a scan of the period: a month covers catching up after an outage. */
export const MAX_PERIOD_DAYS = 31;
/** Entries per answer: well under 4 MiB once signed and encrypted; a longer answer is split. */
export const MAX_ANSWER_ENTRIES = 15_000;

/** The root of an empty bucket: the SHA-256 of no lines. */
const EMPTY_ROOT = '47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU';

/** Profile 1.2: a tally's count is the sum of its buckets' counts, and an empty bucket has the empty root. */
const tallySchema = z
  .object({
    count: z.number().int().min(0).max(1e9),
    buckets: z.partialRecord(z.enum(BUCKETS), z.object({ count: z.number().int().min(0).max(1e9), root: digestSchema })),
  })
  .describe("profile 1.2: count is the sum of the buckets' counts, each bucket's count the number of its lines (else SCHEMA_INVALID at the count)")
  .superRefine((tally, ctx) => {
    const buckets = Object.entries(tally.buckets) as [string, { count: number; root: string }][];
    const sum = buckets.reduce((total, [, bucket]) => total + bucket.count, 0);
    if (sum !== tally.count) ctx.addIssue({ code: 'custom', path: ['count'], message: `is ${tally.count}, but its buckets count ${sum}` });
    for (const [name, bucket] of buckets) {
      if ((bucket.count === 0) !== (bucket.root === EMPTY_ROOT)) ctx.addIssue({ code: 'custom', path: ['buckets', name, 'count'], message: `does not fit the bucket's root` });
    }
  });

/** PROFILE writes a line both as `{ id, digest }` and as the text "<id> <digest>\n": either is read. */
const lineSchema = z.union([
  z.object({ id: z.uuid(), digest: digestSchema }),
  z
    .string()
    .regex(/^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12} [A-Za-z0-9_-]{43}\n?$/, 'must be "<message id> <digest>"')
    .transform((line) => ({ id: line.slice(0, 36), digest: line.slice(37, 80) })),
]);

/** A period's bound: a date-time Postgres can keep (1970-9999). Operators' periods are checked by it too. */
export const periodBound = z.iso
  .datetime({ offset: true })
  .max(40)
  .refine((v) => Date.parse(v) >= 0 && Date.parse(v) < Date.UTC(10_000, 0, 1), 'must be between 1970 and 9999');

export const reconciliationStatementBodySchema = z
  .object({
    statementId: z.uuid().describe('unique per sender (profile 1.2): reused in another message it is SCHEMA_INVALID'),
    periodStart: periodBound,
    periodEnd: periodBound,
    sent: tallySchema,
    received: tallySchema,
  })
  .refine((s) => Date.parse(s.periodStart) < Date.parse(s.periodEnd), { path: ['periodEnd'], message: 'must be after periodStart' })
  .refine((s) => Date.parse(s.periodEnd) - Date.parse(s.periodStart) <= MAX_PERIOD_DAYS * 86_400_000, { path: ['periodEnd'], message: `a period is at most ${MAX_PERIOD_DAYS} days` })
  .meta({ id: 'ReconciliationStatement' });

export const reconciliationAnswerBodySchema = z
  .object({
    statementId: z.uuid(),
    result: z.enum(['match', 'mismatch']),
    missingHere: z.array(lineSchema).max(MAX_ANSWER_ENTRIES * 4),
    missingThere: z.array(lineSchema).max(MAX_ANSWER_ENTRIES * 4),
    digestMismatch: z.array(z.uuid()).max(MAX_ANSWER_ENTRIES * 4),
  })
  .meta({ id: 'ReconciliationAnswered' });

export const messageBodySchemas = {
  'certificate.issued': certificateSchema,
  'certificate.replaced': certificateSchema,
  'certificate.cancelled': cancellationBodySchema,
  'certificate.utilized': utilizationBodySchema,
  'verification.requested': verificationRequestBodySchema,
  'verification.answered': verificationAnswerBodySchema,
  'certificate.requested': certificateRequestBodySchema,
  'reconciliation.statement': reconciliationStatementBodySchema,
  'reconciliation.answered': reconciliationAnswerBodySchema,
  receipt: receiptBodySchema,
} satisfies Record<MessageType, z.ZodType>;

export type Cancellation = z.infer<typeof cancellationBodySchema>;
export type Utilization = z.infer<typeof utilizationBodySchema>;
export type VerificationRequest = z.infer<typeof verificationRequestBodySchema>;
export type VerificationAnswer = z.infer<typeof verificationAnswerBodySchema>;
export type CertificateRequest = z.infer<typeof certificateRequestBodySchema>;
export type ReconciliationStatement = z.infer<typeof reconciliationStatementBodySchema>;
export type ReconciliationAnswer = z.infer<typeof reconciliationAnswerBodySchema>;
export type Tally = ReconciliationStatement['sent'];
