// Every operation of openapi.yaml with random paths, queries and bodies (random JSON, malformed
// text, the example certificate with one field changed; oversized arrays and strings) and odd
// headers: never a 500, every refusal problem+json, and a refused request changes no stored data.
// The seed is fixed so that a run is repeatable; FUZZ_SEED picks another.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import pg from 'pg';
import { parse } from 'yaml';
import { createApiKey } from '../../src/auth/index.ts';
import type { Gateway } from '../../src/gateway.ts';
import { A, B, exampleAgreements, exampleCertificate, freshPlace, inject, registerAgreements, startTestGateway } from '../support/gateways.ts';

const document = parse(readFileSync(new URL('../../openapi.yaml', import.meta.url), 'utf8'));
const operations = Object.entries(document.paths as Record<string, Record<string, unknown>>).flatMap(([path, methods]) =>
  Object.keys(methods).map((method) => ({ method: method.toUpperCase(), path })),
);

/** Every stored row, as one digest per table; the audit log by its count (the sealer fills in hashes meanwhile). */
async function fingerprint(gateway: Gateway): Promise<Record<string, string>> {
  const { rows: tables } = await gateway.db.query<{ tablename: string }>("SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'audit_log' ORDER BY tablename");
  const digests: Record<string, string> = {};
  for (const { tablename } of tables) {
    const { rows } = await gateway.db.query<{ digest: string }>(`SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) AS digest FROM "${tablename}" t`);
    digests[tablename] = rows[0]!.digest;
  }
  const { rows } = await gateway.db.query<{ n: number }>('SELECT count(*)::int AS n FROM audit_log');
  digests.audit_log = String(rows[0]!.n);
  return digests;
}

/** Leaf paths of the example certificate, for bodies that are valid but for one field. */
function leaves(value: unknown, prefix: (string | number)[] = []): (string | number)[][] {
  if (value === null || typeof value !== 'object') return [prefix];
  return Object.entries(value).flatMap(([key, child]) => leaves(child, [...prefix, Array.isArray(value) ? Number(key) : key]));
}
const template = exampleCertificate();
const certificatePaths = leaves(template);

function withField(path: (string | number)[], replacement: unknown): unknown {
  const copy = structuredClone(template) as Record<string | number, unknown>;
  let node = copy;
  for (const key of path.slice(0, -1)) node = node[key] as Record<string | number, unknown>;
  node[path.at(-1)!] = replacement;
  return copy;
}

// Text Postgres cannot keep (U+0000, unpaired surrogates), alone and inside ordinary text.
const unsafeText = fc
  .tuple(fc.string({ maxLength: 8 }), fc.constantFrom('\u0000', '\ud800', '\udfff', '\udbff\u0000'), fc.string({ maxLength: 8 }))
  .map(([before, bad, after]) => before + bad + after);
const segment = fc.oneof(fc.string({ maxLength: 40 }), fc.uuid(), fc.constantFrom(A, B, 'KR-VN-FTA', template.number, '..', '%', '0', '\u0000', `${A}\u0000`));
const query = fc.dictionary(
  fc.constantFrom('status', 'limit', 'peer', 'number', 'since', 'until', 'direction', 'role', 'type', 'id', 'before', 'recipient', 'issuer', 'action'),
  fc.oneof(
    fc.string({ maxLength: 30 }),
    fc.integer().map(String),
    fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
    fc.constantFrom('\u0000', `${A}\u0000`),
  ),
  { maxKeys: 3 },
);
// Mostly near-valid certificates: random JSON rarely gets past schema validation to the rules behind it.
const fieldValue = fc.oneof(fc.string({ maxLength: 20 }), fc.integer().map(String), fc.jsonValue({ maxDepth: 2 }), fc.constant(null), unsafeText);
const body = fc.oneof(
  { arbitrary: fc.jsonValue({ maxDepth: 3 }).map((value) => ({ json: value })), weight: 1 },
  { arbitrary: fc.string({ maxLength: 60 }).map((text) => ({ raw: text })), weight: 1 },
  { arbitrary: fc.tuple(fc.constantFrom(...certificatePaths), fieldValue).map(([path, value]) => ({ json: withField(path, value) })), weight: 4 },
  { arbitrary: fc.constant({ raw: '{"number": "KR-1", ' }), weight: 1 },
);

