import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { actors } from '../audit/index.ts';
import type { Db } from '../db/index.ts';
import { notFound } from '../errors.ts';
import { apiSchemas, problems } from '../http/index.ts';
import { createApiKey, listApiClients, revokeApiKey, roleSchema } from './api-keys.ts';

const clientSchema = z
  .object({
    id: z.uuid(),
    name: z.string(),
    keyPrefix: z.string(),
    roles: z.array(roleSchema),
    status: z.enum(['active', 'revoked']),
    createdAt: z.string(),
    rateLimitPerMinute: z.number().int().positive().nullable().describe('its own REST requests a minute; null: the gateway default (RATE_LIMIT_PER_MINUTE)'),
  })
  .register(apiSchemas, { id: 'ApiClient' });

export async function authRoutes(app: FastifyInstance, options: { db: Db }): Promise<void> {
  const { db } = options;
  const api = app.withTypeProvider<ZodTypeProvider>();

  api.post(
    '/admin/api-keys',
    {
      schema: {
        operationId: 'createApiKey',
        summary: 'Create an API key for a caller with roles; the key is in this answer only',
        tags: ['admin'],
        body: z.object({
          name: z.string().trim().min(1).max(200),
          roles: z.array(roleSchema).min(1).max(roleSchema.options.length),
          rateLimitPerMinute: z.number().int().min(1).max(10_000_000).describe('REST requests a minute for this key, e.g. for a busy customs system; default RATE_LIMIT_PER_MINUTE').optional(),
        }),
        response: { 201: z.object({ client: clientSchema, key: z.string().describe('shown once; only its hash is kept') }), ...problems(400) },
      },
    },
    async (request, reply) =>
      reply.code(201).send(await createApiKey(db, request.body.name, request.body.roles, actors.apiClient(request.client), { rateLimitPerMinute: request.body.rateLimitPerMinute })),
  );

  api.get(
    '/admin/api-keys',
    { schema: { operationId: 'listApiClients', summary: 'API clients (never their keys)', tags: ['admin'], response: { 200: z.object({ clients: z.array(clientSchema) }) } } },
    async () => ({
      clients: await listApiClients(db),
    }),
  );

  api.delete(
    '/admin/api-keys/:id',
    { schema: { operationId: 'revokeApiKey', summary: 'Revoke an API key', tags: ['admin'], params: z.object({ id: z.uuid() }), response: { 204: z.null(), ...problems(400, 404) } } },
    async (request, reply) => {
      if (!(await revokeApiKey(db, request.params.id, actors.apiClient(request.client)))) throw notFound(`no active API key ${request.params.id}`);
      return reply.code(204).send(null);
    },
  );
}
