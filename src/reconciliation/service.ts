// Reconciliation (profile 1.1, with the 1.2 rules): once a day per peer (for the previous UTC day, after 00:30 UTC) or
// when an operator asks, we send a statement of what we sent that peer and what we received from
// it; the peer answers with what differs. Answers to the statements peers send us are made here too.
//
// A bucket's root cannot be turned back into its lines: from a statement we can tell which buckets
// differ, and list our own lines in them, but not the sender's. So our answers list in
// `missingThere` every line we sent in a bucket where the peer's `received` differs from our
// `sent`, and resend those (the peer deduplicates what it holds); `missingHere` and
// `digestMismatch` stay empty, and `result` says whether anything differs. The peer's own
// statement, answered by us the same way, covers the other direction.
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { Db, DbClient, Queryable } from '../db/index.ts';
import { conflict, notFound, unprocessable } from '../errors.ts';
import { MAX_ANSWER_ENTRIES, MAX_PERIOD_DAYS, type MessageError, messageError, type ReconciliationAnswer, type ReconciliationStatement } from '../exchange/index.ts';
import { type Outbound, type OutboxWriter, type Recipient, resendMessages, sentLines } from '../outbound/index.ts';
import type { PeerDirectory } from '../peers/index.ts';
import { differingBuckets, type Line, linesIn, miscountedBuckets, tallyOf } from './tally.ts';

/** The messages received from a peer in a period (the inbox is inbound/'s table: its reader is passed down). */
export type ReceivedLines = (db: Queryable, peer: string, start: string, end: string) => Promise<Line[]>;

export type Reconciliation = {
  peer: string;
  direction: 'sent' | 'received';
  statementId: string;
  messageId: string;
  periodStart: string;
  periodEnd: string;
  scheduled: boolean;
  result: 'match' | 'mismatch' | null;
  missingHere: Line[];
  missingThere: Line[];
  digestMismatch: string[];
  /** How many each list holds: a list shown is cut at LISTED entries. */
  counts: { missingHere: number; missingThere: number; digestMismatch: number };
  createdAt: string;
  answeredAt: string | null;
};

type Row = {
  peer: string;
  direction: Reconciliation['direction'];
  statement_id: string;
  message_id: string;
  period_start: Date;
  period_end: Date;
  scheduled: boolean;
  result: Reconciliation['result'];
  missing_here: Line[];
  missing_there: Line[];
  digest_mismatch: string[];
  missing_here_count: number;
  missing_there_count: number;
  digest_mismatch_count: number;
  created_at: Date;
  answered_at: Date | null;
};

const toReconciliation = (r: Row): Reconciliation => ({
  peer: r.peer,
  direction: r.direction,
  statementId: r.statement_id,
  messageId: r.message_id,
  periodStart: r.period_start.toISOString(),
  periodEnd: r.period_end.toISOString(),
  scheduled: r.scheduled,
  result: r.result,
  missingHere: r.missing_here,
  missingThere: r.missing_there,
  digestMismatch: r.digest_mismatch,
  counts: { missingHere: r.missing_here_count, missingThere: r.missing_there_count, digestMismatch: r.digest_mismatch_count },
  createdAt: r.created_at.toISOString(),
  answeredAt: r.answered_at?.toISOString() ?? null,
});

/** A reconciliation's lists as shown: the first entries only (a month of lines would not fit a response). */
const LISTED = 1000;
/** As kept: the parts of a split answer add up to at most this many entries per list. */
const KEPT = MAX_ANSWER_ENTRIES * 4;
const COLUMNS = `peer, direction, statement_id, message_id, period_start, period_end, scheduled, result, created_at, answered_at,
  jsonb_path_query_array(missing_here, '$[0 to ${LISTED - 1}]') AS missing_here, jsonb_array_length(missing_here) AS missing_here_count,
  jsonb_path_query_array(missing_there, '$[0 to ${LISTED - 1}]') AS missing_there, jsonb_array_length(missing_there) AS missing_there_count,
  jsonb_path_query_array(digest_mismatch, '$[0 to ${LISTED - 1}]') AS digest_mismatch, jsonb_array_length(digest_mismatch) AS digest_mismatch_count`;

