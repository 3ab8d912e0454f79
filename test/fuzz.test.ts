// Every operation of openapi.yaml with random paths, queries and bodies (random JSON, malformed
// text, the example certificate with one field changed): never a 500, and a refused request
// changes no stored data. The seed is fixed so that a run is repeatable; FUZZ_SEED picks another.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { parse } from 'yaml';
import type { Gateway } from '../src/gateway.ts';
import { A, api, B, exampleCertificate, freshPlace, registerAgreements, startTestGateway } from './support/gateways.ts';

const document = parse(readFileSync(new URL('../openapi.yaml', import.meta.url), 'utf8'));
const operations = Object.entries(document.paths as Record<string, Record<string, unknown>>).flatMap(([path, methods]) =>
  Object.keys(methods).map((method) => ({ method: method.toUpperCase(), path })),
);

/** Every stored row, as one digest per table; the audit log by its count (the sealer fills in hashes meanwhile). */
async function fingerprint(gateway: Gateway): Promise<Record<string, string>> {
  const { rows: tables } = await gateway.db.query<{ tablename: string }>(
    "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'audit_log' ORDER BY tablename",
  );
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

const segment = fc.oneof(fc.string({ maxLength: 40 }), fc.uuid(), fc.constantFrom(A, B, 'KR-VN-FTA', template.number, '..', '%', '0'));
const query = fc.dictionary(
  fc.constantFrom('status', 'limit', 'peer', 'number', 'since', 'until', 'direction', 'role', 'type', 'id', 'before', 'recipient', 'issuer', 'action'),
  fc.oneof(fc.string({ maxLength: 30 }), fc.integer().map(String), fc.date({ noInvalidDate: true }).map((d) => d.toISOString())),
  { maxKeys: 3 },
);
// Mostly near-valid certificates: random JSON rarely gets past schema validation to the rules behind it.
const fieldValue = fc.oneof(fc.string({ maxLength: 20 }), fc.integer().map(String), fc.jsonValue({ maxDepth: 2 }), fc.constant(null));
const body = fc.oneof(
  { arbitrary: fc.jsonValue({ maxDepth: 3 }).map((value) => ({ json: value })), weight: 1 },
  { arbitrary: fc.string({ maxLength: 60 }).map((text) => ({ raw: text })), weight: 1 },
  { arbitrary: fc.tuple(fc.constantFrom(...certificatePaths), fieldValue).map(([path, value]) => ({ json: withField(path, value) })), weight: 4 },
  { arbitrary: fc.constant({ raw: '{"number": "KR-1", ' }), weight: 1 },
);

describe('REST fuzz', () => {
  let gateway: Gateway;
  before(async () => {
    gateway = await startTestGateway(A, await freshPlace('fuzz'));
    await registerAgreements(gateway);
    // A peer (whose broker is never reached) lets requests get past "no such peer" to the rules behind.
    const peer = await api(gateway, 'PUT', `/admin/peers/${B}`, { name: 'B', amqpUrl: 'amqp://127.0.0.1:9/', jwks: await gateway.keys.jwks(), agreements: ['KR-VN-FTA', 'KR-VN-NONPREF'] });
    assert.equal(peer.status, 200);
  });
  after(async () => {
    await gateway.stop();
  });

  it('answers every random request without a 500, and a refused one changes nothing', async () => {
    const seed = Number(process.env.FUZZ_SEED ?? 20261124);
    let refused = 0;
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...operations), fc.array(segment, { minLength: 3, maxLength: 3 }), query, body, async (operation, segments, params, payload) => {
        let i = 0;
        const path = operation.path.replace(/\{\w+\}/g, () => encodeURIComponent(segments[i++]!));
        const search = new URLSearchParams(params).toString();
        const before = await fingerprint(gateway);
        const sendsBody = operation.method !== 'GET' && operation.method !== 'DELETE';
        const response = await api(gateway, operation.method, path + (search ? `?${search}` : ''), sendsBody ? ('raw' in payload ? payload.raw : payload.json) : undefined, sendsBody ? { 'content-type': 'application/json' } : {});
        assert.ok(response.status < 500, `${operation.method} ${path}?${search} -> ${response.status} ${JSON.stringify(response.body)}`);
        if (response.status >= 400) {
          refused++;
          assert.match(response.contentType, /application\/problem\+json/, `${operation.method} ${path}: ${response.status} is problem+json`);
          assert.deepEqual(await fingerprint(gateway), before, `${operation.method} ${path} was refused (${response.status}) but changed stored data`);
        }
      }),
      { numRuns: Number(process.env.FUZZ_RUNS ?? 1000), seed },
    );
    assert.ok(refused > 500, `mostly refusals, as random input should be (${refused})`);
  });
});
