// A foreign party for tests: its own signing key and its own inbox (a vhost on the test broker),
// registered at a gateway as a peer. It signs what it is told to, whatever that claims, publishes it
// into the gateway's inbox, and reads the receipts the gateway sends back: a buggy or hostile
// partner, or simply a second one.
import { randomBytes } from 'node:crypto';
import amqp from 'amqplib';
import { buildEnvelope, type Envelope, type MessageType } from '../../src/exchange/envelope.ts';
import { declareInbox } from '../../src/exchange/index.ts';
import { decodeUnverified, generateSigningKey, type SigningKey, sign } from '../../src/exchange/jose.ts';
import type { Gateway } from '../../src/gateway.ts';
import { api, eventually, exampleAgreements, publishRaw, services } from './gateways.ts';

export type ForeignPeer = {
  partyId: string;
  key: SigningKey;
  /** Its own inbox, where the gateway sends it receipts. */
  inboxUrl: string;
  /** Signs an envelope from this party to `at` (any member may be overridden) and publishes it. */
  send(type: MessageType, body: Record<string, unknown>, overrides?: Partial<Envelope>): Promise<{ envelope: Envelope; jws: string }>;
  /** The receipt the gateway sent this party for message `id` (waits for it). */
  receiptFor(id: string): Promise<{ status: string; digest: string; errors: { code: string; path?: string }[] }>;
  /** Receipts so far, by the id they answer. */
  receipts(): Promise<Map<string, { status: string; errors: { code: string }[] }>>;
};

export async function foreignPeer(at: Gateway, inboxUrlOfAt: string, partyId: string, options: { countries?: string[] } = {}): Promise<ForeignPeer> {
  const key = await generateSigningKey();
  const vhost = `eco_peer_${partyId.toLowerCase().replace(/[^a-z0-9]/g, '_')}_${randomBytes(3).toString('hex')}`;
  await services.rabbit.addVhost(vhost);
  const inboxUrl = services.rabbit.url(vhost);
  const connection = await amqp.connect(inboxUrl);
  const channel = await connection.createConfirmChannel();
  await declareInbox(channel, partyId);
  await connection.close();
  const registered = await api(at, 'PUT', `/admin/peers/${partyId}`, {
    name: `foreign ${partyId}`,
    amqpUrl: inboxUrl,
    jwks: { keys: [key.toJSON()] },
    agreements: Object.keys(exampleAgreements),
    ...(options.countries ? { countries: options.countries } : {}),
  });
  if (registered.status !== 200) throw new Error(`registering ${partyId}: ${registered.status} ${JSON.stringify(registered.body)}`);

  const seen = new Map<string, { status: string; digest: string; errors: { code: string; path?: string }[] }>();
  async function drain(): Promise<void> {
    const c = await amqp.connect(inboxUrl);
    try {
      const ch = await c.createChannel();
      for (;;) {
        const message = await ch.get('eco.inbound', { noAck: true });
        if (!message) break;
        const payload = decodeUnverified(message.content.toString('utf8'))?.payload as { type?: string; inReplyTo?: string; body?: never } | undefined;
        if (payload?.type === 'receipt' && payload.inReplyTo) seen.set(payload.inReplyTo, payload.body!);
      }
    } finally {
      await c.close();
    }
  }

  return {
    partyId,
    key,
    inboxUrl,
    async send(type, body, overrides = {}) {
      const envelope = { ...buildEnvelope({ type, from: partyId, to: at.config.partyId, body }), ...overrides };
      const jws = await sign(envelope, key);
      await publishRaw(inboxUrlOfAt, at.config.partyId, jws, { appId: overrides.from ?? partyId, messageId: envelope.id, type });
      return { envelope, jws };
    },
    async receiptFor(id) {
      return eventually(async () => {
        await drain();
        return seen.get(id);
      }, `${partyId}'s receipt for ${id}`);
    },
    async receipts() {
      await drain();
      return seen;
    },
  };
}