const DAY_MS = 86_400_000;
/** PROFILE: the daily statement is sent after 00:30 UTC, when the previous day's last messages have landed. */
const SCHEDULE_AFTER_MS = 30 * 60_000;
const UNIQUE_VIOLATION = '23505';

/** The period the daily schedule covers at `now`: the previous UTC day, once it is past 00:30 UTC; else none. */
export function scheduledPeriod(now: Date): { start: string; end: string } | undefined {
  const midnight = Math.floor(now.getTime() / DAY_MS) * DAY_MS;
  if (now.getTime() - midnight < SCHEDULE_AFTER_MS) return undefined;
  return { start: new Date(midnight - DAY_MS).toISOString(), end: new Date(midnight).toISOString() };
}

export class Reconciliations {
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly db: Db,
    private readonly peers: PeerDirectory,
    private readonly outbound: Outbound,
    private readonly receivedLines: ReceivedLines,
    private readonly log: Pick<Logger, 'info' | 'warn'>,
  ) {}

  /** Sends `peer` a statement for [start, end). `scheduled` marks the daily one, sent once per period. */
  async send(peerId: string, period: { start: string; end: string }, options: { actor: string; scheduled?: boolean }): Promise<Reconciliation> {
    const start = Date.parse(period.start);
    const end = Date.parse(period.end);
    if (!(start < end)) throw unprocessable('a period must end after it starts', [{ pointer: '/periodEnd', detail: 'must be after periodStart' }]);
    if (end - start > MAX_PERIOD_DAYS * DAY_MS) throw unprocessable(`a period is at most ${MAX_PERIOD_DAYS} days`, [{ pointer: '/periodEnd', detail: 'too far from periodStart' }]);
    const peer = await this.peers.find(peerId);
    if (!peer) throw notFound(`no peer ${peerId} is registered`);
    if (peer.status !== 'active') throw conflict(`${peerId} is suspended`);
    const startIso = new Date(start).toISOString();
    const endIso = new Date(end).toISOString();
    const statementId = randomUUID();
    const scheduled = options.scheduled ?? false;
    await this.outbound.transaction((client, outbox) => queueStatement(client, outbox, peer, { start: startIso, end: endIso }, this.receivedLines, { actor: options.actor, scheduled, statementId }));
    this.log.info({ peer: peerId, statementId, periodStart: startIso, periodEnd: endIso, scheduled }, 'reconciliation statement queued');
    return this.find(peerId, 'sent', statementId);
  }

  /**
   * The daily statements due at `now` that no process has sent yet, to the peers registered before
   * the period ended (one registered today had no traffic yesterday). Errors are per peer, logged.
   */
  async runSchedule(now = new Date()): Promise<number> {
    const period = scheduledPeriod(now);
    if (!period) return 0;
    const { rows } = await this.db.query<{ party_id: string }>(
      `SELECT party_id FROM peers p WHERE status = 'active' AND created_at < $2
          AND NOT EXISTS (SELECT 1 FROM reconciliations r WHERE r.peer = p.party_id AND r.direction = 'sent' AND r.scheduled AND r.period_start = $1)`,
      [period.start, period.end],
    );
    let sent = 0;
    for (const { party_id: peer } of rows) {
      try {
        await this.send(peer, period, { actor: 'system', scheduled: true });
        sent++;
      } catch (error) {
        // Another process sent it first: the unique index kept it to one.
        if ((error as { code?: string }).code !== UNIQUE_VIOLATION) this.log.warn({ peer, err: error }, 'daily reconciliation statement not sent; tried again within the minute');
      }
    }
    return sent;
  }

  /** Runs the schedule every minute until stop(); each run handles its own errors. */
  start(intervalMs = 60_000): void {
    const tick = () => {
      this.runSchedule().catch((error: unknown) => this.log.warn({ err: error }, 'reconciliation schedule skipped; tried again within the minute'));
    };
    this.timer = setInterval(tick, intervalMs);
    this.timer.unref();
    tick();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  async find(peer: string, direction: Reconciliation['direction'], statementId: string): Promise<Reconciliation> {
    const { rows } = await this.db.query<Row>(`SELECT ${COLUMNS} FROM reconciliations WHERE peer = $1 AND direction = $2 AND statement_id = $3`, [peer, direction, statementId]);
    if (!rows[0]) throw notFound(`no reconciliation statement ${statementId} with ${peer}`);
    return toReconciliation(rows[0]);
  }

  async list(filter: { peer?: string; direction?: Reconciliation['direction']; limit: number }): Promise<Reconciliation[]> {
    const { rows } = await this.db.query<Row>(
      `SELECT ${COLUMNS} FROM reconciliations WHERE ($1::text IS NULL OR peer = $1) AND ($2::text IS NULL OR direction = $2) ORDER BY created_at DESC LIMIT $3`,
      [filter.peer ?? null, filter.direction ?? null, filter.limit],
    );
    return rows.map(toReconciliation);
  }
}

