import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { partyIdSchema } from '../exchange/party.ts';
import { problems } from '../http/schemas.ts';
import { deliverySchema } from '../outbound/index.ts';
import { certificateNumberSchema, certificateSchema } from './schema.ts';
import type { CertificateService } from './service.ts';

const statusSchema = z.enum(['valid', 'replaced', 'cancelled']);

const issueResultSchema = z
  .object({
    number: z.string(),
    version: z.number().int(),
    status: statusSchema,
    recipient: z.string().describe('party id of the importing gateway the certificate is pushed to'),
    messageId: z.uuid(),
    delivery: z.object({ status: z.literal('queued') }),
  })
  .meta({ id: 'IssueResult' });

const certificateViewSchema = z
  .object({
    number: z.string(),
    issuer: z.string(),
    direction: z.enum(['issued', 'received']),
    version: z.number().int(),
    status: statusSchema,
    kind: z.string(),
    agreement: z.string().nullable(),
    counterparty: z.string(),
    signatureVerified: z.boolean(),
    certificate: z.record(z.string(), z.unknown()).describe('the current version, as signed (schema Certificate)'),
    history: z.array(z.object({ version: z.number().int(), status: statusSchema, at: z.string() })),
    deliveries: z
      .array(deliverySchema)
      .optional()
      .describe('exporting side only: each message sent about this certificate and its delivery status'),
  })
  .meta({ id: 'CertificateView' });

export async function certificateRoutes(app: FastifyInstance, options: { certificates: CertificateService }): Promise<void> {
  const { certificates } = options;
  const api = app.withTypeProvider<ZodTypeProvider>();

  api.post(
    '/certificates',
    {
      schema: {
        summary: 'Issue a certificate of origin and push it to the importing party',
        tags: ['certificates'],
        headers: z.object({ 'idempotency-key': z.string().min(1).max(200).optional() }),
        querystring: z.object({ recipient: partyIdSchema.optional().describe('importing party; needed only when several peers serve the import country') }),
        body: certificateSchema,
        response: { 200: issueResultSchema, 201: issueResultSchema, ...problems(400, 409, 422) },
      },
    },
    async (request, reply) => {
      const { created, result } = await certificates.issue(request.body, {
        recipient: request.query.recipient,
        idempotencyKey: request.headers['idempotency-key'],
      });
      return reply.code(created ? 201 : 200).send(result);
    },
  );

  api.get(
    '/certificates/:number',
    {
      schema: {
        summary: 'Look a certificate up by number: current version, status, history (original JWS with Accept: application/jose)',
        tags: ['certificates'],
        params: z.object({ number: certificateNumberSchema }),
        querystring: z.object({ issuer: partyIdSchema.optional().describe('issuing party, where numbers of two issuers clash') }),
        response: { 200: certificateViewSchema, ...problems(400, 404, 409) },
      },
    },
    async (request, reply) => {
      const { view, jws } = await certificates.find(request.params.number, request.query.issuer);
      if (request.headers.accept === 'application/jose') {
        // The original signed bytes, not JSON: bypass the JSON response schema.
        return reply.type('application/jose').serializer(String).send(jws as never);
      }
      return view;
    },
  );
}
