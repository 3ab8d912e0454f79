// A message the consumer cannot process (database failing) is requeued a bounded number of times,
// never acked unprocessed, and ends on eco.dead with the reason; nothing is stored half-way.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { buildEnvelope } from '../../src/exchange/envelope.ts';
import { sign } from '../../src/exchange/jose.ts';
import { A, api, B, count, deadLetterAt, eventually, exampleCertificate, freshPlace, type Pair, peekQueue, publishRaw, startPair, startTestGateway } from '../support/gateways.ts';

describe('consumer on a failing database', () => {
  let pair: Pair;
  before(async () => {
    pair = await startPair({ CONSUMER_MAX_DELIVERIES: '3' });
  });
  after(async () => {
    await pair.stop();
  });

  it('requeues, then dead-letters with PROCESSING_FAILED; a later copy is stored once', async () => {
    const envelope = buildEnvelope({ type: 'certificate.issued', from: A, to: B, body: exampleCertificate() });
    const jws = await sign(envelope, await pair.a.keys.signingKey());
    await pair.b.db.query('ALTER TABLE inbox RENAME TO inbox_unavailable');
    try {
      await publishRaw(pair.placeB.amqpUrl, B, jws, { appId: A, messageId: envelope.id });
      const dead = await deadLetterAt(pair.b, envelope.id);
      assert.equal(dead.code, 'PROCESSING_FAILED');
      assert.equal(dead.properties.headers?.['x-eco-error'], 'PROCESSING_FAILED');
      assert.match(String(dead.properties.headers?.['x-eco-reason']), /inbox/);
      assert.equal(dead.body, jws, 'the original bytes are kept for a replay');
    } finally {
      await pair.b.db.query('ALTER TABLE inbox_unavailable RENAME TO inbox');
    }
    assert.equal(await count(pair.b, 'received_certificates WHERE message_id = $1', [envelope.id]), 0);
    const queued = await peekQueue(pair.placeB.amqpUrl, 'eco.inbound');
    assert.equal(queued.length, 0, 'nothing left unacked or requeued');

    await publishRaw(pair.placeB.amqpUrl, B, jws, { appId: A, messageId: envelope.id });
    await eventually(async () => ((await count(pair.b, 'received_certificates WHERE message_id = $1', [envelope.id])) === 1 ? true : undefined), 'the replayed copy stored');
  });
});

describe('readiness', () => {
  it('answers 503 problem+json when the broker cannot be reached', async () => {
    const place = await freshPlace('ready');
    const gateway = await startTestGateway(A, { databaseUrl: place.databaseUrl, amqpUrl: 'amqp://guest:guest@127.0.0.1:1/' }, { ROLE: 'api' });
    try {
      const ready = await api(gateway, 'GET', '/ready', undefined, { authorization: '' });
      assert.equal(ready.status, 503);
      assert.match(ready.contentType, /problem\+json/);
      assert.match(ready.body.detail, /broker/);
      assert.equal((await api(gateway, 'GET', '/health', undefined, { authorization: '' })).status, 200, 'alive all the same');
    } finally {
      await gateway.stop();
    }
  });
});

describe('rate limit', () => {
  it('answers 429 problem+json past RATE_LIMIT_PER_MINUTE for one key', async () => {
    const gateway = await startTestGateway(A, await freshPlace('rate'), { ROLE: 'api', RATE_LIMIT_PER_MINUTE: '5' });
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 6; i++) statuses.push((await api(gateway, 'GET', '/admin/peers')).status);
      assert.deepEqual(statuses, [200, 200, 200, 200, 200, 429]);
      const limited = await api(gateway, 'GET', '/admin/peers');
      assert.match(limited.contentType, /problem\+json/);
      assert.equal(limited.body.title, 'Too many requests');
    } finally {
      await gateway.stop();
    }
  });
});