/** Our statement to `peer` for a period, queued in the caller's transaction and recorded as sent. */
async function queueStatement(
  client: DbClient,
  outbox: OutboxWriter,
  peer: Recipient,
  period: { start: string; end: string },
  receivedLines: ReceivedLines,
  options: { actor: string; scheduled?: boolean; statementId?: string },
): Promise<string> {
  const statementId = options.statementId ?? randomUUID();
  const [sent, received] = await Promise.all([sentLines(client, peer.partyId, period.start, period.end), receivedLines(client, peer.partyId, period.start, period.end)]);
  const body: ReconciliationStatement = { statementId, periodStart: period.start, periodEnd: period.end, sent: tallyOf(sent), received: tallyOf(received) };
  const { messageId } = await outbox.send({
    to: peer,
    type: 'reconciliation.statement',
    body,
    audit: (id) => ({
      actor: options.actor,
      action: 'reconciliation.statement',
      subject: statementId,
      data: { peer: peer.partyId, messageId: id, periodStart: period.start, periodEnd: period.end, sent: sent.length, received: received.length },
    }),
  });
  await client.query(`INSERT INTO reconciliations (peer, direction, statement_id, message_id, period_start, period_end, scheduled) VALUES ($1, 'sent', $2, $3, $4, $5, $6)`, [
    peer.partyId,
    statementId,
    messageId,
    period.start,
    period.end,
    options.scheduled ?? false,
  ]);
  return statementId;
}

/** A counter-statement is not sent again for the same peer and period within this long: two gateways cannot ping-pong. */
const COUNTER_STATEMENT_QUIET_SECONDS = 600;

/**
 * Within the transaction of a statement a peer sent us (profile 1.1 and 1.2): checks its counts
 * against what we hold, compares it bucket by bucket, resends what we sent in the buckets where the
 * peer's `received` differs, and queues the answer (split when long), in reply to the statement's
 * message. Where its `sent` differs from our `received`, we send at once our own statement for the
 * period, so that the peer's answer lists and resends what we lack. `match` only when every bucket
 * of both tallies was compared and agrees. Returns the statement's errors (nothing answered then).
 */
