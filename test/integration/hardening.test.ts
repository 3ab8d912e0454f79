// Weaker spots of the REST API (issue 11): a reused Idempotency-Key with another body, unbounded
// arrays, request bodies trickled in slowly. One gateway, called through app.inject but for the
// trickled body, which needs the HTTP server's own timeout and so a real socket.
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { createApiKey } from '../../src/auth/index.ts';
import type { Gateway } from '../../src/gateway.ts';
import { A, api, B, count, exampleCertificate, freshPlace, inject, registerAgreements, startTestGateway } from '../support/gateways.ts';

describe('REST hardening', () => {
  let gateway: Gateway;
  before(async () => {
    gateway = await startTestGateway(A, await freshPlace('hardening'), { ROLE: 'api', HTTP_REQUEST_TIMEOUT_MS: '1500' });
    await registerAgreements(gateway);
    // A peer whose broker is never reached: issuing only queues.
    const peer = await inject(gateway, 'PUT', `/admin/peers/${B}`, { name: 'B', amqpUrl: 'amqp://127.0.0.1:9/', jwks: await gateway.keys.jwks(), agreements: ['KR-VN-FTA', 'KR-VN-NONPREF'] });
    assert.equal(peer.status, 200);
  });
  after(async () => {
    await gateway.stop();
  });

  it('answers an Idempotency-Key reused with another body 422, and replays the same body in any key order', async () => {
    const certificate = exampleCertificate();
    const key = { 'idempotency-key': `idem-${certificate.number}` };
    assert.equal((await inject(gateway, 'POST', '/certificates', certificate, key)).status, 201);
    const reordered = Object.fromEntries(Object.entries(certificate).reverse());
    assert.equal((await inject(gateway, 'POST', '/certificates', JSON.stringify(reordered, null, 2), key)).status, 200, 'the same request, spelled differently');
    const changed = await inject(gateway, 'POST', '/certificates', { ...certificate, remarks: 'another body under the same key' }, key);
    assert.equal(changed.status, 422, JSON.stringify(changed.body));
    assert.match(changed.contentType, /problem\+json/);
    assert.match(changed.body.type, /idempotency-key-reused/);
    const elsewhere = await inject(gateway, 'POST', `/certificates?recipient=${B}`, certificate, key);
    assert.equal(elsewhere.status, 422, 'a different recipient is a different request');
    assert.equal(await count(gateway, 'certificates WHERE number = $1', [certificate.number]), 1);
  });

  it('answers what the router refuses (a too long path parameter, a malformed URL) as problem+json with the request id', async () => {
    const long = await inject(gateway, 'GET', `/certificates/${'A'.repeat(200)}`, undefined, { 'x-request-id': 'router-414' });
    assert.equal(long.status, 414);
    assert.match(long.contentType, /^application\/problem\+json/);
    assert.deepEqual([long.body.type, long.body.requestId], ['https://eco-gateway.dev/problems/fst-err-max-param-length', 'router-414']);
    const malformed = await inject(gateway, 'GET', '/certificates/%E0%A4%A');
    assert.equal(malformed.status, 400);
    assert.match(malformed.contentType, /^application\/problem\+json/);
    assert.equal(malformed.body.type, 'https://eco-gateway.dev/problems/fst-err-bad-url');
  });

  it('refuses an oversized request body with 413 problem+json, before reading it', async () => {
    const response = await inject(gateway, 'POST', '/certificates', { ...exampleCertificate(), remarks: 'x'.repeat(gateway.config.httpBodyLimitBytes) });
    assert.equal(response.status, 413);
    assert.match(response.contentType, /problem\+json/);
    assert.equal(response.body.title, 'Content too large');
  });

  it('refuses a body in any media type but JSON with 415 problem+json, text/plain included', async () => {
    const body = JSON.stringify(exampleCertificate());
    for (const type of ['text/plain', 'text/plain; charset=utf-8', 'application/xml', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x']) {
      const response = await inject(gateway, 'POST', '/certificates', body, { 'content-type': type });
      assert.equal(response.status, 415, `${type}: ${JSON.stringify(response.body)}`);
      assert.match(response.contentType, /problem\+json/);
      assert.deepEqual([response.body.type, response.body.title], ['https://eco-gateway.dev/problems/fst-err-ctp-invalid-media-type', 'Unsupported media type']);
    }
  });

  it("refuses to register a peer under our own party id, with another peer's keys, or with keys below today's strength", async () => {
    const jose = (await import('node-jose')).default;
    const register = (partyId: string, jwks: unknown) => inject(gateway, 'PUT', `/admin/peers/${partyId}`, { name: partyId, amqpUrl: 'amqp://127.0.0.1:9/', jwks, agreements: ['KR-VN-FTA'] });
    const own = await register(A, { keys: [(await jose.JWK.createKey('EC', 'P-256', { alg: 'ES256', use: 'sig' })).toJSON()] });
    assert.deepEqual([own.status, own.body.detail], [422, `${A} is this gateway's own party id: a peer cannot be registered under it`]);
    const bKeys = (await inject(gateway, 'GET', `/admin/peers/${B}`)).body;
    assert.equal(bKeys.partyId, B);
    const stolen = await register('JP-MOF', await gateway.keys.jwks());
    assert.equal(stolen.status, 422, 'the keys registered for VN-MOIT');
    assert.match(stolen.body.detail, /already a key of VN-MOIT/);
    const rsa1024 = await jose.JWK.createKey('RSA', 1024, { alg: 'PS256', use: 'sig' });
    const weak = await register('JP-MOF', { keys: [rsa1024.toJSON()] });
    assert.equal(weak.status, 422);
    assert.match(weak.body.detail, /has 1024 bits, under 2048/);
    const secp = { kty: 'EC', crv: 'secp256k1', kid: 'k1', x: 'x', y: 'y' };
    assert.match((await register('JP-MOF', { keys: [secp] })).body.detail, /curve secp256k1 .* is not one of/);
    const fine = await register('JP-MOF', { keys: [(await jose.JWK.createKey('EC', 'P-256', { alg: 'ES256', use: 'sig' })).toJSON()] });
    assert.equal(fine.status, 200, JSON.stringify(fine.body));
  });

  it('sends X-Content-Type-Options: nosniff with every answer: JSON, problems, metrics, the console, the JWKS', async () => {
    for (const path of ['/health', '/certificates/NO-SUCH', '/metrics', '/console', '/.well-known/jwks.json', '/openapi.json']) {
      const response = await gateway.app!.inject({ method: 'GET', url: path, headers: { authorization: `Bearer ${(await createApiKey(gateway.db, 'nosniff', ['admin', 'customs'])).key}` } });
      assert.equal(response.headers['x-content-type-options'], 'nosniff', path);
    }
  });

  it('refuses oversized arrays with 400 naming them, before any work', async () => {
    const item = { itemNumber: 1, hsCode: '850440', originCountry: 'KR', quantity: { value: '1', unit: 'NAR' } };
    const claim = { declarationRef: 'DECL-HUGE', certificateNumber: 'KR-X-1', exportCountry: 'KR', importer: { id: 'VN1' }, items: Array(10_000).fill(item) };
    const checks = await inject(gateway, 'POST', '/clearance/checks', claim);
    assert.equal(checks.status, 400, JSON.stringify(checks.body).slice(0, 300));
    assert.ok(
      checks.body.errors.some((e: { pointer: string }) => e.pointer === '/items'),
      JSON.stringify(checks.body.errors).slice(0, 300),
    );
    const verification = await inject(gateway, 'POST', '/verifications', { certificateNumber: 'KR-X-1', issuer: B, reasons: Array(10_000).fill('why') });
    assert.equal(verification.status, 400);
    assert.ok(verification.body.errors.some((e: { pointer: string }) => e.pointer === '/reasons'));
    assert.equal(await count(gateway, 'clearance_checks'), 0);
  });

  // Over a real socket: the request timeout is the HTTP server's, which app.inject never reaches.
  it('gives up on a request body trickled in slowly: 408 problem+json, connection closed', async () => {
    const { key } = await createApiKey(gateway.db, 'slow back-office', ['issuer']);
    const started = Date.now();
    const socket = connect(Number(new URL(gateway.url!).port), '127.0.0.1');
    const answer = new Promise<string>((resolve) => {
      let text = '';
      socket.on('data', (chunk) => (text += chunk.toString()));
      socket.on('close', () => resolve(text));
      socket.on('error', () => resolve(text));
    });
    socket.write(`POST /certificates/validate HTTP/1.1\r\nHost: gateway\r\nAuthorization: Bearer ${key}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{`);
    const trickle = setInterval(() => socket.writable && socket.write(' '), 200);
    const text = await Promise.race([answer, new Promise<string>((resolve) => setTimeout(() => resolve('(still open after 8 s)'), 8000))]);
    clearInterval(trickle);
    socket.destroy();
    assert.match(text, /^HTTP\/1\.1 408/, text);
    assert.match(text, /application\/problem\+json/, text);
    assert.ok(Date.now() - started < 6000, `answered after ${Date.now() - started} ms`);
    assert.equal((await api(gateway, 'GET', '/health', undefined, { authorization: '' })).status, 200, 'still serving');
  });
});
