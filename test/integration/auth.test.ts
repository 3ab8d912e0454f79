// Every endpoint x every role: no credential 401, wrong role 403 (problem+json), right role passes.
import assert from 'node:assert/strict';
import { execFile as execFileCb } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { parse } from 'yaml';
import { createApiKey, type Role } from '../../src/auth/index.ts';
import type { Gateway } from '../../src/gateway.ts';
import { A, freshPlace, inject, startTestGateway } from '../support/gateways.ts';

const execFile = promisify(execFileCb);

type Allowed = Role[] | 'public';
const matrix: Record<string, Allowed> = {
  'POST /certificates': ['issuer'],
  'POST /certificates/validate': ['issuer'],
  'POST /certificates/{number}/replace': ['issuer'],
  'POST /certificates/{number}/cancel': ['issuer'],
  'GET /certificates/{number}': ['issuer', 'customs'],
  'POST /clearance/checks': ['customs'],
  'GET /clearance/risk': ['customs'],
  'GET /clearance/checks/{id}': ['customs'],
  'POST /clearance/checks/{id}/confirm': ['customs'],
  'POST /verifications': ['customs'],
  'GET /verifications': ['customs', 'issuer'],
  'GET /verifications/{id}': ['customs', 'issuer'],
  'POST /verifications/{id}/answer': ['issuer'],
  'GET /messages/{messageId}': ['issuer', 'admin'],
  'GET /messages/{messageId}/receipt': ['issuer', 'admin'],
  'GET /admin/messages': ['admin'],
  'POST /admin/messages/{messageId}/resend': ['admin'],
  'PUT /admin/peers/{partyId}': ['admin'],
  'GET /admin/peers': ['admin'],
  'GET /admin/peers/{partyId}': ['admin'],
  'PUT /admin/agreements/{code}': ['admin'],
  'GET /admin/agreements': ['admin'],
  'GET /admin/agreements/{code}': ['admin'],
  'POST /admin/api-keys': ['admin'],
  'GET /admin/api-keys': ['admin'],
  'DELETE /admin/api-keys/{id}': ['admin'],
  'POST /admin/peers/{partyId}/suspend': ['admin'],
  'POST /admin/peers/{partyId}/resume': ['admin'],
  'POST /admin/peers/{partyId}/refresh-keys': ['admin'],
  'POST /admin/peers/{partyId}/ping': ['admin'],
  'GET /admin/messages/{messageId}': ['admin'],
  'GET /admin/keys': ['admin'],
  'POST /admin/keys': ['admin'],
  'POST /admin/keys/{kid}/activate': ['admin'],
  'POST /admin/keys/{kid}/retire': ['admin'],
  'POST /admin/keys/{kid}/revoke': ['admin'],
  'GET /admin/dead-letters': ['admin'],
  'GET /admin/dead-letters/{id}': ['admin'],
  'POST /admin/dead-letters/{id}/replay': ['admin'],
  'POST /admin/dead-letters/{id}/discard': ['admin'],
  'POST /admin/reconciliations': ['admin'],
  'GET /admin/reconciliations': ['admin'],
  'GET /admin/audit': ['admin'],
  'GET /admin/audit/verify': ['admin'],
  'GET /admin/overview': ['admin'],
  'GET /metrics': ['admin'],
  'GET /certificates/{number}/seal': ['issuer'],
  'GET /certificates/{number}/checks': ['issuer'],
  'GET /admin/status-checks': ['admin'],
  'PUT /admin/peers/{partyId}/trust-list': ['admin'],
  'GET /admin/peers/{partyId}/trust-list': ['admin'],
  'POST /admin/peers/{partyId}/trust-list/refresh': ['admin'],
  'GET /.well-known/eco-trust.jws': 'public',
  'GET /.well-known/eco-trust/{file}': 'public',
  'GET /status': 'public',
  'GET /verify': 'public',
  'GET /console': 'public',
  'GET /.well-known/jwks.json': 'public',
  'GET /health': 'public',
  'GET /ready': 'public',
};

const sample: Record<string, string> = { number: 'KR-X-1', id: randomUUID(), messageId: randomUUID(), partyId: 'VN-MOIT', code: 'KR-VN-FTA', kid: 'no-such-kid', file: `${A}.jws` };
// Query strings a route needs to answer 200 at all.
const queries: Record<string, string> = { '/status': `?h=${'A'.repeat(22)}&nonce=${'n'.repeat(22)}` };
const concrete = (path: string) => path.replace(/\{(\w+)\}/g, (_, name: string) => sample[name]!) + (queries[path] ?? '');