export async function answerStatement(
  client: DbClient,
  outbox: OutboxWriter,
  from: Recipient,
  statementMessageId: string,
  statement: ReconciliationStatement,
  receivedLines: ReceivedLines,
): Promise<MessageError[]> {
  // Statement ids are unique per sender: the same message again was deduplicated by the inbox, so
  // one seen before came in another message, with other bytes.
  const { rowCount: seen } = await client.query("SELECT 1 FROM reconciliations WHERE peer = $1 AND direction = 'received' AND statement_id = $2", [from.partyId, statement.statementId]);
  if (seen) return [messageError('SCHEMA_INVALID', `statement ${statement.statementId} was received before in another message`, '/body/statementId')];
  // Normalised: the schema let through any RFC 3339 offset within 1970-9999.
  const start = new Date(statement.periodStart).toISOString();
  const end = new Date(statement.periodEnd).toISOString();
  const [ourSent, ourReceived] = await Promise.all([sentLines(client, from.partyId, start, end), receivedLines(client, from.partyId, start, end)]);
  // Each side's tally hashes every line of the period: made once, compared twice.
  const [sentTally, receivedTally] = [tallyOf(ourSent), tallyOf(ourReceived)];
  const miscounted = [
    ...miscountedBuckets(statement.sent, receivedTally).map((b) => `/body/sent/buckets/${b}/count`),
    ...miscountedBuckets(statement.received, sentTally).map((b) => `/body/received/buckets/${b}/count`),
  ];
  if (miscounted.length) return miscounted.map((path) => messageError('SCHEMA_INVALID', 'the count of a bucket whose lines are the same as ours differs from ours', path));
  const unreceived = differingBuckets(statement.received, sentTally);
  const unheld = differingBuckets(statement.sent, receivedTally);
  const result = unreceived.size > 0 || unheld.size > 0 ? 'mismatch' : 'match';
  const missingThere = linesIn(ourSent, unreceived);
  await resendMessages(
    client,
    from.partyId,
    missingThere.map((l) => l.id),
  );
  const parts = Math.max(1, Math.ceil(missingThere.length / MAX_ANSWER_ENTRIES));
  for (let i = 0; i < parts; i++) {
    const body: ReconciliationAnswer = {
      statementId: statement.statementId,
      result,
      missingHere: [],
      missingThere: missingThere.slice(i * MAX_ANSWER_ENTRIES, (i + 1) * MAX_ANSWER_ENTRIES),
      digestMismatch: [],
    };
    await outbox.send({ to: from, type: 'reconciliation.answered', body, inReplyTo: statementMessageId });
  }
  await client.query(
    `INSERT INTO reconciliations (peer, direction, statement_id, message_id, period_start, period_end, result, missing_there, answered_at)
     VALUES ($1, 'received', $2, $3, $4, $5, $6, $7, now())`,
    [from.partyId, statement.statementId, statementMessageId, start, end, result, JSON.stringify(missingThere.slice(0, KEPT))],
  );
  if (unheld.size > 0) {
    const { rowCount: recent } = await client.query(
      `SELECT 1 FROM reconciliations WHERE peer = $1 AND direction = 'sent' AND period_start = $2 AND period_end = $3 AND created_at > now() - make_interval(secs => $4)`,
      [from.partyId, start, end, COUNTER_STATEMENT_QUIET_SECONDS],
    );
    if (!recent) await queueStatement(client, outbox, from, { start, end }, receivedLines, { actor: 'system' });
  }
  return [];
}

/**
 * Within the transaction of an answer to one of our statements: keeps it (a split answer's parts
 * add up) and resends what the peer lists as missing on its side. NOT_FOUND unless it answers a
 * statement we sent that peer.
 */
export async function recordAnswer(client: DbClient, from: string, answer: ReconciliationAnswer): Promise<MessageError[]> {
  const { rowCount } = await client.query(
    `UPDATE reconciliations SET
            result = CASE WHEN result = 'mismatch' OR $3 = 'mismatch' THEN 'mismatch' ELSE 'match' END,
            missing_here = CASE WHEN jsonb_array_length(missing_here) < $7 THEN missing_here || $4::jsonb ELSE missing_here END,
            missing_there = CASE WHEN jsonb_array_length(missing_there) < $7 THEN missing_there || $5::jsonb ELSE missing_there END,
            digest_mismatch = CASE WHEN jsonb_array_length(digest_mismatch) < $7 THEN digest_mismatch || $6::jsonb ELSE digest_mismatch END,
            answered_at = now()
      WHERE peer = $1 AND direction = 'sent' AND statement_id = $2`,
    [from, answer.statementId, answer.result, JSON.stringify(answer.missingHere), JSON.stringify(answer.missingThere), JSON.stringify(answer.digestMismatch), KEPT],
  );
  if (!rowCount) return [messageError('NOT_FOUND', `no reconciliation statement ${answer.statementId} was sent to ${from}`, '/body/statementId')];
  await resendMessages(
    client,
    from,
    answer.missingHere.map((l) => l.id),
  );
  return [];
}
