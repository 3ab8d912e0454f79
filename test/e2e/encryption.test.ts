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

  /** A JWE to B's own encryption key, as any sender that knows B's JWKS could make. */
  async function toB(plaintext: Buffer, options: { zip?: boolean } = {}): Promise<string> {
    const jwk = (await pair.b.keys.jwks()).keys.find((k) => k.use === 'enc')!;
    const key = await jose.JWK.asKey(jwk);
    const fields = { alg: String(jwk.alg), enc: 'A256GCM', kid: jwk.kid, cty: 'eco+jws' };
    return String(
      await jose.JWE.createEncrypt({ format: 'compact', fields, ...(options.zip ? { zip: true } : {}) }, key)
        .update(plaintext)
        .final(),
    );
  }

  it('refuses a compressed JWE (a bomb) unopened with DECRYPTION_FAILED, fast and without memory growth', async () => {
    // 64 MiB of one byte deflate to about 64 KiB: inflated on the event loop it would hold the process.
    const bomb = await toB(Buffer.alloc(64 * 1024 * 1024, 'a'), { zip: true });
    assert.ok(bomb.length < 1024 * 1024, `the bomb is small on the wire (${bomb.length} bytes)`);
    const rssBefore = process.memoryUsage().rss;
    const started = Date.now();
    const handled = await inboxOfB(pair).deliver(bomb, { appId: A, messageId: crypto.randomUUID() });
    assert.deepEqual(handled.outcome === 'rejected' && handled.errors.map((e) => [e.code, e.message]), [
      ['DECRYPTION_FAILED', 'the sender was not authenticated: a compressed JWE (zip) is refused: the profile does not compress'],
    ]);
    assert.ok(Date.now() - started < 10_000, `answered in ${Date.now() - started} ms`);
    assert.ok(process.memoryUsage().rss - rssBefore < 200 * 1024 * 1024, 'the gateway (in this process) did not inflate it');
  });

  it('answers a JWE that holds no JWS, or another JWE, with a signed SIGNATURE_INVALID receipt; a JWE from an unknown appId is dead-lettered unopened', async () => {
    const inbox = inboxOfB(pair);
    for (const inner of [Buffer.from('plain text, not a JWS'), Buffer.from(await toB(Buffer.from('a.b.c')))]) {
      const handled = await inbox.deliver(await toB(inner), { appId: A, messageId: crypto.randomUUID() });
      assert.equal(handled.outcome, 'rejected', JSON.stringify(handled));
      assert.deepEqual(handled.outcome === 'rejected' && handled.errors.map((e) => e.code), ['SIGNATURE_INVALID']);
      assert.ok(handled.outcome === 'rejected' && handled.receiptId, 'answered with a receipt');
    }
    const unknown = await inbox.deliver(await toB(Buffer.from('x.y.z')), { appId: 'XX-NOBODY', messageId: crypto.randomUUID() });
    assert.deepEqual(unknown.outcome === 'dead' && unknown.error.code, 'UNKNOWN_SENDER');
  });

  it('refuses to register a peer that requires encryption but publishes no encryption key (422)', async () => {
    const signingOnly = { keys: (await pair.b.keys.jwks()).keys.filter((k) => k.use === 'sig') };
    const response = await api(pair.a, 'PUT', `/admin/peers/${B}`, { name: 'B', amqpUrl: pair.placeB.amqpUrl, jwks: signingOnly, encrypt: true });
    assert.equal(response.status, 422);
    assert.match(response.body.detail, /no encryption key/);
  });
});
