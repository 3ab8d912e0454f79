// Weaker spots of the REST API (issue 11): a reused Idempotency-Key with another body.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Gateway } from '../src/gateway.ts';
import { A, api, B, count, exampleCertificate, freshPlace, registerAgreements, startTestGateway } from './support/gateways.ts';

describe('REST hardening', () => {
  let gateway: Gateway;
  before(async () => {
    gateway = await startTestGateway(A, await freshPlace('hardening'), { ROLE: 'api' });
    await registerAgreements(gateway);
    // A peer whose broker is never reached: issuing only queues.
    const peer = await api(gateway, 'PUT', `/admin/peers/${B}`, { name: 'B', amqpUrl: 'amqp://127.0.0.1:9/', jwks: await gateway.keys.jwks(), agreements: ['KR-VN-FTA', 'KR-VN-NONPREF'] });
    assert.equal(peer.status, 200);
  });
  after(async () => {
    await gateway.stop();
  });

  it('answers an Idempotency-Key reused with another body 422, and replays the same body in any key order', async () => {
    const certificate = exampleCertificate();
    const key = { 'idempotency-key': `idem-${certificate.number}` };
    assert.equal((await api(gateway, 'POST', '/certificates', certificate, key)).status, 201);
    const reordered = Object.fromEntries(Object.entries(certificate).reverse());
    assert.equal((await api(gateway, 'POST', '/certificates', JSON.stringify(reordered, null, 2), key)).status, 200, 'the same request, spelled differently');
    const changed = await api(gateway, 'POST', '/certificates', { ...certificate, remarks: 'another body under the same key' }, key);
    assert.equal(changed.status, 422, JSON.stringify(changed.body));
    assert.match(changed.contentType, /problem\+json/);
    assert.match(changed.body.type, /idempotency-key-reused/);
    const elsewhere = await api(gateway, 'POST', `/certificates?recipient=${B}`, certificate, key);
    assert.equal(elsewhere.status, 422, 'a different recipient is a different request');
    assert.equal(await count(gateway, 'certificates WHERE number = $1', [certificate.number]), 1);
  });
});
