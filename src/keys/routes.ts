import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { apiSchemas } from '../http/schemas.ts';
import type { OwnKeys } from './index.ts';

export async function keyRoutes(app: FastifyInstance, options: { keys: OwnKeys }): Promise<void> {
  app.withTypeProvider<ZodTypeProvider>().get(
    '/.well-known/jwks.json',
    {
      config: { roles: 'public' },
      schema: {
        security: [],
        summary: 'Our public keys (RFC 7517): peers verify our signatures with them',
        tags: ['keys'],
        response: { 200: z.object({ keys: z.array(z.looseObject({ kty: z.string(), kid: z.string().optional() })) }).register(apiSchemas, { id: 'Jwks' }) },
      },
    },
    async (_request, reply) => {
      reply.header('cache-control', 'public, max-age=300');
      return options.keys.jwks();
    },
  );
}
