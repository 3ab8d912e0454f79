// `npm run bench`: the whole performance story of two gateways on local services, in one run.
//   (b) the raw cost of each step a CO needs, measured on this machine with the code production
//       runs (the gateway's own sign()/verify()), and the design limit computed from them;
//   (a) end to end, POST /certificates at A -> B's accepted receipt recorded at A:
//       saturation (closed loop), a fixed 100/s, and a fixed half of saturation;
//   (c) lookup at the importing side, GET /certificates/{number}, closed loop, over stored COs;
//   (g) printed copies: a seal and a PDF per CO (in process, and a PDF over HTTP), against raw
//       signing; status checks at A in the closed loop of (c), their CPU against a lookup's;
//   (h) the portal's certificate search over BENCH_SEARCH_ROWS received COs, against a raw
//       Postgres round trip;
//   (e) saturation with one process per role (api, relay, consumer) per side, and with N;
//   (f) noisy neighbour: A->B deliveries at a fixed rate and customs lookups at B, quiet, then with
//       a third partner's broker frozen at A (its messages pile up) and 60 heavy admin readers at B;
//   (d) with BENCH_SOAK=N, a soak of N COs at a fixed rate, sampling every gateway process's RSS
//       and heap and the table sizes every 10 s, and the slope of each.
// Not part of `npm test`; the machine is shared and noisy, so read the ratios within one run.
// Writes bench/results/<date>-<commit>.json. Sizes (env):
//   BENCH_COS (5000)            COs per end-to-end phase (BENCH_COUNT is read too)
//   BENCH_RATE (100)            the first fixed rate, COs/s
//   BENCH_CONCURRENCY (32)      requests in flight at saturation
//   BENCH_LOOKUP_ROWS (100000)  COs stored at B for the lookup (the saturation run's, then seeded by SQL)
//   BENCH_LOOKUP_SECONDS (20), BENCH_LOOKUP_CONCURRENCY (8)
//   BENCH_SOAK (0: none), BENCH_SOAK_RATE (half of saturation; 100 with BENCH_SOAK_ONLY)
//   BENCH_SOAK_ONLY (0)         1: the soak alone, written to <date>-<commit>-soak.json
//   BENCH_WAIT_SECONDS (300)    longest wait for the last receipts of a phase
//   BENCH_STATEMENTS (0)        1: load pg_stat_statements and print the saturation phase's top statements
//   BENCH_PER_ROLE (2)          (e): saturation with 1, then with this many processes per role and side
//   BENCH_SATURATION_ONLY (0)   1: stop after the saturation phase, write nothing (for profiling one change)
//   BENCH_COPIES_ONLY (0)       1: stop after the lookups (c) and printed copies (g), write nothing
//   BENCH_NOISY_SECONDS (20)    (f): seconds measured quiet, and as many with the noise
//   BENCH_NOISY_ONLY (0)        1: phase (f) alone, written to <date>-<commit>-noisy.json
//   BENCH_SEARCH_ROWS (1000000) (h): received COs seeded by SQL for the search
//   BENCH_SEARCH_ONLY (0)       1: phase (h) alone, written to <date>-<commit>-search.json
// A quick run: BENCH_COS=1000 BENCH_LOOKUP_ROWS=20000 npm run bench (a few minutes).
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import amqp from 'amqplib';
import pg from 'pg';
import { readExample } from '../scripts/lib/examples.ts';
import { frozenBroker } from '../scripts/lib/frozen-broker.ts';
import { GatewayProcess } from '../scripts/lib/gateway-process.ts';
import { startServices } from '../scripts/lib/services.ts';
import { wire } from '../scripts/lib/wiring.ts';
import { declareInbox } from '../src/exchange/amqp.ts';
import { generateSigningKey } from '../src/exchange/jose.ts';
import { copiesInProcess } from './copies.ts';
import { coreMsPer, cpuSeconds } from './cpu.ts';
import { type Reply, request } from './http.ts';
import { commitRate, publishRate, signingRates, statementRate } from './raw.ts';
import { printSearch, searchPhase } from './search.ts';

const env = (name: string, fallback: number) => Number(process.env[name] ?? fallback);
const COS = env('BENCH_COS', env('BENCH_COUNT', 5000));
const RATE = env('BENCH_RATE', 100);
const CONCURRENCY = env('BENCH_CONCURRENCY', 32);
const LOOKUP_ROWS = Math.max(COS, env('BENCH_LOOKUP_ROWS', 100_000));
const LOOKUP_SECONDS = env('BENCH_LOOKUP_SECONDS', 20);
const LOOKUP_CONCURRENCY = env('BENCH_LOOKUP_CONCURRENCY', 8);
const SOAK = env('BENCH_SOAK', 0);
const STATEMENTS = env('BENCH_STATEMENTS', 0) > 0;
const SATURATION_ONLY = env('BENCH_SATURATION_ONLY', 0) > 0;
const COPIES_ONLY = env('BENCH_COPIES_ONLY', 0) > 0;
const PER_ROLE = env('BENCH_PER_ROLE', 2);
const SOAK_ONLY = env('BENCH_SOAK_ONLY', 0) > 0 && SOAK > 0;
const WAIT_MS = env('BENCH_WAIT_SECONDS', 300) * 1000;
const NOISY_SECONDS = env('BENCH_NOISY_SECONDS', 20);
const NOISY_ONLY = env('BENCH_NOISY_ONLY', 0) > 0;
const SEARCH_ROWS = env('BENCH_SEARCH_ROWS', 1_000_000);
const SEARCH_ONLY = env('BENCH_SEARCH_ONLY', 0) > 0;
/** (f): the deliveries' rate, the lookups in flight, the operators reading at B. */
const NOISY_RATE = 20;
const NOISY_LOOKUPS = 4;
const NOISY_ADMIN_READERS = 60;
const REQUEST_TIMEOUT_MS = 30_000;
const MAX_IN_FLIGHT = 256;
/** How long one CO is tried again for (503 after its Retry-After, a lost connection) before the run fails. */
const RETRY_FOR_MS = 120_000;
const PROGRESS_MS = 5000;
const SAMPLE_MS = 10_000;
const CORES = cpus().length;
const example = readExample('certificate.json');

