import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { actors } from '../audit/index.ts';
import { certificateNumberSchema, certificateSchema, partyIdSchema } from '../dataset/index.ts';
import { apiSchemas, exampleFile, problems, sendPdf } from '../http/index.ts';
import { deliverySchema } from '../outbound/index.ts';
import type { CertificateService } from './service.ts';

const statusSchema = z.enum(['valid', 'replaced', 'cancelled']);
/** A version in a query string: decimal digits only (not 0x1, 1e0 or ' 1 '). */
const versionQuery = z
  .string()
  .regex(/^[1-9]\d{0,9}$/, 'must be a version number')
  .transform(Number)
  .pipe(z.number().max(2_147_483_647));

const issueResultSchema = z
  .object({
    number: z.string(),
    version: z.number().int(),
    status: statusSchema,
    recipient: z.string().describe('party id of the importing gateway the certificate is pushed to'),
    messageId: z.uuid(),
    delivery: z.object({ status: z.literal('queued') }),
  })
  .register(apiSchemas, { id: 'IssueResult' });

const certificateViewSchema = z
  .object({
    number: z.string(),
    issuer: z.string(),
    direction: z.enum(['issued', 'received']),
    version: z.number().int().nullable().describe('null only when a cancellation arrived before the certificate'),
    status: statusSchema,
    kind: z.string().nullable(),
    agreement: z.string().nullable(),
    counterparty: z.string(),
    signatureVerified: z.boolean(),
    certificate: z.record(z.string(), z.unknown()).nullable().describe('the current version, as signed (schema Certificate)'),
    cancellation: z.object({ reason: z.string(), cancelledAt: z.string() }).nullable(),
    history: z.array(z.object({ version: z.number().int(), status: statusSchema, at: z.string() })),
    deliveries: z.array(deliverySchema).optional().describe('exporting side only: each message sent about this certificate and its delivery status'),
    utilizations: z
      .array(
        z.object({
          reportedBy: z.string(),
          declarationRef: z.string(),
          items: z.array(z.object({ itemNumber: z.number().int(), quantity: z.string() })),
          clearedAt: z.string(),
        }),
      )
      .optional()
      .describe('exporting side only: quantities importing parties reported drawing down (certificate.utilized)'),
  })
  .register(apiSchemas, { id: 'CertificateView' });

// The document's examples: the example CO of examples/, and what issuing it answers.
const certificateExample = exampleFile('certificate.json');
const certificateViewExample = {
  number: certificateExample.number,
  issuer: 'KR-KCS',
  direction: 'issued',
  version: 1,
  status: 'valid',
  kind: 'preferential',
  agreement: 'KR-VN-FTA',
  counterparty: 'VN-MOIT',
  signatureVerified: true,
  certificate: certificateExample,
  cancellation: null,
  history: [{ version: 1, status: 'valid', at: '2026-11-24T09:30:00.000Z' }],
};
const issueResultExample = { number: certificateExample.number, version: 1, status: 'valid', recipient: 'VN-MOIT', messageId: '0b8e3c52-6a1f-4d2e-9c47-5f1a2b3c4d5e', delivery: { status: 'queued' } };

/** Printable copies (printing/ makes them, above this module: the wiring passes them in). */
export type CopyPrinter = {
  pdf(number: string, query: { issuer?: string; version?: number }, maySeal: boolean): Promise<Buffer>;
  seal(number: string, version?: number): Promise<{ seal: string; payload: Record<string, unknown> }>;
};

