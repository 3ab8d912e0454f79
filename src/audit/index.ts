// Hash-chained audit log. Writers append inside their own transaction (audit()); the sealer later
// gives each new row the next chain position and hash = SHA-256(prev_hash, canonical row), under
// an advisory lock so that one process seals at a time. Writers never wait on each other.
import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import { safeJson, safeText } from '../dataset/index.ts';
import { type Db, type DbClient, prepared, type Queryable, withTransaction } from '../db/index.ts';

export type AuditEntry = { actor: string; action: string; subject?: string; data?: Record<string, unknown> };

/** Who does something: an API key's holder, a peer gateway, or the gateway itself. */
export const actors = {
  apiClient: (client: { name: string; keyPrefix: string } | undefined) => (client ? `api:${client.name}#${client.keyPrefix}` : 'api:anonymous'),
  peer: (partyId: string) => `peer:${partyId}`,
  /** A person signed in to the web portal (/portal), by user name. */
  portalUser: (username: string) => `portal:${username}`,
  system: 'system',
  cli: 'cli',
};

/** Entries often carry what a caller or peer sent: made safe to store here, so no caller can forget. */
export async function audit(db: Queryable, entry: AuditEntry): Promise<void> {
  await db.query(
    prepared('audit.insert', 'INSERT INTO audit_log (actor, action, subject, data) VALUES ($1, $2, $3, $4)', [
      safeText(entry.actor, 300),
      safeText(entry.action, 100),
      entry.subject === undefined ? null : safeText(entry.subject, 300),
      JSON.stringify(safeJson(entry.data ?? {})),
    ]),
  );
}

/**
 * A change and its audit entry in one transaction, both or neither, for changes that have no
 * transaction of their own. `entry` sees the change's result; undefined means nothing changed.
 */
export async function audited<T>(db: Db, change: (client: DbClient) => Promise<T>, entry: (result: T) => AuditEntry | undefined): Promise<T> {
  return withTransaction(db, async (client) => {
    const result = await change(client);
    const logged = entry(result);
    if (logged) await audit(client, logged);
    return result;
  });
}

const GENESIS = '0'.repeat(64);
// The row as text from Postgres (jsonb's text form is canonical), so the hash never depends on
// how a driver rounds timestamps or orders object keys.
const ROW_TEXT = `id, to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS at, actor, action, subject, data::text AS data`;
type RowText = { id: number; at: string; actor: string; action: string; subject: string | null; data: string };

function linkHash(prevHash: string, position: number, row: RowText): string {
  const canonical = JSON.stringify([position, row.id, row.at, row.actor, row.action, row.subject, row.data]);
  return createHash('sha256').update(prevHash).update('\n').update(canonical).digest('hex');
}

type Sealed = { sealed: number; head?: { position: number; hash: string } };

/**
 * Chains every unsealed row. Called directly (an operator's verify, a test) it waits for a sealing
 * in progress elsewhere, so that what it returns includes everything committed before it; the
 * background sealer (`wait: false`) seals nothing when another process holds the lock.
 */
export async function sealPending(db: Db, batch = 1000, options: { wait?: boolean } = {}): Promise<Sealed> {
  const lock = options.wait === false ? "SELECT pg_try_advisory_xact_lock(hashtext('eco.audit.seal')) AS ok" : "SELECT true AS ok, pg_advisory_xact_lock(hashtext('eco.audit.seal'))";
  const result: Sealed = { sealed: 0 };
  for (;;) {
    const count = await withTransaction(db, async (client) => {
      const { rows: locked } = await client.query<{ ok: boolean }>(lock);
      if (!locked[0]!.ok) return 0;
      const { rows: head } = await client.query<{ position: number; hash: string }>('SELECT position, hash FROM audit_log WHERE position IS NOT NULL ORDER BY position DESC LIMIT 1');
      const { rows } = await client.query<RowText>(`SELECT ${ROW_TEXT} FROM audit_log WHERE position IS NULL ORDER BY id LIMIT $1`, [batch]);
      let position = head[0]?.position ?? 0;
      let prev = head[0]?.hash ?? GENESIS;
      const ids: number[] = [];
      const positions: number[] = [];
      const prevs: string[] = [];
      const hashes: string[] = [];
      for (const row of rows) {
        position += 1;
        const hash = linkHash(prev, position, row);
        ids.push(row.id);
        positions.push(position);
        prevs.push(prev);
        hashes.push(hash);
        prev = hash;
      }
      if (ids.length) {
        await client.query(
          `UPDATE audit_log a SET position = s.position, prev_hash = s.prev_hash, hash = s.hash
           FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[]) AS s(id, position, prev_hash, hash) WHERE a.id = s.id`,
          [ids, positions, prevs, hashes],
        );
        result.head = { position, hash: prev };
      }
      return ids.length;
    });
    result.sealed += count;
    if (count < batch) return result;
  }
}

