// Floods of made-up API keys (issue 11): limited per client address before authentication, the
// Authorization header parsed strictly, the per-key limit keyed on the key, the key cache bounded.
// Over real HTTP, not app.inject: the limits are per client address and per connection, as a socket has them.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { createApiKey } from '../../src/auth/index.ts';
import type { Gateway } from '../../src/gateway.ts';
import { A, freshPlace, startTestGateway } from '../support/gateways.ts';

const madeUpKey = () => `eco_${randomBytes(4).toString('hex')}_${randomBytes(32).toString('base64url')}`;

/** Counts the key lookups the gateway sends to Postgres from now on. */
function countKeyLookups(gateway: Gateway): () => number {
  let lookups = 0;
  const query = gateway.db.query.bind(gateway.db) as (...args: unknown[]) => unknown;
  (gateway.db as unknown as { query: (...args: unknown[]) => unknown }).query = (...args: unknown[]) => {
    const text = typeof args[0] === 'string' ? args[0] : (args[0] as { text?: string }).text;
    if (text?.includes('api_clients')) lookups++;
    return query(...args);
  };
  return () => lookups;
}

async function call(gateway: Gateway, authorization: string, path = '/admin/peers'): Promise<{ status: number; contentType: string; retryAfter: string | null }> {
  const response = await fetch(gateway.url + path, { headers: { authorization } });
  await response.arrayBuffer();
  return { status: response.status, contentType: response.headers.get('content-type') ?? '', retryAfter: response.headers.get('retry-after') };
}

