// `npm run bench`: end-to-end figures for two gateways on local services, and the raw limits of
// this machine measured in the same run. Not part of `npm test`; the machine is shared and noisy,
// so read the ratios rather than the absolute figures.
//   BENCH_COUNT (default 10000): COs per end-to-end run; BENCH_RATE (default 100): offered rate.
import { cpus } from 'node:os';
import { readFileSync } from 'node:fs';
import pg from 'pg';
import { GatewayProcess } from '../scripts/lib/gateway-process.ts';
import { startServices } from '../scripts/lib/services.ts';
import { wire } from '../scripts/lib/wiring.ts';
import { commitRate, publishRate, signingRates } from './raw.ts';

const COUNT = Number(process.env.BENCH_COUNT ?? 10_000);
const RATE = Number(process.env.BENCH_RATE ?? 100);
const CORES = cpus().length;
const example = JSON.parse(readFileSync(new URL('../examples/certificate.json', import.meta.url), 'utf8'));

const fmt = (n: number, digits = 0) => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

// The load generator is one client: the per-key REST rate limit would cap the saturation run.
const UNLIMITED = String(1_000_000_000);

type Pair = { a: GatewayProcess; b: GatewayProcess; dbA: pg.Pool; stop: () => Promise<void> };

async function startPair(services: Awaited<ReturnType<typeof startServices>>, label: string): Promise<Pair> {
  const admin = new pg.Client({ connectionString: services.postgres.url() });
  await admin.connect();
  for (const side of ['a', 'b']) await admin.query(`CREATE DATABASE bench_${label}_${side}`);
  await admin.end();
  for (const side of ['a', 'b']) await services.rabbit.addVhost(`bench_${label}_${side}`);
  const place = (side: string) => ({ DATABASE_URL: services.postgres.url(`bench_${label}_${side}`), AMQP_URL: services.rabbit.url(`bench_${label}_${side}`) });
  const a = new GatewayProcess(`bench-${label}-a`, { PARTY_ID: 'KR-KCS', ...place('a'), LOG_LEVEL: 'warn', DATABASE_POOL_SIZE: '20', RATE_LIMIT_PER_MINUTE: UNLIMITED, RATE_LIMIT_PER_ADDRESS_PER_MINUTE: UNLIMITED });
  const b = new GatewayProcess(`bench-${label}-b`, { PARTY_ID: 'VN-MOIT', ...place('b'), LOG_LEVEL: 'warn', DATABASE_POOL_SIZE: '20', RATE_LIMIT_PER_MINUTE: UNLIMITED, RATE_LIMIT_PER_ADDRESS_PER_MINUTE: UNLIMITED });
  await Promise.all([a.start(), b.start()]);
  await wire({ partyId: 'KR-KCS', url: a.url, amqpUrl: place('a').AMQP_URL, apiKey: a.apiKey }, { partyId: 'VN-MOIT', url: b.url, amqpUrl: place('b').AMQP_URL, apiKey: b.apiKey });
  const dbA = new pg.Pool({ connectionString: place('a').DATABASE_URL, max: 2 });
  return { a, b, dbA, stop: async () => void (await Promise.all([a.stop(), b.stop(), dbA.end()])) };
}

/**
 * Issues COUNT COs at A, either at a fixed rate or as fast as `concurrency` requests in flight allow,
 * and measures, per CO, the time from sending POST /certificates to A recording B's accepted receipt.
 */
async function endToEnd(pair: Pair, mode: { rate: number } | { concurrency: number }, label: string) {
  const postedAt = new Map<string, number>();
  const epochOffset = Date.now() - performance.now();
  let next = 0;
  const issueOne = async (i: number) => {
    const t0 = performance.now();
    const response = await fetch(`${pair.a.url}/certificates`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...pair.a.apiHeaders },
      body: JSON.stringify({ ...example, number: `BENCH-${label}-${i}` }),
    });
    const body = (await response.json()) as { messageId?: string };
    if (response.status !== 201 || !body.messageId) throw new Error(`issue failed: ${response.status} ${JSON.stringify(body)}`);
    postedAt.set(body.messageId, t0 + epochOffset);
  };
  const started = performance.now();
  if ('rate' in mode) {
    const inFlight: Promise<void>[] = [];
    for (let i = 0; i < COUNT; i++) {
      const due = started + (i * 1000) / mode.rate;
      const wait = due - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      inFlight.push(issueOne(i));
    }
    await Promise.all(inFlight);
  } else {
    await Promise.all(
      Array.from({ length: mode.concurrency }, async () => {
        for (let i = next++; i < COUNT; i = next++) await issueOne(i);
      }),
    );
  }
  const issuedIn = (performance.now() - started) / 1000;
  // Wait for every receipt.
  for (;;) {
    const { rows } = await pair.dbA.query<{ n: number }>("SELECT count(*)::int AS n FROM outbox WHERE type = 'certificate.issued' AND status = 'accepted'");
    if (rows[0]!.n >= COUNT) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  const { rows } = await pair.dbA.query<{ id: string; at: number }>(
    "SELECT id, extract(epoch FROM receipt_at)::float8 * 1000 AS at FROM outbox WHERE type = 'certificate.issued'",
  );
  const latencies = rows.map((r) => r.at - postedAt.get(r.id)!).sort((x, y) => x - y);
  const lastReceipt = Math.max(...rows.map((r) => r.at)) - (started + epochOffset);
  return { issuedPerSecond: COUNT / issuedIn, throughput: COUNT / (lastReceipt / 1000), p50: percentile(latencies, 50), p99: percentile(latencies, 99), max: latencies.at(-1)! };
}

