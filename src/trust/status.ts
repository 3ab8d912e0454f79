// The public status service (PROFILE 1.2): answers `GET u?h=&nonce=` for certificates issued here,
// signed, and records who checked (counted per day and origin, written once a second).
import type { Logger } from 'pino';
import { type Db, prepared, type Queryable, withTransaction } from '../db/index.ts';
import { signText } from '../exchange/index.ts';
import type { OwnKeys } from '../keys/index.ts';
import { STATUS_TYP, type StatusAnswer } from '../seals/index.ts';

export type CheckOrigin = { origin: string; country: string | null };
type Found = { number: string; version: number; status: 'valid' | 'replaced' | 'cancelled'; at: Date; latest: number | null };

export type StatusResult = { answer: StatusAnswer; jws?: string };

export class StatusService {
  constructor(
    private readonly db: Db,
    private readonly keys: OwnKeys,
    private readonly partyId: string,
    private readonly recorder: CheckRecorder,
  ) {}

  /**
   * The answer for the first 22 characters of a seal's h: `unknown` (and nothing else) when no
   * certificate has it; signed unless `signed` is false (the HTML page, which no machine reads).
   */
  async check(h22: string, nonce: string, from: CheckOrigin, signed = true): Promise<StatusResult> {
    // Prepared, and the replacement's lookups only for a replaced version: a check costs about a lookup.
    const { rows } = await this.db.query<Found>(
      prepared(
        'status.check',
        `SELECT c.number, c.version, c.status,
                CASE c.status WHEN 'cancelled' THEN c.cancelled_at
                              WHEN 'replaced' THEN (SELECT r.created_at FROM certificates r WHERE r.number = c.number AND r.version = c.version + 1)
                              ELSE c.created_at END AS at,
                CASE WHEN c.status = 'replaced' THEN (SELECT max(l.version) FROM certificates l WHERE l.number = c.number) END AS latest
           FROM certificates c WHERE left(c.canonical_hash, 22) = $1`,
        [h22],
      ),
    );
    const checkedAt = new Date().toISOString();
    const found = rows[0];
    let answer: StatusAnswer;
    if (found) {
      answer = {
        n: found.number,
        v: found.version,
        i: this.partyId,
        h: h22,
        nonce,
        status: found.status,
        ...(found.latest ? { replacedBy: found.latest } : {}),
        at: found.at.toISOString(),
        checkedAt,
      };
      this.recorder.known(found.number, found.version, found.status, from);
    } else {
      answer = { h: h22, nonce, status: 'unknown', checkedAt };
      this.recorder.unknown(from);
    }
    return { answer, jws: signed ? await signText(JSON.stringify(answer), await this.keys.signingKey(), STATUS_TYP) : undefined };
  }
}

/** Rows as one array per column, for unnest(). */
const columns = (rows: unknown[][], width: number) => Array.from({ length: width }, (_, i) => rows.map((row) => row[i]));

type Tally = { checks: number; firstAt: Date; lastAt: Date; country: string | null };
/** Past this many distinct (certificate, day, origin) tallies waiting, further checks are counted only in the log. */
const MAX_WAITING = 10_000;
const FLUSH_MS = 1000;
const SEP = '\u0000';

/**
 * Counts checks in memory and adds them to Postgres once a second: a check costs no write of its
 * own, a flood of checks no more rows than it has distinct origins. What a crash loses is at most
 * the last second's counts. A flush Postgres refuses is kept for the next one, within the same
 * bound as new counts (past it, counted as dropped and logged).
 */
