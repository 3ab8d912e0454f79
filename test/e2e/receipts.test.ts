// Signed receipts (PROFILE "Receipts"): every message but a receipt is answered with one, the
// sender keeps it as proof after checking its digest, a duplicate gets the same receipt again.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { buildEnvelope, type Envelope } from '../../src/exchange/envelope.ts';
import { generateSigningKey, importJwks, type SigningKey, sign, verify } from '../../src/exchange/jose.ts';
import { bodyDigest } from '../../src/exchange/receipt.ts';
import type { Handled } from '../../src/inbound/index.ts';
import { A, api, B, count, eventually, exampleCertificate, type Pair, publishRaw, startPair } from '../support/gateways.ts';

type Receipt = { jws: string; payload: Envelope & { body: { status: string; digest: string; errors: { code: string; path?: string }[] } } };

describe('receipts', () => {
  let pair: Pair;
  let aKey: SigningKey;
  let bKey: SigningKey;
  const handledAtA: Handled[] = [];

  before(async () => {
    pair = await startPair();
    aKey = await pair.a.keys.signingKey();
    bKey = await pair.b.keys.signingKey();
    pair.a.consumer!.onHandled = (h) => handledAtA.push(h);
  });
  after(async () => {
    await pair.stop();
  });

  const fromA = (overrides: Partial<Envelope> = {}): Envelope => ({
    ...buildEnvelope({ type: 'certificate.issued', from: A, to: B, body: exampleCertificate() }),
    ...overrides,
  });

  /** The receipt B sent back to A for message `id`, as A's inbox stored it. */
  async function receiptAtA(id: string): Promise<Receipt> {
    const jws = await eventually(async () => {
      const { rows } = await pair.a.db.query<{ body: string }>("SELECT body FROM inbox WHERE type = 'receipt' AND in_reply_to = $1", [id]);
      return rows[0]?.body;
    }, `B's receipt for ${id} at A`);
    return { jws, payload: JSON.parse(Buffer.from(jws.split('.')[1]!, 'base64url').toString()) };
  }

  /** Sends `body` into B's inbox as A and returns B's receipt, after checking its digest and signature. */
  async function answerTo(body: string, id: string, appId = A): Promise<Receipt['payload']['body']> {
    await publishRaw(pair.placeB.amqpUrl, B, body, { appId, messageId: id, type: 'certificate.issued' });
    const receipt = await receiptAtA(id);
    assert.equal(receipt.payload.from, B);
    assert.equal(receipt.payload.to, A);
    assert.equal(receipt.payload.type, 'receipt');
    assert.equal(receipt.payload.body.digest, bodyDigest(Buffer.from(body)), 'the digest is of the bytes B received');
    const bKeys = await importJwks(await pair.b.keys.jwks());
    assert.ok(await verify(receipt.jws, bKeys, bKey.kid), 'the receipt is signed by B');
    return receipt.payload.body;
  }

  const codes = (body: { errors: { code: string }[] }) => body.errors.map((e) => e.code);

  it('accepts a valid message with a signed receipt', async () => {
    const envelope = fromA();
    const body = await answerTo(await sign(envelope, aKey), envelope.id);
    assert.equal(body.status, 'accepted');
    assert.deepEqual(body.errors, []);
  });

  const rejections: [string, () => Promise<{ jws: string; id: string; appId?: string }>][] = [
    [
      'SIGNATURE_INVALID',
      async () => {
        const envelope = fromA();
        const [h, , s] = (await sign(envelope, aKey)).split('.');
        const tampered = Buffer.from(JSON.stringify({ ...envelope, body: { ...envelope.body, remarks: 'changed' } })).toString('base64url');
        return { jws: `${h}.${tampered}.${s}`, id: envelope.id };
      },
    ],
    [
      'UNKNOWN_KEY',
      async () => {
        const envelope = fromA();
        return { jws: await sign(envelope, await generateSigningKey()), id: envelope.id };
      },
    ],
    [
      'SENDER_MISMATCH',
      async () => {
        const envelope = fromA();
        return { jws: await sign(envelope, aKey), id: envelope.id, appId: 'JP-MOF' };
      },
    ],
    [
      'NOT_ADDRESSED_TO_RECEIVER',
      async () => {
        const envelope = fromA({ to: 'TH-DFT' });
        return { jws: await sign(envelope, aKey), id: envelope.id };
      },
    ],
    [
      'UNSUPPORTED_PROFILE',
      async () => {
        const envelope = fromA({ profile: 'eco/2.0' });
        return { jws: await sign(envelope, aKey), id: envelope.id };
      },
    ],
    [
      'STALE_MESSAGE',
      async () => {
        const envelope = fromA({ sentAt: new Date(Date.now() - 25 * 3600_000).toISOString() });
        return { jws: await sign(envelope, aKey), id: envelope.id };
      },
    ],
    [
      'SCHEMA_INVALID',
      async () => {
        const envelope = fromA({ body: { ...exampleCertificate(), items: [] } });
        return { jws: await sign(envelope, aKey), id: envelope.id };
      },
    ],
    ['DECRYPTION_FAILED', async () => ({ jws: 'eyJhbGciOiJSU0EtT0FFUC0yNTYifQ.a.b.c.d', id: randomUUID() })],
  ];
  for (const [code, make] of rejections) {
    it(`rejects with ${code} in a signed receipt, and stores nothing`, async () => {
      const before = await count(pair.b, 'received_certificates');
      const { jws, id, appId } = await make();
      const body = await answerTo(jws, id, appId);
      assert.equal(body.status, 'rejected');
      assert.deepEqual(codes(body), [code]);
      assert.equal(await count(pair.b, 'received_certificates'), before);
    });
  }

  it('rejects the same number and version with other content as CONFLICTING_CERTIFICATE', async () => {
    const certificate = exampleCertificate();
    const first = fromA({ body: certificate });
    assert.equal((await answerTo(await sign(first, aKey), first.id)).status, 'accepted');
    const altered = fromA({ body: { ...certificate, remarks: 'quantities changed after issue' } });
    const body = await answerTo(await sign(altered, aKey), altered.id);
    assert.deepEqual(codes(body), ['CONFLICTING_CERTIFICATE']);
    const { rows } = await pair.b.db.query('SELECT dataset FROM received_certificates WHERE number = $1', [certificate.number]);
    assert.equal(rows.length, 1);
    assert.equal(rows[0].dataset.remarks, certificate.remarks, 'the first version is kept');
  });

  it('answers a duplicate with the identical receipt and stores it once', async () => {
    const envelope = fromA();
    const jws = await sign(envelope, aKey);
    await answerTo(jws, envelope.id);
    const receiptsBefore = handledAtA.length;
    await publishRaw(pair.placeB.amqpUrl, B, jws, { appId: A, messageId: envelope.id });
    // The second copy makes B send the same receipt row again: A sees the same receipt id twice.
    const again = await eventually(async () => handledAtA.slice(receiptsBefore).find((h) => h.outcome === 'duplicate'), 'the receipt again at A');
    const { rows } = await pair.b.db.query<{ id: string; attempts: number }>('SELECT o.id, o.attempts FROM outbox o JOIN inbox i ON i.receipt_id = o.id WHERE i.message_id = $1', [envelope.id]);
    assert.equal(rows.length, 1);
    assert.equal(again.outcome === 'duplicate' && again.messageId, rows[0]!.id);
    // Sent again as a fresh message (attempts and age counted afresh): a peer that keeps resending
    // because our receipts do not reach it must not get our receipt given up on.
    await eventually(
      async () => ((await count(pair.b, "outbox WHERE id = $1 AND attempts = 1 AND resent_at IS NOT NULL AND status = 'sent'", [rows[0]!.id])) === 1 ? true : undefined),
      'the receipt sent again',
    );
    assert.equal(await count(pair.b, 'received_certificates WHERE message_id = $1', [envelope.id]), 1);
    assert.equal(await count(pair.a, "inbox WHERE type = 'receipt' AND in_reply_to = $1", [envelope.id]), 1);
  });

  it('stores a message delivered many times at once exactly once, answering every copy with the one receipt', async () => {
    const handledAtB: Handled[] = [];
    pair.b.consumer!.onHandled = (h) => handledAtB.push(h);
    try {
      const envelope = fromA();
      const jws = await sign(envelope, aKey);
      const copies = 8;
      await Promise.all(Array.from({ length: copies }, () => publishRaw(pair.placeB.amqpUrl, B, jws, { appId: A, messageId: envelope.id, type: 'certificate.issued' })));
      const handled = await eventually(async () => {
        const mine = handledAtB.filter((h) => 'messageId' in h && h.messageId === envelope.id);
        return mine.length === copies ? mine : undefined;
      }, 'every copy handled at B');
      const accepted = handled.filter((h) => h.outcome === 'accepted');
      assert.equal(accepted.length, 1, 'one copy is stored');
      assert.equal(handled.filter((h) => h.outcome === 'duplicate').length, copies - 1);
      const receiptIds = new Set(handled.map((h) => ('receiptId' in h ? h.receiptId : undefined)));
      assert.equal(receiptIds.size, 1, 'every copy names the same receipt');
      const { rows } = await pair.b.db.query<{ status: string; receipt_id: string }>('SELECT status, receipt_id FROM inbox WHERE message_id = $1', [envelope.id]);
      assert.deepEqual(rows, [{ status: 'accepted', receipt_id: [...receiptIds][0] }]);
      assert.equal(await count(pair.b, 'received_certificates WHERE message_id = $1', [envelope.id]), 1);
      assert.equal(await count(pair.b, "outbox WHERE type = 'receipt' AND id = $1", [[...receiptIds][0]]), 1, 'one receipt row, sent again for each copy');
    } finally {
      pair.b.consumer!.onHandled = undefined;
    }
  });

  it('keeps a rejected message in the inbox as rejected, with the errors its receipt gave', async () => {
    const envelope = fromA({ body: { ...exampleCertificate(), exportCountry: 'ZZ' } });
    const receipt = await answerTo(await sign(envelope, aKey), envelope.id);
    assert.equal(receipt.status, 'rejected');
    const { rows } = await pair.b.db.query<{ status: string; errors: { code: string }[] }>('SELECT status, errors FROM inbox WHERE message_id = $1', [envelope.id]);
    assert.equal(rows[0]?.status, 'rejected');
    assert.deepEqual(codes(rows[0]!), codes(receipt));
    assert.equal(await count(pair.b, 'received_certificates WHERE message_id = $1', [envelope.id]), 0);
  });

  it('marks the message rejected at the sender when the receiver rejects it, keeping the errors', async () => {
    const certificate = exampleCertificate();
    // B already holds a different version 1 under this number (received earlier, say, from a forger who had A's key).
    const earlier = fromA({ body: { ...certificate, remarks: 'other content' } });
    await answerTo(await sign(earlier, aKey), earlier.id);
    const issued = await api(pair.a, 'POST', '/certificates', certificate);
    assert.equal(issued.status, 201);
    const delivery = await eventually(async () => {
      const r = await api(pair.a, 'GET', `/messages/${issued.body.messageId}`);
      return r.body.status === 'rejected' ? r.body : undefined;
    }, 'the rejection at A');
    assert.deepEqual(
      delivery.errors.map((e: { code: string }) => e.code),
      ['CONFLICTING_CERTIFICATE'],
    );
  });

  it('refuses a receipt whose digest is not of the bytes sent, then takes the right one', async () => {
    await pair.a.relay!.stop(); // keep the message unsent so that only our receipts reach A
    const issued = await api(pair.a, 'POST', '/certificates', exampleCertificate());
    const { rows } = await pair.a.db.query<{ body: string }>('SELECT body FROM outbox WHERE id = $1', [issued.body.messageId]);
    const receipt = (digest: string) => sign(buildEnvelope({ type: 'receipt', from: B, to: A, inReplyTo: issued.body.messageId, body: { status: 'accepted', digest, errors: [] } }), bKey);

    await publishRaw(pair.placeA.amqpUrl, A, await receipt(bodyDigest('other bytes')), { appId: B });
    const mismatch = await eventually(async () => {
      const r = await api(pair.a, 'GET', `/messages/${issued.body.messageId}`);
      return r.body.lastError ? r.body : undefined;
    }, 'the digest mismatch at A');
    assert.equal(mismatch.status, 'queued');
    assert.match(mismatch.lastError, /digest/);

    await publishRaw(pair.placeA.amqpUrl, A, await receipt(bodyDigest(rows[0]!.body)), { appId: B });
    await eventually(async () => ((await api(pair.a, 'GET', `/messages/${issued.body.messageId}`)).body.status === 'accepted' ? true : undefined), 'accepted at A');
  });

  it("keeps and shows at most 100 of a peer's receipt errors, each text cut, however many it sends", async () => {
    // The relay is stopped (above): the message stays unsent, and only this receipt reaches A.
    const issued = await api(pair.a, 'POST', '/certificates', exampleCertificate());
    const { rows } = await pair.a.db.query<{ body: string }>('SELECT body FROM outbox WHERE id = $1', [issued.body.messageId]);
    // 10,000 errors (under the 4 MiB a message may have), the first few with long texts.
    const errors = Array.from({ length: 10_000 }, (_, i) =>
      i < 5 ? { code: 'SCHEMA_INVALID', path: `/body/${'x'.repeat(2000)}`, message: 'y'.repeat(5000) } : { code: 'SCHEMA_INVALID', path: `/body/${i}`, message: 'bad' },
    );
    const body = { status: 'rejected', digest: bodyDigest(rows[0]!.body), errors };
    await publishRaw(pair.placeA.amqpUrl, A, await sign(buildEnvelope({ type: 'receipt', from: B, to: A, inReplyTo: issued.body.messageId, body }), bKey), { appId: B });
    const rejected = await eventually(async () => {
      const r = await api(pair.a, 'GET', `/messages/${issued.body.messageId}`);
      return r.body.status === 'rejected' ? r.body : undefined;
    }, 'rejected at A');
    assert.equal(rejected.errors.length, 100);
    assert.ok(rejected.errors.every((e: { path: string; message: string }) => e.path.length <= 500 && e.message.length <= 1000));
    const lookup = await api(pair.a, 'GET', `/certificates/${issued.body.number}`);
    assert.ok(JSON.stringify(lookup.body).length < 300_000, `the lookup stays small (${JSON.stringify(lookup.body).length} characters)`);
  });
});
