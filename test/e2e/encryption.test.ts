// Payload encryption (PROFILE: sign, then encrypt to the peer's key; JWE compact, A256GCM).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import jose from 'node-jose';
import { generateEncryptionKey } from '../../src/exchange/jose.ts';
import { A, api, B, count, eventually, exampleCertificate, inboxOfB, type Pair, startPair } from '../support/gateways.ts';

describe('encrypted exchange', () => {
  let pair: Pair;
  before(async () => {
    pair = await startPair({}, { encrypt: true });
  });
  after(async () => {
    await pair.stop();
  });

  it("sends JWE both ways; B keeps the signed JWS inside; A holds B's receipt", async () => {
    const co = exampleCertificate();
    const issued = await api(pair.a, 'POST', '/certificates', co);
    assert.equal(issued.status, 201);
    const sent = await pair.a.db.query<{ body: string }>('SELECT body FROM outbox WHERE id = $1', [issued.body.messageId]);
    const jwe = sent.rows[0]!.body;
    assert.equal(jwe.split('.').length, 5, 'a compact JWE on the wire');
    const header = JSON.parse(Buffer.from(jwe.split('.')[0]!, 'base64url').toString());
    assert.deepEqual([header.alg, header.enc, header.cty], ['ECDH-ES+A256KW', 'A256GCM', 'eco+jws']);
    assert.ok(!jwe.includes(Buffer.from(co.number).toString('base64url')), 'the certificate is not readable on the wire');

    await eventually(async () => ((await api(pair.a, 'GET', `/messages/${issued.body.messageId}`)).body.status === 'accepted' ? true : undefined), 'the accepted receipt at A');
    const stored = await pair.b.db.query<{ jws: string }>('SELECT jws FROM received_certificates WHERE number = $1', [co.number]);
    assert.equal(stored.rows[0]!.jws.split('.').length, 3, 'B keeps the signed JWS, as signed');
    const receiptAtB = await pair.b.db.query<{ body: string }>("SELECT body FROM outbox WHERE type = 'receipt' AND peer = $1 ORDER BY created_at DESC LIMIT 1", [A]);
    assert.equal(receiptAtB.rows[0]!.body.split('.').length, 5, 'the receipt travels encrypted too');
  });

  it('answers a JWE it cannot open with DECRYPTION_FAILED and stores nothing', async () => {
    const before = await count(pair.b, 'received_certificates');
    const stranger = await generateEncryptionKey();
    const jwe = String(
      await jose.JWE.createEncrypt({ format: 'compact', fields: { alg: 'ECDH-ES+A256KW', enc: 'A256GCM', kid: stranger.kid, cty: 'eco+jws' } }, stranger)
        .update(Buffer.from('not for you'))
        .final(),
    );
    const handled = await inboxOfB(pair).deliver(jwe, { appId: A, messageId: crypto.randomUUID() });
    assert.equal(handled.outcome, 'rejected');
    assert.deepEqual(handled.outcome === 'rejected' && handled.errors.map((e) => e.code), ['DECRYPTION_FAILED']);
    assert.equal(await count(pair.b, 'received_certificates'), before);
  });

  it('refuses to register a peer that requires encryption but publishes no encryption key (422)', async () => {
    const signingOnly = { keys: (await pair.b.keys.jwks()).keys.filter((k) => k.use === 'sig') };
    const response = await api(pair.a, 'PUT', `/admin/peers/${B}`, { name: 'B', amqpUrl: pair.placeB.amqpUrl, jwks: signingOnly, encrypt: true });
    assert.equal(response.status, 422);
    assert.match(response.body.detail, /no encryption key/);
  });
});