describe('API authentication and roles', () => {
  let gateway: Gateway;
  const keys = {} as Record<Role, string>;

  before(async () => {
    gateway = await startTestGateway(A, await freshPlace('auth'));
    for (const role of ['issuer', 'customs', 'admin'] as const) keys[role] = (await createApiKey(gateway.db, `only ${role}`, [role])).key;
  });
  after(async () => {
    await gateway.stop();
  });

  it('has a row in the matrix for every operation of openapi.yaml', () => {
    const document = parse(readFileSync(new URL('../../openapi.yaml', import.meta.url), 'utf8'));
    const operations = Object.entries(document.paths as Record<string, Record<string, unknown>>).flatMap(([path, methods]) => Object.keys(methods).map((m) => `${m.toUpperCase()} ${path}`));
    assert.deepEqual(operations.sort(), Object.keys(matrix).sort());
  });

  for (const [operation, allowed] of Object.entries(matrix)) {
    it(`${operation}: ${allowed === 'public' ? 'public' : allowed.join(' or ')}`, async () => {
      const [method, path] = operation.split(' ') as [string, string];
      const body = method === 'GET' || method === 'DELETE' ? undefined : {};
      const call = (authorization: string) => inject(gateway, method, concrete(path), body, { authorization });
      const anonymous = await call('');
      if (allowed === 'public') {
        assert.equal(anonymous.status, 200);
        return;
      }
      assert.equal(anonymous.status, 401);
      assert.match(anonymous.contentType, /problem\+json/);
      assert.equal((await call('Bearer eco_00000000_not-a-real-key')).status, 401);
      for (const role of ['issuer', 'customs', 'admin'] as const) {
        const response = await call(`Bearer ${keys[role]}`);
        if (allowed.includes(role)) assert.ok(![401, 403].includes(response.status), `${role} may call ${operation}: got ${response.status}`);
        else {
          assert.equal(response.status, 403, `${role} may not call ${operation}`);
          assert.match(response.contentType, /problem\+json/);
        }
      }
    });
  }

  it('makes the first admin key from the CLI', async () => {
    const { stdout } = await execFile(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'api-key', 'create', '--name', 'first admin', '--roles', 'admin'], {
      env: { ...process.env, DATABASE_URL: gateway.config.databaseUrl },
    });
    const key = stdout.trim();
    assert.equal((await inject(gateway, 'GET', '/admin/peers', undefined, { authorization: `Bearer ${key}` })).status, 200);
    const refused = execFile(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'api-key', 'create', '--name', 'x', '--roles', 'root'], {
      env: { ...process.env, DATABASE_URL: gateway.config.databaseUrl },
    });
    await assert.rejects(refused, /usage/);
  });

  it('suspends and resumes a peer from the CLI, audited as the CLI', async () => {
    const registered = await inject(gateway, 'PUT', '/admin/peers/VN-MOIT', { name: 'VN', amqpUrl: 'amqp://127.0.0.1:9/', jwks: await gateway.keys.jwks() });
    assert.equal(registered.status, 200);
    const cli = (...args: string[]) => execFile(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'peer', ...args], { env: { ...process.env, DATABASE_URL: gateway.config.databaseUrl } });
    const statusOf = async () => (await inject(gateway, 'GET', '/admin/peers')).body.peers.find((p: { partyId: string }) => p.partyId === 'VN-MOIT').status;
    assert.match((await cli('suspend', 'VN-MOIT')).stdout, /VN-MOIT is suspended/);
    assert.equal(await statusOf(), 'suspended');
    await cli('resume', 'VN-MOIT');
    assert.equal(await statusOf(), 'active');
    await assert.rejects(cli('suspend', 'XX-NOBODY'), /no peer XX-NOBODY/);
    const { rows } = await gateway.db.query("SELECT action FROM audit_log WHERE actor = 'cli' AND subject = 'VN-MOIT' ORDER BY id");
    assert.deepEqual(
      rows.map((r) => r.action),
      ['peer.suspended', 'peer.resumed'],
    );
  });

  it('shows a key once, keeps only its hash, and refuses it once revoked', async () => {
    const created = await inject(gateway, 'POST', '/admin/api-keys', { name: 'back-office', roles: ['issuer'] }, { authorization: `Bearer ${keys.admin}` });
    assert.equal(created.status, 201);
    assert.match(created.body.key, /^eco_[0-9a-f]{8}_[A-Za-z0-9_-]{43}$/);
    const stored = await gateway.db.query('SELECT key_hash FROM api_clients WHERE id = $1', [created.body.client.id]);
    assert.notEqual(stored.rows[0].key_hash, created.body.key);
    const listed = await inject(gateway, 'GET', '/admin/api-keys', undefined, { authorization: `Bearer ${keys.admin}` });
    assert.ok(!JSON.stringify(listed.body).includes(created.body.key), 'never listed');
    const use = () => inject(gateway, 'GET', '/verifications', undefined, { authorization: `Bearer ${created.body.key}` });
    assert.equal((await use()).status, 200);
    assert.equal((await inject(gateway, 'DELETE', `/admin/api-keys/${created.body.client.id}`, undefined, { authorization: `Bearer ${keys.admin}` })).status, 204);
    await new Promise((r) => setTimeout(r, 5100)); // the key cache's lifetime
    assert.equal((await use()).status, 401);
  });
});
