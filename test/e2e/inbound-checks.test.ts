// Messages that fail the PROFILE receiver checks are not stored, and say why.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { buildEnvelope, type Envelope } from '../../src/exchange/envelope.ts';
import { generateSigningKey, type SigningKey, sign } from '../../src/exchange/jose.ts';
import { A, B, count, deadLetterAt, exampleCertificate, inboxOfB, type Pair, startPair } from '../support/gateways.ts';

describe('receiver checks at B', () => {
  let pair: Pair;
  let aKey: SigningKey;
  let deliver: ReturnType<typeof inboxOfB>['deliver'];

  before(async () => {
    pair = await startPair();
    aKey = await pair.a.keys.signingKey();
    deliver = inboxOfB(pair).deliver;
  });
  after(async () => {
    await pair.stop();
  });

  function envelopeFromA(overrides: Partial<Envelope> = {}): Envelope {
    return { ...buildEnvelope({ type: 'certificate.issued', from: A, to: B, body: exampleCertificate() }), ...overrides };
  }

  async function storedAtB(): Promise<number> {
    return count(pair.b, 'received_certificates');
  }

  it('stores a correctly signed message (the control case)', async () => {
    const envelope = envelopeFromA();
    const result = await deliver(await sign(envelope, aKey), { messageId: envelope.id });
    assert.equal(result.outcome, 'accepted');
    assert.equal(result.outcome === 'accepted' && result.messageId, envelope.id);
    assert.equal(await count(pair.b, 'received_certificates WHERE message_id = $1', [envelope.id]), 1);
  });

  it('rejects a tampered payload with SIGNATURE_INVALID', async () => {
    const before = await storedAtB();
    const [header, , signature] = (await sign(envelopeFromA(), aKey)).split('.');
    const forged = Buffer.from(JSON.stringify(envelopeFromA())).toString('base64url');
    const result = await deliver(`${header}.${forged}.${signature}`);
    assert.equal(result.outcome, 'rejected');
    assert.deepEqual(result.outcome === 'rejected' && result.errors.map((e) => e.code), ['SIGNATURE_INVALID']);
    assert.equal(await storedAtB(), before);
  });

  it("rejects a key that is not the sender's with UNKNOWN_KEY", async () => {
    const before = await storedAtB();
    const result = await deliver(await sign(envelopeFromA(), await generateSigningKey()));
    assert.deepEqual(result.outcome === 'rejected' && result.errors.map((e) => e.code), ['UNKNOWN_KEY']);
    assert.equal(await storedAtB(), before);
  });

  it('rejects a message for another receiver with NOT_ADDRESSED_TO_RECEIVER', async () => {
    const before = await storedAtB();
    const envelope = envelopeFromA({ to: 'TH-DFT' });
    const result = await deliver(await sign(envelope, aKey));
    assert.deepEqual(result.outcome === 'rejected' && result.errors.map((e) => e.code), ['NOT_ADDRESSED_TO_RECEIVER']);
    assert.equal(await storedAtB(), before);
  });

  it('rejects an appId that is not the sender with SENDER_MISMATCH', async () => {
    const before = await storedAtB();
    const result = await deliver(await sign(envelopeFromA(), aKey), { appId: 'JP-MOF' });
    assert.deepEqual(result.outcome === 'rejected' && result.errors.map((e) => e.code), ['SENDER_MISMATCH']);
    assert.equal(await storedAtB(), before);
  });

  it('rejects an invalid certificate with SCHEMA_INVALID and JSON paths', async () => {
    const before = await storedAtB();
    const bad = { ...exampleCertificate(), importCountry: 'Vietnam', items: [] };
    const result = await deliver(await sign(envelopeFromA({ body: bad }), aKey));
    assert.equal(result.outcome, 'rejected');
    const errors = result.outcome === 'rejected' ? result.errors : [];
    assert.deepEqual(errors.map((e) => [e.code, e.path]).sort(), [
      ['SCHEMA_INVALID', '/body/importCountry'],
      ['SCHEMA_INVALID', '/body/items'],
    ]);
    assert.equal(await storedAtB(), before);
  });

  it('rejects a unit or package kind off the UN/ECE lists with SCHEMA_INVALID at its path, naming the list', async () => {
    const before = await storedAtB();
    const co = exampleCertificate();
    const bad = { ...co, items: [{ ...co.items[0]!, quantity: { value: '1200', unit: 'ZZZ' }, packages: { count: 40, kind: 'XX' } }] };
    const result = await deliver(await sign(envelopeFromA({ body: bad }), aKey));
    assert.equal(result.outcome, 'rejected');
    const errors = result.outcome === 'rejected' ? result.errors : [];
    assert.deepEqual(errors.map((e) => [e.code, e.path, e.message]).sort(), [
      ['SCHEMA_INVALID', '/body/items/0/packages/kind', "package kind 'XX' is not in UN/ECE Recommendation 21, Revision 12 (2021)"],
      ['SCHEMA_INVALID', '/body/items/0/quantity/unit', "unit 'ZZZ' is not in UN/ECE Recommendation 20, Revision 17 (2021)"],
    ]);
    assert.equal(await storedAtB(), before);
  });

  it('dead-letters an unknown sender with UNKNOWN_SENDER in x-eco-error, and stores nothing', async () => {
    const before = await storedAtB();
    const stranger = await generateSigningKey();
    const envelope = envelopeFromA({ from: 'XX-NOBODY', id: randomUUID() });
    const result = await deliver(await sign(envelope, stranger), { appId: 'XX-NOBODY', messageId: envelope.id });
    assert.equal(result.outcome, 'dead');
    assert.equal(result.outcome === 'dead' && result.error.code, 'UNKNOWN_SENDER');
    const dead = await deadLetterAt(pair.b, envelope.id);
    assert.equal(dead.properties.headers?.['x-eco-error'], 'UNKNOWN_SENDER', 'dead-lettered to eco.dead with the reason, then held for operators');
    assert.equal(dead.code, 'UNKNOWN_SENDER');
    assert.equal(await storedAtB(), before);
  });

  it('dead-letters a body that is not a JWS at all', async () => {
    const result = await deliver('this is not a JWS', { messageId: 'garbage-1' });
    assert.equal(result.outcome === 'dead' && result.error.code, 'SIGNATURE_INVALID');
    assert.equal((await deadLetterAt(pair.b, 'garbage-1')).code, 'SIGNATURE_INVALID');
  });

  it('stores a redelivered message once', async () => {
    const envelope = envelopeFromA();
    const jws = await sign(envelope, aKey);
    const first = await deliver(jws, { messageId: envelope.id });
    const second = await deliver(jws, { messageId: envelope.id });
    assert.equal(first.outcome, 'accepted');
    assert.equal(second.outcome, 'duplicate');
    assert.equal(await count(pair.b, 'received_certificates WHERE message_id = $1', [envelope.id]), 1);
    assert.equal(await count(pair.b, 'inbox WHERE message_id = $1', [envelope.id]), 1);
  });
});
