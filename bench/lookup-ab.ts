// `node --import tsx bench/lookup-ab.ts`: A/B of the lookup's database work, interleaved in one window: three queries on three pool
// connections (before) against one prepared statement (after), 8 in flight, over 20,000 received COs.
import pg from 'pg';
import { PostgresServer } from '../scripts/lib/services.ts';
import { lookupVersions } from '../src/certificates/store.ts';
import { migrate } from '../src/db/index.ts';

const server = await PostgresServer.start({ statements: true });
const admin = new pg.Client({ connectionString: server.url() });
await admin.connect();
await admin.query('CREATE DATABASE ab');
await admin.end();
const db = new pg.Pool({ connectionString: server.url('ab'), max: 20 });
db.on('error', () => {});
const ROWS = 20_000;
try {
  await migrate(db);
  await db.query(
    `INSERT INTO inbox (message_id, from_party, type, digest, body, status) SELECT gen_random_uuid(), 'KR-KCS', 'certificate.issued', 'd', 'b', 'accepted' FROM generate_series(1, ${ROWS})`,
  );
  const dataset = JSON.stringify({ number: 'x', items: Array.from({ length: 5 }, (_, i) => ({ itemNumber: i + 1, description: 'goods '.repeat(20) })) });
  await db.query(
    `INSERT INTO received_certificates (issuer_party, number, version, kind, dataset, jws, message_id) SELECT 'KR-KCS', 'N' || row_number() over (), 1, 'x', $1, repeat('j', 4000), message_id FROM inbox`,
    [dataset],
  );
  await db.query('ANALYZE');
  await db.query('CREATE EXTENSION pg_stat_statements');
  const before = async (number: string) => {
    const [a, b, c] = await Promise.all([
      db.query(
        `SELECT $2::text AS issuer, c.number, c.version, c.kind, c.agreement, c.status, c.dataset, c.jws, c.created_at AS at, c.importing_party AS counterparty, c.cancel_reason, c.cancelled_at FROM certificates c WHERE c.number = $1 ORDER BY c.version DESC`,
        [number, 'VN-MOIT'],
      ),
      db.query(
        `SELECT r.issuer_party AS issuer, r.number, r.version, r.kind, r.agreement, r.status, r.dataset, r.jws, r.received_at AS at, r.issuer_party AS counterparty, c.reason AS cancel_reason, c.cancelled_at
           FROM received_certificates r LEFT JOIN received_cancellations c ON c.issuer_party = r.issuer_party AND c.number = r.number
          WHERE r.number = $1 AND ($2::text IS NULL OR r.issuer_party = $2) ORDER BY r.issuer_party, r.version DESC`,
        [number, null],
      ),
      db.query(
        `SELECT c.issuer_party AS issuer, c.reason, c.cancelled_at AS "cancelledAt" FROM received_cancellations c
          WHERE c.number = $1 AND ($2::text IS NULL OR c.issuer_party = $2)
            AND NOT EXISTS (SELECT 1 FROM received_certificates r WHERE r.issuer_party = c.issuer_party AND r.number = c.number)`,
        [number, null],
      ),
    ]);
    return a.rows.length + b.rows.length + c.rows.length;
  };
  const after = async (number: string) => (await lookupVersions(db, number, { own: 'VN-MOIT', others: true })).length;
  const run = async (fn: (n: string) => Promise<number>, ms: number) => {
    const end = performance.now() + ms;
    const lat: number[] = [];
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        while (performance.now() < end) {
          const t = performance.now();
          const found = await fn(`N${1 + Math.floor(Math.random() * ROWS)}`);
          if (found !== 1) throw new Error('not found');
          lat.push(performance.now() - t);
        }
      }),
    );
    lat.sort((x, y) => x - y);
    return { rps: lat.length / (ms / 1000), p50: lat[Math.floor(lat.length / 2)]!, p99: lat[Math.floor(lat.length * 0.99)]! };
  };
  await run(before, 1000);
  await run(after, 1000);
  await db.query('SELECT pg_stat_statements_reset()');
  const totals = { before: [] as number[], after: [] as number[] };
  for (let round = 0; round < 4; round++) {
    for (const [name, fn] of [
      ['before', before],
      ['after', after],
    ] as const) {
      const r = await run(fn, 3000);
      totals[name].push(r.rps);
      console.log(`round ${round + 1} ${name.padEnd(6)} ${r.rps.toFixed(0)} lookups/s, p50 ${r.p50.toFixed(2)} ms, p99 ${r.p99.toFixed(2)} ms`);
    }
  }
  const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
  console.log(`mean: before ${(sum(totals.before) / 4).toFixed(0)}/s, after ${(sum(totals.after) / 4).toFixed(0)}/s, ratio ${(sum(totals.after) / sum(totals.before)).toFixed(2)}`);
  const { rows } = await db.query(
    `SELECT calls, round((total_exec_time / calls)::numeric, 4) AS exec_ms, round((total_plan_time / calls)::numeric, 4) AS plan_ms, left(regexp_replace(query, '\\s+', ' ', 'g'), 70) AS query
       FROM pg_stat_statements WHERE query ~ 'received_c|FROM certificates c' ORDER BY calls DESC LIMIT 6`,
  );
  console.table(rows);
} finally {
  await db.end();
  await server.stop();
}
