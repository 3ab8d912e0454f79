// The AsyncAPI 3 document of the wire (docs/wire.md), generated from the zod schemas that check
// inbound messages, so that the published contract cannot drift from the code.
import { stringify } from 'yaml';
import { z } from 'zod';
import { partyIdSchema } from '../dataset/index.ts';
import { INBOUND_EXCHANGE } from './amqp.ts';
import { rejectionCodes } from './codes.ts';
import { type MessageType, messageTypes, PROFILE_VERSION } from './envelope.ts';
import { messageBodySchemas } from './messages.ts';

const summaries: Record<MessageType, string> = {
  'certificate.issued': 'exporting -> importing: a new certificate, version 1',
  'certificate.replaced': 'exporting -> importing: a new version of a certificate; `replaces` names the version it supersedes',
  'certificate.cancelled': 'exporting -> importing: a certificate is withdrawn',
  'certificate.utilized': 'importing -> exporting: quantities drawn down at import clearance',
  'verification.requested': 'importing -> exporting: a request to verify a certificate',
  'verification.answered': 'exporting -> importing: the result of a verification',
  'certificate.requested': 'importing -> exporting: Pull model, send this certificate',
  'reconciliation.statement': 'either -> peer (Profile 1.1): what the sender sent and received in a period, as per-bucket counts and roots',
  'reconciliation.answered': 'peer -> statement sender (Profile 1.1): match or mismatch, and the lines missing on either side; inReplyTo names the statement',
  receipt: 'receiver -> sender: signed acknowledgement of one message (never answered itself)',
};

const camel = (type: string) => type.replace(/[.-](\w)/g, (_, c: string) => c.toUpperCase());

/** The envelope a message of `type` carries as its JWS payload. */
function envelopeFor(type: MessageType) {
  return z.object({
    profile: z.literal(PROFILE_VERSION),
    id: z.uuid().describe('unique per message; the same on every retry'),
    type: z.literal(type),
    from: partyIdSchema,
    to: partyIdSchema,
    sentAt: z.iso.datetime({ offset: true }),
    inReplyTo: type === 'receipt' ? z.uuid() : z.uuid().optional(),
    body: messageBodySchemas[type],
  });
}

export function asyncapiDocument(): string {
  const schemas: Record<string, unknown> = {};
  const messages: Record<string, unknown> = {};
  for (const type of messageTypes) {
    const converted = z.toJSONSchema(envelopeFor(type), { target: 'draft-7', io: 'input' }) as Record<string, unknown>;
    const { $schema: _s, definitions, ...envelope } = JSON.parse(JSON.stringify(converted).replaceAll('#/definitions/', '#/components/schemas/'));
    Object.assign(schemas, definitions);
    messages[camel(type)] = {
      name: type,
      title: type,
      summary: summaries[type],
      contentType: 'application/jose',
      description:
        "The AMQP body is a compact JWS (RFC 7515; `typ: eco+jws`, `alg` ES256, `kid` from the sender's JWKS) whose payload is this envelope, " +
        'or a compact JWE (RFC 7516, `cty: eco+jws`) around that JWS when the peer requires encryption.',
      payload: envelope,
      bindings: { amqp: { contentEncoding: 'utf-8', messageType: type, bindingVersion: '0.3.0' } },
    };
  }
  const messageRefs = Object.fromEntries(Object.keys(messages).map((m) => [m, { $ref: `#/components/messages/${m}` }]));
  const document = {
    asyncapi: '3.0.0',
    info: {
      title: 'e-CO Exchange Profile',
      version: '1.0.0',
      description:
        "Gateway-to-gateway exchange of electronic Certificates of Origin (docs/wire.md). Each party's broker holds its inbox; a sender publishes " +
        "to the recipient's exchange `eco.inbound` with routing key = the recipient's party id, mandatory and persistent, on a confirm " +
        'channel, with properties contentType application/jose, messageId = envelope id, type = envelope type, appId = sender party id, ' +
        `timestamp (seconds). Every message but a receipt is answered with a signed receipt; rejection codes: ${rejectionCodes.join(', ')}.`,
    },
    defaultContentType: 'application/jose',
    channels: {
      inbox: {
        address: INBOUND_EXCHANGE,
        description: "The recipient's inbox: direct exchange eco.inbound bound to the quorum queue eco.inbound with the owner's party id; dead letters go to eco.dead.",
        messages: messageRefs,
        bindings: {
          amqp: {
            is: 'routingKey',
            exchange: { name: INBOUND_EXCHANGE, type: 'direct', durable: true, autoDelete: false },
            bindingVersion: '0.3.0',
          },
        },
      },
    },
    operations: {
      sendToPeer: {
        action: 'send',
        summary: "Publish to the peer's broker; a message counts as sent once the broker confirmed it",
        channel: { $ref: '#/channels/inbox' },
        messages: Object.keys(messages).map((m) => ({ $ref: `#/channels/inbox/messages/${m}` })),
        bindings: { amqp: { mandatory: true, deliveryMode: 2, bindingVersion: '0.3.0' } },
      },
      receiveFromPeers: {
        action: 'receive',
        summary: 'Consume our own inbox: checks in PROFILE order, store, signed receipt, ack after commit',
        channel: { $ref: '#/channels/inbox' },
        messages: Object.keys(messages).map((m) => ({ $ref: `#/channels/inbox/messages/${m}` })),
        bindings: { amqp: { ack: true, bindingVersion: '0.3.0' } },
      },
    },
    components: { schemas, messages },
  };
  return stringify(document, { lineWidth: 120 });
}
