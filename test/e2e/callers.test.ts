// Callers are isolated from each other: operators' heavy reads are admitted one at a time and wait
// on a pool of their own, so a customs lookup is answered while every one of them is stuck; and a
// client that stops reading its answer is cut off instead of holding it in memory. Before, 20
// stuck admin reads held every connection of the one pool, and the lookup waited behind them; a
// client that never read was kept for good.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { api, issueAndWait, type Pair, startPair } from '../support/gateways.ts';

describe('callers isolated from each other', () => {
  let pair: Pair;

  before(async () => {
    pair = await startPair({ HTTP_REQUEST_TIMEOUT_MS: '1000' });
  });
  after(() => pair.stop());

  it('answers a customs lookup while operator reads are stuck, and refuses operator reads past the queue', async () => {
    const co = await issueAndWait(pair);
    // Every read of the audit log waits for this lock; the lookup does not touch the table.
    const locker = new pg.Client({ connectionString: pair.b.config.databaseUrl });
    await locker.connect();
    await locker.query('BEGIN');
    await locker.query('LOCK TABLE audit_log IN ACCESS EXCLUSIVE MODE');
    // One runs, 20 wait their turn, the other 4 are refused at once.
    let pendingAdmin = 25;
    const adminReads = Array.from({ length: 25 }, () =>
      api(pair.b, 'GET', '/admin/audit?limit=1000').finally(() => {
        pendingAdmin--;
      }),
    );
    try {
      await new Promise((resolve) => setTimeout(resolve, 300)); // the admin reads reach Postgres
      const lookup = api(pair.b, 'GET', `/certificates/${co.number}?issuer=${pair.a.config.partyId}`);
      const first = await Promise.race([lookup.then(() => 'lookup' as const), new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), 10_000))]);
      assert.equal(first, 'lookup', 'the lookup waited behind the stuck operator reads');
      assert.equal((await lookup).status, 200);
      assert.equal(pendingAdmin, 21, 'the admitted operator reads were all still waiting');
    } finally {
      await locker.query('ROLLBACK');
      await locker.end();
    }
    const answers = await Promise.all(adminReads);
    const statuses = answers.map((r) => r.status).sort();
    assert.deepEqual(statuses, [...Array(21).fill(200), ...Array(4).fill(503)]);
    const refused = answers.find((r) => r.status === 503)!;
    assert.equal(refused.headers.get('retry-after'), '5');
    assert.match(refused.body.detail, /too many operator reads at once/);
  });

  it('cuts off a client that stops reading its answers', async () => {
    const url = new URL(pair.b.url!);
    // The server's end of our connection, to see it closed (a client that reads nothing cannot).
    const server = pair.b.app!.server;
    const serverSide = new Promise<net.Socket>((resolve) => {
      const onConnection = (s: net.Socket) => {
        if (s.remotePort !== socket.localPort) return;
        server.off('connection', onConnection);
        resolve(s);
      };
      server.on('connection', onConnection);
    });
    const socket = net.connect(Number(url.port), url.hostname);
    await once(socket, 'connect');
    socket.pause(); // reads nothing from here on
    // Pipelined: far more answer than the kernel's buffers take, so the server's writes stall.
    socket.write(`GET /openapi.yaml HTTP/1.1\r\nHost: ${url.host}\r\n\r\n`.repeat(100));
    const ours = await serverSide;
    const outcome = await Promise.race([once(ours, 'close').then(() => 'closed' as const), new Promise<'open'>((resolve) => setTimeout(() => resolve('open'), 30_000))]);
    socket.destroy();
    assert.equal(outcome, 'closed', 'the server still held the connection of a client that reads nothing');
  });
});
