// Operators: send a reconciliation statement now, and read the statements sent and answered.
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { actors } from '../audit/index.ts';
import { partyIdSchema } from '../dataset/index.ts';
import { periodBound } from '../exchange/index.ts';
import { apiSchemas, problems } from '../http/index.ts';
import type { Reconciliations } from './service.ts';

const lineSchema = z.object({ id: z.string(), digest: z.string() });

const reconciliationSchema = z
  .object({
    peer: z.string(),
    direction: z.enum(['sent', 'received']).describe('sent: our statement (with the peer’s answer); received: a statement the peer sent us and our answer'),
    statementId: z.uuid(),
    messageId: z.uuid().describe('the statement’s message'),
    periodStart: z.string(),
    periodEnd: z.string(),
    scheduled: z.boolean().describe('sent by the daily schedule (the previous UTC day, after 00:30 UTC)'),
    result: z.enum(['match', 'mismatch']).nullable().describe('null until the answer arrives'),
    counts: z.object({ missingHere: z.number().int(), missingThere: z.number().int(), digestMismatch: z.number().int() }).describe('how many each list holds: the lists below show the first 1,000'),
    missingHere: z.array(lineSchema).describe('lines the statement’s sender sent that its peer never received (resent)'),
    missingThere: z.array(lineSchema).describe('lines the answering peer sent that the statement’s sender never received (resent by the answering peer)'),
    digestMismatch: z.array(z.string()),
    createdAt: z.string(),
    answeredAt: z.string().nullable(),
  })
  .register(apiSchemas, { id: 'Reconciliation' });

export async function reconciliationRoutes(app: FastifyInstance, options: { reconciliations: Reconciliations }): Promise<void> {
  const { reconciliations } = options;
  const api = app.withTypeProvider<ZodTypeProvider>();

  api.post(
    '/admin/reconciliations',
    {
      schema: {
        operationId: 'sendReconciliationStatement',
        summary: 'Send a peer a reconciliation statement for a period now (PROFILE 1.1); the answer arrives as a message',
        tags: ['admin'],
        body: z.object({
          peer: partyIdSchema,
          periodStart: periodBound.describe('inclusive; messages are counted by their envelope sentAt'),
          periodEnd: periodBound.describe('exclusive'),
        }),
        response: { 202: reconciliationSchema, ...problems(400, 404, 409, 422) },
      },
    },
    async (request, reply) => {
      const { peer, periodStart, periodEnd } = request.body;
      const sent = await reconciliations.send(peer, { start: periodStart, end: periodEnd }, { actor: actors.apiClient(request.client) });
      return reply.code(202).send(sent);
    },
  );

  api.get(
    '/admin/reconciliations',
    {
      schema: {
        operationId: 'listReconciliations',
        summary: 'Reconciliation statements sent and answered, newest first, with their results',
        tags: ['admin'],
        querystring: z.object({
          peer: partyIdSchema.optional(),
          direction: z.enum(['sent', 'received']).optional(),
          limit: z.coerce.number().int().min(1).max(1000).default(100),
        }),
        response: { 200: z.array(reconciliationSchema), ...problems(400) },
      },
    },
    async (request) => reconciliations.list(request.query),
  );
}
