import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { actors } from '../audit/index.ts';
import { certificateNumberSchema, partyIdSchema } from '../dataset/index.ts';
import { apiSchemas, problems } from '../http/index.ts';
import type { VerificationService } from './service.ts';

const verificationSchema = z
  .object({
    id: z.uuid().describe("this gateway's id of the request (in these paths)"),
    requestId: z.uuid().describe("the requestId on the wire: ours for a request we made, the requester's for one we received (unique per requester only)"),
    role: z.enum(['requester', 'verifier']).describe('requester: we asked (importing side); verifier: we are asked (issuing side)'),
    issuer: z.string(),
    requester: z.string(),
    certificateNumber: z.string(),
    reasons: z.array(z.string()),
    questions: z.string(),
    status: z.enum(['open', 'answered']),
    result: z.enum(['confirmed', 'not-confirmed', 'partially-confirmed']).nullable(),
    findings: z.string().nullable(),
    requestedAt: z.string(),
    answeredAt: z.string().nullable(),
  })
  .register(apiSchemas, { id: 'Verification' });

export async function verificationRoutes(app: FastifyInstance, options: { verifications: VerificationService }): Promise<void> {
  const { verifications } = options;
  const api = app.withTypeProvider<ZodTypeProvider>();
  const params = z.object({ id: z.uuid() });

  api.post(
    '/verifications',
    {
      config: { roles: ['customs'] },
      schema: {
        operationId: 'requestVerification',
        summary: 'Importing side: ask the issuing party to verify a received CO (verification.requested)',
        tags: ['verifications'],
        body: z.object({
          certificateNumber: certificateNumberSchema,
          issuer: partyIdSchema,
          reasons: z.array(z.string().trim().min(1).max(200)).min(1).max(20),
          questions: z.string().max(4000).default(''),
        }),
        response: { 201: verificationSchema, ...problems(400, 422) },
      },
    },
    async (request, reply) => reply.code(201).send(await verifications.request(request.body, actors.apiClient(request.client))),
  );

  api.get(
    '/verifications',
    {
      config: { roles: ['customs', 'issuer'] },
      schema: {
        operationId: 'listVerifications',
        summary: "Verification requests: the issuing side's back-office lists the open ones with ?role=verifier&status=open",
        tags: ['verifications'],
        querystring: z.object({ role: z.enum(['requester', 'verifier']).optional(), status: z.enum(['open', 'answered']).optional() }),
        response: { 200: z.object({ verifications: z.array(verificationSchema) }), ...problems(400) },
      },
    },
    async (request) => ({ verifications: await verifications.list(request.query) }),
  );

  api.get(
    '/verifications/:id',
    {
      config: { roles: ['customs', 'issuer'] },
      schema: { operationId: 'getVerification', summary: 'One verification request', tags: ['verifications'], params, response: { 200: verificationSchema, ...problems(400, 404) } },
    },
    async (request) => verifications.find(request.params.id),
  );

  api.post(
    '/verifications/:id/answer',
    {
      config: { roles: ['issuer'] },
      schema: {
        operationId: 'answerVerification',
        summary: 'Issuing side: answer a request (verification.answered)',
        tags: ['verifications'],
        params,
        body: z.object({ result: z.enum(['confirmed', 'not-confirmed', 'partially-confirmed']), findings: z.string().max(4000).default('') }),
        response: { 200: verificationSchema, ...problems(400, 404, 409) },
      },
    },
    async (request) => verifications.answer(request.params.id, request.body, actors.apiClient(request.client)),
  );
}
