import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { EcoError } from '../errors.ts';
import { toProblem } from './problem.ts';
import { apiSchemas, problemSchema } from './schemas.ts';

/** The NOT_READY problem says what is wrong, in the members of the 200 answer and in words. */
const notReadySchema = problemSchema
  .extend({
    postgres: z.enum(['ok', 'down', 'unwritable']).describe('unwritable: a standby, read-only, or a write just failed for lack of disk'),
    broker: z.enum(['ok', 'down', 'alarm']).describe('alarm: the broker blocks publishers (memory or disk alarm)'),
    reasons: z.array(z.string()),
  })
  .register(apiSchemas, { id: 'NotReadyProblem' });

export type Readiness = {
  postgres: 'ok' | 'down' | 'unwritable';
  broker: 'ok' | 'down' | 'alarm';
  /** What is wrong, in words, when something is. */
  reasons: string[];
};

export async function healthRoutes(app: FastifyInstance, options: { partyId: string; readiness: { check(): Promise<Readiness> } }): Promise<void> {
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
        summary: 'Readiness: Postgres reachable and able to write, our broker reachable and not in an alarm (503 with Retry-After otherwise)',
        tags: ['health'],
        security: [],
        response: { 200: z.object({ status: z.literal('ready'), postgres: z.literal('ok'), broker: z.literal('ok') }), 503: notReadySchema },
        examples: {
          200: { status: 'ready', postgres: 'ok', broker: 'ok' },
          503: toProblem(
            new EcoError('NOT_READY', 'the broker blocks publishers: low on memory (a memory or disk alarm)', undefined, {
              postgres: 'ok',
              broker: 'alarm',
              reasons: ['the broker blocks publishers: low on memory (a memory or disk alarm)'],
            }),
          ).body,
        },
      },
    },
    async () => {
      const { postgres, broker, reasons } = await options.readiness.check();
      // The same members as the 200 answer, so that a probe sees which one is wrong, and how.
      if (reasons.length) throw new EcoError('NOT_READY', reasons.join('; '), undefined, { postgres, broker, reasons });
      return { status: 'ready' as const, postgres: 'ok' as const, broker: 'ok' as const };
    },
  );
}
