// Run as a child process by test/integration/db-outage.test.ts: transactions and pool queries in
// flight on the gateway's own pool (src/db) against the Postgres at DATABASE_URL, until stdin
// closes. An 'error' event nobody hears ends this process, which is what the test looks for.
import { createPool, withTransaction } from '../../src/db/index.ts';

const pool = createPool(process.env.DATABASE_URL!, 10, { warn: () => {} });
await pool.query('CREATE TABLE IF NOT EXISTS stress (id bigserial PRIMARY KEY, v text)');
let running = true;
let committed = 0;
const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));
const transactions = async () => {
  while (running) {
    try {
      await withTransaction(pool, async (client) => {
        await client.query('INSERT INTO stress (v) VALUES ($1)', ['x']);
        // Time between statements: a client checked out and idle when the connection drops.
        await pause(Math.random() * 5);
        await client.query('SELECT count(*) FROM stress');
      });
      committed++;
    } catch {
      await pause(20);
    }
  }
};
const queries = async () => {
  while (running) await pool.query('SELECT 1').catch(() => pause(20));
};
const workers = [...Array.from({ length: 8 }, transactions), ...Array.from({ length: 4 }, queries)];
process.stdout.write('ready\n');
process.stdin.resume();
process.stdin.on('end', async () => {
  running = false;
  await Promise.all(workers);
  process.stdout.write(`${JSON.stringify({ committed })}\n`);
  await pool.end().catch(() => {});
  process.exit(0);
});
