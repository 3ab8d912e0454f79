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
    items: z.array(z.object({ itemNumber: z.number().int().min(1), quantity: decimal })).min(1),
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

export const messageBodySchemas = {
  'certificate.issued': certificateSchema,
  'certificate.replaced': certificateSchema,
  'certificate.cancelled': cancellationBodySchema,
  'certificate.utilized': utilizationBodySchema,
  'verification.requested': verificationRequestBodySchema,
  'verification.answered': verificationAnswerBodySchema,
  'certificate.requested': certificateRequestBodySchema,
  receipt: receiptBodySchema,
} satisfies Record<MessageType, z.ZodType>;

export type Cancellation = z.infer<typeof cancellationBodySchema>;
export type Utilization = z.infer<typeof utilizationBodySchema>;
export type VerificationRequest = z.infer<typeof verificationRequestBodySchema>;
export type VerificationAnswer = z.infer<typeof verificationAnswerBodySchema>;
export type CertificateRequest = z.infer<typeof certificateRequestBodySchema>;
