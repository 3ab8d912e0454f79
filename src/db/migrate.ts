// Applies the numbered plain SQL files in migrations/ once each, in order, under an advisory lock
// so that several processes starting together do not race.
import { readdir, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type pg from 'pg';

const migrationsDir = fileURLToPath(new URL('../../migrations/', import.meta.url));
const LOCK_ID = 0x6563_6f31; // "eco1"

async function migrationFiles(): Promise<string[]> {
  return (await readdir(migrationsDir)).filter((f) => /^\d+_.+\.sql$/.test(f)).sort();
}

/** A migration file that Postgres refused: its name and Postgres's message, in one line. */
export class MigrationError extends Error {}

/** The migrations not yet applied to the database, in order; all of them on an empty database. */
export async function pendingMigrations(pool: pg.Pool): Promise<string[]> {
  const files = await migrationFiles();
  const { rows } = await pool.query<{ name: string }>('SELECT name FROM schema_migrations').catch((error: { code?: string }) => {
    // 42P01: no schema_migrations table yet.
    if (error.code === '42P01') return { rows: [] };
    throw error;
  });
  const applied = new Set(rows.map((r) => r.name));
  return files.filter((f) => !applied.has(f));
}

export async function migrate(pool: pg.Pool): Promise<string[]> {
  const files = await migrationFiles();
  const client = await pool.connect();
  try {
    await client.query('SELECT pg_advisory_lock($1)', [LOCK_ID]);
    await client.query('CREATE TABLE IF NOT EXISTS schema_migrations (name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())');
    const { rows } = await client.query<{ name: string }>('SELECT name FROM schema_migrations');
    const applied = new Set(rows.map((r) => r.name));
    const newlyApplied: string[] = [];
    for (const file of files) {
      if (applied.has(file)) continue;
      const sql = await readFile(migrationsDir + file, 'utf8');
      await client.query('BEGIN');
      try {
        await client.query(sql);
        await client.query('INSERT INTO schema_migrations (name) VALUES ($1)', [file]);
        await client.query('COMMIT');
      } catch (error) {
        await client.query('ROLLBACK');
        throw new MigrationError(`migration ${file} failed: ${(error as Error).message}`, { cause: error });
      }
      newlyApplied.push(file);
    }
    return newlyApplied;
  } finally {
    // A session lock ends with its connection: if unlocking fails, the connection is broken and the lock gone with it.
    await client.query('SELECT pg_advisory_unlock($1)', [LOCK_ID]).catch(() => {});
    client.release();
  }
}