export async function certificateRoutes(app: FastifyInstance, options: { certificates: CertificateService; copies: CopyPrinter }): Promise<void> {
  const { certificates, copies } = options;
  const api = app.withTypeProvider<ZodTypeProvider>();

  api.post(
    '/certificates',
    {
      config: { roles: ['issuer'] },
      schema: {
        operationId: 'issueCertificate',
        summary: 'Issue a certificate of origin and push it to the importing party',
        description:
          '422 with a pointer per broken rule of its agreement, and at /issuedAt when the CO would already be expired ' +
          "(issuedAt plus the agreement's validityDays before today, UTC) or is dated after tomorrow (UTC).",
        tags: ['certificates'],
        headers: z.object({ 'idempotency-key': z.string().min(1).max(200).optional() }),
        querystring: z.object({ recipient: partyIdSchema.optional().describe('importing party; needed only when several peers serve the import country') }),
        body: certificateSchema,
        response: { 200: issueResultSchema, 201: issueResultSchema, ...problems(400, 409, 422) },
        examples: { body: certificateExample, 200: issueResultExample, 201: issueResultExample },
      },
    },
    async (request, reply) => {
      const { created, result } = await certificates.issue(request.body, {
        recipient: request.query.recipient,
        idempotencyKey: request.headers['idempotency-key'],
        actor: actors.apiClient(request.client),
      });
      // A replay of an Idempotency-Key issues nothing: only a new certificate is logged.
      if (created) request.log.info({ certificateNumber: result.number, messageId: result.messageId, peer: result.recipient }, 'certificate issued');
      return reply.code(created ? 201 : 200).send(result);
    },
  );

  api.post(
    '/certificates/validate',
    {
      config: { roles: ['issuer'] },
      schema: {
        operationId: 'validateCertificate',
        summary: 'Run every check of an issue without issuing: lets a back-office test its integration',
        tags: ['certificates'],
        querystring: z.object({ recipient: partyIdSchema.optional() }),
        body: certificateSchema,
        response: { 200: z.object({ valid: z.literal(true), recipient: z.string() }), ...problems(400, 422) },
        examples: { body: certificateExample, 200: { valid: true, recipient: 'VN-MOIT' } },
      },
    },
    async (request) => {
      const peer = await certificates.check(request.body, request.query.recipient);
      return { valid: true as const, recipient: peer.partyId };
    },
  );

  const numberParams = z.object({ number: certificateNumberSchema });

  api.post(
    '/certificates/:number/replace',
    {
      config: { roles: ['issuer'] },
      schema: {
        operationId: 'replaceCertificate',
        summary: 'Issue version n+1 of a certificate (sent as certificate.replaced); the body is the new version',
        tags: ['certificates'],
        params: numberParams,
        body: certificateSchema,
        response: { 201: issueResultSchema, ...problems(400, 404, 409, 422) },
        examples: { body: { ...certificateExample, version: 2 }, 201: { ...issueResultExample, version: 2 } },
      },
    },
    async (request, reply) => {
      const result = await certificates.replace(request.params.number, request.body, actors.apiClient(request.client));
      request.log.info({ certificateNumber: result.number, version: result.version, messageId: result.messageId, peer: result.recipient }, 'certificate replaced');
      return reply.code(201).send(result);
    },
  );

  api.post(
    '/certificates/:number/cancel',
    {
      config: { roles: ['issuer'] },
      schema: {
        operationId: 'cancelCertificate',
        summary: 'Cancel a certificate (sent as certificate.cancelled with the reason)',
        tags: ['certificates'],
        params: numberParams,
        body: z.object({ reason: z.string().trim().min(1).max(1000) }),
        response: { 200: issueResultSchema, ...problems(400, 404, 409, 422) },
      },
    },
    async (request) => {
      const result = await certificates.cancel(request.params.number, request.body.reason, actors.apiClient(request.client));
      request.log.info({ certificateNumber: result.number, messageId: result.messageId, peer: result.recipient }, 'certificate cancelled');
      return result;
    },
  );

  api.get(
    '/certificates/:number',
    {
      config: { roles: ['customs', 'issuer'] },
      schema: {
        operationId: 'getCertificate',
        summary: 'Look a certificate up by number: current version, status, history (original JWS with Accept: application/jose, a printable copy with Accept: application/pdf)',
        description:
          'With `Accept: application/jose` (exactly) the answer is the current version as its issuer signed it, a compact JWS, when there is one. ' +
          'With `Accept: application/pdf` it is a printable A4 copy (PDF/A-3b): a certificate issued here carries the seal (a QR code, PROFILE 1.2) and ' +
          '`certificate.jws` attached, for the issuer role only (403 for customs); one received carries the message as received, and no seal (only its issuer can seal). ' +
          '`version` picks an older version to print. Otherwise, and by default, the JSON view. 409 when two issuers use the number: name one with `issuer`.',
        tags: ['certificates'],
        params: numberParams,
        querystring: z.object({
          issuer: partyIdSchema.optional().describe('issuing party, where numbers of two issuers clash'),
          version: versionQuery.optional().describe('with Accept: application/pdf only: the version to print (default the newest)'),
        }),
        produces: ['application/json', 'application/jose', 'application/pdf'],
        response: { 200: certificateViewSchema, ...problems(400, 404, 409) },
        examples: { 200: certificateViewExample },
      },
    },
    async (request, reply) => {
      const accept = request.headers.accept ?? '';
      if (/^application\/pdf\b/i.test(accept)) {
        const maySeal = request.client?.roles.includes('issuer') ?? false;
        return sendPdf(reply, request.params.number, await copies.pdf(request.params.number, request.query, maySeal));
      }
      const { view, jws } = await certificates.find(request.params.number, request.query.issuer);
      if (accept === 'application/jose' && jws) {
        // The original signed bytes, not JSON: bypass the JSON response schema.
        return reply
          .type('application/jose')
          .serializer(String)
          .send(jws as never);
      }
      return view;
    },
  );

  api.get(
    '/certificates/:number/seal',
    {
      config: { roles: ['issuer'] },
      schema: {
        operationId: 'getSeal',
        summary: "A certificate's seal (PROFILE 1.2), made now with our current key: for back-offices that print their own forms",
        description: 'Print `seal` as a QR code (ISO/IEC 18004, error correction M, byte mode) at least 25 mm wide. `payload` is what it says, for display.',
        tags: ['certificates'],
        params: numberParams,
        querystring: z.object({ version: versionQuery.optional().describe('default the newest') }),
        response: {
          200: z.object({ seal: z.string().max(900), payload: z.record(z.string(), z.unknown()) }).register(apiSchemas, { id: 'Seal' }),
          ...problems(400, 404),
        },
      },
    },
    async (request) => copies.seal(request.params.number, request.query.version),
  );
}
