// Issue -> relay -> B's broker -> B's consumer -> lookup at B, on real Postgres and RabbitMQ.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { migrate } from '../../src/db/index.ts';
import { A, api, B, count, eventually, exampleCertificate, type Pair, startPair } from '../support/gateways.ts';

describe('push model: a CO issued at A can be looked up at B', () => {
  let pair: Pair;
  before(async () => {
    pair = await startPair();
  });
  after(async () => {
    await pair.stop();
  });

  it('issues, signs, pushes, verifies, stores and answers the lookup', async () => {
    const certificate = exampleCertificate();
    const issued = await api(pair.a, 'POST', '/certificates', certificate);
    assert.equal(issued.status, 201, JSON.stringify(issued.body));
    assert.deepEqual(
      { ...issued.body, messageId: undefined },
      {
        number: certificate.number,
        version: 1,
        status: 'valid',
        recipient: B,
        messageId: undefined,
        delivery: { status: 'queued' },
      },
    );

    const lookup = await eventually(async () => {
      const r = await api(pair.b, 'GET', `/certificates/${certificate.number}`);
      return r.status === 200 ? r : undefined;
    }, 'the certificate at B');
    assert.equal(lookup.body.issuer, A);
    assert.equal(lookup.body.direction, 'received');
    assert.equal(lookup.body.version, 1);
    assert.equal(lookup.body.status, 'valid');
    assert.equal(lookup.body.signatureVerified, true);
    assert.deepEqual(lookup.body.certificate, certificate);

    // B keeps the original JWS byte for byte: it is exactly what A stored in its outbox.
    const { rows } = await pair.a.db.query<{ body: string }>('SELECT body FROM outbox WHERE id = $1', [issued.body.messageId]);
    const original = await api(pair.b, 'GET', `/certificates/${certificate.number}`, undefined, { accept: 'application/jose' });
    assert.equal(original.contentType, 'application/jose');
    assert.equal(original.body, rows[0]!.body);

    // A holds B's signed receipt as proof of delivery.
    const atA = await eventually(async () => {
      const r = await api(pair.a, 'GET', `/certificates/${certificate.number}`);
      return r.body.deliveries?.[0]?.status === 'accepted' ? r : undefined;
    }, 'an accepted receipt at A');
    assert.equal(atA.body.direction, 'issued');
    const [delivery] = atA.body.deliveries;
    assert.equal(delivery.peer, B);
    assert.equal(delivery.attempts, 1);
    assert.ok(delivery.sentAt && delivery.receiptAt);
    assert.deepEqual(delivery.errors, []);
    const receipt = await api(pair.a, 'GET', `/messages/${issued.body.messageId}/receipt`);
    assert.equal(receipt.status, 200);
    assert.equal(receipt.contentType, 'application/jose');
    const payload = JSON.parse(Buffer.from(receipt.body.split('.')[1], 'base64url').toString());
    assert.equal(payload.type, 'receipt');
    assert.equal(payload.from, B);
    assert.equal(payload.inReplyTo, issued.body.messageId);
    assert.equal(payload.body.status, 'accepted');
  });

  it('answers 400 problem+json with a pointer for every failing field, and stores nothing', async () => {
    const before = await count(pair.a, 'certificates');
    const outboxBefore = await count(pair.a, 'outbox');
    const bad = exampleCertificate();
    const body = {
      ...bad,
      exportCountry: 'Korea',
      items: [{ ...bad.items[0]!, hsCode: '85', quantity: { value: '12,5', unit: 'NAR' } }],
      issuedAt: '24/11/2026',
    };
    const response = await api(pair.a, 'POST', '/certificates', body);
    assert.equal(response.status, 400);
    assert.match(response.contentType, /^application\/problem\+json/);
    assert.equal(response.body.status, 400);
    const pointers = response.body.errors.map((e: { pointer: string }) => e.pointer).sort();
    assert.deepEqual(pointers, ['/exportCountry', '/issuedAt', '/items/0/hsCode', '/items/0/quantity/value']);
    assert.equal(await count(pair.a, 'certificates'), before);
    assert.equal(await count(pair.a, 'outbox'), outboxBefore);
  });

  it('refuses a unit or package kind that is not in UN/ECE Rec. 20 / Rec. 21, at its pointer, on issue and on validate', async () => {
    const co = exampleCertificate();
    const body = { ...co, items: [{ ...co.items[0]!, quantity: { value: '1200', unit: 'ZZZ' }, packages: { count: 40, kind: 'XX' } }] };
    const before = await count(pair.a, 'certificates');
    for (const path of ['/certificates/validate', '/certificates']) {
      const response = await api(pair.a, 'POST', path, body);
      assert.equal(response.status, 400, path);
      assert.match(response.contentType, /^application\/problem\+json/);
      assert.deepEqual(
        response.body.errors.map((e: { pointer: string; detail: string }) => [e.pointer, e.detail]).sort(),
        [
          ['/items/0/packages/kind', "package kind 'XX' is not in UN/ECE Recommendation 21, Revision 12 (2021)"],
          ['/items/0/quantity/unit', "unit 'ZZZ' is not in UN/ECE Recommendation 20, Revision 17 (2021)"],
        ],
        path,
      );
    }
    assert.equal(await count(pair.a, 'certificates'), before);
    const real = { ...co, items: [{ ...co.items[0]!, quantity: { value: '1200', unit: 'C62' }, packages: { count: 40, kind: 'BX' } }] };
    assert.equal((await api(pair.a, 'POST', '/certificates/validate', real)).status, 200);
  });

  it('answers 400 for a body that is not JSON, and 404 problem+json for an unknown number', async () => {
    const notJson = await api(pair.a, 'POST', '/certificates', '{"number": ');
    assert.equal(notJson.status, 400);
    assert.match(notJson.contentType, /^application\/problem\+json/);

    const missing = await api(pair.b, 'GET', '/certificates/KR-NEVER-ISSUED');
    assert.equal(missing.status, 404);
    assert.match(missing.contentType, /^application\/problem\+json/);
    assert.equal(missing.body.title, 'Not found');
  });

  it('refuses an oversized request with 413 problem+json, storing nothing', async () => {
    const before = await count(pair.a, 'outbox');
    const huge = { ...exampleCertificate(), remarks: 'x'.repeat(2 * 1024 * 1024) };
    const response = await api(pair.a, 'POST', '/certificates', huge);
    assert.equal(response.status, 413);
    assert.match(response.contentType, /problem\+json/);
    assert.equal(await count(pair.a, 'outbox'), before);
  });

  it('refuses a second certificate with the same number (409) and replays an Idempotency-Key (200)', async () => {
    const certificate = exampleCertificate();
    const first = await api(pair.a, 'POST', '/certificates', certificate, { 'idempotency-key': `k-${certificate.number}` });
    assert.equal(first.status, 201);
    const replay = await api(pair.a, 'POST', '/certificates', certificate, { 'idempotency-key': `k-${certificate.number}` });
    assert.equal(replay.status, 200);
    assert.equal(replay.body.messageId, first.body.messageId);
    const duplicate = await api(pair.a, 'POST', '/certificates', certificate);
    assert.equal(duplicate.status, 409);
    assert.equal(await count(pair.a, 'certificates WHERE number = $1', [certificate.number]), 1);
    assert.equal(await count(pair.a, 'outbox WHERE certificate_number = $1', [certificate.number]), 1);
  });

  it('refuses an Idempotency-Key reused for another certificate (422), storing nothing', async () => {
    const first = exampleCertificate();
    assert.equal((await api(pair.a, 'POST', '/certificates', first, { 'idempotency-key': `k2-${first.number}` })).status, 201);
    const other = exampleCertificate();
    const reused = await api(pair.a, 'POST', '/certificates', other, { 'idempotency-key': `k2-${first.number}` });
    assert.equal(reused.status, 422);
    assert.match(reused.body.detail, new RegExp(first.number));
    assert.equal(await count(pair.a, 'certificates WHERE number = $1', [other.number]), 0);
  });

  it('refuses a peer whose JWKS URL does not answer (422), keeping the registered one', async () => {
    const before = await api(pair.a, 'GET', `/admin/peers/${B}`);
    const response = await api(pair.a, 'PUT', `/admin/peers/${B}`, { name: 'B', amqpUrl: pair.placeB.amqpUrl, jwksUrl: 'http://127.0.0.1:1/.well-known/jwks.json' });
    assert.equal(response.status, 422);
    assert.match(response.contentType, /problem\+json/);
    assert.deepEqual((await api(pair.a, 'GET', `/admin/peers/${B}`)).body, before.body);
  });

  it('refuses a certificate whose issuer is another party (422)', async () => {
    const certificate = exampleCertificate({ issuer: { partyId: 'JP-MOF', name: 'someone else' } });
    const response = await api(pair.a, 'POST', '/certificates', certificate);
    assert.equal(response.status, 422);
    assert.deepEqual(
      response.body.errors.map((e: { pointer: string }) => e.pointer),
      ['/issuer/partyId'],
    );
  });

  it('publishes its public key and never a private part', async () => {
    const jwks = await api(pair.a, 'GET', '/.well-known/jwks.json');
    assert.equal(jwks.status, 200);
    assert.deepEqual(jwks.body.keys.map((k: { use: string; alg: string }) => [k.use, k.alg]).sort(), [
      ['enc', 'ECDH-ES+A256KW'],
      ['sig', 'ES256'],
    ]);
    assert.ok(
      jwks.body.keys.every((k: { d?: string }) => k.d === undefined),
      'public parts only',
    );
  });

  it('reports readiness: Postgres and broker reachable', async () => {
    const ready = await api(pair.a, 'GET', '/ready', undefined, { authorization: '' });
    assert.equal(ready.status, 200);
    assert.deepEqual(ready.body, { status: 'ready', postgres: 'ok', broker: 'ok' });
  });

  it('applies migrations idempotently', async () => {
    assert.deepEqual(await migrate(pair.a.db), []);
    assert.deepEqual(await migrate(pair.a.db), []);
  });
});
