import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { actors } from '../audit/index.ts';
import { partyIdSchema } from '../dataset/index.ts';
import { EcoError, notFound } from '../errors.ts';
import { pingBroker } from '../exchange/index.ts';
import { apiSchemas, problems } from '../http/index.ts';
import { type KnownPeer, type Peer, type PeerDirectory, peerInputSchema, publicJwkSchema } from './directory.ts';

// A component, not inline: route schemas leave out zod metadata such as maxProperties.
apiSchemas.add(publicJwkSchema, { id: 'PublicJwk' });

const peerViewSchema = z
  .object({
    partyId: z.string(),
    name: z.string(),
    amqpUrl: z.string().describe("the peer's broker, password hidden"),
    jwks: z.object({ keys: z.array(z.looseObject({ kty: z.string(), kid: z.string() })) }).describe('public keys only'),
    jwksUrl: z.string().nullable(),
    encrypt: z.boolean(),
    agreements: z.array(z.string()),
    status: z.enum(['active', 'suspended']),
  })
  .register(apiSchemas, { id: 'Peer' });

/** What operators see of a peer: never its broker password (amqpUrl is already redacted). */
const view = ({ keys: _keys, brokerUrl: _brokerUrl, ...peer }: Peer & Partial<Pick<KnownPeer, 'keys' | 'brokerUrl'>>): Peer => peer;

export type PeerRouteDeps = {
  peers: PeerDirectory;
  /** Resumes a suspended peer and releases what was held for it (outbound/ does: it owns the outbox). */
  resumePeer: (partyId: string, actor: string) => Promise<Peer | undefined>;
};

export async function peerRoutes(app: FastifyInstance, options: PeerRouteDeps): Promise<void> {
  const { peers, resumePeer } = options;
  const api = app.withTypeProvider<ZodTypeProvider>();

  api.put(
    '/admin/peers/:partyId',
    {
      schema: {
        operationId: 'registerPeer',
        summary: 'Register or update a peer gateway (its broker, its keys, the agreements both are party to)',
        tags: ['admin'],
        params: z.object({ partyId: partyIdSchema }),
        body: peerInputSchema,
        response: { 200: peerViewSchema, ...problems(400, 422) },
      },
    },
    async (request) => view(await peers.upsert(request.params.partyId, request.body, actors.apiClient(request.client))),
  );

  api.get('/admin/peers', { schema: { operationId: 'listPeers', summary: 'List registered peers', tags: ['admin'], response: { 200: z.object({ peers: z.array(peerViewSchema) }) } } }, async () => ({
    peers: (await peers.list()).map(view),
  }));

  api.get(
    '/admin/peers/:partyId',
    {
      schema: {
        operationId: 'getPeer',
        summary: 'One registered peer',
        tags: ['admin'],
        params: z.object({ partyId: partyIdSchema }),
        response: { 200: peerViewSchema, ...problems(400, 404) },
      },
    },
    async (request) => {
      const found = await peers.find(request.params.partyId);
      if (!found) throw notFound(`no peer ${request.params.partyId} is registered`);
      return view(found);
    },
  );

  const params = z.object({ partyId: partyIdSchema });
  for (const [step, status] of [
    ['suspend', 'suspended'],
    ['resume', 'active'],
  ] as const) {
    api.post(
      `/admin/peers/:partyId/${step}`,
      {
        schema: {
          operationId: `${step}Peer`,
          summary: step === 'suspend' ? 'Suspend a peer: its messages are refused and nothing is sent to it' : 'Resume a suspended peer; what was held for it is sent',
          tags: ['admin'],
          params,
          response: { 200: peerViewSchema, ...problems(400, 404) },
        },
      },
      async (request) => {
        const actor = actors.apiClient(request.client);
        const partyId = request.params.partyId;
        const peer = status === 'active' ? await resumePeer(partyId, actor) : await peers.setStatus(partyId, status, actor);
        if (!peer) throw notFound(`no peer ${partyId} is registered`);
        return view(peer);
      },
    );
  }

  api.post(
    '/admin/peers/:partyId/refresh-keys',
    {
      schema: {
        operationId: 'refreshPeerKeys',
        summary: "Read the peer's JWKS from its URL now (it is also re-read on an unknown kid and periodically)",
        tags: ['admin'],
        params,
        response: { 200: peerViewSchema, ...problems(400, 404, 422) },
      },
    },
    async (request) => {
      const partyId = request.params.partyId;
      const found = await peers.find(partyId);
      if (!found) throw notFound(`no peer ${partyId} is registered`);
      if (!found.jwksUrl) throw new EcoError('PEER_KEYS', `peer ${partyId} was registered with inline keys, not a JWKS URL`);
      peers.allowRefresh(partyId);
      return view((await peers.refreshKeys(partyId))!);
    },
  );

  api.post(
    '/admin/peers/:partyId/ping',
    {
      schema: {
        operationId: 'pingPeer',
        summary: "Connection test: publish a ping the peer's broker returns unrouted (nothing reaches its consumer)",
        tags: ['admin'],
        params,
        response: {
          200: z.object({ ok: z.boolean(), connectMs: z.number().optional(), roundTripMs: z.number().optional(), error: z.string().optional() }).register(apiSchemas, { id: 'PingResult' }),
          ...problems(400, 404),
        },
      },
    },
    async (request) => {
      const found = await peers.find(request.params.partyId);
      if (!found) throw notFound(`no peer ${request.params.partyId} is registered`);
      return pingBroker(found.brokerUrl, `eco-ping ${request.params.partyId}`, request.log);
    },
  );
}
