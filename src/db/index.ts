import pg from 'pg';

export type Db = pg.Pool;
export type DbClient = pg.PoolClient;
/** Anything that runs a query: the pool, or a client inside a transaction. */
export type Queryable = Pick<pg.Pool, 'query'>;

/**
 * A statement of the per-message path, prepared once per connection under `name`: Postgres parses
 * and plans it once per connection, not on every call (it is one of a dozen such statements per
 * CO). Names are unique per text; the plans are generic after five calls, as for any prepared one.
 */
export function prepared(name: string, text: string, values: unknown[]): pg.QueryConfig {
  return { name: `eco.${name}`, text, values };
}

// bigint counts come back as strings by default; ours stay far below 2^53.
pg.types.setTypeParser(pg.types.builtins.INT8, (value) => Number(value));

/** Where the pool reports connections it lost (a pino logger will do). */
export type WarnLog = { warn(fields: object, message: string): void };

const consoleLog: WarnLog = { warn: (fields, message) => console.warn(message, fields) };

/**
 * A pool whose every connection has an 'error' listener for its whole life. pg emits 'error' on a
 * client whose connection drops (Postgres restarting, `pg_terminate_backend`); unheard, that ends
 * the process. pg-pool listens only while a client is idle, so a client checked out (a
 * transaction, a lock, a query in flight) or being destroyed would have nobody listening. The
 * statement in flight fails on its own and its caller handles that; this listener only logs.
 * `options` passes per-connection settings (e.g. `-c synchronous_commit=off`).
 */
export function createPool(connectionString: string, max = 10, log: WarnLog = consoleLog, options?: string): Db {
  // A connection attempt to an unreachable host gives up instead of holding its caller for minutes.
  const pool = new pg.Pool({ connectionString, max, connectionTimeoutMillis: 5000, ...(options ? { options } : {}) });
  pool.on('error', (error) => log.warn({ err: error }, 'idle database connection lost; the pool replaces it'));
  pool.on('connect', (client) => {
    client.on('error', (error) => log.warn({ err: error }, 'database connection lost; its statement fails and is retried by its caller'));
  });
  return pool;
}

/**
 * Runs `work` in one transaction on one client. Inside it, query only through that client: a
 * second pool connection awaited while holding this one deadlocks once the pool is exhausted.
 */
export async function withTransaction<T>(pool: Db, work: (client: DbClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let result: T;
  try {
    await client.query('BEGIN');
    result = await work(client);
    await client.query('COMMIT');
    writeFailures.delete(pool);
  } catch (error) {
    if (isDatabaseUnwritable(error)) writeFailures.set(pool, { at: Date.now(), code: (error as { code: string }).code, reason: (error as Error).message });
    // The error that failed the work is what the caller needs; a ROLLBACK on a broken connection
    // fails too, and the connection is destroyed below either way.
    await client.query('ROLLBACK').catch(() => {});
    // Destroy rather than reuse: after a failure the connection may be the broken one.
    client.release(true);
    throw error;
  }
  client.release();
  return result;
}

/** The latest write each pool saw fail because Postgres could not write (cleared by a commit). */
const writeFailures = new WeakMap<Db, { at: number; code: string; reason: string }>();

/** A write of `pool` that failed within `withinMs` because Postgres could not write, if no commit succeeded since. */
export function lastWriteFailure(pool: Db, withinMs: number): { agoMs: number; code: string; reason: string } | undefined {
  const failure = writeFailures.get(pool);
  const agoMs = failure ? Date.now() - failure.at : Infinity;
  return failure && agoMs <= withinMs ? { agoMs, code: failure.code, reason: failure.reason } : undefined;
}

/**
 * True when Postgres is up but cannot write: disk full (53100), read-only (25006: a standby, or
 * default_transaction_read_only), an I/O error (58030). Nothing the request did wrong: a 503, and
 * the consumer holds its message until it can. (Out of memory, 53200, may be the message's own
 * doing: retried a bounded number of times like any other failure.)
 */
export function isDatabaseUnwritable(error: unknown): boolean {
  const code = (error as { code?: unknown })?.code;
  return typeof code === 'string' && ['53100', '25006', '58030'].includes(code);
}

/**
 * True when the error says Postgres could not be reached or is going away (not that the statement
 * was wrong): worth waiting for and trying again, and a 503 for API callers.
 */
export function isDatabaseUnavailable(error: unknown): boolean {
  const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
  if (typeof code === 'string') {
    // Class 08: connection exception; 57P01-03: shutting down or starting; 53300: too many connections.
    if (code.startsWith('08') || ['57P01', '57P02', '57P03', '53300'].includes(code)) return true;
    if (['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENOTFOUND', 'EAI_AGAIN'].includes(code)) return true;
  }
  return typeof message === 'string' && /Connection terminated|timeout exceeded when trying to connect|not queryable|Connection ended/i.test(message);
}

/**
 * Records `partyId` as the party this database belongs to, if none is yet, and returns the one
 * recorded: a caller whose party differs must not use the database.
 */
export async function claimDatabase(db: Queryable, partyId: string): Promise<string> {
  await db.query('INSERT INTO gateway_party (party_id) VALUES ($1) ON CONFLICT DO NOTHING', [partyId]);
  const { rows } = await db.query<{ party_id: string }>('SELECT party_id FROM gateway_party');
  return rows[0]!.party_id;
}

/**
 * One line saying what is wrong with reaching the database, for errors an operator fixes in
 * DATABASE_URL or Postgres; undefined for any other error.
 */
export function databaseProblem(error: unknown, url: string): string | undefined {
  const code = (error as { code?: unknown })?.code;
  const at = `the database at ${redactUrl(url)}`;
  // 28P01: wrong password; 28000: no such role, or pg_hba refuses it.
  if (code === '28P01' || code === '28000') return `${at} refused the credentials (${code}): check the user and password in DATABASE_URL`;
  if (code === '3D000') return `${at} does not exist (3D000): create it, or fix the database name in DATABASE_URL`;
  if (isDatabaseUnavailable(error)) return `${at} cannot be reached (${typeof code === 'string' ? code : (error as Error).message}): check DATABASE_URL and that Postgres is running`;
  return undefined;
}

/** A connection URL without its credentials, for messages and logs. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.protocol}//${parsed.host}${parsed.pathname}`;
  } catch {
    return '(unparsable URL)';
  }
}

export { MigrationError, migrate, pendingMigrations } from './migrate.ts';
