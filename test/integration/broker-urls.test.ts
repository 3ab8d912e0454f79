// A broker address may list the nodes of a cluster (issue 14): AMQP_URL and a peer's amqpUrl take
// comma-separated URLs, and connect() fails over to the next node when one refuses.
import assert from 'node:assert/strict';
import { type AddressInfo, createServer, type Socket } from 'node:net';
import { describe, it } from 'node:test';
import { freePort } from '../../scripts/lib/services.ts';
import { ConfigError, loadConfig } from '../../src/config.ts';
import { brokerUrls, connect, NODE_CONNECT_TIMEOUT_MS } from '../../src/exchange/amqp.ts';
import { peerInputSchema, redactUrl } from '../../src/peers/index.ts';
import { services } from '../support/gateways.ts';

describe('broker URL lists', () => {
  const env = { PARTY_ID: 'KR-KCS', DATABASE_URL: 'postgres://localhost/eco', KEY_ENCRYPTION_KEY: Buffer.alloc(32, 7).toString('base64') };
  const list = 'amqp://u:p1@n1:5672/eco, amqp://u:p2@n2:5672/eco,amqps://u:p3@n3/eco';

  it('AMQP_URL takes one URL or a comma-separated list, each an amqp(s) URL', () => {
    assert.equal(loadConfig({ ...env, AMQP_URL: 'amqp://localhost' }).amqpUrl, 'amqp://localhost');
    assert.equal(loadConfig({ ...env, AMQP_URL: list }).amqpUrl, list);
    for (const bad of ['amqp://a,http://b', 'amqp://a,', ',amqp://a', 'http://a', 'amqp://']) {
      assert.throws(() => loadConfig({ ...env, AMQP_URL: bad }), ConfigError, bad);
    }
    assert.deepEqual(brokerUrls(list), ['amqp://u:p1@n1:5672/eco', 'amqp://u:p2@n2:5672/eco', 'amqps://u:p3@n3/eco']);
  });

  it("a peer's amqpUrl takes a list too, and every password in it is hidden", () => {
    assert.equal(peerInputSchema.safeParse({ name: 'B', amqpUrl: list, jwksUrl: 'https://b.example/jwks' }).success, true);
    assert.equal(peerInputSchema.safeParse({ name: 'B', amqpUrl: 'amqp://a,ftp://b', jwksUrl: 'https://b.example/jwks' }).success, false);
    assert.equal(redactUrl(list), 'amqp://u:***@n1:5672/eco,amqp://u:***@n2:5672/eco,amqps://u:***@n3/eco');
  });

  it('connect() fails over to the next node when the first refuses, and throws when none answers', async () => {
    const vhost = `eco_urls_${process.pid}`;
    await services.rabbit.addVhost(vhost);
    const dead = `amqp://guest:guest@127.0.0.1:${await freePort()}/${vhost}`;
    const live = services.rabbit.url(vhost);
    const connection = await connect(`${dead},${live}`, 'eco-test failover');
    const channel = await connection.createChannel();
    await channel.checkExchange('amq.direct');
    await connection.close();
    // Again: the node that worked last is tried first.
    await (await connect(`${dead},${live}`, 'eco-test failover')).close();
    await assert.rejects(connect(`${dead},${dead}`, 'eco-test none'), /ECONNREFUSED/);
  });

  it('connect() gives a node that accepts and then says nothing NODE_CONNECT_TIMEOUT_MS, then tries the next', async () => {
    // A hung node: TCP accepted, the AMQP handshake never answered (as a host gone dark mid-path).
    const sockets = new Set<Socket>();
    const silent = createServer((socket) => void sockets.add(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    try {
      const vhost = `eco_silent_${process.pid}`;
      await services.rabbit.addVhost(vhost);
      const hung = `amqp://guest:guest@127.0.0.1:${(silent.address() as AddressInfo).port}/${vhost}`;
      const started = Date.now();
      const connection = await connect(`${hung},${services.rabbit.url(vhost)}`, 'eco-test silent node');
      const took = Date.now() - started;
      await connection.close();
      assert.ok(sockets.size >= 1, 'the silent node was tried first');
      assert.ok(took >= NODE_CONNECT_TIMEOUT_MS - 100 && took < NODE_CONNECT_TIMEOUT_MS + 10_000, `connected after ${took} ms`);
      await assert.rejects(connect(hung, 'eco-test silent only'), /ETIMEDOUT/);
    } finally {
      for (const socket of sockets) socket.destroy();
      silent.close();
    }
  });
});