export class CheckRecorder {
  private waiting = new Map<string, Tally>();
  private dropped = 0;
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly db: Db,
    private readonly log: Logger,
  ) {}

  start(): void {
    this.timer = setInterval(() => void this.flush(), FLUSH_MS);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.flush();
  }

  known(number: string, version: number, answered: string, from: CheckOrigin): void {
    this.count(['k', number, String(version), answered, from.origin].join(SEP), from.country);
  }

  unknown(from: CheckOrigin): void {
    this.count(['u', from.origin].join(SEP), from.country);
  }

  private count(key: string, country: string | null): void {
    const now = new Date();
    const tally = this.waiting.get(key);
    if (tally) {
      tally.checks++;
      tally.lastAt = now;
    } else if (this.waiting.size < MAX_WAITING) this.waiting.set(key, { checks: 1, firstAt: now, lastAt: now, country });
    else this.dropped++;
  }

  /** Adds what waits to the day's counts; on failure keeps it for the next flush. */
  async flush(): Promise<void> {
    if (this.dropped) {
      this.log.warn({ dropped: this.dropped }, 'status checks not recorded: too many distinct origins in one second');
      this.dropped = 0;
    }
    if (this.waiting.size === 0) return;
    const batch = this.waiting;
    this.waiting = new Map();
    const known: unknown[][] = [];
    const unknown: unknown[][] = [];
    for (const [key, t] of batch) {
      const [kind, ...parts] = key.split(SEP);
      const day = t.firstAt.toISOString().slice(0, 10);
      if (kind === 'k') {
        const [number, version, answered, origin] = parts;
        known.push([number, Number(version), day, origin, t.country, answered, t.checks, t.firstAt, t.lastAt]);
      } else unknown.push([day, parts[0], t.checks, t.lastAt]);
    }
    try {
      // One transaction: a batch is added whole or not at all, so that keeping it never counts twice.
      await withTransaction(this.db, async (client) => {
        await client.query(
          `INSERT INTO status_checks (number, version, day, origin, country, answered, checks, first_at, last_at)
           SELECT * FROM unnest($1::text[], $2::int[], $3::date[], $4::text[], $5::text[], $6::text[], $7::int[], $8::timestamptz[], $9::timestamptz[])
           ON CONFLICT (number, version, day, origin, answered) DO UPDATE
             SET checks = status_checks.checks + excluded.checks, last_at = greatest(status_checks.last_at, excluded.last_at)`,
          columns(known, 9),
        );
        await client.query(
          `INSERT INTO status_unknown_checks (day, origin, checks, last_at)
           SELECT * FROM unnest($1::date[], $2::text[], $3::int[], $4::timestamptz[])
           ON CONFLICT (day, origin) DO UPDATE SET checks = status_unknown_checks.checks + excluded.checks, last_at = greatest(status_unknown_checks.last_at, excluded.last_at)`,
          columns(unknown, 4),
        );
      });
    } catch (error) {
      for (const [key, t] of batch) {
        const later = this.waiting.get(key);
        if (later) this.waiting.set(key, { ...t, checks: t.checks + later.checks, lastAt: later.lastAt });
        else if (this.waiting.size < MAX_WAITING) this.waiting.set(key, t);
        else this.dropped += t.checks;
      }
      this.log.warn({ err: error, waiting: this.waiting.size }, 'status checks not recorded yet; tried again in a second');
    }
  }
}

export type CheckRow = { version: number; day: string; origin: string; country: string | null; answered: 'valid' | 'replaced' | 'cancelled'; checks: number; firstAt: string; lastAt: string };

/** Who checked a certificate issued here: per version, day and origin, newest first. */
export async function checksOf(db: Queryable, number: string, limit = 500): Promise<{ total: number; lastAt: string | null; checks: CheckRow[] }> {
  const { rows } = await db.query<CheckRow & { total: number; last: Date | null }>(
    `SELECT version, to_char(day, 'YYYY-MM-DD') AS day, origin, country, answered, checks,
            to_char(first_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS "firstAt",
            to_char(last_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS "lastAt",
            sum(checks) OVER ()::int AS total, max(last_at) OVER () AS last
       FROM status_checks WHERE number = $1 ORDER BY last_at DESC LIMIT $2`,
    [number, limit],
  );
  return { total: rows[0]?.total ?? 0, lastAt: rows[0]?.last?.toISOString() ?? null, checks: rows.map(({ total: _t, last: _l, ...row }) => row) };
}

/**
 * What an operator watches over the last `days`: certificates checked after they were cancelled or
 * replaced (a paper copy still in use), and the origins asking most for hashes nobody issued.
 */
export async function unusualChecks(
  db: Queryable,
  days: number,
): Promise<{
  finalStatusChecks: { number: string; version: number; answered: string; checks: number; origins: number; lastAt: string }[];
  unknownByOrigin: { origin: string; checks: number; lastAt: string }[];
}> {
  const { rows: finalStatusChecks } = await db.query(
    `SELECT number, version, answered, sum(checks)::int AS checks, count(DISTINCT origin)::int AS origins, max(last_at) AS "lastAt"
       FROM status_checks WHERE day > current_date - $1::int AND answered <> 'valid'
      GROUP BY number, version, answered ORDER BY checks DESC LIMIT 100`,
    [days],
  );
  const { rows: unknownByOrigin } = await db.query(
    `SELECT origin, sum(checks)::int AS checks, max(last_at) AS "lastAt" FROM status_unknown_checks
      WHERE day > current_date - $1::int GROUP BY origin ORDER BY checks DESC LIMIT 100`,
    [days],
  );
  const iso = <T extends { lastAt: unknown }>(r: T) => ({ ...r, lastAt: (r.lastAt as Date).toISOString() });
  return { finalStatusChecks: finalStatusChecks.map(iso), unknownByOrigin: unknownByOrigin.map(iso) };
}
