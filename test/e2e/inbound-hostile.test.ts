// What a buggy or hostile peer sends must not jam the inbox, lose a message or go unanswered:
// text Postgres cannot keep, issuers outside their country, unsecured JWS, oversized headers.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import amqp from 'amqplib';
import { sign } from '../../src/exchange/jose.ts';
import type { Handled } from '../../src/inbound/index.ts';
import { A, B, count, eventually, exampleCertificate, inboxOfB, type Pair, startPair } from '../support/gateways.ts';

describe("a hostile or buggy peer at B's inbox", () => {
  let pair: Pair;
  let inbox: ReturnType<typeof inboxOfB>;

  before(async () => {
    pair = await startPair();
    inbox = inboxOfB(pair);
  });
  after(async () => {
    await pair.stop();
  });

  /** The rejection B sent back, with the receipt queued for A. */
  function rejection(result: Handled): { codes: string[]; paths: (string | undefined)[]; receiptId?: string } {
    assert.equal(result.outcome, 'rejected', JSON.stringify(result));
    if (result.outcome !== 'rejected') throw new Error('not rejected');
    return { codes: result.errors.map((e) => e.code), paths: result.errors.map((e) => e.path), receiptId: result.receiptId };
  }

  const unsafeStrings = { nul: 'Static\u0000converters', highSurrogate: 'Static \ud800 converters', lowSurrogate: '\udc00' };

  for (const [label, bad] of Object.entries(unsafeStrings)) {
    it(`answers a signed CO with ${label} in a string with SCHEMA_INVALID and its path, and stores nothing`, async () => {
      const co = exampleCertificate();
      (co.items[0] as { description: string }).description = bad;
      const { envelope, jws } = await inbox.fromA('certificate.issued', co);
      const result = rejection(await inbox.deliver(jws, { messageId: envelope.id }));
      assert.deepEqual(result.codes, ['SCHEMA_INVALID']);
      assert.deepEqual(result.paths, ['/body/items/0/description']);
      assert.ok(result.receiptId, 'a receipt goes back to A');
      assert.equal(await count(pair.b, 'received_certificates WHERE number = $1', [co.number]), 0);
      assert.equal(await count(pair.b, "inbox WHERE message_id = $1 AND status = 'rejected'", [envelope.id]), 1);
    });
  }

  it('answers NUL in a member name, a cancellation reason and a verification reason alike', async () => {
    const cases = [
      { type: 'certificate.issued' as const, body: { ...exampleCertificate(), 'x\u0000': 1 }, path: '/body/x\u0000' },
      { type: 'certificate.cancelled' as const, body: { certificateNumber: 'KR-1', reason: 'fraud\u0000', cancelledAt: new Date().toISOString() }, path: '/body/reason' },
      { type: 'verification.requested' as const, body: { requestId: randomUUID(), certificateNumber: 'KR-1', reasons: ['ok', '\ud83d'], questions: '' }, path: '/body/reasons/1' },
    ];
    for (const c of cases) {
      const { envelope, jws } = await inbox.fromA(c.type, c.body);
      const result = rejection(await inbox.deliver(jws, { messageId: envelope.id, type: c.type }));
      assert.deepEqual(result.codes, ['SCHEMA_INVALID'], c.type);
      // The path is kept safe to store: the NUL itself is replaced.
      assert.deepEqual(result.paths, [c.path.replace('\u0000', '\ufffd')], c.type);
    }
  });

  it('answers a tampered message whose AMQP type holds U+0000 with SIGNATURE_INVALID at once', async () => {
    const { envelope, jws } = await inbox.fromA('certificate.issued', exampleCertificate());
    const [header, payload, signature] = jws.split('.');
    const tampered = `${header}.${payload}.${signature!.slice(0, -4)}AAAA`;
    const result = rejection(await inbox.deliver(tampered, { messageId: envelope.id, type: 'certificate.\u0000issued' }));
    assert.deepEqual(result.codes, ['SIGNATURE_INVALID']);
    assert.ok(result.receiptId);
  });

  it('dead-letters at once a `from` that is no party id (U+0000, far too long), without asking Postgres', async () => {
    for (const from of ['KR-\u0000KCS', `KR-${'K'.repeat(5000)}`]) {
      const envelope = { ...(await inbox.fromA('certificate.issued', exampleCertificate())).envelope, from };
      const jws = await sign(envelope, await pair.a.keys.signingKey());
      const result = await inbox.deliver(jws, { messageId: envelope.id, appId: A });
      assert.equal(result.outcome, 'dead', JSON.stringify(result));
      assert.equal(result.outcome === 'dead' && result.error.code, 'UNKNOWN_SENDER');
    }
  });

  it("refuses a CO whose exportCountry is not the sender's, or whose importCountry is not ours, with NOT_A_PARTY", async () => {
    // JP is a party to AANZ-style agreement RCEP, so the agreement alone would let it through.
    const foreignExport = exampleCertificate({ exportCountry: 'JP', agreement: 'RCEP' });
    const foreignImport = exampleCertificate({ importCountry: 'JP', agreement: 'RCEP' });
    for (const [co, path] of [
      [foreignExport, '/body/exportCountry'],
      [foreignImport, '/body/importCountry'],
    ] as const) {
      const { envelope, jws } = await inbox.fromA('certificate.issued', co);
      const result = rejection(await inbox.deliver(jws, { messageId: envelope.id }));
      assert.deepEqual(result.codes, ['NOT_A_PARTY']);
      assert.deepEqual(result.paths, [path]);
      assert.equal(await count(pair.b, 'received_certificates WHERE number = $1', [co.number]), 0);
    }
  });

  it('answers an unsecured JWS (alg none) and an HS256 one from a known peer with SIGNATURE_INVALID', async () => {
    const { envelope } = await inbox.fromA('certificate.issued', exampleCertificate());
    const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
    const unsecured = `${part({ alg: 'none', typ: 'eco+jws' })}.${part(envelope)}.`;
    const kid = (await pair.a.keys.signingKey()).kid;
    const hmac = `${part({ alg: 'HS256', kid, typ: 'eco+jws' })}.${part(envelope)}.${Buffer.from('mac').toString('base64url')}`;
    for (const body of [unsecured, hmac]) {
      const result = rejection(await inbox.deliver(body, { messageId: envelope.id }));
      assert.deepEqual(result.codes, ['SIGNATURE_INVALID']);
      assert.ok(result.receiptId, 'answered with a signed receipt, not dead-lettered');
    }
    assert.equal(await count(pair.b, 'received_certificates WHERE message_id = $1', [envelope.id]), 0);
  });

  it('keeps taking messages when garbage comes with headers too large to copy, and records each as a dead letter', async () => {
    const garbage = 30;
    const connection = await amqp.connect(pair.placeB.amqpUrl, { noDelay: true });
    const channel = await connection.createConfirmChannel();
    const huge = 'h'.repeat(65_400);
    const ids: string[] = [];
    for (let i = 0; i < garbage; i++) {
      const messageId = randomUUID();
      ids.push(messageId);
      channel.publish('eco.inbound', B, Buffer.from(`garbage ${i}`), { messageId, appId: i % 2 ? A : 'KR-\u0000', type: 'certificate.issued', headers: { big: huge } });
    }
    const valid = await Promise.all(Array.from({ length: 5 }, () => inbox.fromA('certificate.issued', exampleCertificate())));
    for (const { envelope, jws } of valid) channel.publish('eco.inbound', B, Buffer.from(jws), { messageId: envelope.id, appId: A, type: 'certificate.issued' });
    await channel.waitForConfirms();
    await connection.close();

    for (const { envelope } of valid) {
      await eventually(async () => ((await count(pair.b, 'received_certificates WHERE message_id = $1', [envelope.id])) === 1 ? true : undefined), `CO ${envelope.id} stored`, 30_000);
    }
    const recorded = await eventually(
      async () => {
        const n = await count(pair.b, 'dead_letters WHERE message_id = ANY($1)', [ids]);
        return n === garbage ? n : undefined;
      },
      'every garbage message recorded as a dead letter',
      30_000,
    );
    assert.equal(recorded, garbage);
    assert.equal(await count(pair.b, "dead_letters WHERE message_id = ANY($1) AND code NOT IN ('SIGNATURE_INVALID', 'UNKNOWN_SENDER')", [ids]), 0, 'each with the reason it was refused for');
  });
});