// Arrays and strings far past any bound, under the member names the API's bodies use.
const memberNames = [
  'items',
  'reasons',
  'questions',
  'findings',
  'roles',
  'parties',
  'kinds',
  'originCriteria',
  'findingSeverities',
  'agreements',
  'keys',
  'jwks',
  'name',
  'reason',
  'declarationRef',
  'remarks',
  'certificateNumber',
  'amqpUrl',
  'jwksUrl',
  'importer',
];
const huge = fc.oneof(
  fc.integer({ min: 1_000, max: 60_000 }).map((n) => 'x'.repeat(n)),
  fc.tuple(fc.integer({ min: 1_000, max: 12_000 }), fc.jsonValue({ maxDepth: 1 })).map(([n, value]) => Array(n).fill(value)),
  fc.integer({ min: 1_000, max: 5_000 }).map((n) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`K${i}`, 'reject']))),
);
// The API's member names holding unsafe text, as values and as member names.
const unsafeBody = fc.oneof(
  fc.dictionary(fc.constantFrom(...memberNames), fc.oneof(unsafeText, fc.array(unsafeText, { maxLength: 3 })), { minKeys: 1, maxKeys: 3 }).map((json) => ({ json })),
  unsafeText.map((key) => ({ json: { ...template, [key]: 'x' } })),
);
const oversized = fc.oneof(
  fc.dictionary(fc.constantFrom(...memberNames), huge, { minKeys: 1, maxKeys: 3 }).map((json) => ({ json })),
  fc.tuple(fc.constantFrom(...certificatePaths), fc.integer({ min: 300, max: 60_000 })).map(([path, n]) => ({ json: withField(path, 'x'.repeat(n)) })),
  fc.integer({ min: 1_000, max: 2_500 }).map((n) => ({
    json: withField(
      ['items'],
      Array.from({ length: n }, (_, i) => ({ ...template.items[0], itemNumber: i + 1 })),
    ),
  })),
);
/** Header variants around a valid key: odd spacing and case, duplicates, made-up and huge values. */
const headerVariant = (key: string) =>
  fc.oneof(
    { weight: 3, arbitrary: fc.constant({}) },
    {
      weight: 3,
      arbitrary: fc
        .constantFrom(
          `Bearer  ${key}`,
          `bearer ${key}`,
          `BEARER ${key}`,
          `Bearer\t${key}`,
          `Bearer ${key}, Bearer ${key}`,
          'Bearer',
          'Bearer ',
          `Basic ${key}`,
          key,
          `Bearer ${key.toUpperCase()}`,
          'Bearer eco_00000000_x',
        )
        .map((authorization) => ({ authorization })),
    },
    { weight: 1, arbitrary: fc.constant({ authorization: [`Bearer ${key}`, 'Bearer eco_00000000_x'] }) },
    { weight: 1, arbitrary: fc.constant({ 'idempotency-key': ['one', 'two'], 'content-type': ['application/json', 'text/plain'] }) },
    { weight: 1, arbitrary: fc.integer({ min: 1_000, max: 70_000 }).map((n) => ({ authorization: `Bearer ${'k'.repeat(n)}` })) },
    { weight: 1, arbitrary: fc.integer({ min: 1_000, max: 70_000 }).map((n) => ({ 'x-padding': 'p'.repeat(n) })) },
    { weight: 1, arbitrary: fc.integer({ min: 201, max: 9_000 }).map((n) => ({ 'idempotency-key': 'i'.repeat(n) })) },
  );

/** One request with exactly these headers (repeated ones as repeated lines), over its own connection. */
function send(url: string, method: string, headers: Record<string, string | readonly string[]>, body?: string): Promise<{ status: number; contentType: string; text: string }> {
  return new Promise((resolve, reject) => {
    const request = httpRequest(url, { method, headers: headers as Record<string, string | string[]>, agent: false }, (response) => {
      let text = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (text += chunk));
      response.on('end', () => resolve({ status: response.statusCode!, contentType: String(response.headers['content-type'] ?? ''), text }));
    });
    request.on('error', reject);
    request.end(body);
  });
}

