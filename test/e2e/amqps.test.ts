// AMQP over TLS with a private CA, as docs/deployment.md describes it: amqps:// URLs, the CA given
// to Node through NODE_EXTRA_CA_CERTS (no gateway setting). A broker of this test's own serves
// amqps with a certificate for `localhost` signed by a CA made here with openssl. With the CA the
// gateway reaches its own broker and a peer's; without it, or by another host name, it does not,
// and says why.
import assert from 'node:assert/strict';
import { execFile as execFileCb } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import amqp from 'amqplib';
import { GatewayProcess } from '../../scripts/lib/gateway-process.ts';
import { freePort, RabbitServer } from '../../scripts/lib/services.ts';
import { A, B, eventually, freshPlace } from '../support/gateways.ts';

const execFile = promisify(execFileCb);

describe('amqps with a private CA (NODE_EXTRA_CA_CERTS)', () => {
  const certs = mkdtempSync(join(tmpdir(), 'eco-amqps-'));
  const caFile = join(certs, 'ca.pem');
  let broker: RabbitServer;
  let tlsPort: number;
  let place: { databaseUrl: string };
  const gateways: GatewayProcess[] = [];
  const amqps = (vhost: string, host = 'localhost') => `amqps://guest:guest@${host}:${tlsPort}/${vhost}`;

  before(async () => {
    const openssl = (...args: string[]) => execFile('openssl', args, { cwd: certs });
    await openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=eco test CA', '-keyout', 'ca-key.pem', '-out', 'ca.pem');
    await openssl('req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=localhost', '-keyout', 'server-key.pem', '-out', 'server.csr');
    writeFileSync(join(certs, 'san.cnf'), 'subjectAltName=DNS:localhost\n');
    await openssl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca-key.pem', '-CAcreateserial', '-days', '2', '-extfile', 'san.cnf', '-out', 'server.pem');
    tlsPort = await freePort();
    broker = await RabbitServer.start({ tls: { port: tlsPort, certFile: join(certs, 'server.pem'), keyFile: join(certs, 'server-key.pem') } });
    for (const vhost of ['kr', 'vn']) await broker.addVhost(vhost);
    // The peer's inbox exchange, as its gateway would declare it (over plain AMQP: this is not under test).
    const connection = await amqp.connect(broker.url('vn'));
    await (await connection.createChannel()).assertExchange('eco.inbound', 'direct', { durable: true });
    await connection.close();
    place = await freshPlace('amqps');
  });

  after(async () => {
    for (const gateway of gateways) await gateway.stop();
    await broker?.stop();
    rmSync(certs, { recursive: true, force: true });
  });

  async function start(name: string, env: Record<string, string>): Promise<GatewayProcess> {
    const gateway = new GatewayProcess(name, { PARTY_ID: A, DATABASE_URL: place.databaseUrl, AMQP_URL: amqps('kr'), LOG_LEVEL: 'warn', ...env });
    gateways.push(gateway);
    await gateway.start();
    return gateway;
  }

  const ready = async (gateway: GatewayProcess) => {
    const response = await fetch(`${gateway.url}/ready`);
    return { status: response.status, body: (await response.json()) as { broker?: string } };
  };

  it('without the CA, counts its broker as down: /ready 503, the certificate error logged, and keeps trying', async () => {
    const gateway = await start('amqps-no-ca', {});
    const answer = await eventually(
      async () => {
        const r = await ready(gateway);
        return r.status === 503 && /unable to verify the first certificate|self-signed certificate/.test(readFileSync(gateway.logFile, 'utf8')) ? r : undefined;
      },
      `the gateway to report its broker down: ${JSON.stringify(await ready(gateway))}, log ${gateway.tail()}`,
    );
    assert.equal(answer.body.broker, 'down');
    assert.ok(gateway.running, 'a broker it cannot reach is waited for, not fatal');
    await gateway.stop();
  });

  it("with the CA in NODE_EXTRA_CA_CERTS, reaches its own broker over amqps and a peer's; another host name is refused", async () => {
    const gateway = await start('amqps-ca', { NODE_EXTRA_CA_CERTS: caFile });
    await eventually(async () => ((await ready(gateway)).status === 200 ? true : undefined), 'the gateway to be ready over amqps');
    const call = async (method: string, path: string, body?: unknown) => {
      const response = await fetch(gateway.url + path, {
        method,
        headers: { ...gateway.apiHeaders, ...(body ? { 'content-type': 'application/json' } : {}) },
        body: body ? JSON.stringify(body) : undefined,
      });
      return { status: response.status, body: (await response.json()) as { ok?: boolean; error?: string } };
    };
    const jwk = { ...generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'jwk' }), kid: 'vn-1', use: 'sig', alg: 'ES256' };
    const register = (amqpUrl: string) => call('PUT', `/admin/peers/${B}`, { name: 'VN over amqps', amqpUrl, jwks: { keys: [jwk] } });
    assert.equal((await register(amqps('vn'))).status, 200);
    const ping = await call('POST', `/admin/peers/${B}/ping`);
    assert.equal(ping.status, 200);
    assert.equal(ping.body.ok, true, ping.body.error);
    // The certificate names localhost: the same broker by its address does not match it.
    assert.equal((await register(amqps('vn', '127.0.0.1'))).status, 200);
    const mismatch = await call('POST', `/admin/peers/${B}/ping`);
    assert.equal(mismatch.body.ok, false);
    assert.match(mismatch.body.error ?? '', /altnames|IP: 127\.0\.0\.1/i);
  });
});
