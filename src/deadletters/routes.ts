import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { actors } from '../audit/index.ts';
import { notFound } from '../errors.ts';
import { apiSchemas, problems } from '../http/index.ts';
import type { DeadLetters } from './store.ts';

const statusSchema = z.enum(['held', 'replayed', 'discarded']);
export const deadLetterSchema = z
  .object({
    id: z.uuid(),
    receivedAt: z.string(),
    code: z.string().describe('x-eco-error: why it could not be answered (UNKNOWN_SENDER, MESSAGE_TOO_LARGE, ...)'),
    reason: z.string().nullable(),
    appId: z.string().nullable(),
    messageId: z.string().nullable(),
    type: z.string().nullable(),
    size: z.number().int(),
    status: statusSchema,
    handledAt: z.string().nullable(),
    handledBy: z.string().nullable(),
  })
  .register(apiSchemas, { id: 'DeadLetter' });

const params = z.object({ id: z.uuid() });

export async function deadLetterRoutes(app: FastifyInstance, options: { deadLetters: DeadLetters }): Promise<void> {
  const { deadLetters } = options;
  const api = app.withTypeProvider<ZodTypeProvider>();

  api.get(
    '/admin/dead-letters',
    {
      schema: {
        operationId: 'listDeadLetters',
        summary: 'Received messages no peer could be answered for, newest first',
        tags: ['admin'],
        querystring: z.object({ status: statusSchema.optional(), limit: z.coerce.number().int().min(1).max(500).default(100) }),
        response: { 200: z.object({ deadLetters: z.array(deadLetterSchema) }), ...problems(400) },
      },
    },
    async (request) => ({ deadLetters: await deadLetters.list(request.query) }),
  );

  api.get(
    '/admin/dead-letters/:id',
    {
      schema: {
        operationId: 'getDeadLetter',
        summary: 'One dead letter: AMQP properties, body as received and, where it parses, its JWS header and payload (unverified)',
        tags: ['admin'],
        params,
        response: {
          200: deadLetterSchema.extend({ properties: z.record(z.string(), z.unknown()), body: z.string(), decoded: z.object({ header: z.unknown(), payload: z.unknown() }).nullable() }),
          ...problems(400, 404),
        },
      },
    },
    async (request) => (await deadLetters.get(request.params.id)) ?? notFoundLetter(request.params.id),
  );

  const steps = {
    replay: 'Publish a held dead letter again onto our eco.inbound (after registering its sender, say)',
    discard: 'Set a held dead letter aside for good (it is kept, marked discarded)',
  } as const;
  for (const [step, summary] of Object.entries(steps) as [keyof typeof steps, string][]) {
    api.post(
      `/admin/dead-letters/:id/${step}`,
      { schema: { operationId: `${step}DeadLetter`, summary, tags: ['admin'], params, response: { 200: deadLetterSchema, ...problems(400, 404, 409) } } },
      async (request) => (await deadLetters[step](request.params.id, actors.apiClient(request.client))) ?? notFoundLetter(request.params.id),
    );
  }
}

function notFoundLetter(id: string): never {
  throw notFound(`no dead letter ${id}`);
}
