// Phase (h): the portal's certificate search over a large store. BENCH_SEARCH_ROWS received
// certificates (1,000,000 by default) are written by SQL into a database of their own (migrated
// as production is, with an inbox row for each, as the foreign key wants), with a thousand
// exporters, importers, 400 HS codes, two years of receipts and 2% cancelled; then each kind of
// search the Customs list offers runs with the code the portal runs (searchReceived: a count
// capped at 10,000, then a page of 50), and its latency is printed against a raw Postgres round
// trip measured at the same moment.
import pg from 'pg';
import { searchReceived } from '../src/certificates/search.ts';
import { migrate } from '../src/db/migrate.ts';

export type SearchCase = { search: string; p50: number; p95: number; max: number; found: number };
export type SearchResult = { rows: number; seedSeconds: number; rawRoundTripMs: number; cases: SearchCase[] };

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!;

export async function seed(pool: pg.Pool, rows: number): Promise<void> {
  const batch = 100_000;
  for (let start = 0; start < rows; start += batch) {
    const end = Math.min(rows, start + batch) - 1;
    // One statement per batch: an inbox row and a certificate per number, deterministic from n.
    await pool.query(
      `WITH n AS (SELECT g AS n, md5(g::text)::uuid AS id FROM generate_series($1::int, $2::int) g),
       i AS (INSERT INTO inbox (message_id, from_party, type, digest, body, status, received_at)
             SELECT id, CASE WHEN n % 10 = 0 THEN 'TH-DFT' ELSE 'KR-KCS' END, 'certificate.issued', 'bench', '{}', 'accepted', now() FROM n)
       INSERT INTO received_certificates (issuer_party, number, version, kind, agreement, status, dataset, jws, message_id, received_at)
       SELECT CASE WHEN n % 10 = 0 THEN 'TH-DFT' ELSE 'KR-KCS' END, 'KR-' || (2024 + n % 3) || '-' || lpad(n::text, 7, '0'), 1, 'preferential', 'KR-VN-FTA',
              CASE WHEN n % 50 = 0 THEN 'cancelled' ELSE 'valid' END,
              jsonb_build_object(
                'number', 'KR-' || (2024 + n % 3) || '-' || lpad(n::text, 7, '0'),
                'exporter', jsonb_build_object('name', 'Exporter ' || (n % 1000) || ' Trading Co., Ltd.', 'id', 'KR' || lpad((n % 1000)::text, 10, '0')),
                'importer', jsonb_build_object('name', 'Importer ' || (n % 997) || ' Joint Stock Company', 'id', 'VN' || lpad((n % 997)::text, 10, '0')),
                'items', jsonb_build_array(
                  jsonb_build_object('itemNumber', 1, 'hsCode', lpad((10 + n % 80)::text, 2, '0') || lpad((n % 20)::text, 2, '0') || '10', 'quantity', jsonb_build_object('value', '100', 'unit', 'KGM')),
                  jsonb_build_object('itemNumber', 2, 'hsCode', '8504' || lpad((n % 90)::text, 2, '0'), 'quantity', jsonb_build_object('value', '5', 'unit', 'NAR')))),
              'bench', id, now() - make_interval(mins => (n % 1051200))
         FROM n`,
      [start, end],
    );
  }
  await pool.query('ANALYZE');
}

/** The searches a customs officer makes, each as the list's query string would give it. */
const CASES: { search: string; filter: Parameters<typeof searchReceived>[1] }[] = [
  { search: 'first page, newest first', filter: {} },
  { search: 'number contains 0123456', filter: { number: '0123456' } },
  { search: 'number contains "kr-2025-00" (any case)', filter: { number: 'kr-2025-00' } },
  { search: 'exporter "exporter 777 trading"', filter: { exporter: 'exporter 777 trading' } },
  { search: 'importer by identifier VN0000000123', filter: { importer: 'VN0000000123' } },
  { search: 'issuer TH-DFT', filter: { party: 'TH-DFT' } },
  { search: 'HS heading 8504', filter: { hsCode: '8504' } },
  { search: 'HS code 850420 + cancelled', filter: { hsCode: '850420', status: 'cancelled' } },
  { search: 'one month, sorted by number', filter: { from: daysAgo(60), to: daysAgo(30), sort: 'number' } },
  { search: 'exporter + importer + issuer', filter: { exporter: 'Exporter 12 Trading', importer: 'Importer 34 Joint', party: 'KR-KCS' } },
  { search: 'page 200 (the deepest)', filter: { page: 200 } },
];

function daysAgo(days: number): string {
  return new Date(Date.now() - days * 86_400_000).toISOString().slice(0, 10);
}

export async function searchPhase(databaseUrl: string, rows: number, repeats = 15): Promise<SearchResult> {
  const admin = new pg.Pool({ connectionString: databaseUrl, max: 1 });
  await admin.query('DROP DATABASE IF EXISTS bench_search');
  await admin.query('CREATE DATABASE bench_search');
  await admin.end();
  const pool = new pg.Pool({ connectionString: databaseUrl.replace(/\/[^/]*$/, '/bench_search'), max: 4 });
  try {
    await migrate(pool);
    const started = performance.now();
    await seed(pool, rows);
    const seedSeconds = (performance.now() - started) / 1000;
    const roundTrips: number[] = [];
    for (let i = 0; i < 200; i++) {
      const t = performance.now();
      await pool.query('SELECT 1');
      roundTrips.push(performance.now() - t);
    }
    const rawRoundTripMs = percentile(
      roundTrips.sort((a, b) => a - b),
      0.5,
    );
    const cases: SearchCase[] = [];
    for (const { search, filter } of CASES) {
      const times: number[] = [];
      let found = 0;
      for (let i = 0; i < repeats; i++) {
        const t = performance.now();
        const page = await searchReceived(pool, filter);
        times.push(performance.now() - t);
        found = page.total;
      }
      times.sort((a, b) => a - b);
      cases.push({ search, p50: percentile(times, 0.5), p95: percentile(times, 0.95), max: times.at(-1)!, found });
    }
    return { rows, seedSeconds, rawRoundTripMs, cases };
  } finally {
    await pool.end();
  }
}

export function printSearch(result: SearchResult): void {
  const ms = (n: number) => n.toFixed(1).padStart(7);
  console.log(`  ${result.rows.toLocaleString('en')} received COs seeded in ${result.seedSeconds.toFixed(0)} s; a raw Postgres round trip (SELECT 1) p50 ${result.rawRoundTripMs.toFixed(2)} ms`);
  console.log(`  ${'search (count up to 10,000 + a page of 50)'.padEnd(46)} ${'p50 ms'.padStart(7)} ${'p95 ms'.padStart(7)} ${'max ms'.padStart(7)} ${'x raw'.padStart(7)} ${'found'.padStart(8)}`);
  for (const c of result.cases) {
    console.log(`  ${c.search.padEnd(46)} ${ms(c.p50)} ${ms(c.p95)} ${ms(c.max)} ${(c.p50 / result.rawRoundTripMs).toFixed(0).padStart(7)} ${String(c.found).padStart(8)}`);
  }
}
