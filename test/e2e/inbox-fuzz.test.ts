// B's inbox under random traffic: bodies, properties and headers of every shape (huge, nested,
// NUL, lone surrogates, wrong types, missing), validly signed envelopes with one member made
// hostile, JWEs of every kind (valid, compressed, nested, holding no JWS, for another key), and
// valid COs among them. Afterwards every message is in exactly one place (answered
// with an audit entry of its verdict, or kept as a dead letter), every valid CO is stored once,
// nothing failed processing, and the consumer still takes messages. FUZZ_SEED picks another seed.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import amqp from 'amqplib';
import fc from 'fast-check';
import jose from 'node-jose';
import { buildEnvelope, messageTypes } from '../../src/exchange/envelope.ts';
import { generateEncryptionKey, type SigningKey, sign } from '../../src/exchange/jose.ts';
import { A, B, count, eventually, exampleCertificate, type Pair, startPair } from '../support/gateways.ts';

const MESSAGES = Number(process.env.FUZZ_INBOX_MESSAGES ?? 400);

// Values a hostile or buggy peer might put anywhere.
const nasty = fc.oneof(
  fc.constantFrom('\u0000', 'a\u0000b', '\ud800', 'x\udc00y', '\ud83d\ude00', '', ' ', '__proto__', 'constructor', '{}', '%00', '\\u0000'),
  fc.string({ maxLength: 30 }),
  fc.constant('z'.repeat(100_000)),
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.constant(Array.from({ length: 5000 }, (_, i) => i)),
  fc.constant(JSON.parse(`${'['.repeat(40)}1${']'.repeat(40)}`)),
  fc.dictionary(fc.constantFrom('a', '\u0000', '\ud800', '__proto__'), fc.string({ maxLength: 5 }), { maxKeys: 3 }),
  fc.jsonValue({ maxDepth: 3 }),
);

/** Where in a certificate a hostile value goes: any member, known or not. */
const certificatePath = fc
  .constantFrom(
    ['number'],
    ['version'],
    ['kind'],
    ['agreement'],
    ['issuedAt'],
    ['issuer', 'name'],
    ['issuer', 'partyId'],
    ['exporter', 'name'],
    ['exporter'],
    ['importCountry'],
    ['exportCountry'],
    ['items'],
    ['items', 0, 'description'],
    ['items', 0, 'hsCode'],
    ['items', 0, 'quantity', 'value'],
    ['items', 0, 'itemNumber'],
    ['remarks'],
    ['flags'],
    ['transport', 'loadingPort'],
    ['unknownMember'],
    ['\u0000'],
    ['replaces'],
  )
  .map((path): (string | number)[] => [...path]);

type Plan =
  | { kind: 'valid' }
  | { kind: 'certificate'; path: (string | number)[]; value: unknown }
  | { kind: 'envelope'; member: string; value: unknown }
  | { kind: 'garbage'; body: string | Uint8Array }
  | { kind: 'jwe'; variant: 'valid' | 'compressed' | 'nested' | 'not-jws' | 'other-key' };

const plan: fc.Arbitrary<Plan> = fc.oneof(
  { arbitrary: fc.constant({ kind: 'valid' as const }), weight: 3 },
  { arbitrary: fc.record({ kind: fc.constant('certificate' as const), path: certificatePath, value: nasty }), weight: 4 },
  { arbitrary: fc.record({ kind: fc.constant('envelope' as const), member: fc.constantFrom('profile', 'id', 'type', 'from', 'to', 'sentAt', 'inReplyTo', 'body'), value: nasty }), weight: 2 },
  {
    arbitrary: fc.record({ kind: fc.constant('jwe' as const), variant: fc.constantFrom('valid' as const, 'compressed' as const, 'nested' as const, 'not-jws' as const, 'other-key' as const) }),
    weight: 2,
  },
  {
    arbitrary: fc.record({
      kind: fc.constant('garbage' as const),
      body: fc.oneof(fc.string({ maxLength: 200 }), fc.uint8Array({ maxLength: 2000 }), fc.constantFrom('', '.', 'a.b.c', 'a.b.c.d.e', 'e30.e30.', 'e30.e30.e30.e30.e30', '{"from":"KR-KCS"}')),
    }),
    weight: 2,
  },
);

const properties = fc.record(
  {
    appId: fc.oneof(fc.constant(A), fc.constant(A), fc.constant(A), fc.constant(B), fc.constantFrom('KR-\u0000', '\ud800', ''), fc.string({ maxLength: 20 })),
    messageId: fc.oneof(fc.constant('envelope'), fc.uuid(), fc.string({ maxLength: 40 })),
    type: fc.oneof(fc.constantFrom(...messageTypes), fc.string({ maxLength: 40 })),
    contentType: fc.constantFrom('application/jose', 'text/plain', '\u0000'),
    timestamp: fc.integer({ min: 0, max: 2 ** 31 }),
    // Up to three values of 21.7 kB: what a sender's amqplib can encode, but not with our headers added.
    headers: fc.dictionary(
      fc.oneof(fc.constantFrom('x-eco-error', 'x-eco-reason', 'x-eco-dead-id', 'x-death', 'x-delivery-count', '\u0000'), fc.string({ maxLength: 10 })),
      fc.oneof(fc.string({ maxLength: 20 }), fc.integer(), fc.boolean(), fc.constant('H'.repeat(21_700)), fc.dictionary(fc.string({ maxLength: 5 }), fc.string({ maxLength: 5 }), { maxKeys: 2 })),
      { maxKeys: 3 },
    ),
  },
  { requiredKeys: [] },
);

