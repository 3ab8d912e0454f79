import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';

export async function healthRoutes(app: FastifyInstance, options: { partyId: string }): Promise<void> {
  app.withTypeProvider<ZodTypeProvider>().get(
    '/health',
    { config: { roles: 'public' }, schema: { summary: 'Liveness', tags: ['health'], security: [], response: { 200: z.object({ status: z.literal('ok'), party: z.string() }) } } },
    async () => ({ status: 'ok' as const, party: options.partyId }),
  );
}