const fmt = (n: number, digits = 0) => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
const round = (n: number, digits = 1) => Math.round(n * 10 ** digits) / 10 ** digits;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** `promise`, or an error naming `what` after `ms`: no wait in this benchmark is unbounded. */
async function within<T>(ms: number, what: string, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([promise, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: no end within ${ms / 1000} s`)), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

/** Prints `status()` every PROGRESS_MS until the returned function is called. */
function progress(label: string, status: () => Promise<string> | string): () => void {
  const started = performance.now();
  let busy = false;
  const timer = setInterval(async () => {
    if (busy) return;
    busy = true;
    try {
      console.log(`    .. ${label} ${fmt((performance.now() - started) / 1000)} s: ${await status()}`);
    } catch {
      // a status query failing is not the benchmark failing
    } finally {
      busy = false;
    }
  }, PROGRESS_MS);
  return () => clearInterval(timer);
}

// The load generator is one client: the per-key REST rate limit would cap the saturation run.
const UNLIMITED = String(1_000_000_000);

type Services = Awaited<ReturnType<typeof startServices>>;
/**
 * Two gateways. `a` and `b` are each side's first API process; `apisA` all of A's, which the load
 * generator takes turns with; `sideA`/`sideB` every process of a side, for CPU and stopping.
 */
type Pair = { a: GatewayProcess; b: GatewayProcess; apisA: GatewayProcess[]; sideA: GatewayProcess[]; sideB: GatewayProcess[]; dbA: pg.Pool; dbB: pg.Pool; stop: () => Promise<void> };

/**
 * Starts and wires a pair. `perRole` 0: one process per side doing everything (ROLE=all, the
 * default deployment); n: per side n API, n relay and n consumer processes against one database.
 */
async function startPair(services: Services, label: string, perRole = 0): Promise<Pair> {
  const admin = new pg.Client({ connectionString: services.postgres.url() });
  await admin.connect();
  for (const side of ['a', 'b']) await admin.query(`CREATE DATABASE bench_${label}_${side}`);
  await admin.end();
  for (const side of ['a', 'b']) await services.rabbit.addVhost(`bench_${label}_${side}`);
  const place = (side: string) => ({ DATABASE_URL: services.postgres.url(`bench_${label}_${side}`), AMQP_URL: services.rabbit.url(`bench_${label}_${side}`) });
  // LOG_LEVEL info, the default: the access and business log lines are part of what a CO costs.
  const common = { LOG_LEVEL: 'info', DATABASE_POOL_SIZE: '20', RATE_LIMIT_PER_MINUTE: UNLIMITED, RATE_LIMIT_PER_ADDRESS_PER_MINUTE: UNLIMITED, STATUS_CHECKS_PER_ADDRESS_PER_MINUTE: UNLIMITED };
  // The compiled output, as `npm start` runs it in production (built at the start of the run).
  const processes = (side: 'a' | 'b', partyId: string, roles: string[]) =>
    roles.map((role, i) => new GatewayProcess(`bench-${label}-${side}-${role}-${i}`, { PARTY_ID: partyId, ...place(side), ...common, ROLE: role }, { entry: 'compiled' }));
  const roles = (role: string) => Array.from({ length: perRole }, () => role);
  const apisA = processes('a', 'KR-KCS', perRole ? roles('api') : ['all']);
  const apisB = processes('b', 'VN-MOIT', perRole ? roles('api') : ['all']);
  const workersA = processes('a', 'KR-KCS', [...roles('relay'), ...roles('consumer')]);
  const workersB = processes('b', 'VN-MOIT', [...roles('relay'), ...roles('consumer')]);
  const [a, b] = [apisA[0]!, apisB[0]!];
  const sideA = [...apisA, ...workersA];
  const sideB = [...apisB, ...workersB];
  const all = [...sideA, ...sideB];
  try {
    // API processes first: the relays and consumers then start with the peers already registered.
    await Promise.all([...apisA, ...apisB].map((p) => p.start()));
    await within(
      60_000,
      'wiring the gateways',
      wire({ partyId: 'KR-KCS', url: a.url, amqpUrl: place('a').AMQP_URL, apiKey: a.apiKey }, { partyId: 'VN-MOIT', url: b.url, amqpUrl: place('b').AMQP_URL, apiKey: b.apiKey }),
    );
    await Promise.all([...workersA, ...workersB].map((p) => p.start()));
  } catch (error) {
    await Promise.all(all.map((p) => p.kill()));
    throw error;
  }
  const dbA = new pg.Pool({ connectionString: place('a').DATABASE_URL, max: 2 });
  const dbB = new pg.Pool({ connectionString: place('b').DATABASE_URL, max: 2 });
  // An idle client hearing Postgres shut down must not end the run (the figures are written by then).
  for (const pool of [dbA, dbB]) pool.on('error', () => {});
  const stop = async () => {
    await within(60_000, `stopping the ${label} gateways`, Promise.all(all.map((p) => p.stop()))).catch(async (error: Error) => {
      console.log(`    ${error.message}: killing them`);
      await Promise.all(all.map((p) => p.kill()));
    });
    await Promise.all([dbA.end(), dbB.end()]);
  };
  return { a, b, apisA, sideA, sideB, dbA, dbB, stop };
}

async function acceptedAtA(pair: Pair): Promise<number> {
  const { rows } = await pair.dbA.query<{ n: number }>("SELECT count(*)::int AS n FROM outbox WHERE type = 'certificate.issued' AND status = 'accepted'");
  return rows[0]!.n;
}

type EndToEnd = { count: number; issuedPerSecond: number; throughput: number; p50: number; p99: number; max: number; cpuMsPerCo?: Record<string, number> };

/**
 * Issues `count` COs at A, at a fixed rate or as fast as `concurrency` requests in flight allow, and
 * measures per CO the time from sending POST /certificates to A recording B's accepted receipt.
 */
async function endToEnd(pair: Pair, mode: { rate: number } | { concurrency: number }, label: string, count: number): Promise<EndToEnd> {
  const postedAt = new Map<string, number>();
  const epochOffset = Date.now() - performance.now();
  let issued = 0;
  let retried = 0;
  const issueOne = async (i: number) => {
    const t0 = performance.now();
    const number = `BENCH-${label}-${i}`;
    const api = pair.apisA[i % pair.apisA.length]!;
    const post = () =>
      request(`${api.url}/certificates`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...api.apiHeaders },
        body: JSON.stringify({ ...example, number }),
        timeoutMs: REQUEST_TIMEOUT_MS,
      });
    // Under overload (the machine is shared) a connection refused or reset is tried again, and a 503
    // after its Retry-After, as a client should, a few times; where a lost attempt had issued the
    // CO, the retry's 409 is followed by reading its message id at A. Latency counts from the first attempt.
    let response: Reply | undefined;
    let attempt = 1;
    const giveUpAt = t0 + RETRY_FOR_MS;
    for (; ; attempt++) {
      try {
        response = await post();
        if (response.status !== 503 || performance.now() > giveUpAt) break;
        await sleep(Number(response.headers['retry-after'] ?? 1) * 1000);
      } catch (error) {
        if (performance.now() > giveUpAt || (error as Error).name === 'TimeoutError') throw error;
        await sleep(500);
      }
      retried++;
    }
    const body = JSON.parse(response.body) as { messageId?: string };
    let status = response.status;
    if (attempt > 1 && status === 409) {
      const { rows } = await pair.dbA.query<{ id: string }>('SELECT message_id AS id FROM certificates WHERE number = $1 AND version = 1', [number]);
      body.messageId = rows[0]?.id;
      if (body.messageId) status = 201;
    }
    if (status !== 201 || !body.messageId) throw new Error(`issue failed: ${status} ${JSON.stringify(body)}`);
    postedAt.set(body.messageId, t0 + epochOffset);
    issued++;
  };
  const started = performance.now();
  let lastAccepted = 0;
  let lastAt = started;
  const stopProgress = progress(label, async () => {
    const accepted = await acceptedAtA(pair);
    const now = performance.now();
    const recent = ((accepted - lastAccepted) * 1000) / (now - lastAt);
    [lastAccepted, lastAt] = [accepted, now];
    return `issued ${fmt(issued)} / ${fmt(count)}, accepted ${fmt(accepted)} (${fmt(recent, 1)}/s lately)${retried ? `, ${retried} POSTs retried` : ''}`;
  });
  try {
    if ('rate' in mode) {
      // Open loop at the rate, but with at most MAX_IN_FLIGHT requests outstanding: a gateway that
      // falls behind (a busy shared machine) slows the offered rate, and that shows in issuedPerSecond,
      // instead of piling up requests until they time out.
      const inFlight = new Set<Promise<void>>();
      let failure: unknown;
      for (let i = 0; i < count && !failure; i++) {
        const wait = started + (i * 1000) / mode.rate - performance.now();
        if (wait > 0) await sleep(wait);
        while (inFlight.size >= MAX_IN_FLIGHT) await Promise.race(inFlight);
        const one: Promise<void> = issueOne(i).then(
          () => void inFlight.delete(one),
          (error: unknown) => {
            inFlight.delete(one);
            failure ??= error;
          },
        );
        inFlight.add(one);
      }
      await Promise.all(inFlight);
      if (failure) throw failure;
    } else {
      let next = 0;
      await Promise.all(
        Array.from({ length: mode.concurrency }, async () => {
          for (let i = next++; i < count; i = next++) await issueOne(i);
        }),
      );
    }
    const issuedIn = (performance.now() - started) / 1000;
    const deadline = Date.now() + WAIT_MS;
    while ((await acceptedAtA(pair)) < count) {
      if (Date.now() > deadline) throw new Error(`${label}: ${await acceptedAtA(pair)} of ${count} receipts after waiting ${WAIT_MS / 1000} s`);
      await sleep(200);
    }
    const { rows } = await pair.dbA.query<{ id: string; at: number }>("SELECT id, extract(epoch FROM receipt_at)::float8 * 1000 AS at FROM outbox WHERE type = 'certificate.issued'");
    const latencies = rows.map((r) => r.at - postedAt.get(r.id)!).sort((x, y) => x - y);
    // A loop, not Math.max(...): a soak's 200,000 arguments overflow the stack.
    const lastReceipt = rows.reduce((latest, r) => Math.max(latest, r.at), 0) - (started + epochOffset);
    return { count, issuedPerSecond: count / issuedIn, throughput: count / (lastReceipt / 1000), p50: percentile(latencies, 50), p99: percentile(latencies, 99), max: latencies.at(-1)! };
  } finally {
    stopProgress();
  }
}

// ---------------------------------------------------------------- lookup at the importing side

/**
 * Tops B's received COs up to `rows` by SQL, straight into its tables: copies of one CO B really
 * received (its inbox row and its received_certificates row), each under a new number
 * `BENCH-<label>-<i>` and message id. Far faster than sending them; the stored JWS is the
 * template's (a lookup serves it as stored and does not verify it).
 */
async function seedReceived(pair: Pair, label: string, from: number, rows: number): Promise<void> {
  const chunk = 10_000;
  for (let start = from; start < rows; start += chunk) {
    const end = Math.min(rows, start + chunk) - 1;
    await pair.dbB.query(
      `WITH t AS (SELECT r.issuer_party, r.kind, r.agreement, r.dataset, r.jws, i.from_party, i.type, i.digest, i.body
                    FROM received_certificates r JOIN inbox i USING (message_id) LIMIT 1),
            n AS (SELECT g, gen_random_uuid() AS id, $1 || g AS number FROM generate_series($2::int, $3::int) g),
            i AS (INSERT INTO inbox (message_id, from_party, type, digest, body, status, certificate_number)
                  SELECT n.id, t.from_party, t.type, t.digest, t.body, 'accepted', n.number FROM n, t)
       INSERT INTO received_certificates (issuer_party, number, version, kind, agreement, dataset, jws, message_id)
       SELECT t.issuer_party, n.number, 1, t.kind, t.agreement, jsonb_set(t.dataset, '{number}', to_jsonb(n.number)), t.jws, n.id FROM n, t`,
      [`BENCH-${label}-`, start, end],
    );
    console.log(`    .. seeded ${fmt(end + 1)} / ${fmt(rows)} stored COs at B`);
  }
  await pair.dbB.query('ANALYZE inbox');
  await pair.dbB.query('ANALYZE received_certificates');
}

/**
 * `once` in a closed loop, LOOKUP_CONCURRENCY at a time: two seconds of warm-up (JIT, pools,
 * caches), then LOOKUP_SECONDS measured (the requests started in it), with the CPU each took.
 */
async function closedLoop(services: Services, pair: Pair, what: string, once: () => Promise<number>) {
  const latencies: number[] = [];
  const warmUpEnd = performance.now() + 2000;
  const end = warmUpEnd + LOOKUP_SECONDS * 1000;
  const stopProgress = progress(what, () => `${fmt(latencies.length)} ${what}s measured`);
  let cpuBefore: Record<string, number> | undefined;
  const warmedUp = setTimeout(() => (cpuBefore = cpuByComponent(services, pair)), warmUpEnd - performance.now());
  try {
    await Promise.all(
      Array.from({ length: LOOKUP_CONCURRENCY }, async () => {
        for (;;) {
          const startedAt = performance.now();
          if (startedAt >= end) return;
          const ms = await once();
          if (startedAt >= warmUpEnd) latencies.push(ms);
        }
      }),
    );
  } finally {
    clearTimeout(warmedUp);
    stopProgress();
  }
  const seconds = (performance.now() - warmUpEnd) / 1000;
  const cpuMsPer = cpuBefore && coreMsPer(cpuBefore, cpuByComponent(services, pair), latencies.length);
  latencies.sort((x, y) => x - y);
  return {
    cpuMsPer,
    concurrency: LOOKUP_CONCURRENCY,
    requests: latencies.length,
    rps: latencies.length / seconds,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    max: latencies.at(-1)!,
  };
}

async function lookup(services: Services, pair: Pair, label: string, rows: number) {
  const { rows: stored } = await pair.dbB.query<{ n: number }>('SELECT count(*)::int AS n FROM received_certificates');
  const loop = await closedLoop(services, pair, 'lookup', async () => {
    const number = `BENCH-${label}-${Math.floor(Math.random() * rows)}`;
    const t0 = performance.now();
    const response = await request(`${pair.b.url}/certificates/${number}`, { headers: pair.b.apiHeaders, timeoutMs: REQUEST_TIMEOUT_MS });
    const body = JSON.parse(response.body) as { number?: string };
    if (response.status !== 200 || body.number !== number) throw new Error(`lookup of ${number}: ${response.status} ${JSON.stringify(body).slice(0, 300)}`);
    return performance.now() - t0;
  });
  const { cpuMsPer, ...figures } = loop;
  return { cpuMsPerLookup: cpuMsPer, stored: stored[0]!.n, ...figures };
}

/**
 * (g) Printed copies at A, over the COs the saturation run issued: a PDF over HTTP (sealed, with
 * certificate.jws), and status checks in the closed loop the lookups ran in, for their CPU side by side.
 */
async function copiesAtA(services: Services, pair: Pair) {
  const { rows: issued } = await pair.dbA.query<{ number: string; h: string }>('SELECT number, left(canonical_hash, 22) AS h FROM certificates LIMIT 2000');
  const pick = () => issued[Math.floor(Math.random() * issued.length)]!;
  const headers = { ...pair.a.apiHeaders, accept: 'application/pdf' };
  for (let i = 0; i < 5; i++) await request(`${pair.a.url}/certificates/${pick().number}`, { headers, timeoutMs: REQUEST_TIMEOUT_MS });
  const pdfs: number[] = [];
  let bytes = 0;
  const before = cpuByComponent(services, pair);
  for (let i = 0; i < 40; i++) {
    const t0 = performance.now();
    const response = await request(`${pair.a.url}/certificates/${pick().number}`, { headers, timeoutMs: REQUEST_TIMEOUT_MS });
    if (response.status !== 200 || response.headers['content-type'] !== 'application/pdf') throw new Error(`PDF: ${response.status} ${response.body.slice(0, 300)}`);
    pdfs.push(performance.now() - t0);
    bytes = Math.max(bytes, Number(response.headers['content-length']));
  }
  const cpuMsPerPdf = coreMsPer(before, cpuByComponent(services, pair), pdfs.length);
  pdfs.sort((x, y) => x - y);
  const status = await closedLoop(services, pair, 'status check', async () => {
    const { h } = pick();
    const t0 = performance.now();
    const response = await request(`${pair.a.url}/status?h=${h}&nonce=YmVuY2gtbm9uY2UtMDAwMQ`, { headers: { accept: 'application/jose' }, timeoutMs: REQUEST_TIMEOUT_MS });
    if (response.status !== 200 || !response.body.includes('.')) throw new Error(`status check: ${response.status} ${response.body.slice(0, 300)}`);
    return performance.now() - t0;
  });
  return { pdfHttp: { p50: percentile(pdfs, 50), max: pdfs.at(-1)!, maxBytes: bytes, cpuMsPerPdf }, status };
}

/** (g), printed: a seal and a PDF per CO against raw signing; status checks at A against lookups at B. */
async function copiesPhase(services: Services, pair: Pair, lookups: Awaited<ReturnType<typeof lookup>>, rawSignsPerSecond: number) {
  console.log('\n(g) printed copies: a seal and a PDF per CO; status checks at A in the closed loop of (c)');
  const inProcess = await copiesInProcess();
  const rawSignMicros = 1e6 / rawSignsPerSecond;
  console.log(
    `  seal (RFC 8785 form + ES256 signature), 1 core: ${fmt(inProcess.sealMicros)} µs, ${fmt(inProcess.sealMicros / rawSignMicros, 2)}x a raw node:crypto signature (${fmt(rawSignMicros)} µs)`,
  );
  console.log(`  PDF in this process: p50 ${fmt(inProcess.pdfP50Ms, 1)} ms, max ${fmt(inProcess.pdfMaxMs, 1)} ms, ${fmt(inProcess.pdfBytes / 1024, 1)} KB (target: under 50 ms and 150 KB)`);
  const atA = await copiesAtA(services, pair);
  console.log(`  PDF over HTTP at A: p50 ${fmt(atA.pdfHttp.p50, 1)} ms, ${fmt(atA.pdfHttp.maxBytes / 1024, 1)} KB; CPU per PDF: ${cpuLine(atA.pdfHttp.cpuMsPerPdf, 2)}`);
  const s = atA.status;
  console.log(`  status checks: ${fmt(s.rps)} req/s, p50 ${fmt(s.p50, 2)} ms, p99 ${fmt(s.p99, 2)} ms (${fmt(s.requests)} requests)`);
  const serverMs = (cpu: Record<string, number> | undefined, gateway: 'A' | 'B') => (cpu ? (cpu[gateway] ?? 0) + (cpu.postgres ?? 0) : Number.NaN);
  const statusMs = serverMs(s.cpuMsPer, 'A');
  const lookupMs = serverMs(lookups.cpuMsPerLookup, 'B');
  if (s.cpuMsPer) console.log(`  CPU per status check: ${cpuLine(s.cpuMsPer, 3)}`);
  console.log(`  gateway + Postgres CPU: ${fmt(statusMs, 3)} ms per status check, ${fmt(lookupMs, 3)} ms per lookup: ${fmt(statusMs / lookupMs, 2)}x (target: at most 1)`);
  return {
    sealMicros: round(inProcess.sealMicros, 1),
    sealVsRawSign: round(inProcess.sealMicros / rawSignMicros, 2),
    pdf: { p50Ms: round(inProcess.pdfP50Ms, 1), maxMs: round(inProcess.pdfMaxMs, 1), bytes: inProcess.pdfBytes },
    pdfHttp: { p50Ms: round(atA.pdfHttp.p50, 1), maxBytes: atA.pdfHttp.maxBytes, cpuMsPerPdf: atA.pdfHttp.cpuMsPerPdf },
    status: { rps: round(s.rps), p50: round(s.p50, 2), p99: round(s.p99, 2), cpuMsPerCheck: s.cpuMsPer, serverCpuVsLookup: round(statusMs / lookupMs, 2) },
  };
}

// ---------------------------------------------------------------- noisy neighbour

type Quantiles = { p50: number; p99: number; count: number };
const quantiles = (values: number[]): Quantiles => {
  const sorted = [...values].sort((x, y) => x - y);
  return { p50: round(percentile(sorted, 50), 2), p99: round(percentile(sorted, 99), 2), count: sorted.length };
};

/**
 * For `seconds`: COs issued at A at NOISY_RATE (each POST -> B's accepted receipt recorded at A) and
 * customs lookups at B, NOISY_LOOKUPS in flight, over `stored` seeded COs.
 */
async function deliveriesAndLookups(pair: Pair, label: string, seconds: number, stored: number): Promise<{ delivery: Quantiles; lookup: Quantiles }> {
  const end = performance.now() + seconds * 1000;
  const posted = new Map<string, number>();
  const epochOffset = Date.now() - performance.now();
  const issuing = (async () => {
    for (let i = 0; performance.now() < end; i++) {
      const due = end - seconds * 1000 + (i * 1000) / NOISY_RATE;
      if (due > performance.now()) await sleep(due - performance.now());
      const t0 = performance.now();
      const response = await request(`${pair.a.url}/certificates`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...pair.a.apiHeaders },
        body: JSON.stringify({ ...example, number: `NOISY-${label}-${i}` }),
        timeoutMs: REQUEST_TIMEOUT_MS,
      });
      if (response.status !== 201) throw new Error(`issue failed: ${response.status} ${response.body.slice(0, 300)}`);
      posted.set((JSON.parse(response.body) as { messageId: string }).messageId, t0 + epochOffset);
    }
  })();
  const lookups: number[] = [];
  const looking = Promise.all(
    Array.from({ length: stored > 0 ? NOISY_LOOKUPS : 0 }, async () => {
      while (performance.now() < end) {
        const number = `BENCH-noisy-${Math.floor(Math.random() * stored)}`;
        const t0 = performance.now();
        const response = await request(`${pair.b.url}/certificates/${number}`, { headers: pair.b.apiHeaders, timeoutMs: REQUEST_TIMEOUT_MS });
        if (response.status !== 200) throw new Error(`lookup of ${number}: ${response.status} ${response.body.slice(0, 300)}`);
        lookups.push(performance.now() - t0);
      }
    }),
  );
  await Promise.all([issuing, looking]);
  const ids = [...posted.keys()];
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    const { rows } = await pair.dbA.query<{ id: string; at: number }>("SELECT id, extract(epoch FROM receipt_at)::float8 * 1000 AS at FROM outbox WHERE id = ANY($1::uuid[]) AND status = 'accepted'", [
      ids,
    ]);
    if (rows.length === ids.length) return { delivery: quantiles(rows.map((r) => r.at - posted.get(r.id)!)), lookup: lookups.length ? quantiles(lookups) : { p50: 0, p99: 0, count: 0 } };
    if (Date.now() > deadline) throw new Error(`${label}: ${rows.length} of ${ids.length} receipts after ${WAIT_MS / 1000} s`);
    await sleep(200);
  }
}

/**
 * (f) One partner cannot slow the others, nor operators the customs: A->B deliveries and customs
 * lookups at B, quiet, then with a third partner of A frozen (its broker accepts the connection and
 * then answers nothing, while thousands of messages wait for it) and 60 operators at B reading the
 * heaviest admin answers in a loop.
 */
async function noisyNeighbour(services: Services) {
  console.log(
    `\n(f) noisy neighbour: A->B at ${NOISY_RATE}/s and ${NOISY_LOOKUPS} customs lookups in flight at B, ${NOISY_SECONDS} s each: quiet, ${NOISY_ADMIN_READERS} admin readers at B, a frozen partner at A, both`,
  );
  const pair = await within(120_000, 'starting the noisy gateways', startPair(services, 'noisy'));
  const vhost = 'bench_noisy_frozen';
  await services.rabbit.addVhost(vhost);
  const setup = await amqp.connect(services.rabbit.url(vhost));
  await declareInbox(await setup.createConfirmChannel(), 'NZ-MPI');
  await setup.close();
  const frozen = await frozenBroker(services.rabbit.url(vhost));
  let readersRunning = true;
  try {
    // B's template CO for the seeded lookups, then the store the lookups read.
    await deliveriesAndLookups(pair, 'warm-up', 2, 0);
    const stored = 20_000;
    await seedReceived(pair, 'noisy', 0, stored);
    const quiet = await deliveriesAndLookups(pair, 'quiet', NOISY_SECONDS, stored);

    // Operators reading the heaviest admin answers at B, each again as soon as it has its answer
    // (or after the Retry-After of a refusal), as a console or a script does.
    const startReaders = () => {
      readersRunning = true;
      const readers = Array.from({ length: NOISY_ADMIN_READERS }, async (_, i) => {
        const paths = ['/admin/messages?limit=1000', '/admin/overview', '/admin/audit?limit=1000'];
        while (readersRunning) {
          const reply = await request(`${pair.b.url}${paths[i % paths.length]}`, { headers: pair.b.apiHeaders, timeoutMs: REQUEST_TIMEOUT_MS }).catch(() => undefined);
          if (reply?.status === 503) await sleep(Number(reply.headers['retry-after'] ?? 1) * 1000);
        }
      });
      return async () => {
        readersRunning = false;
        await Promise.all(readers);
      };
    };
    let stopReaders = startReaders();
    const readersOnly = await deliveriesAndLookups(pair, 'readers', NOISY_SECONDS, stored);
    await stopReaders();

    // The frozen partner: registered at A, its broker passes one message, then hangs.
    const key = await generateSigningKey();
    const peer = { name: 'a partner whose broker hangs', amqpUrl: frozen.url, jwks: { keys: [key.toJSON()] }, agreements: ['RCEP'], countries: ['NZ'] };
    const registered = await request(`${pair.a.url}/admin/peers/NZ-MPI`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json', ...pair.a.apiHeaders },
      body: JSON.stringify(peer),
      timeoutMs: REQUEST_TIMEOUT_MS,
    });
    if (registered.status !== 200) throw new Error(`registering the frozen partner: ${registered.status} ${registered.body}`);
    // Its messages, copies of what A sent B, put straight into A's outbox (sending them is not what is measured).
    const copies = (n: number) =>
      pair.dbA.query(
        `INSERT INTO outbox (id, peer, type, body, status, next_attempt_at, expects_receipt)
         SELECT gen_random_uuid(), 'NZ-MPI', 'receipt', t.body, 'queued', now(), false
           FROM (SELECT body FROM outbox WHERE type = 'certificate.issued' LIMIT 1) t CROSS JOIN generate_series(1, $1)`,
        [n],
      );
    await copies(1);
    const deadline = Date.now() + 30_000;
    while ((await pair.dbA.query("SELECT 1 FROM outbox WHERE peer = 'NZ-MPI' AND status <> 'queued'")).rowCount === 0) {
      if (Date.now() > deadline) throw new Error('the frozen partner never took its first message');
      await sleep(100);
    }
    frozen.freeze();
    await copies(5000);
    // As seedReceived does: the insert's own aftermath (autovacuum, autoanalyze) is taken now, not
    // in the middle of what is measured.
    await pair.dbA.query('VACUUM ANALYZE outbox');
    const frozenOnly = await deliveriesAndLookups(pair, 'frozen', NOISY_SECONDS, stored);
    stopReaders = startReaders();
    const both = await deliveriesAndLookups(pair, 'both', NOISY_SECONDS, stored);
    await stopReaders();

    const ratio = (n: Quantiles, q: Quantiles) => round(n.p99 / q.p99, 2);
    console.log(`  ${'p50 / p99 ms (p99 ratio to quiet; target <= 2)'.padEnd(48)} ${'A->B delivery'.padEnd(28)} customs lookup at B`);
    for (const [label, r] of [
      ['quiet', quiet],
      [`${NOISY_ADMIN_READERS} admin readers at B`, readersOnly],
      ['a frozen partner at A (5,000 waiting)', frozenOnly],
      ['both', both],
    ] as const) {
      const cell = (n: Quantiles, q: Quantiles) => `${fmt(n.p50, 1)} / ${fmt(n.p99, 1)} (${fmt(ratio(n, q), 2)})`.padEnd(28);
      console.log(`  ${label.padEnd(48)} ${cell(r.delivery, quiet.delivery)} ${cell(r.lookup, quiet.lookup)}`);
    }
    const ratios = (r: typeof quiet) => ({ delivery: ratio(r.delivery, quiet.delivery), lookup: ratio(r.lookup, quiet.lookup) });
    return {
      rate: NOISY_RATE,
      seconds: NOISY_SECONDS,
      adminReaders: NOISY_ADMIN_READERS,
      quiet,
      readersOnly,
      frozenOnly,
      both,
      p99Ratio: { readersOnly: ratios(readersOnly), frozenOnly: ratios(frozenOnly), both: ratios(both) },
    };
  } finally {
    readersRunning = false;
    await pair.stop();
    await frozen.close();
  }
}

// ---------------------------------------------------------------- soak

type Sample = { t: number; accepted: number; processes: Record<string, { rssMB: number; heapMB: number }>; tablesMB: Record<string, number> };

function rssMB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)![1]) / 1024;
}

async function heapMB(gateway: GatewayProcess): Promise<number> {
  const text = await (await fetch(`${gateway.url}/metrics`, { headers: gateway.apiHeaders, signal: AbortSignal.timeout(10_000) })).text();
  return Number(/^nodejs_heap_size_used_bytes (\S+)/m.exec(text)?.[1] ?? NaN) / 2 ** 20;
}

const TABLES = ['outbox', 'certificates', 'inbox', 'received_certificates', 'audit_log'];

async function tablesMB(db: pg.Pool, side: string): Promise<Record<string, number>> {
  const { rows } = await db.query<{ name: string; bytes: string }>('SELECT t AS name, pg_total_relation_size(t::regclass)::text AS bytes FROM unnest($1::text[]) t', [TABLES]);
  return Object.fromEntries(rows.map((r) => [`${side}.${r.name}`, round(Number(r.bytes) / 2 ** 20, 2)]));
}

/** Least-squares slope of y against x. */
function slope(points: [number, number][]): number | null {
  if (points.length < 3) return null;
  const mx = points.reduce((s, [x]) => s + x, 0) / points.length;
  const my = points.reduce((s, [, y]) => s + y, 0) / points.length;
  const sxx = points.reduce((s, [x]) => s + (x - mx) ** 2, 0);
  return sxx === 0 ? null : points.reduce((s, [x, y]) => s + (x - mx) * (y - my), 0) / sxx;
}

async function soak(services: Services, count: number, rate: number) {
  const pair = await within(120_000, 'starting the soak gateways', startPair(services, 'soak'));
  const samples: Sample[] = [];
  const sample = async (t0: number) => {
    const processes: Sample['processes'] = {};
    for (const [name, gateway] of [
      ['A', pair.a],
      ['B', pair.b],
    ] as const)
      processes[name] = { rssMB: round(rssMB(gateway.pid!)), heapMB: round(await heapMB(gateway)) };
    const s: Sample = {
      t: Math.round((performance.now() - t0) / 1000),
      accepted: await acceptedAtA(pair),
      processes,
      tablesMB: { ...(await tablesMB(pair.dbA, 'A')), ...(await tablesMB(pair.dbB, 'B')) },
    };
    samples.push(s);
    const total = (side: string) =>
      Object.entries(s.tablesMB)
        .filter(([k]) => k.startsWith(side))
        .reduce((sum, [, v]) => sum + v, 0);
    console.log(
      `    .. soak ${fmt(s.t)} s: accepted ${fmt(s.accepted)} / ${fmt(count)} | ` +
        Object.entries(processes)
          .map(([name, p]) => `${name} rss ${fmt(p.rssMB, 1)} MB heap ${fmt(p.heapMB, 1)} MB`)
          .join(' | ') +
        ` | tables A ${fmt(total('A.'), 1)} MB, B ${fmt(total('B.'), 1)} MB`,
    );
  };
  try {
    const t0 = performance.now();
    await sample(t0);
    let sampling = Promise.resolve();
    const timer = setInterval(() => (sampling = sampling.then(() => sample(t0)).catch((e: Error) => console.log(`    sample failed: ${e.message}`))), SAMPLE_MS);
    let result: EndToEnd;
    try {
      result = await endToEnd(pair, { rate }, 'soak', count);
    } finally {
      clearInterval(timer);
      await sampling;
    }
    await sample(t0);
    // Slopes per 100,000 COs accepted, past the first 10 % (start-up: JIT, pools, caches).
    const steady = samples.filter((s) => s.accepted >= count * 0.1);
    const per100k = (value: (s: Sample) => number) => {
      const m = slope(steady.map((s) => [s.accepted / 100_000, value(s)]));
      return m === null ? null : round(m, 2);
    };
    const processes = Object.fromEntries(
      ['A', 'B'].map((name) => [name, { rssSlopeMBPer100k: per100k((s) => s.processes[name]!.rssMB), heapSlopeMBPer100k: per100k((s) => s.processes[name]!.heapMB) }]),
    );
    const tables = Object.fromEntries(Object.keys(samples[0]!.tablesMB).map((k) => [k, per100k((s) => s.tablesMB[k]!)]));
    const rssSlopes = Object.values(processes)
      .map((p) => p.rssSlopeMBPer100k)
      .filter((v): v is number => v !== null);
    return {
      cos: count,
      rate,
      // The steepest of the processes' RSS slopes, with its sign.
      rssSlopeMBPer100k: rssSlopes.length ? rssSlopes.reduce((a, b) => (Math.abs(b) > Math.abs(a) ? b : a)) : null,
      processes,
      tableSlopeMBPer100k: tables,
      latency: { p50: round(result.p50), p99: round(result.p99), max: round(result.max) },
      throughput: round(result.throughput),
      samples,
    };
  } finally {
    await pair.stop();
  }
}

// ---------------------------------------------------------------- the run

function gitCommit(): string {
  try {
    const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD']).toString().trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no', '--', 'src', 'bench', 'scripts']).toString().trim();
    return dirty ? `${commit}-dirty` : commit;
  } catch {
    return 'unknown';
  }
}

type Statement = { side: string; calls: number; perCo: number; totalMs: number; msPerCo: number; planMsPerCo: number; rows: number; query: string };

/** pg_stat_statements over one phase of both sides (BENCH_STATEMENTS=1): the statements costing most Postgres time. */
async function statements(
  services: Services,
  label: string,
  reset: boolean,
): Promise<{ perSide: Record<string, { calls: number; msPerCo: number; planMsPerCo: number }>; top: Statement[] } | undefined> {
  if (!STATEMENTS) return undefined;
  const admin = new pg.Client({ connectionString: services.postgres.url() });
  await admin.connect();
  try {
    await admin.query('CREATE EXTENSION IF NOT EXISTS pg_stat_statements');
    if (reset) {
      await admin.query('SELECT pg_stat_statements_reset()');
      return undefined;
    }
    const { rows } = await admin.query<{ side: string; calls: string; total: number; plan: number; rows: string; query: string }>(
      `SELECT right(d.datname, 1) AS side, s.calls, s.total_exec_time AS total, s.total_plan_time AS plan, s.rows, s.query
         FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid
        WHERE d.datname IN ($1, $2) ORDER BY s.total_exec_time + s.total_plan_time DESC`,
      [`bench_${label}_a`, `bench_${label}_b`],
    );
    const perSide: Record<string, { calls: number; msPerCo: number; planMsPerCo: number }> = {};
    for (const r of rows) {
      const side = perSide[r.side] ?? { calls: 0, msPerCo: 0, planMsPerCo: 0 };
      perSide[r.side] = side;
      side.calls += Number(r.calls) / COS;
      side.msPerCo += r.total / COS;
      side.planMsPerCo += r.plan / COS;
    }
    for (const side of Object.values(perSide)) Object.assign(side, { calls: round(side.calls, 2), msPerCo: round(side.msPerCo, 3), planMsPerCo: round(side.planMsPerCo, 3) });
    const top = rows.slice(0, SATURATION_ONLY ? 40 : 15).map((r) => ({
      side: r.side.toUpperCase(),
      calls: Number(r.calls),
      perCo: round(Number(r.calls) / COS, 2),
      totalMs: round(r.total),
      msPerCo: round(r.total / COS, 3),
      planMsPerCo: round(r.plan / COS, 3),
      rows: Number(r.rows),
      query: r.query.replace(/\s+/g, ' ').slice(0, 110),
    }));
    console.log(
      `  pg_stat_statements, ${label}: per CO ${Object.entries(perSide)
        .map(([k, v]) => `${k.toUpperCase()} ${v.calls} statements, ${v.msPerCo} ms executing, ${v.planMsPerCo} ms planning`)
        .join('; ')}`,
    );
    for (const s of top) console.log(`    ${s.side} ${fmt(s.perCo, 2).padStart(6)}/CO ${fmt(s.msPerCo, 3).padStart(7)} ms/CO ${fmt(s.planMsPerCo, 3).padStart(6)} plan  ${s.query}`);
    return { perSide, top };
  } finally {
    await admin.end();
  }
}

/** "A 2.1 ms, B 1.4 ms, ...; 7.6 core-ms in all, so 263/s would fill 2 cores" */
function cpuLine(msPer: Record<string, number>, digits: number): string {
  const total = Object.values(msPer).reduce((sum, ms) => sum + ms, 0);
  const parts = Object.entries(msPer).map(([name, ms]) => `${name} ${fmt(ms, digits)} ms`);
  return `${parts.join(', ')}; ${fmt(total, digits)} core-ms in all, so ${fmt((CORES * 1000) / total)}/s would fill ${CORES} cores`;
}

/** CPU seconds so far of each process taking part: the gateways, the services, this generator. */
function cpuByComponent(services: Services, pair: Pair): Record<string, number> {
  const usage = process.cpuUsage();
  return {
    ...cpuSeconds({ A: pair.sideA.map((p) => p.pid), B: pair.sideB.map((p) => p.pid), postgres: [services.postgres.pid], rabbitmq: [services.rabbit.pid] }),
    generator: (usage.user + usage.system) / 1e6,
  };
}

async function endToEndPhase(services: Services, label: string, mode: { rate: number } | { concurrency: number }, designLimit: number, perRole = 0) {
  const pair = await within(120_000, `starting the ${label} gateways`, startPair(services, label, perRole));
  try {
    await statements(services, label, true);
    const cpuBefore = cpuByComponent(services, pair);
    const r = await endToEnd(pair, mode, label, COS);
    const cpu = coreMsPer(cpuBefore, cpuByComponent(services, pair), COS);
    const offered = 'rate' in mode ? `offered ${mode.rate}/s` : `closed loop, ${mode.concurrency} in flight`;
    console.log(
      `  ${label.padEnd(10)} ${offered.padEnd(26)} throughput ${fmt(r.throughput, 1)} COs/s (${fmt((r.throughput / designLimit) * 100, 1)} % of the design limit), ` +
        `issued ${fmt(r.issuedPerSecond, 1)}/s; POST -> receipt p50 ${fmt(r.p50, 1)} ms, p99 ${fmt(r.p99, 1)} ms, max ${fmt(r.max, 1)} ms`,
    );
    console.log(`  ${''.padEnd(10)} CPU per CO: ${cpuLine(cpu, 2)}`);
    const profile = await statements(services, label, false);
    return { pair, r: { ...r, cpuMsPerCo: cpu }, profile };
  } catch (error) {
    await pair.stop();
    throw error;
  }
}

/** The soak phase, printed; with BENCH_SOAK_ONLY=1 the run is this alone (it takes half an hour at 100/s). */
async function runSoak(services: Services, rate: number) {
  console.log(`\n(d) soak: ${fmt(SOAK)} COs at ${rate}/s, every gateway process's RSS and heap and the table sizes every ${SAMPLE_MS / 1000} s`);
  const soakResult = await soak(services, SOAK, rate);
  const short = SOAK < 50_000 ? ' (a short soak: start-up growth dominates these; the target needs 200,000 or more)' : '';
  console.log(`  slopes per 100,000 COs accepted, past the first 10 %${short}:`);
  for (const [name, p] of Object.entries(soakResult.processes)) console.log(`    gateway ${name}: RSS ${p.rssSlopeMBPer100k ?? 'n/a'} MB, heap ${p.heapSlopeMBPer100k ?? 'n/a'} MB`);
  console.log(
    `    tables: ${Object.entries(soakResult.tableSlopeMBPer100k)
      .map(([k, v]) => `${k} ${v ?? 'n/a'} MB`)
      .join(', ')}`,
  );
  console.log(
    `  latency over the soak: p50 ${fmt(soakResult.latency.p50, 1)} ms, p99 ${fmt(soakResult.latency.p99, 1)} ms, max ${fmt(soakResult.latency.max, 1)} ms, throughput ${fmt(soakResult.throughput, 1)} COs/s`,
  );
  return soakResult;
}

function writeResult(name: string, result: object): void {
  const dir = new URL('./results/', import.meta.url);
  mkdirSync(dir, { recursive: true });
  const file = new URL(name, dir);
  writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
  console.log(`\nwrote ${file.pathname}`);
}

async function main(): Promise<void> {
  const commit = gitCommit();
  const date = new Date().toISOString();
  console.log(`e-CO gateway benchmark, commit ${commit}, ${date}: ${fmt(COS)} COs per phase, ${CORES} cores, Node ${process.version}`);
  execFileSync('npm', ['run', '--silent', 'build'], { stdio: 'inherit' });
  const services = await startServices({ statements: STATEMENTS }); // durable settings (fsync on), as in production
  try {
    if (NOISY_ONLY) {
      writeResult(`${date.slice(0, 10)}-${commit}-noisy.json`, { commit, date, cores: CORES, node: process.version, noisyNeighbour: await noisyNeighbour(services) });
      return;
    }
    if (SEARCH_ONLY) {
      console.log(`\n(h) certificate search over ${fmt(SEARCH_ROWS)} received COs`);
      const search = await searchPhase(services.postgres.url(), SEARCH_ROWS);
      printSearch(search);
      writeResult(`${date.slice(0, 10)}-${commit}-search.json`, { commit, date, cores: CORES, node: process.version, search });
      return;
    }
    if (SOAK_ONLY) {
      const soakResult = await runSoak(services, env('BENCH_SOAK_RATE', 100));
      writeResult(`${date.slice(0, 10)}-${commit}-soak.json`, { commit, date, cores: CORES, node: process.version, soak: soakResult });
      return;
    }
    console.log('\n(b) raw cost of each step, this machine, this run');
    const envelope = { profile: 'eco/1.0', id: crypto.randomUUID(), type: 'certificate.issued', from: 'KR-KCS', to: 'VN-MOIT', sentAt: new Date().toISOString(), body: example };
    const signing = await within(120_000, 'signing rates', signingRates(envelope));
    await services.rabbit.addVhost('bench_raw');
    const publish = await within(120_000, 'publish rate', publishRate(services.rabbit.url('bench_raw'), JSON.stringify(envelope).length * 1.4));
    const commitsPerSecond = await within(60_000, 'commit rate', commitRate(services.postgres.url()));
    const statementsPerSecond = await within(60_000, 'statement rate', statementRate(services.postgres.url()));
    console.log(`  ${'ES256, 1 core'.padEnd(34)} ${'sign/s'.padStart(8)}   ${'verify/s'.padStart(8)}`);
    for (const [label, signs, verifies] of [
      ['raw node:crypto (the floor)', signing.cryptoSign, signing.cryptoVerify],
      ['node-jose (not used for ES256)', signing.nodeJoseSign, signing.nodeJoseVerify],
      ['gateway sign()/verify() (used)', signing.gatewaySign, signing.gatewayVerify],
    ] as const) {
      console.log(`  ${label.padEnd(34)} ${fmt(signs).padStart(8)}   ${fmt(verifies).padStart(8)}`);
    }

    // One CO in our flow: A signs the CO, B verifies it and signs a receipt, A verifies the receipt
    // (2 signs, 2 verifies, with the gateway's own sign()/verify(), the path production runs); the
    // relays publish the CO and the receipt (2 confirmed publishes); three transactions commit
    // (issue at A, store + receipt at B, receipt at A), each a statement with its commit, and the
    // other statements of those transactions are 11 round trips:
    //   issue at A:      BEGIN, INSERT outbox, INSERT audit_log (+ INSERT certificates, committed)
    //   receive at B:    BEGIN, INSERT inbox (dedupes), lock, INSERT received, INSERT outbox (receipt) (+ INSERT audit_log)
    //   receipt at A:    BEGIN, INSERT inbox (dedupes), UPDATE outbox (the receipt) (+ INSERT audit_log)
    // Claims and 'sent' updates are batched per up to 200 rows and left out. Crypto rates are per
    // core; the broker's and Postgres's were measured with the whole machine, so they cost CORES
    // core-seconds per operation.
    const steps = [
      { step: 'ES256 sign, gateway sign()', perCo: 2, rate: signing.gatewaySign, coreSeconds: 1 / signing.gatewaySign },
      { step: 'ES256 verify, gateway verify()', perCo: 2, rate: signing.gatewayVerify, coreSeconds: 1 / signing.gatewayVerify },
      { step: 'confirmed publish, quorum queue', perCo: 2, rate: publish, coreSeconds: CORES / publish },
      { step: 'Postgres commit, 8 concurrent', perCo: 3, rate: commitsPerSecond, coreSeconds: CORES / commitsPerSecond },
      { step: 'Postgres statement, 8 concurrent', perCo: 11, rate: statementsPerSecond, coreSeconds: CORES / statementsPerSecond },
    ];
    const coreSecondsPerCo = steps.reduce((sum, s) => sum + s.perCo * s.coreSeconds, 0);
    const designLimit = CORES / coreSecondsPerCo;
    console.log(`\n  ${'step'.padEnd(34)} ${'per CO'.padStart(6)} ${'rate /s'.padStart(9)} ${'core-µs/CO'.padStart(11)} ${'share'.padStart(6)}`);
    for (const s of steps) {
      console.log(
        `  ${s.step.padEnd(34)} ${String(s.perCo).padStart(6)} ${fmt(s.rate).padStart(9)} ${fmt(s.perCo * s.coreSeconds * 1e6).padStart(11)} ${`${fmt((s.perCo * s.coreSeconds * 100) / coreSecondsPerCo)} %`.padStart(6)}`,
      );
    }
    console.log(`  design limit: ${fmt(designLimit)} COs/s (${fmt(coreSecondsPerCo * 1e6)} core-µs per CO on ${CORES} cores)`);

    console.log(`\n(a) end to end: POST /certificates at A -> B's accepted receipt recorded at A, ${fmt(COS)} COs each`);
    const saturationRun = await endToEndPhase(services, 'saturation', { concurrency: CONCURRENCY }, designLimit);
    const saturation = saturationRun.r;
    if (SATURATION_ONLY) {
      await saturationRun.pair.stop();
      return;
    }

    console.log(`\n(c) lookup at the importing side: GET /certificates/{number} at B, closed loop, ${LOOKUP_CONCURRENCY} in flight, ${LOOKUP_SECONDS} s`);
    let lookupResult: Awaited<ReturnType<typeof lookup>>;
    let copies: Awaited<ReturnType<typeof copiesPhase>>;
    try {
      console.log(`  ${fmt(COS)} COs stored by the saturation run; seeding up to ${fmt(LOOKUP_ROWS)} by SQL (copies of one received CO under new numbers, not sent)`);
      await within(600_000, 'seeding', seedReceived(saturationRun.pair, 'saturation', COS, LOOKUP_ROWS));
      lookupResult = await within((LOOKUP_SECONDS + 60) * 1000, 'lookup', lookup(services, saturationRun.pair, 'saturation', LOOKUP_ROWS));
      console.log(
        `  over ${fmt(lookupResult.stored)} stored COs: ${fmt(lookupResult.rps)} req/s, p50 ${fmt(lookupResult.p50, 2)} ms, p99 ${fmt(lookupResult.p99, 2)} ms, max ${fmt(lookupResult.max, 1)} ms (${fmt(lookupResult.requests)} requests)`,
      );
      if (lookupResult.cpuMsPerLookup) console.log(`  CPU per lookup: ${cpuLine(lookupResult.cpuMsPerLookup, 3)}`);
      copies = await within((LOOKUP_SECONDS + 120) * 1000, 'printed copies', copiesPhase(services, saturationRun.pair, lookupResult, signing.cryptoSign));
    } finally {
      await saturationRun.pair.stop();
    }
    if (COPIES_ONLY) return;

    console.log(`\n(a) continued: fixed rates`);
    const fixed100Run = await endToEndPhase(services, 'fixed', { rate: RATE }, designLimit);
    await fixed100Run.pair.stop();
    const halfRate = Math.max(1, Math.round(saturation.throughput / 2));
    const fixedHalfRun = await endToEndPhase(services, 'half', { rate: halfRate }, designLimit);
    await fixedHalfRun.pair.stop();

    const e2e = (r: EndToEnd) => ({ p50: round(r.p50), p99: round(r.p99), max: round(r.max), throughput: round(r.throughput), issuedPerSecond: round(r.issuedPerSecond), cpuMsPerCo: r.cpuMsPerCo });
    console.log(`\n(e) scaling out on one machine: saturation with 1 and with ${PER_ROLE} processes per role (api, relay, consumer) per side, one database each`);
    const perRoleRuns: Record<string, ReturnType<typeof e2e>> = {};
    for (const n of [1, PER_ROLE]) {
      const run = await endToEndPhase(services, `roles${n}`, { concurrency: CONCURRENCY }, designLimit, n);
      await run.pair.stop();
      perRoleRuns[String(n)] = e2e(run.r);
    }

    const noisy = await noisyNeighbour(services);
    console.log(`\n(h) certificate search over ${fmt(SEARCH_ROWS)} received COs`);
    const search = await searchPhase(services.postgres.url(), SEARCH_ROWS);
    printSearch(search);
    const soakResult = SOAK > 0 ? await runSoak(services, env('BENCH_SOAK_RATE', halfRate)) : undefined;

    const result = {
      commit,
      date,
      cores: CORES,
      node: process.version,
      designLimit: round(designLimit),
      saturation: {
        throughput: round(saturation.throughput),
        ratio: round(saturation.throughput / designLimit, 3),
        concurrency: CONCURRENCY,
        p50: round(saturation.p50),
        p99: round(saturation.p99),
        max: round(saturation.max),
        cpuMsPerCo: saturation.cpuMsPerCo,
      },
      fixed100: { rate: RATE, ...e2e(fixed100Run.r) },
      fixedHalf: { rate: halfRate, ...e2e(fixedHalfRun.r) },
      lookup: {
        rps: round(lookupResult.rps),
        p50: round(lookupResult.p50, 2),
        p99: round(lookupResult.p99, 2),
        max: round(lookupResult.max, 2),
        stored: lookupResult.stored,
        concurrency: lookupResult.concurrency,
        seededBySql: lookupResult.stored - COS,
        cpuMsPerLookup: lookupResult.cpuMsPerLookup,
      },
      copies,
      processesPerRole: perRoleRuns,
      noisyNeighbour: noisy,
      search,
      soak: soakResult ?? { cos: 0, rssSlopeMBPer100k: null },
      ...(saturationRun.profile ? { statements: { saturation: saturationRun.profile } } : {}),
      sizes: { cos: COS, lookupRows: LOOKUP_ROWS, lookupSeconds: LOOKUP_SECONDS },
      raw: {
        signing: Object.fromEntries(Object.entries(signing).map(([k, v]) => [k, Math.round(v)])),
        publishPerSecond: Math.round(publish),
        commitsPerSecond: Math.round(commitsPerSecond),
        statementsPerSecond: Math.round(statementsPerSecond),
        steps: steps.map((s) => ({
          step: s.step,
          perCo: s.perCo,
          rate: Math.round(s.rate),
          coreMicrosPerCo: Math.round(s.perCo * s.coreSeconds * 1e6),
          share: round((s.perCo * s.coreSeconds) / coreSecondsPerCo, 3),
        })),
      },
    };
    writeResult(`${date.slice(0, 10)}-${commit}.json`, result);
  } finally {
    await within(120_000, 'stopping the services', services.stop());
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(`bench failed: ${error instanceof Error ? error.stack : String(error)}`);
    process.exit(1);
  },
);
