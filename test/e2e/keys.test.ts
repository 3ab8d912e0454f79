// Key management: private keys sealed at rest, the lifecycle (published, active, retired, revoked),
// and rotations in the middle of a stream that lose no message.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { loadConfig } from '../../src/config.ts';
import { buildEnvelope } from '../../src/exchange/envelope.ts';
import { generateSigningKey, sign } from '../../src/exchange/jose.ts';
import { type Gateway, startGateway } from '../../src/gateway.ts';
import { A, api, B, count, eventually, exampleCertificate, freshPlace, publishRaw, registerAgreements, startTestGateway } from '../support/gateways.ts';

/** Registers `peer` at `at` by its JWKS URL, as two real gateways would, so that rotations reach `at`. */
async function registerByUrl(at: Gateway, peer: Gateway, peerAmqpUrl: string): Promise<void> {
  const response = await api(at, 'PUT', `/admin/peers/${peer.config.partyId}`, {
    name: `gateway ${peer.config.partyId}`,
    amqpUrl: peerAmqpUrl,
    jwksUrl: `${peer.url}/.well-known/jwks.json`,
    encrypt: true,
    agreements: ['KR-VN-FTA', 'KR-VN-NONPREF'],
  });
  assert.equal(response.status, 200, JSON.stringify(response.body));
}

const kidOf = (compact: string) => JSON.parse(Buffer.from(compact.split('.')[0]!, 'base64url').toString()).kid as string;

