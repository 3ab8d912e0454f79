import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { EcoError } from '../errors.ts';
import { toProblem } from './problem.ts';
import { apiSchemas, problemSchema } from './schemas.ts';

const up = z.enum(['ok', 'down']);
/** The NOT_READY problem names the dependency that is down, in the members of the 200 answer. */
const notReadySchema = problemSchema.extend({ postgres: up, broker: up }).register(apiSchemas, { id: 'NotReadyProblem' });

export type Readiness = { postgres: boolean; broker: boolean };

export async function healthRoutes(app: FastifyInstance, options: { partyId: string; readiness: () => Promise<Readiness> }): Promise<void> {
  const api = app.withTypeProvider<ZodTypeProvider>();
  api.get(
    '/health',
    {
      config: { roles: 'public' },
      schema: { operationId: 'getHealth', summary: 'Liveness', tags: ['health'], security: [], response: { 200: z.object({ status: z.literal('ok'), party: z.string() }) } },
    },
    async () => ({ status: 'ok' as const, party: options.partyId }),
  );
  api.get(
    '/ready',
    {
      config: { roles: 'public' },
      schema: {
        operationId: 'getReadiness',
        summary: 'Readiness: Postgres and our broker reachable (503 otherwise)',
        tags: ['health'],
        security: [],
        response: { 200: z.object({ status: z.literal('ready'), postgres: z.literal('ok'), broker: z.literal('ok') }), 503: notReadySchema },
        examples: {
          200: { status: 'ready', postgres: 'ok', broker: 'ok' },
          503: toProblem(new EcoError('NOT_READY', 'the broker cannot be reached', undefined, { postgres: 'ok', broker: 'down' })).body,
        },
      },
    },
    async () => {
      const { postgres, broker } = await options.readiness();
      if (!postgres || !broker) {
        const down = [postgres ? '' : 'Postgres', broker ? '' : 'the broker'].filter(Boolean).join(' and ');
        // The same members as the 200 answer, each 'ok' or 'down', so that a probe sees which one is down.
        throw new EcoError('NOT_READY', `${down} cannot be reached`, undefined, { postgres: postgres ? 'ok' : 'down', broker: broker ? 'ok' : 'down' });
      }
      return { status: 'ready' as const, postgres: 'ok' as const, broker: 'ok' as const };
    },
  );
}
