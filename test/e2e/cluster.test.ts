// Beyond one machine (issue 14, item 4): B's inbox lives on a 3-node RabbitMQ cluster started
// natively (each node its own name, ports and folders); A streams COs to it while the node every
// client connects to, which also leads B's inbox quorum queue, is SIGKILLed and later restarted.
// Gateways are real processes (A: api+consumer and two relays; B: api+relay and two consumers),
// and reach the cluster through the list of its nodes' URLs (AMQP_URL and the peer's amqpUrl).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import amqp from 'amqplib';
import pg from 'pg';
import { GatewayProcess } from '../../scripts/lib/gateway-process.ts';
import { RabbitCluster, type RabbitServer } from '../../scripts/lib/services.ts';
import { wire } from '../../scripts/lib/wiring.ts';
import { declareInbox, INBOUND_QUEUE } from '../../src/exchange/amqp.ts';
import { A, B, exampleCertificate, FAST_RECOVERY, freshPlace, services } from '../support/gateways.ts';

const STREAM = Number(process.env.ECO_CLUSTER_STREAM ?? 1000);
const DOWN_MS = Number(process.env.ECO_CLUSTER_DOWN_MS ?? 5000);

type QueueStatus = { name: string; members: string[]; online: string[]; leader: string };

describe("B's inbox on a 3-node RabbitMQ cluster", () => {
  let cluster: RabbitCluster;
  const processes: GatewayProcess[] = [];
  const pools: pg.Pool[] = [];

  before(async () => {
    cluster = await RabbitCluster.start(3);
  });
  after(async () => {
    await Promise.all(processes.map((p) => p.stop()));
    await Promise.all(pools.map((p) => p.end().catch(() => {})));
    await cluster?.stop();
  });

  async function inboxQueue(vhost: string): Promise<QueueStatus> {
    const queues = JSON.parse(await cluster.ctl('list_queues', '-p', vhost, 'name', 'members', 'online', 'leader', '--formatter', 'json')) as QueueStatus[];
    const queue = queues.find((q) => q.name === INBOUND_QUEUE);
    assert.ok(queue, `${INBOUND_QUEUE} exists on ${vhost}`);
    return queue;
  }

  it('streams COs while the node leading the inbox is SIGKILLed and restarted: 0 lost, 0 stored twice, all accepted', async () => {
    const placeA = await freshPlace('ca');
    const vhostB = `eco_cb_${randomBytes(4).toString('hex')}`;
    const admin = new pg.Client({ connectionString: services.postgres.url() });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${vhostB}`);
    await admin.end();
    await cluster.addVhost(vhostB);

    // B's inbox, declared as its consumers declare it, while every node is up: a member on each.
    // The node the broker made its leader goes first in every URL list, so that killing it takes
    // the queue's leader and every client's connection at once.
    const setup = await amqp.connect(cluster.nodes[0]!.url(vhostB));
    await declareInbox(await setup.createConfirmChannel(), B);
    await setup.close();
    const declared = await inboxQueue(vhostB);
    assert.equal(declared.members.length, 3, `the inbox has a member on each node: ${JSON.stringify(declared)}`);
    const victim = cluster.nodes.find((n) => n.nodename === declared.leader)!;
    const ordered: RabbitServer[] = [victim, ...cluster.nodes.filter((n) => n !== victim)];
    const urlB = ordered.map((n) => n.url(vhostB)).join(',');
    const placeB = { databaseUrl: services.postgres.url(vhostB), amqpUrl: urlB };

    const gateway = (label: string, partyId: string, place: { databaseUrl: string; amqpUrl: string }, role: string) => {
      const p = new GatewayProcess(`${label}-${vhostB}`, { PARTY_ID: partyId, DATABASE_URL: place.databaseUrl, AMQP_URL: place.amqpUrl, ROLE: role, ...FAST_RECOVERY });
      processes.push(p);
      return p;
    };
    const aMain = gateway('a-main', A, placeA, 'api,consumer');
    const aRelays = [gateway('a-relay1', A, placeA, 'relay'), gateway('a-relay2', A, placeA, 'relay')];
    const bMain = gateway('b-main', B, placeB, 'api,relay');
    const bConsumers = [gateway('b-consumer1', B, placeB, 'consumer'), gateway('b-consumer2', B, placeB, 'consumer')];
    await Promise.all([aMain.start(), bMain.start()]);
    await Promise.all([...aRelays, ...bConsumers].map((p) => p.start()));
    await wire({ partyId: A, url: aMain.url, amqpUrl: placeA.amqpUrl, apiKey: aMain.apiKey }, { partyId: B, url: bMain.url, amqpUrl: urlB, apiKey: bMain.apiKey });
    const dbA = new pg.Pool({ connectionString: placeA.databaseUrl, max: 2 });
    const dbB = new pg.Pool({ connectionString: placeB.databaseUrl, max: 2 });
    pools.push(dbA, dbB);

    // The stream, 16 at a time; at a quarter, SIGKILL the leader's node, restart it DOWN_MS later.
    let next = 0;
    let fault: Promise<void> | undefined;
    let killedAt = 0;
    let restartMs = 0;
    const started = Date.now();
    const worker = async () => {
      for (let i = next++; i < STREAM; i = next++) {
        if (i === Math.floor(STREAM / 4)) {
          fault = (async () => {
            killedAt = Date.now();
            await victim.stopProcess('SIGKILL');
            await new Promise((r) => setTimeout(r, DOWN_MS));
            const restarting = Date.now();
            await victim.startProcess();
            await cluster.awaitRunning(3, 60_000);
            restartMs = Date.now() - restarting;
          })();
        }
        const response = await fetch(`${aMain.url}/certificates`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...aMain.apiHeaders },
          body: JSON.stringify(exampleCertificate()),
          signal: AbortSignal.timeout(30_000),
        });
        assert.equal(response.status, 201, await response.text());
      }
    };
    await Promise.all(Array.from({ length: 16 }, worker));
    const issuedMs = Date.now() - started;
    await fault;

    // Every CO accepted at A, within a time limit.
    const deadline = Date.now() + 180_000;
    let counts: Record<string, number> = {};
    while (Date.now() < deadline) {
      const { rows } = await dbA.query<{ status: string; n: number }>("SELECT status, count(*)::int AS n FROM outbox WHERE type = 'certificate.issued' GROUP BY status");
      counts = Object.fromEntries(rows.map((r) => [r.status, r.n]));
      if (counts.accepted === STREAM) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    const doneMs = Date.now() - started;
    const stored = await dbB.query<{ n: number; numbers: number; messages: number }>(
      'SELECT count(*)::int AS n, count(DISTINCT number)::int AS numbers, count(DISTINCT message_id)::int AS messages FROM received_certificates',
    );
    const inbox = await dbB.query<{ n: number }>("SELECT count(*)::int AS n FROM inbox WHERE type = 'certificate.issued'");
    // What the node loss cost: resends, the longest pause in B's arrivals, the slowest COs.
    const cost = await dbA.query<{ resent: number; p50: number; p99: number; max: number }>(
      `SELECT count(*) FILTER (WHERE attempts > 1)::int AS resent,
              percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM receipt_at - created_at))::float8 * 1000 AS p50,
              percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM receipt_at - created_at))::float8 * 1000 AS p99,
              max(extract(epoch FROM receipt_at - created_at))::float8 * 1000 AS max
         FROM outbox WHERE type = 'certificate.issued'`,
    );
    const pause = await dbB.query<{ gap: number; at: number }>(
      `SELECT extract(epoch FROM received_at - lag(received_at) OVER (ORDER BY received_at))::float8 * 1000 AS gap,
              extract(epoch FROM received_at)::float8 * 1000 AS at
         FROM inbox WHERE type = 'certificate.issued' ORDER BY gap DESC NULLS LAST LIMIT 1`,
    );
    const afterwards = await inboxQueue(vhostB);
    const { n, numbers } = stored.rows[0]!;
    const c = cost.rows[0]!;
    const gap = pause.rows[0]!;
    console.log(
      `# cluster, leader ${victim.nodename} SIGKILLed after ${STREAM / 4} of ${STREAM} COs, down ${DOWN_MS} ms, back in the cluster ${restartMs} ms after its restart\n` +
        `#   issued in ${(issuedMs / 1000).toFixed(1)} s, all accepted ${(doneMs / 1000).toFixed(1)} s after the first | at A: ${JSON.stringify(counts)}, ${c.resent} needed more than one attempt\n` +
        `#   at B: ${n} rows, ${numbers} distinct numbers, ${inbox.rows[0]!.n} inbox rows; longest pause in arrivals ${Math.round(gap.gap)} ms, ` +
        `starting ${Math.round(gap.at - gap.gap - killedAt)} ms after the kill; POST -> accepted receipt p50 ${Math.round(c.p50)} ms, p99 ${Math.round(c.p99)} ms, max ${Math.round(c.max)} ms\n` +
        `#   inbox queue after: leader ${afterwards.leader}, members online ${afterwards.online.length} of ${afterwards.members.length}`,
    );
    if (counts.accepted !== STREAM) for (const p of processes) console.log(`--- ${p.name}\n${p.tail(15)}`);
    assert.equal(counts.accepted, STREAM, 'every CO has an accepted receipt at A');
    assert.equal(n, STREAM, 'B stored every CO once');
    assert.equal(numbers, STREAM, 'no CO stored twice at B');
    assert.equal(inbox.rows[0]!.n, STREAM, 'one inbox row per message at B');
    assert.equal(afterwards.members.length, 3, 'the inbox keeps its three members');
  });
});