function setAt(target: Record<string | number, unknown>, path: (string | number)[], value: unknown): void {
  let node = target;
  for (const key of path.slice(0, -1)) node = node[key] as Record<string | number, unknown>;
  node[path.at(-1)!] = value;
}

describe('inbox fuzz', () => {
  let pair: Pair;
  let aKey: SigningKey;
  /** Encrypts to B's own key (as any sender knowing B's JWKS can), or to a stranger's. */
  let encrypt: (plaintext: string, options?: { zip?: boolean; otherKey?: boolean }) => Promise<string>;
  before(async () => {
    pair = await startPair();
    aKey = await pair.a.keys.signingKey();
    const jwk = (await pair.b.keys.jwks()).keys.find((k) => k.use === 'enc')!;
    const bKey = await jose.JWK.asKey(jwk);
    const stranger = await generateEncryptionKey();
    encrypt = async (plaintext, options = {}) => {
      const key = options.otherKey ? stranger : bKey;
      const fields = { alg: String(jwk.alg), enc: 'A256GCM', kid: key.kid, cty: 'eco+jws' };
      return String(
        await jose.JWE.createEncrypt({ format: 'compact', fields, ...(options.zip ? { zip: true } : {}) }, key)
          .update(Buffer.from(plaintext))
          .final(),
      );
    };
  });
  after(async () => {
    await pair.stop();
  });

  it(`accounts for each of ${MESSAGES} random messages exactly once and keeps consuming`, async () => {
    const seed = Number(process.env.FUZZ_SEED ?? 20261127);
    const samples = fc.sample(fc.tuple(plan, properties), { numRuns: MESSAGES, seed });
    const validNumbers: string[] = [];
    const connection = await amqp.connect(pair.placeB.amqpUrl, { noDelay: true });
    const channel = await connection.createConfirmChannel();
    for (const [p, props] of samples) {
      let body: Buffer;
      let envelopeId: string = randomUUID();
      if (p.kind === 'garbage') {
        body = Buffer.from(p.body);
      } else {
        const co = exampleCertificate() as unknown as Record<string | number, unknown>;
        if (p.kind === 'certificate') setAt(co, p.path, p.value);
        const envelope: Record<string, unknown> = { ...buildEnvelope({ type: 'certificate.issued', from: A, to: B, body: co }) };
        if (p.kind === 'envelope') envelope[p.member] = p.value;
        envelopeId = typeof envelope.id === 'string' ? envelope.id : envelopeId;
        const valid = p.kind === 'valid' || (p.kind === 'jwe' && p.variant === 'valid');
        if (valid && props.appId === A) validNumbers.push(co.number as string);
        const jws = await sign(envelope, aKey);
        if (p.kind !== 'jwe') body = Buffer.from(jws);
        else if (p.variant === 'valid') body = Buffer.from(await encrypt(jws));
        else if (p.variant === 'compressed') body = Buffer.from(await encrypt(jws, { zip: true }));
        else if (p.variant === 'nested') body = Buffer.from(await encrypt(await encrypt(jws)));
        else if (p.variant === 'not-jws') body = Buffer.from(await encrypt(JSON.stringify(envelope)));
        else body = Buffer.from(await encrypt(jws, { otherKey: true }));
      }
      const { messageId, ...rest } = props;
      channel.publish('eco.inbound', B, body, { ...rest, persistent: true, ...(messageId === undefined ? {} : { messageId: messageId === 'envelope' ? envelopeId : messageId }) });
    }
    await channel.waitForConfirms();
    await connection.close();

    // Each message leaves exactly one audit entry of what became of it: accepted or rejected (the
    // receiver's verdict, in the same transaction as the receipt) or dead-lettered (when drained).
    const accounted = () => count(pair.b, "audit_log WHERE action IN ('message.accepted', 'message.rejected', 'message.dead-lettered')");
    await eventually(async () => ((await accounted()) >= MESSAGES ? true : undefined), `all ${MESSAGES} messages accounted for`, 120_000).catch(async (error) => {
      console.log(`# accounted for ${await accounted()} of ${MESSAGES}`);
      throw error;
    });
    await new Promise((r) => setTimeout(r, 500)); // nothing accounted twice arrives late
    assert.equal(await accounted(), MESSAGES, 'each message accounted once');
    assert.equal(await count(pair.b, "dead_letters WHERE code IN ('PROCESSING_FAILED', 'BROKER_DEAD_LETTERED')"), 0, 'no message failed processing');
    const dead = await count(pair.b, 'dead_letters');
    assert.equal(await count(pair.b, "audit_log WHERE action = 'message.dead-lettered'"), dead, 'every dead letter recorded');
    for (const number of validNumbers) assert.equal(await count(pair.b, 'received_certificates WHERE number = $1', [number]), 1, `valid CO ${number} stored once`);
    console.log(`# inbox fuzz: ${MESSAGES} messages, ${validNumbers.length} valid COs stored, ${dead} dead letters, ${await count(pair.b, "inbox WHERE status = 'rejected'")} rejected with a receipt`);
    assert.ok(validNumbers.length > 20 && dead > 20, 'the mix reached every outcome');

    // Still consuming.
    const co = exampleCertificate();
    const envelope = buildEnvelope({ type: 'certificate.issued', from: A, to: B, body: co });
    const after = await amqp.connect(pair.placeB.amqpUrl);
    const ch = await after.createConfirmChannel();
    ch.publish('eco.inbound', B, Buffer.from(await sign(envelope, aKey)), { appId: A, messageId: envelope.id, type: envelope.type, persistent: true });
    await ch.waitForConfirms();
    await after.close();
    await eventually(async () => ((await count(pair.b, 'received_certificates WHERE number = $1', [co.number])) === 1 ? true : undefined), 'the consumer to take one more CO');
  });
});