describe('key management', () => {
  let a: Gateway;
  let b: Gateway;
  let placeA: { databaseUrl: string; amqpUrl: string };
  let placeB: { databaseUrl: string; amqpUrl: string };

  before(async () => {
    [placeA, placeB] = await Promise.all([freshPlace('ka'), freshPlace('kb')]);
    [a, b] = await Promise.all([startTestGateway(A, placeA), startTestGateway(B, placeB)]);
    await Promise.all([registerAgreements(a), registerAgreements(b)]);
    await registerByUrl(a, b, placeB.amqpUrl);
    await registerByUrl(b, a, placeA.amqpUrl);
  });
  after(async () => {
    await Promise.all([a.stop(), b.stop()]);
  });

  it('keeps private keys sealed at rest and shows no private part anywhere', async () => {
    const { rows } = await a.db.query<{ private_jwk: string }>('SELECT private_jwk FROM keys');
    assert.ok(rows.length >= 2);
    for (const row of rows) {
      assert.match(row.private_jwk, /^v1\./, 'sealed');
      assert.doesNotMatch(row.private_jwk, /"d"/, 'no plaintext key material');
    }
    const listed = await api(a, 'GET', '/admin/keys');
    const published = await api(a, 'GET', '/.well-known/jwks.json', undefined, { authorization: '' });
    for (const body of [listed.body.keys.map((k: { publicJwk: object }) => k.publicJwk), published.body.keys]) {
      for (const jwk of body) assert.equal(jwk.d, undefined, 'no private exponent');
    }
  });

  it('refuses to start with another KEY_ENCRYPTION_KEY', async () => {
    const config = loadConfig({
      PARTY_ID: A,
      DATABASE_URL: placeA.databaseUrl,
      AMQP_URL: placeA.amqpUrl,
      HTTP_PORT: '0',
      LOG_LEVEL: 'silent',
      ROLE: 'api',
      KEY_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
    });
    await assert.rejects(startGateway(config), /KEY_ENCRYPTION_KEY does not open the secrets sealed in this database/);
  });

  it('walks a key through its lifecycle, each step audited', async () => {
    const created = await api(a, 'POST', '/admin/keys', { use: 'sig' });
    assert.equal(created.status, 201);
    const kid = created.body.kid as string;
    assert.equal(created.body.status, 'published');
    const jwksKids = async () => (await api(a, 'GET', '/.well-known/jwks.json', undefined, { authorization: '' })).body.keys.map((k: { kid: string }) => k.kid);
    assert.ok((await jwksKids()).includes(kid), 'published ahead of use');
    assert.notEqual((await a.keys.signingKey()).kid, kid, 'not used before activation');

    assert.equal((await api(a, 'POST', `/admin/keys/${kid}/retire`)).status, 200, 'a published key can be withdrawn');
    assert.equal((await api(a, 'POST', `/admin/keys/${kid}/activate`)).status, 409, 'a retired key is not activated again');
    const revoked = await api(a, 'POST', `/admin/keys/${kid}/revoke`);
    assert.equal(revoked.body.status, 'revoked');
    assert.ok(!(await jwksKids()).includes(kid), 'a revoked key leaves the JWKS at once');

    const active = (await api(a, 'GET', '/admin/keys')).body.keys.find((k: { use: string; status: string }) => k.use === 'sig' && k.status === 'active');
    assert.equal((await api(a, 'POST', `/admin/keys/${active.kid}/retire`)).status, 409, 'the active key is retired only by activating its successor');
    assert.equal((await api(a, 'POST', `/admin/keys/${active.kid}/revoke`)).status, 409);
    assert.equal((await api(a, 'POST', '/admin/keys/no-such-kid/activate')).status, 404);

    const audit = await a.db.query<{ action: string; actor: string }>('SELECT action, actor FROM audit_log WHERE subject = $1 ORDER BY id', [kid]);
    assert.deepEqual(
      audit.rows.map((r) => r.action),
      ['key.created', 'key.retired', 'key.revoked'],
    );
    assert.ok(
      audit.rows.every((r) => r.actor.startsWith('api:tests#')),
      'with the API client that did it',
    );
  });

  it("rotates A's signing key and B's encryption key in the middle of a stream without losing a message", async () => {
    const total = 45;
    const numbers: string[] = [];
    const oldSigning = (await a.keys.signingKey()).kid;
    const oldEncryption = (await api(b, 'GET', '/admin/keys')).body.keys.find((k: { use: string; status: string }) => k.use === 'enc' && k.status === 'active').kid;
    let newSigning = '';
    let newEncryption = '';
    for (let i = 0; i < total; i += 5) {
      if (i === 15) {
        // Mid-stream: each side creates a key and activates it at once; the successor's predecessor retires.
        newSigning = (await api(a, 'POST', '/admin/keys', { use: 'sig' })).body.kid;
        newEncryption = (await api(b, 'POST', '/admin/keys', { use: 'enc' })).body.kid;
        assert.equal((await api(a, 'POST', `/admin/keys/${newSigning}/activate`)).status, 200);
        assert.equal((await api(b, 'POST', `/admin/keys/${newEncryption}/activate`)).status, 200);
      }
      const batch = Array.from({ length: 5 }, () => exampleCertificate());
      const issued = await Promise.all(batch.map((co) => api(a, 'POST', '/certificates', co)));
      assert.deepEqual(
        issued.map((r) => r.status),
        batch.map(() => 201),
      );
      numbers.push(...batch.map((co) => co.number));
    }
    await eventually(async () => ((await count(b, 'received_certificates WHERE number = ANY($1)', [numbers])) === total ? true : undefined), `all ${total} COs at B`, 30_000);
    await eventually(async () => ((await count(a, "outbox WHERE certificate_number = ANY($1) AND status = 'accepted'", [numbers])) === total ? true : undefined), 'every receipt at A', 30_000);
    assert.equal(await count(b, "inbox WHERE status = 'rejected'"), 0, 'no message rejected during the rotation');

    const stored = await b.db.query<{ jws: string }>('SELECT jws FROM received_certificates WHERE number = ANY($1)', [numbers]);
    const kids = new Set(stored.rows.map((r) => kidOf(r.jws)));
    assert.deepEqual([...kids].sort(), [oldSigning, newSigning].sort(), 'signed with the old key, then with the new');
    const activation = await a.db.query<{ data: { retired: string } }>("SELECT data FROM audit_log WHERE action = 'key.activated' AND subject = $1", [newSigning]);
    assert.equal(activation.rows[0]!.data.retired, oldSigning, 'the audit names the key it retired');
    const sent = await a.db.query<{ body: string }>('SELECT body FROM outbox WHERE certificate_number = ANY($1)', [numbers]);
    assert.ok(
      sent.rows.every((r) => kidOf(r.body) === oldEncryption),
      "A kept encrypting to B's retired key, which B still opens",
    );
    const refreshed = await b.db.query('SELECT 1 FROM audit_log WHERE action = $1 AND subject = $2', ['peer.keys-refreshed', A]);
    assert.ok(refreshed.rowCount! >= 1, "B fetched A's JWKS again on the unknown kid");

    // Once A revokes its old key and B re-reads A's JWKS, the old key no longer verifies at B.
    assert.equal((await api(a, 'POST', `/admin/keys/${oldSigning}/revoke`)).status, 200);
    const peer = await api(b, 'POST', `/admin/peers/${A}/refresh-keys`);
    assert.equal(peer.status, 200);
    const peerKids = peer.body.jwks.keys.map((k: { kid: string }) => k.kid);
    assert.ok(peerKids.includes(newSigning) && !peerKids.includes(oldSigning));
  });

  it('a revoked encryption key opens nothing; the sender re-reads a stale JWKS and encrypts to the new key', async () => {
    const bKeys = (await api(b, 'GET', '/admin/keys')).body.keys as { kid: string; use: string; status: string }[];
    const retired = bKeys.find((k) => k.use === 'enc' && k.status === 'retired')!;
    assert.equal((await api(b, 'POST', `/admin/keys/${retired.kid}/revoke`)).status, 200);

    // A still has B's old JWKS: what it encrypts to the revoked key is refused, and stored nowhere.
    const unreadable = exampleCertificate();
    const refused = await api(a, 'POST', '/certificates', unreadable);
    await eventually(async () => ((await api(a, 'GET', `/messages/${refused.body.messageId}`)).body.status === 'rejected' ? true : undefined), "B's rejection");
    assert.deepEqual(
      (await api(a, 'GET', `/messages/${refused.body.messageId}`)).body.errors.map((e: { code: string }) => e.code),
      ['DECRYPTION_FAILED'],
    );
    assert.equal(await count(b, 'received_certificates WHERE number = $1', [unreadable.number]), 0);

    // A's copy of B's JWKS goes stale; the periodic refresh reads B's URL again.
    await a.db.query("UPDATE peers SET jwks_fetched_at = now() - interval '2 hours' WHERE party_id = $1", [B]);
    a.peers.allowRefresh(B);
    assert.deepEqual(await a.peers.refreshStaleKeys(), []);
    const co = exampleCertificate();
    const accepted = await api(a, 'POST', '/certificates', co);
    await eventually(async () => ((await api(a, 'GET', `/messages/${accepted.body.messageId}`)).body.status === 'accepted' ? true : undefined), "B's acceptance");
    const sent = await a.db.query<{ body: string }>('SELECT body FROM outbox WHERE id = $1', [accepted.body.messageId]);
    assert.equal(kidOf(sent.rows[0]!.body), bKeys.find((k) => k.use === 'enc' && k.status === 'active')!.kid);
  });

  it('made-up kids cost at most one JWKS fetch per interval, and each is refused UNKNOWN_KEY', async () => {
    const jwksRequests = async () => {
      const text = (await api(a, 'GET', '/metrics')).body as string;
      const line = text.split('\n').find((l) => l.startsWith('eco_http_request_duration_seconds_count{method="GET",route="/.well-known/jwks.json",status="200"}'));
      return Number(line?.split(' ')[1] ?? 0);
    };
    const before = await jwksRequests();
    const rejectedBefore = await count(b, "audit_log WHERE action = 'message.rejected' AND data->'codes' ? 'UNKNOWN_KEY'");
    b.peers.allowRefresh(A);
    const forger = await generateSigningKey();
    // One after another, so that each could fetch were it not for the interval (concurrent ones share a fetch anyway).
    for (let i = 1; i <= 10; i++) {
      const envelope = buildEnvelope({ type: 'certificate.issued', from: A, to: B, body: exampleCertificate() });
      await publishRaw(placeB.amqpUrl, B, await sign(envelope, forger), { appId: A, messageId: envelope.id, type: 'certificate.issued' });
      const rejected = "audit_log WHERE action = 'message.rejected' AND data->'codes' ? 'UNKNOWN_KEY'";
      await eventually(async () => ((await count(b, rejected)) === rejectedBefore + i ? true : undefined), `UNKNOWN_KEY rejection ${i}`);
    }
    assert.equal((await jwksRequests()) - before, 1, "one fetch of A's JWKS for ten unknown kids");
  });

  it('a peer registered with inline keys cannot be refreshed from a URL (422)', async () => {
    const response = await api(a, 'PUT', `/admin/peers/${B}`, { name: 'B', amqpUrl: placeB.amqpUrl, jwks: await b.keys.jwks(), agreements: ['KR-VN-FTA'] });
    assert.equal(response.status, 200);
    assert.equal((await api(a, 'POST', `/admin/peers/${B}/refresh-keys`)).status, 422);
  });

  it('reads a JWKS URL only up to 256 KiB: a huge answer is refused (422) without being read, declared or streamed', async () => {
    const { createServer } = await import('node:http');
    let streamed = 0;
    const server = createServer((request, response) => {
      if (request.url === '/declared') {
        response.writeHead(200, { 'content-type': 'application/json', 'content-length': String(50 * 1024 * 1024) });
        response.end();
        return;
      }
      // No length: an endless stream of JSON-looking bytes.
      response.writeHead(200, { 'content-type': 'application/json' });
      response.write('{"keys":[');
      const more = () => {
        while (streamed < 400 * 1024 * 1024 && response.write(`"${'x'.repeat(65_536)}",`)) streamed += 65_538;
        if (streamed < 400 * 1024 * 1024) response.once('drain', more);
      };
      response.on('error', () => {});
      more();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as { port: number }).port;
    try {
      for (const path of ['/declared', '/stream']) {
        const rss = process.memoryUsage().rss;
        const response = await api(a, 'PUT', '/admin/peers/JP-HUGE', { name: 'huge', amqpUrl: placeB.amqpUrl, jwksUrl: `http://127.0.0.1:${port}${path}`, agreements: ['KR-VN-FTA'] });
        assert.equal(response.status, 422, `${path}: ${JSON.stringify(response.body)}`);
        assert.ok(process.memoryUsage().rss - rss < 100 * 1024 * 1024, `${path}: memory stays flat`);
      }
      assert.ok(streamed < 50 * 1024 * 1024, `the stream was cut early (${streamed} bytes written)`);
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });
});
