// `npm run migrate`: apply pending migrations to DATABASE_URL and exit. Exit codes: 0 applied or
// up to date, 1 failed (one line on stderr saying why), 2 DATABASE_URL missing.
import { createPool, databaseProblem, MigrationError, migrate } from './index.ts';

const url = process.env.DATABASE_URL;
if (!url) {
  console.error('DATABASE_URL is not set: it names the gateway database');
  process.exit(2);
}
const pool = createPool(url, 1, { warn: () => {} });
let code = 0;
try {
  const applied = await migrate(pool);
  console.log(applied.length ? `applied: ${applied.join(', ')}` : 'database is up to date');
} catch (error) {
  code = 1;
  console.error(error instanceof MigrationError ? error.message : (databaseProblem(error, url) ?? `migration failed: ${oneLine(error)}`));
} finally {
  await pool.end().catch(() => {});
}
process.exit(code);

function oneLine(error: unknown): string {
  return String((error as Error)?.message ?? error).replace(/\s+/g, ' ');
}
