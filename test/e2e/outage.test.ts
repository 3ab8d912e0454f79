// Postgres or the broker gone for longer than every timer's period, under traffic: the gateway
// processes stay up, callers get 503 with Retry-After meanwhile, and every CO arrives exactly once.
// B runs as a real process on its own Postgres and broker, so they can be stopped without touching A.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { GatewayProcess } from '../../scripts/lib/gateway-process.ts';
import { PostgresServer, RabbitServer } from '../../scripts/lib/services.ts';
import { wire } from '../../scripts/lib/wiring.ts';
import { A, B, exampleCertificate, FAST_RECOVERY, freshPlace } from '../support/gateways.ts';

/** Longer than every background period here: JWKS refresh (1 s below), audit sealing (1 s), relay poll, caches (5 s). */
const OUTAGE_MS = 8000;

describe('outages at B under traffic', () => {
  let postgresB: PostgresServer;
  let brokerB: RabbitServer;
  let a: GatewayProcess;
  let b: GatewayProcess;
  let dbA: pg.Pool;
  let dbB: pg.Pool;

  before(async () => {
    // A durable Postgres (no fsync=off, no synchronous_commit=off): an immediate shutdown must not
    // take back commits it acknowledged, as the fast test settings would.
    [brokerB, postgresB] = await Promise.all([RabbitServer.start(), PostgresServer.start({ fast: false })]);
    const placeA = await freshPlace('oa');
    const placeB = await freshPlace('ob', { postgres: postgresB, rabbit: brokerB });
    const name = placeB.vhost;
    const tuning = { ...FAST_RECOVERY, RECEIPT_TIMEOUT_SECONDS: '20', JWKS_REFRESH_SECONDS: '1' };
    a = new GatewayProcess(`outage-a-${name}`, { PARTY_ID: A, DATABASE_URL: placeA.databaseUrl, AMQP_URL: placeA.amqpUrl, ...tuning });
    // Two deliveries and a message is given up as unprocessable: held messages must not spend them.
    b = new GatewayProcess(`outage-b-${name}`, { PARTY_ID: B, DATABASE_URL: placeB.databaseUrl, AMQP_URL: placeB.amqpUrl, CONSUMER_MAX_DELIVERIES: '2', ...tuning });
    await Promise.all([a.start(), b.start()]);
    await wire({ partyId: A, url: a.url, amqpUrl: placeA.amqpUrl, apiKey: a.apiKey }, { partyId: B, url: b.url, amqpUrl: placeB.amqpUrl, apiKey: b.apiKey });
    dbA = new pg.Pool({ connectionString: placeA.databaseUrl, max: 2 });
    dbB = new pg.Pool({ connectionString: placeB.databaseUrl, max: 2 });
    dbB.on('error', () => {});
  });
  after(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    await Promise.all([dbA?.end(), dbB?.end()]);
    await Promise.all([brokerB?.stop(), postgresB?.stop()]);
  });

  /** Issues `total` COs at A, 4 at a time (or `concurrency`), while `fault` runs; returns their numbers. */
  async function issueDuring(total: number, fault: () => Promise<void>, { concurrency = 4, pauseMs = 40 } = {}): Promise<string[]> {
    const numbers: string[] = [];
    let next = 0;
    const worker = async () => {
      while (next++ < total) {
        const co = exampleCertificate();
        const response = await fetch(`${a.url}/certificates`, { method: 'POST', headers: { 'content-type': 'application/json', ...a.apiHeaders }, body: JSON.stringify(co) });
        assert.equal(response.status, 201, await response.text());
        numbers.push(co.number);
        await new Promise((r) => setTimeout(r, pauseMs));
      }
    };
    await Promise.all([fault(), ...Array.from({ length: concurrency }, worker)]);
    return numbers;
  }

  async function assertDeliveredOnce(numbers: string[], label: string): Promise<void> {
    const deadline = Date.now() + 120_000;
    let accepted = 0;
    while (Date.now() < deadline) {
      const { rows } = await dbA.query<{ n: number }>("SELECT count(*)::int AS n FROM outbox WHERE type = 'certificate.issued' AND status = 'accepted' AND certificate_number = ANY($1)", [numbers]);
      accepted = rows[0]!.n;
      if (accepted === numbers.length) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    const { rows } = await dbB.query<{ n: number; distinct: number }>('SELECT count(*)::int AS n, count(DISTINCT number)::int AS distinct FROM received_certificates WHERE number = ANY($1)', [
      numbers,
    ]);
    console.log(`# ${label}: issued ${numbers.length}, accepted at A ${accepted}, stored at B ${rows[0]!.n} (${rows[0]!.distinct} distinct)`);
    if (accepted !== numbers.length) console.log(`--- A\n${a.tail(20)}\n--- B\n${b.tail(20)}`);
    assert.equal(accepted, numbers.length, 'every CO has an accepted receipt at A');
    assert.equal(rows[0]!.n, numbers.length, 'B stored every CO once');
    assert.equal(rows[0]!.distinct, numbers.length, 'none twice');
    assert.equal(await dbB.query("SELECT count(*)::int AS n FROM dead_letters WHERE code = 'PROCESSING_FAILED'").then((r) => r.rows[0].n), 0, 'nothing given up as unprocessable');
  }

  function assertRunning(): void {
    assert.ok(a.running, `A is still running\n${a.tail(20)}`);
    assert.ok(b.running, `B is still running\n${b.tail(20)}`);
  }

  it("B's Postgres is stopped for longer than every timer's period: 503 with Retry-After meanwhile, then everything arrives once", async () => {
    const seen: { status: number; retryAfter: string | null; type: string }[] = [];
    const numbers = await issueDuring(120, async () => {
      await new Promise((r) => setTimeout(r, 500));
      await postgresB.stopProcess();
      const until = Date.now() + OUTAGE_MS;
      while (Date.now() < until) {
        // A customs lookup and an operator's search at B, both needing Postgres.
        for (const [method, path, body] of [
          ['GET', '/certificates/KR-NONE'],
          [
            'POST',
            '/clearance/checks',
            {
              declarationRef: 'D-1',
              certificateNumber: 'KR-NONE',
              exportCountry: 'KR',
              importer: {},
              items: [{ itemNumber: 1, hsCode: '850440', originCountry: 'KR', quantity: { value: '1', unit: 'NAR' } }],
            },
          ],
        ] as const) {
          const response = await fetch(`${b.url}${path}`, { method, headers: { 'content-type': 'application/json', ...b.apiHeaders }, body: body && JSON.stringify(body) }).catch(() => undefined);
          if (response) seen.push({ status: response.status, retryAfter: response.headers.get('retry-after'), type: ((await response.json()) as { type: string }).type });
        }
        await new Promise((r) => setTimeout(r, 500));
      }
      assertRunning();
      await postgresB.startProcess();
    });
    assert.ok(seen.length > 10, "B's API kept answering");
    assert.deepEqual(new Set(seen.map((s) => s.status)), new Set([503]), JSON.stringify(seen.slice(0, 5)));
    assert.ok(
      seen.every((s) => Number(s.retryAfter) > 0 && s.type.endsWith('/unavailable')),
      JSON.stringify(seen[0]),
    );
    await assertDeliveredOnce(numbers, 'postgres stopped');
    assertRunning();
    const ready = await fetch(`${b.url}/ready`);
    assert.equal(ready.status, 200, 'ready again');
  });

  it("B's Postgres is killed (immediate shutdown) again and again with many transactions in flight: no process dies, everything arrives once", async () => {
    // Immediate shutdown (SIGQUIT, pg_ctl -m immediate) drops every connection mid-statement,
    // including clients checked out of a pool inside a transaction: each must be heard.
    const KILLS = 5;
    let readers = true;
    const reader = async () => {
      while (readers) {
        await fetch(`${b.url}/certificates/KR-NONE`, { headers: b.apiHeaders }).catch(() => undefined);
      }
    };
    const reading = Array.from({ length: 6 }, reader);
    const numbers = await issueDuring(
      200,
      async () => {
        for (let kill = 0; kill < KILLS; kill++) {
          await new Promise((r) => setTimeout(r, 700));
          await postgresB.stopProcess('SIGQUIT');
          await new Promise((r) => setTimeout(r, 300));
          assertRunning();
          await postgresB.startProcess();
        }
      },
      { concurrency: 8, pauseMs: 0 },
    );
    readers = false;
    await Promise.all(reading);
    assertRunning();
    await assertDeliveredOnce(numbers, `postgres killed ${KILLS} times`);
    assertRunning();
  });

  it("B's broker is stopped for longer than every timer's period, then everything arrives once", async () => {
    const numbers = await issueDuring(120, async () => {
      await new Promise((r) => setTimeout(r, 500));
      await brokerB.stopProcess();
      await new Promise((r) => setTimeout(r, OUTAGE_MS));
      assertRunning();
      const ready = await fetch(`${b.url}/ready`);
      assert.equal(ready.status, 503, 'not ready without its broker');
      await brokerB.startProcess();
    });
    await assertDeliveredOnce(numbers, 'broker stopped');
    assertRunning();
  });
});
