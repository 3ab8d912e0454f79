import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { actors } from '../audit/index.ts';
import { apiSchemas, problems } from '../http/index.ts';
import type { KeyInfo, OwnKeys } from './own-keys.ts';

const jwkSchema = z.looseObject({ kty: z.string(), kid: z.string().optional() });

const keySchema = z
  .object({
    kid: z.string(),
    use: z.enum(['sig', 'enc', 'trust']).describe('trust: signs our trust list (/.well-known/eco-trust.jws) and nothing else'),
    alg: z.string(),
    status: z.enum(['published', 'active', 'retired', 'revoked']),
    createdAt: z.string(),
    activatedAt: z.string().nullable(),
    retiredAt: z.string().nullable(),
    expiresAt: z.string().nullable().describe('a retired key stays published and decrypting until then'),
    revokedAt: z.string().nullable(),
    publicJwk: jwkSchema,
  })
  .describe('one of our keys; the private part is never shown')
  .register(apiSchemas, { id: 'OwnKey' });

export async function keyRoutes(app: FastifyInstance, options: { keys: OwnKeys }): Promise<void> {
  const { keys } = options;
  const api = app.withTypeProvider<ZodTypeProvider>();

  api.get(
    '/.well-known/jwks.json',
    {
      config: { roles: 'public' },
      schema: {
        security: [],
        operationId: 'getJwks',
        summary: 'Our public keys (RFC 7517): peers verify our signatures and encrypt to us with them',
        tags: ['keys'],
        // Public, but read from Postgres: 503 when it cannot be reached.
        response: { 200: z.object({ keys: z.array(jwkSchema) }).register(apiSchemas, { id: 'Jwks' }), ...problems(503) },
      },
    },
    async (_request, reply) => {
      // Short, so that a key published ahead of a rotation reaches peers' caches soon.
      reply.header('cache-control', 'public, max-age=60');
      return keys.jwks();
    },
  );

  api.get(
    '/admin/keys',
    { schema: { operationId: 'listKeys', summary: 'Our signing and encryption keys with their lifecycle', tags: ['admin'], response: { 200: z.object({ keys: z.array(keySchema) }) } } },
    async () => ({
      keys: await keys.list(),
    }),
  );

  api.post(
    '/admin/keys',
    {
      schema: {
        operationId: 'createKey',
        summary: 'Create a key: published in our JWKS at once, used only once activated',
        tags: ['admin'],
        body: z.object({ use: z.enum(['sig', 'enc', 'trust']) }),
        response: { 201: keySchema, ...problems(400) },
      },
    },
    async (request, reply) => reply.code(201).send(await keys.create(request.body.use, actors.apiClient(request.client))),
  );

  const steps = {
    activate: 'Make a published key the active one; the key it replaces is retired (still published and decrypting for the grace period)',
    retire: 'Withdraw a published key; peers who fetched it can use it for the grace period',
  } as const;
  const kidParams = z.object({ kid: z.string().min(1).max(200) });
  for (const [step, summary] of Object.entries(steps) as [keyof typeof steps, string][]) {
    api.post(
      `/admin/keys/:kid/${step}`,
      { schema: { operationId: `${step}Key`, summary, tags: ['admin'], params: kidParams, response: { 200: keySchema, ...problems(400, 404, 409) } } },
      async (request): Promise<KeyInfo> => keys[step](request.params.kid, actors.apiClient(request.client)),
    );
  }

  api.post(
    '/admin/keys/:kid/revoke',
    {
      schema: {
        operationId: 'revokeKey',
        summary: 'Withdraw a retired or published key at once (compromise): no longer published, no longer decrypting, and every seal it signed fails verification',
        description: 'The trust list names the key with `revokedAt` from then on. `at` is the instant of the compromise (default now), never in the future.',
        tags: ['admin'],
        params: kidParams,
        body: z.object({ at: z.iso.datetime({ offset: true }).max(40).optional() }).nullish(),
        response: { 200: keySchema, ...problems(400, 404, 409, 422) },
      },
    },
    async (request): Promise<KeyInfo> => {
      const at = request.body?.at;
      return keys.revoke(request.params.kid, actors.apiClient(request.client), at ? new Date(at) : undefined);
    },
  );
}
