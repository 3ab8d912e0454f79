// Secrets through the admin API (issue 11): no private JWK stored, no broker password shown or
// stored in clear, nothing of what a JWKS URL answered echoed back.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { generateSigningKey } from '../../src/exchange/jose.ts';
import type { Gateway } from '../../src/gateway.ts';
import { A, B, freshPlace, inject, startTestGateway } from '../support/gateways.ts';

const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k', 'oth'];

describe('secrets through the admin API', () => {
  let place: { databaseUrl: string; amqpUrl: string };
  let gateway: Gateway;
  before(async () => {
    place = await freshPlace('secrets');
    gateway = await startTestGateway(A, place, { ROLE: 'api' });
  });
  after(async () => {
    await gateway.stop();
  });

  const peer = async (amqpUrl: string, extra: object = {}) => inject(gateway, 'PUT', `/admin/peers/${B}`, { name: 'B', amqpUrl, jwks: await gateway.keys.jwks(), ...extra });

  it('refuses a JWKS with any private member, pointing at it, and stores nothing', async () => {
    const [publicJwk] = (await gateway.keys.jwks()).keys;
    for (const member of PRIVATE_MEMBERS) {
      const jwks = { keys: [publicJwk, { ...publicJwk, kid: 'leaked', [member]: member === 'oth' ? [{ r: 'x', d: 'y', t: 'z' }] : 'c2VjcmV0' }] };
      const response = await inject(gateway, 'PUT', '/admin/peers/JP-LEAK', { name: 'leak', amqpUrl: 'amqp://h/x', jwks });
      assert.ok([400, 422].includes(response.status), `${member}: ${response.status}`);
      assert.match(response.contentType, /problem\+json/);
      assert.ok(
        response.body.errors.some((e: { pointer: string }) => e.pointer === `/jwks/keys/1/${member}`),
        `${member}: ${JSON.stringify(response.body.errors)}`,
      );
      assert.equal((await inject(gateway, 'GET', '/admin/peers/JP-LEAK')).status, 404, 'never stored');
    }
  });

  it('drops private members an older version stored', async () => {
    const [publicJwk] = (await gateway.keys.jwks()).keys;
    assert.equal((await peer('amqp://h/x')).status, 200);
    await gateway.db.query('UPDATE peers SET jwks = $2 WHERE party_id = $1', [
      B,
      JSON.stringify({
        keys: [
          { ...publicJwk, d: 'c2VjcmV0' },
          { kty: 'oct', kid: 'shared', k: 'c2VjcmV0' },
        ],
      }),
    ]);
    await gateway.db.query("DELETE FROM schema_migrations WHERE name = '009_public_peer_keys.sql'");
    await gateway.stop();
    gateway = await startTestGateway(A, place, { ROLE: 'api' });
    const shown = await inject(gateway, 'GET', `/admin/peers/${B}`);
    assert.equal(shown.status, 200);
    assert.deepEqual(shown.body.jwks, { keys: [publicJwk] });
  });

  it('shows no part of a broker password, in the peer list or the audit log', async () => {
    const cases: [string, string, string[]][] = [
      ['amqp://:secret@h/x', 'amqp://:***@h/x', ['secret']],
      ['amqp://u:p@ss@w0rd@h/x', 'amqp://u:***@h/x', ['p@ss', 'ss@w0rd', 'w0rd', '@ss']],
      ['amqps://kr-kcs:s3cr%40t@broker.example:5671/eco', 'amqps://kr-kcs:***@broker.example:5671/eco', ['s3cr', '%40t']],
      ['amqp://u:pw:with:colons@h', 'amqp://u:***@h', ['pw:with', 'colons']],
      ['amqp://just-a-user@h/x', 'amqp://just-a-user@h/x', []],
    ];
    for (const [url, shown, secrets] of cases) {
      assert.equal((await peer(url)).status, 200, url);
      const listed = await inject(gateway, 'GET', '/admin/peers');
      const one = await inject(gateway, 'GET', `/admin/peers/${B}`);
      assert.equal(listed.body.peers.find((p: { partyId: string }) => p.partyId === B).amqpUrl, shown);
      assert.equal(one.body.amqpUrl, shown);
      const { rows } = await gateway.db.query("SELECT data::text AS data FROM audit_log WHERE action = 'peer.registered' ORDER BY id DESC LIMIT 1");
      for (const text of [JSON.stringify(listed.body), JSON.stringify(one.body), rows[0].data]) {
        for (const secret of secrets) assert.ok(!text.includes(secret), `${url}: "${secret}" shows in ${text}`);
      }
    }
  });

  it('stores broker passwords sealed, seals plaintext ones at start, and gives the relay the real URL', async () => {
    const url = 'amqp://u:hunter2-sealed@h/x';
    assert.equal((await peer(url)).status, 200);
    const stored = async () => JSON.stringify((await gateway.db.query('SELECT * FROM peers WHERE party_id = $1', [B])).rows[0]);
    assert.ok(!(await stored()).includes('hunter2'), await stored());
    assert.equal((await gateway.peers.find(B))?.brokerUrl, url);

    // A row as an older version left it: the URL in clear, nothing sealed.
    await gateway.db.query("UPDATE peers SET amqp_url_shown = 'amqp://u:legacy-pw@h/x', amqp_url_sealed = NULL WHERE party_id = $1", [B]);
    await gateway.stop();
    gateway = await startTestGateway(A, place, { ROLE: 'api' });
    assert.ok(!(await stored()).includes('legacy-pw'), await stored());
    assert.equal((await gateway.peers.find(B))?.brokerUrl, 'amqp://u:legacy-pw@h/x');
    assert.equal((await inject(gateway, 'GET', `/admin/peers/${B}`)).body.amqpUrl, 'amqp://u:***@h/x');
  });

  it('says only that a JWKS URL could not be fetched, never what it answered', async () => {
    let answer = { status: 200, type: 'text/html', body: '<html>internal-admin-panel token=abc123</html>' };
    const server: Server = createServer((_request, response) => response.writeHead(answer.status, { 'content-type': answer.type }).end(answer.body));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const answers = [
        { status: 200, type: 'text/html', body: '<html>internal-admin-panel token=abc123</html>' },
        { status: 403, type: 'text/plain', body: 'internal-admin-panel forbidden' },
        { status: 200, type: 'application/json', body: '{"internal-admin-panel": "token=abc123"}' },
      ];
      for (const next of answers) {
        answer = next;
        const response = await inject(gateway, 'PUT', '/admin/peers/JP-PROBE', { name: 'probe', amqpUrl: 'amqp://h/x', jwksUrl: `${base}/jwks` });
        assert.equal(response.status, 422, JSON.stringify(response.body));
        assert.match(response.contentType, /problem\+json/);
        // Not the requestId: a random UUID may hold "403".
        const { requestId: _requestId, ...said } = response.body;
        const text = JSON.stringify(said).replaceAll(base, '');
        for (const leak of ['internal-admin-panel', 'abc123', 'html', '403', 'forbidden']) assert.ok(!text.includes(leak), `echoes "${leak}": ${text}`);
        assert.match(response.body.detail, /could not be fetched/);
      }
      // Registered while it served a JWKS, then refreshed while it serves something else.
      // A key of its own: another peer's keys are refused at registration.
      answer = { status: 200, type: 'application/json', body: JSON.stringify({ keys: [(await generateSigningKey()).toJSON()] }) };
      assert.equal((await inject(gateway, 'PUT', '/admin/peers/JP-PROBE', { name: 'probe', amqpUrl: 'amqp://h/x', jwksUrl: `${base}/jwks` })).status, 200);
      answer = answers[0]!;
      const refreshed = await inject(gateway, 'POST', '/admin/peers/JP-PROBE/refresh-keys');
      assert.equal(refreshed.status, 422);
      assert.ok(!JSON.stringify(refreshed.body).includes('internal-admin-panel'), JSON.stringify(refreshed.body));
    } finally {
      server.close();
    }
  });
});