export type ChainReport = {
  valid: boolean;
  entries: number;
  /** Appended but not yet chained (sealed within a second or so). */
  pending: number;
  head: { position: number; hash: string } | null;
  firstBroken: { position: number; id: number | null; reason: string } | null;
};

/** Recomputes the whole chain from the genesis and reports the first link that does not hold. */
export async function verifyChain(db: Queryable, batch = 5000): Promise<ChainReport> {
  let expectedPosition = 1;
  let prev = GENESIS;
  for (;;) {
    const { rows } = await db.query<RowText & { position: number; prev_hash: string; hash: string }>(
      `SELECT ${ROW_TEXT}, position, prev_hash, hash FROM audit_log WHERE position >= $1 ORDER BY position LIMIT $2`,
      [expectedPosition, batch],
    );
    for (const row of rows) {
      const broken = (id: number | null, reason: string): ChainReport => ({
        valid: false,
        entries: expectedPosition - 1,
        pending: 0,
        head: null,
        firstBroken: { position: expectedPosition, id, reason },
      });
      if (row.position !== expectedPosition) return broken(null, 'an entry is missing from the chain');
      if (row.prev_hash !== prev) return broken(row.id, 'prev_hash does not match the hash of the entry before it');
      if (linkHash(prev, row.position, row) !== row.hash) return broken(row.id, 'the entry was changed after it was sealed');
      prev = row.hash;
      expectedPosition += 1;
    }
    if (rows.length < batch) break;
  }
  const { rows } = await db.query<{ pending: number }>('SELECT count(*) AS pending FROM audit_log WHERE position IS NULL');
  const entries = expectedPosition - 1;
  return { valid: true, entries, pending: rows[0]!.pending, head: entries ? { position: entries, hash: prev } : null, firstBroken: null };
}

export type AuditRecord = AuditEntry & { id: number; at: string; position: number | null; hash: string | null };

export async function listAudit(
  db: Queryable,
  filter: { actor?: string; action?: string; subject?: string; before?: number; limit: number /** YYYY-MM-DD, UTC days, both included */; from?: string; to?: string },
): Promise<AuditRecord[]> {
  const { rows } = await db.query<{ id: number; at: Date; actor: string; action: string; subject: string | null; data: Record<string, unknown>; position: number | null; hash: string | null }>(
    `SELECT id, at, actor, action, subject, data, position, hash FROM audit_log
     WHERE ($1::text IS NULL OR actor = $1) AND ($2::text IS NULL OR action = $2) AND ($3::text IS NULL OR subject = $3)
       AND ($4::bigint IS NULL OR id < $4)
       AND ($6::date IS NULL OR at >= $6::date::timestamp AT TIME ZONE 'UTC') AND ($7::date IS NULL OR at < ($7::date + 1)::timestamp AT TIME ZONE 'UTC')
     ORDER BY id DESC LIMIT $5`,
    [filter.actor ?? null, filter.action ?? null, filter.subject ?? null, filter.before ?? null, filter.limit, filter.from ?? null, filter.to ?? null],
  );
  return rows.map((r) => ({ id: r.id, at: r.at.toISOString(), actor: r.actor, action: r.action, subject: r.subject ?? undefined, data: r.data, position: r.position, hash: r.hash }));
}

/**
 * Whether any entry waits for sealing: one autocommit statement on the partial index
 * audit_log_unsealed, where sealing opens a transaction of four statements. Idle gateways (and
 * busy ones between bursts) ask only this each second.
 */
async function hasUnsealed(db: Queryable): Promise<boolean> {
  const { rows } = await db.query<{ pending: boolean }>('SELECT EXISTS (SELECT 1 FROM audit_log WHERE position IS NULL) AS pending');
  return rows[0]!.pending;
}

/** Seals every second in the background and logs the new chain head: an anchor kept outside the database. */
export class AuditSealer {
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;

  constructor(
    private readonly db: Db,
    private readonly log: Logger,
    private readonly intervalMs = 1000,
  ) {}

  start(): void {
    this.timer = setInterval(() => void this.tick(), this.intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }

  private async tick(): Promise<void> {
    if (this.running) return;
    this.running = hasUnsealed(this.db)
      .then((pending): Promise<Sealed> | Sealed => (pending ? sealPending(this.db, 1000, { wait: false }) : { sealed: 0 }))
      .then(({ sealed, head }) => {
        if (sealed) this.log.info({ sealed, head }, 'audit entries sealed');
      })
      .catch((error: unknown) => this.log.warn({ err: error }, 'audit sealing failed; retrying'))
      .finally(() => (this.running = undefined));
    await this.running;
  }
}