describe('REST fuzz', () => {
  let gateway: Gateway;
  before(async () => {
    // API only: a relay retrying what an accepted request queued would change the outbox under the fingerprint.
    gateway = await startTestGateway(A, await freshPlace('fuzz'), { ROLE: 'api' });
    await registerAgreements(gateway);
    // A peer (whose broker is never reached) lets requests get past "no such peer" to the rules behind.
    const peer = await inject(gateway, 'PUT', `/admin/peers/${B}`, { name: 'B', amqpUrl: 'amqp://127.0.0.1:9/', jwks: await gateway.keys.jwks(), agreements: ['KR-VN-FTA', 'KR-VN-NONPREF'] });
    assert.equal(peer.status, 200);
  });
  after(async () => {
    await gateway.stop();
  });

  it('answers every random request without a 500, and a refused one changes nothing', async () => {
    const seed = Number(process.env.FUZZ_SEED ?? 20261124);
    let refused = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...operations),
        fc.array(segment, { minLength: 3, maxLength: 3 }),
        query,
        fc.oneof({ arbitrary: body, weight: 6 }, { arbitrary: unsafeBody, weight: 1 }),
        async (operation, segments, params, payload) => {
          let i = 0;
          const path = operation.path.replace(/\{\w+\}/g, () => encodeURIComponent(segments[i++]!));
          const search = new URLSearchParams(params).toString();
          const before = await fingerprint(gateway);
          const sendsBody = operation.method !== 'GET' && operation.method !== 'DELETE';
          const response = await inject(
            gateway,
            operation.method,
            path + (search ? `?${search}` : ''),
            sendsBody ? ('raw' in payload ? payload.raw : payload.json) : undefined,
            sendsBody ? { 'content-type': 'application/json' } : {},
          );
          assert.ok(response.status < 500, `${operation.method} ${path}?${search} -> ${response.status} ${JSON.stringify(response.body)}`);
          if (response.status >= 400) {
            refused++;
            assert.match(response.contentType, /application\/problem\+json/, `${operation.method} ${path}: ${response.status} is problem+json`);
            assert.deepEqual(await fingerprint(gateway), before, `${operation.method} ${path} was refused (${response.status}) but changed stored data`);
          }
        },
      ),
      { numRuns: Number(process.env.FUZZ_RUNS ?? 1000), seed },
    );
    assert.ok(refused > 500, `mostly refusals, as random input should be (${refused})`);
  });

  // Postgres up but unable to write (a standby after failover, a full disk): every write fails in
  // Postgres. The class: no route lets that through as a 500; each is a 503 with Retry-After or a
  // refusal, and nothing changes. Before, a write to a read-only database answered 500.
  it('answers every random request while Postgres cannot write without a 500, writes with 503 and Retry-After', async () => {
    const seed = Number(process.env.FUZZ_SEED ?? 20261124);
    const admin = new pg.Client({ connectionString: gateway.config.databaseUrl });
    await admin.connect();
    const database = (await admin.query<{ name: string }>('SELECT current_database() AS name')).rows[0]!.name;
    const reconnectAll = () => admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [database]);
    const before = await fingerprint(gateway);
    let unavailable = 0;
    try {
      await admin.query(`ALTER DATABASE ${database} SET default_transaction_read_only = on`);
      await reconnectAll();
      await fc.assert(
        fc.asyncProperty(fc.constantFrom(...operations.filter((o) => o.method !== 'GET')), fc.array(segment, { minLength: 3, maxLength: 3 }), body, async (operation, segments, payload) => {
          let i = 0;
          const path = operation.path.replace(/\{\w+\}/g, () => encodeURIComponent(segments[i++]!));
          const sendsBody = operation.method !== 'DELETE';
          const response = await inject(
            gateway,
            operation.method,
            path,
            sendsBody ? ('raw' in payload ? payload.raw : payload.json) : undefined,
            sendsBody ? { 'content-type': 'application/json' } : {},
          );
          assert.ok(response.status < 500 || response.status === 503, `${operation.method} ${path} -> ${response.status} ${JSON.stringify(response.body)}`);
          if (response.status === 503) {
            unavailable++;
            assert.match(response.contentType, /application\/problem\+json/);
          }
        }),
        { numRuns: Number(process.env.FUZZ_RUNS ?? 1000) / 4, seed },
      );
      // A valid write, which gets past every check to Postgres (the random ones may have suspended the peer).
      const written = await inject(gateway, 'PUT', '/admin/agreements/KR-VN-FTA', exampleAgreements['KR-VN-FTA']);
      assert.equal(written.status, 503, JSON.stringify(written.body));
      assert.match(written.body.detail, /cannot write now/);
    } finally {
      await admin.query(`ALTER DATABASE ${database} RESET default_transaction_read_only`);
      await reconnectAll();
      await admin.end();
    }
    assert.ok(unavailable > 0, 'some requests reached Postgres');
    assert.deepEqual(await fingerprint(gateway), before, 'nothing changed while Postgres could not write');
  });

  // Over a real socket (send(), node:http): the header variants are raw bytes on the wire (duplicates,
  // odd spellings, oversized ones the HTTP parser refuses with 431) that app.inject would normalise.
  it('answers oversized arrays and strings and odd headers without a 500, refusing with problem+json', async () => {
    const seed = Number(process.env.FUZZ_SEED ?? 20261124);
    const { key } = await createApiKey(gateway.db, 'fuzz', ['issuer', 'customs', 'admin']);
    const statuses = new Map<number, number>();
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...operations), oversized, headerVariant(key), async (operation, payload, variant) => {
        const path = operation.path.replace(/\{\w+\}/g, () => encodeURIComponent(template.number));
        const before = await fingerprint(gateway);
        const sendsBody = operation.method !== 'GET' && operation.method !== 'DELETE';
        const headers = { authorization: `Bearer ${key}`, ...(sendsBody ? { 'content-type': 'application/json' } : {}), ...variant };
        const response = await send(gateway.url + path, operation.method, headers, sendsBody ? JSON.stringify(payload.json) : undefined);
        statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
        const what = `${operation.method} ${path} ${JSON.stringify(variant).slice(0, 120)} -> ${response.status} ${response.text.slice(0, 300)}`;
        assert.ok(response.status < 500, what);
        if (response.status >= 400) {
          assert.match(response.contentType, /application\/problem\+json/, what);
          assert.deepEqual(await fingerprint(gateway), before, `refused but changed stored data: ${what}`);
        }
      }),
      { numRuns: Number(process.env.FUZZ_RUNS ?? 1000) / 2, seed },
    );
    for (const status of [400, 401, 431]) assert.ok(statuses.has(status), `some ${status} among ${JSON.stringify([...statuses])}`);
  });
});