async function main(): Promise<void> {
  console.log(`e-CO gateway benchmark: ${COUNT} COs per run, ${CORES} cores, Node ${process.version}`);
  const services = await startServices(); // durable settings (fsync on), as in production
  try {
    console.log('\n(b) raw cost of each step, this machine, this run');
    const envelope = { profile: 'eco/1.0', id: crypto.randomUUID(), type: 'certificate.issued', from: 'KR-KCS', to: 'VN-MOIT', sentAt: new Date().toISOString(), body: example };
    const signing = await signingRates(envelope);
    await services.rabbit.addVhost('bench_raw');
    const publish = await publishRate(services.rabbit.url('bench_raw'), JSON.stringify(envelope).length * 1.4);
    const commit = await commitRate(services.postgres.url());
    console.log(`  ${'ES256, 1 core'.padEnd(34)} ${'sign/s'.padStart(8)}   ${'verify/s'.padStart(8)}`);
    for (const [label, signs, verifies] of [
      ['raw node:crypto', signing.cryptoSign, signing.cryptoVerify],
      ['node-jose', signing.nodeJoseSign, signing.nodeJoseVerify],
      ['gateway sign()/verify() (used)', signing.gatewaySign, signing.gatewayVerify],
    ] as const) {
      console.log(`  ${label.padEnd(34)} ${fmt(signs).padStart(8)}   ${fmt(verifies).padStart(8)}`);
    }
    console.log(`  confirmed persistent publish, quorum queue, 100 outstanding  ${fmt(publish)} /s`);
    console.log(`  Postgres one-row commit, 8 concurrent  ${fmt(commit)} /s`);

    // One CO in our flow: A signs the CO, B verifies it and signs a receipt, A verifies the receipt
    // (2 signs, 2 verifies); the relays publish the CO and the receipt (2 publishes); three
    // transactions commit (issue at A, store + receipt at B, receipt at A). Claims and 'sent'
    // updates are batched per up to 200 rows and left out. Crypto rates are per core; broker and
    // Postgres rates were measured with the whole machine, so they cost CORES core-seconds per op.
    // The crypto counted is the gateway's own sign()/verify(), the path production runs.
    const coreSecondsPerCo = 2 / signing.gatewaySign + 2 / signing.gatewayVerify + (2 * CORES) / publish + (3 * CORES) / commit;
    const designLimit = CORES / coreSecondsPerCo;
    const cryptoShare = (2 / signing.gatewaySign + 2 / signing.gatewayVerify) / coreSecondsPerCo;
    console.log(`  design limit: ${fmt(designLimit)} COs/s (${fmt(coreSecondsPerCo * 1e6)} core-µs per CO; ${fmt(cryptoShare * 100)} % of it is JWS crypto)`);

    console.log(`\n(a) end to end: POST /certificates at A -> accepted receipt recorded at A`);
    for (const [label, mode] of [['fixed', { rate: RATE }], ['saturation', { concurrency: 32 }]] as const) {
      const pair = await startPair(services, label);
      try {
        const r = await endToEnd(pair, mode, label);
        const offered = 'rate' in mode ? `offered ${mode.rate}/s` : `closed loop, ${mode.concurrency} in flight`;
        console.log(
          `  ${label.padEnd(10)} ${offered.padEnd(28)} throughput ${fmt(r.throughput, 1)} COs/s (${fmt((r.throughput / designLimit) * 100, 1)} % of design limit), ` +
            `issue rate ${fmt(r.issuedPerSecond, 1)}/s, latency p50 ${fmt(r.p50, 1)} ms, p99 ${fmt(r.p99, 1)} ms, max ${fmt(r.max, 1)} ms`,
        );
      } finally {
        await pair.stop();
      }
    }
  } finally {
    await services.stop();
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(`bench failed: ${error instanceof Error ? error.stack : String(error)}`);
    process.exit(1);
  },
);