describe('unauthenticated floods', () => {
  let place: { databaseUrl: string; amqpUrl: string };
  const started: Gateway[] = [];
  const start = async (env: Record<string, string>) => {
    const gateway = await startTestGateway(A, place, { ROLE: 'api', ...env });
    started.push(gateway);
    return gateway;
  };
  before(async () => {
    place = await freshPlace('flood');
  });
  after(async () => {
    for (const gateway of started) await gateway.stop();
  });

  it('answers made-up keys 429 past the per-address limit, without a Postgres query each', async () => {
    const gateway = await start({ RATE_LIMIT_PER_ADDRESS_PER_MINUTE: '20' });
    const lookups = countKeyLookups(gateway);
    const answers = [];
    for (let i = 0; i < 30; i++) answers.push(await call(gateway, `Bearer ${madeUpKey()}`));
    assert.deepEqual(
      answers.map((a) => a.status),
      [...Array(20).fill(401), ...Array(10).fill(429)],
    );
    assert.match(answers[29]!.contentType, /problem\+json/);
    assert.ok(Number(answers[29]!.retryAfter) > 0, 'Retry-After says when');
    assert.ok(lookups() <= 20, `${lookups()} key lookups for 30 requests`);
    // Public routes count against the address too, and their 429 is problem+json as well...
    const page = await call(gateway, '', '/console');
    assert.equal(page.status, 429);
    assert.match(page.contentType, /problem\+json/);
    // ...but not the probes and the JWKS (issue 15): a flooded API still answers its load balancer.
    assert.equal((await call(gateway, '', '/health')).status, 200);
  });

  it('refuses an Authorization header that is not exactly "Bearer <key>" with 401, before any lookup', async () => {
    const gateway = await start({});
    const { key } = await createApiKey(gateway.db, 'flood', ['admin']);
    assert.equal((await call(gateway, `Bearer ${key}`)).status, 200);
    const lookups = countKeyLookups(gateway);
    const variants = (k: string) => [
      `Bearer  ${k}`,
      `Bearer\t${k}`,
      `Bearer ${k}x`,
      `Bearer ${k},Bearer ${k}`,
      `Basic ${k}`,
      k,
      `Bearer ${k.slice(0, -1)}`,
      `Bearer ${k.replace(/^eco_/, 'ECO_')}`,
      `Bearer ${k} ${k}`,
    ];
    for (const authorization of variants(key)) assert.equal((await call(gateway, authorization)).status, 401, JSON.stringify(authorization));
    const before = lookups();
    for (const authorization of [...variants(madeUpKey()), `Bearer eco_00000000_not-a-real-key`, `Bearer ${'x'.repeat(8000)}`]) {
      const answer = await call(gateway, authorization);
      assert.equal(answer.status, 401, JSON.stringify(authorization.slice(0, 80)));
      assert.match(answer.contentType, /problem\+json/);
    }
    assert.equal(lookups() - before, 0, 'a malformed key costs no query');
  });

  it('keys the per-key limit on the key, whatever the header looks like', async () => {
    const gateway = await start({ RATE_LIMIT_PER_MINUTE: '5' });
    const { key } = await createApiKey(gateway.db, 'bucket', ['admin']);
    const { key: other } = await createApiKey(gateway.db, 'another', ['admin']);
    for (let i = 0; i < 5; i++) assert.equal((await call(gateway, `Bearer ${key}`)).status, 200);
    // The scheme is case-insensitive (RFC 9110), but it is the same key and so the same bucket.
    assert.equal((await call(gateway, `bearer ${key}`)).status, 429);
    assert.equal((await call(gateway, `Bearer  ${key}`)).status, 401);
    assert.equal((await call(gateway, `Bearer ${other}`)).status, 200, 'another key has its own bucket');
  });

  it('gives a key created with its own rate limit that limit, the others the default', async () => {
    const gateway = await start({ RATE_LIMIT_PER_MINUTE: '3' });
    const { key: admin } = await createApiKey(gateway.db, 'operator', ['admin']);
    // Through the API, as an operator would, and read back.
    const created = await fetch(`${gateway.url}/admin/api-keys`, {
      method: 'POST',
      headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'busy customs', roles: ['customs'], rateLimitPerMinute: 8 }),
    });
    assert.equal(created.status, 201);
    const { key: busy, client } = (await created.json()) as { key: string; client: { id: string; rateLimitPerMinute: number | null } };
    assert.equal(client.rateLimitPerMinute, 8);
    const listed = await fetch(`${gateway.url}/admin/api-keys`, { headers: { authorization: `Bearer ${admin}` } });
    const clients = ((await listed.json()) as { clients: { id: string; rateLimitPerMinute: number | null }[] }).clients;
    assert.equal(clients.find((c) => c.id === client.id)?.rateLimitPerMinute, 8);
    assert.equal(clients.find((c) => c.id !== client.id)?.rateLimitPerMinute, null, 'no limit of its own: the default');
    // The operator's key had 3 requests a minute and has used 2.
    assert.equal((await call(gateway, `Bearer ${admin}`)).status, 200);
    assert.equal((await call(gateway, `Bearer ${admin}`)).status, 429);
    for (let i = 0; i < 8; i++) assert.equal((await call(gateway, `Bearer ${busy}`, '/certificates/NONE')).status, 404, `request ${i + 1} of 8`);
    const past = await call(gateway, `Bearer ${busy}`, '/certificates/NONE');
    assert.equal(past.status, 429);
    assert.match(past.contentType, /problem\+json/);
    // A limit outside 1 to 10,000,000 is refused.
    const { key: roomy } = await createApiKey(gateway.db, 'roomy operator', ['admin'], undefined, { rateLimitPerMinute: 100 });
    for (const rateLimitPerMinute of [0, -1, 1.5, 20_000_000]) {
      const refused = await fetch(`${gateway.url}/admin/api-keys`, {
        method: 'POST',
        headers: { authorization: `Bearer ${roomy}`, 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'x', roles: ['customs'], rateLimitPerMinute }),
      });
      await refused.arrayBuffer();
      assert.equal(refused.status, 400, String(rateLimitPerMinute));
    }
  });

  it('keeps a bounded number of keys in its cache, unknown ones included', async () => {
    const gateway = started[0]!;
    const auth = await import('../../src/auth/index.ts');
    const { KeyLookup } = auth as unknown as { KeyLookup: new (...args: unknown[]) => { find(key: string): Promise<unknown>; readonly size: number } };
    assert.equal(typeof KeyLookup, 'function', 'auth exports its bounded key cache');
    const lookups = countKeyLookups(gateway);
    const cache = new KeyLookup(gateway.db, { ttlMs: 60_000, maxEntries: 50 });
    const unknown = madeUpKey();
    await cache.find(unknown);
    await cache.find(unknown);
    assert.equal(lookups(), 1, 'an unknown key is remembered as unknown for a while');
    for (let i = 0; i < 200; i++) await cache.find(madeUpKey());
    assert.ok(cache.size <= 50, `${cache.size} entries`);
  });
});
