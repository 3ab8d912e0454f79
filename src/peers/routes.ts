import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { partyIdSchema } from '../exchange/party.ts';
import { HttpProblem, notFound } from '../http/problem.ts';
import { apiSchemas, problems } from '../http/schemas.ts';
import { jwksSchema, PeerError, peerInputSchema, redactUrl, type Peer, type PeerDirectory } from './index.ts';

const peerViewSchema = z
  .object({
    partyId: z.string(),
    name: z.string(),
    amqpUrl: z.string().describe('the peer\'s broker, password hidden'),
    jwks: jwksSchema,
    jwksUrl: z.string().nullable(),
    encrypt: z.boolean(),
    agreements: z.array(z.string()),
    status: z.enum(['active', 'suspended']),
  })
  .register(apiSchemas, { id: 'Peer' });

const view = (peer: Peer) => ({ ...peer, amqpUrl: redactUrl(peer.amqpUrl) });

export async function peerRoutes(app: FastifyInstance, options: { peers: PeerDirectory }): Promise<void> {
  const { peers } = options;
  const api = app.withTypeProvider<ZodTypeProvider>();

  api.put(
    '/admin/peers/:partyId',
    {
      schema: {
        summary: 'Register or update a peer gateway (its broker, its keys, the agreements both are party to)',
        tags: ['admin'],
        params: z.object({ partyId: partyIdSchema }),
        body: peerInputSchema,
        response: { 200: peerViewSchema, ...problems(400, 422) },
      },
    },
    async (request) => {
      try {
        return view(await peers.upsert(request.params.partyId, request.body));
      } catch (error) {
        if (error instanceof PeerError || (error as Error).name === 'TimeoutError' || (error as Error).name === 'TypeError') {
          throw new HttpProblem(422, 'peer-keys', 'Peer keys unusable', (error as Error).message, [{ pointer: '/jwksUrl', detail: (error as Error).message }]);
        }
        throw error;
      }
    },
  );

  api.get(
    '/admin/peers',
    { schema: { summary: 'List registered peers', tags: ['admin'], response: { 200: z.object({ peers: z.array(peerViewSchema) }) } } },
    async () => ({ peers: (await peers.list()).map(view) }),
  );

  api.get(
    '/admin/peers/:partyId',
    {
      schema: {
        summary: 'One registered peer',
        tags: ['admin'],
        params: z.object({ partyId: partyIdSchema }),
        response: { 200: peerViewSchema, ...problems(400, 404) },
      },
    },
    async (request) => {
      const found = await peers.find(request.params.partyId);
      if (!found) throw notFound(`no peer ${request.params.partyId} is registered`);
      const { keys: _keys, ...peer } = found;
      return view(peer);
    },
  );
}
