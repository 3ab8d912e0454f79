// The outbox: one row per message to send, written in the same transaction as the state change
// it announces, so that nothing is announced that was not stored and nothing stored goes unsent.
// Callers wake the relays (RelayWaker) once their transaction has committed.
import { prepared, type Queryable } from '../db/index.ts';
import type { MessageError } from '../exchange/index.ts';
import { bodyDigest, buildEnvelope, type MessageType, type PeerKeys, type ReceiptBody, type SigningKey, seal } from '../exchange/index.ts';

export const OUTBOX_CHANNEL = 'eco_outbox';

/**
 * PROFILE's digest of a row's bytes: kept since migration 021 when queued (bodyDigest), computed in
 * SQL for older rows.
 */
const BODY_DIGEST = `COALESCE(digest, translate(rtrim(encode(sha256(convert_to(body, 'UTF8')), 'base64'), '='), '+/', '-_'))`;

export type OutboxMessage = {
  /** Made when queued, unless given. */
  id?: string;
  from: string;
  to: { partyId: string; encrypt: boolean; keys: PeerKeys };
  type: MessageType;
  body: object;
  inReplyTo?: string;
  /** Lets the certificate's lookup list the message with its delivery status. */
  certificateNumber?: string;
};

/**
 * Builds the envelope, signs it (and encrypts it for a peer that requires it) once, and stores
 * those exact bytes: every attempt sends them. Returns the message id and those bytes.
 */
export async function enqueue(client: Queryable, key: SigningKey, message: OutboxMessage): Promise<{ messageId: string; bytes: string }> {
  const { id, from, to, type, inReplyTo } = message;
  const envelope = buildEnvelope({ id, type, from, to: to.partyId, inReplyTo, body: message.body as Record<string, unknown> });
  const bytes = await seal(envelope, key, to);
  await client.query(
    prepared('outbox.insert', 'INSERT INTO outbox (id, peer, type, certificate_number, body, expects_receipt, envelope_sent_at, digest) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)', [
      envelope.id,
      to.partyId,
      type,
      message.certificateNumber ?? null,
      bytes,
      type !== 'receipt', // PROFILE: every message but a receipt is answered with one
      envelope.sentAt,
      bodyDigest(bytes),
    ]),
  );
  return { messageId: envelope.id, bytes };
}

/** Sends an earlier message again, same id and bytes (a duplicate's receipt, an operator's resend). */
export async function requeue(client: Queryable, id: string): Promise<void> {
  await client.query("UPDATE outbox SET status = 'queued', next_attempt_at = now(), resent_at = now(), attempts = 0 WHERE id = $1 AND status <> 'queued'", [id]);
}

/** An operator's resend of a dead message: queued again with a fresh attempt count. */
export async function resurrect(client: Queryable, id: string): Promise<void> {
  await client.query("UPDATE outbox SET status = 'queued', attempts = 0, created_at = now(), next_attempt_at = now() WHERE id = $1 AND status = 'dead'", [id]);
}

/** A resumed peer's held messages are due at once, not after the backoff their failed attempts earned. */
export async function releaseHeld(db: Queryable, peer: string): Promise<void> {
  await db.query("UPDATE outbox SET next_attempt_at = now() WHERE peer = $1 AND status = 'queued'", [peer]);
}

/** Pull model: queues again every certificate message sent to `peer` about `number`; false if none. */
export async function resendCertificate(client: Queryable, peer: string, number: string): Promise<boolean> {
  const { rowCount } = await client.query(
    `UPDATE outbox SET status = 'queued', next_attempt_at = now(), resent_at = now(), attempts = 0
      WHERE peer = $1 AND certificate_number = $2 AND type IN ('certificate.issued', 'certificate.replaced', 'certificate.cancelled')`,
    [peer, number],
  );
  return (rowCount ?? 0) > 0;
}

/**
 * A peer's statements and answers decide what we resend, so they must not make us resend without
 * end: a message is resent at most once in this long, and a peer's resends go out at this rate,
 * after those already waiting (one empty statement resends a whole period, spread over minutes).
 */
export const RESEND_QUIET_SECONDS = 600;
export const RESENDS_PER_SECOND_PER_PEER = 20;

/**
 * Reconciliation: sends again those of `ids` that we sent to `peer` (same id and bytes; what it
 * already holds it deduplicates), each at most once per RESEND_QUIET_SECONDS, spread out at
 * RESENDS_PER_SECOND_PER_PEER. Returns how many.
 */
export async function resendMessages(client: Queryable, peer: string, ids: string[]): Promise<number> {
  if (ids.length === 0) return 0;
  const { rowCount } = await client.query(
    `WITH queue_end AS (
       SELECT GREATEST(now(), max(next_attempt_at)) AS at FROM outbox
        WHERE peer = $1 AND status = 'queued' AND resent_at > now() - make_interval(secs => $3) AND next_attempt_at < 'infinity'),
     chosen AS (
       SELECT id, row_number() OVER (ORDER BY created_at, id) - 1 AS place FROM outbox
        WHERE peer = $1 AND id = ANY($2::uuid[]) AND type <> 'receipt' AND status <> 'queued'
          AND (resent_at IS NULL OR resent_at <= now() - make_interval(secs => $3)))
     UPDATE outbox o SET status = 'queued', resent_at = now(), attempts = 0,
            next_attempt_at = (SELECT at FROM queue_end) + make_interval(secs => chosen.place / $4::float8)
       FROM chosen WHERE o.id = chosen.id AND o.status <> 'queued'
        AND (o.resent_at IS NULL OR o.resent_at <= now() - make_interval(secs => $3))`,
    [peer, ids, RESEND_QUIET_SECONDS, RESENDS_PER_SECOND_PER_PEER],
  );
  return rowCount ?? 0;
}

/**
 * Reconciliation (PROFILE 1.1): the messages we sent `peer` whose envelope sentAt is in
 * [start, end), published at least once, receipts and reconciliation messages left out; each with
 * the digest of the bytes sent.
 */
export async function sentLines(db: Queryable, peer: string, start: string, end: string): Promise<{ id: string; digest: string }[]> {
  const { rows } = await db.query<{ id: string; digest: string }>(
    `SELECT id::text AS id, ${BODY_DIGEST} AS digest
       FROM outbox
      WHERE peer = $1 AND COALESCE(envelope_sent_at, created_at) >= $2 AND COALESCE(envelope_sent_at, created_at) < $3
        AND sent_at IS NOT NULL AND type NOT IN ('receipt', 'reconciliation.statement', 'reconciliation.answered')`,
    [peer, start, end],
  );
  return rows;
}

/**
 * Wakes the relays, in whatever process they run, after a commit that queued messages. Not a NOTIFY
 * inside that transaction: Postgres serialises the commits of notifying transactions, which would
 * undo group commit and cap throughput at one fsync per CO. Bursts coalesce into one NOTIFY.
 */
export class RelayWaker {
  private pending = false;

  constructor(private readonly db: Queryable) {}

  wake(): void {
    if (this.pending) return;
    this.pending = true;
    setTimeout(() => {
      this.pending = false;
      // A lost wake-up only costs the relays' poll interval.
      this.db.query(`SELECT set_config('synchronous_commit', 'off', true), pg_notify('${OUTBOX_CHANNEL}', '')`).catch(() => {});
    }, 2);
  }
}

export type ReceiptOutcome = 'recorded' | 'already-recorded' | 'unknown-message' | 'digest-mismatch';

/**
 * Keeps a peer's receipt as proof of delivery, after checking that it acknowledges the very bytes
 * we sent. A receipt for a message that already has one changes nothing.
 */
export async function recordReceipt(
  client: Queryable,
  receipt: { inReplyTo: string; from: string; body: ReceiptBody; jws: string },
): Promise<{ note: ReceiptOutcome; latencySeconds?: number; certificateNumber?: string }> {
  // One statement: the row is locked, the digest of the bytes we sent (kept when queued) compared,
  // and the receipt recorded only where it matches and the message had none.
  const { rows } = await client.query<{ status: DeliveryStatus; matches: boolean; latency: number; certificate_number: string | null }>(
    prepared(
      'outbox.receipt',
      `WITH sent AS (
         SELECT id, status, certificate_number, created_at,
                ${BODY_DIGEST} = $3 AS matches
           FROM outbox WHERE id = $1 AND peer = $2 FOR UPDATE),
       recorded AS (
         UPDATE outbox o SET status = $4, receipt_status = $4, receipt = $5, receipt_errors = $6, receipt_at = now(), last_error = NULL, last_error_at = NULL, next_attempt_at = 'infinity'
           FROM sent WHERE o.id = sent.id AND sent.matches AND sent.status NOT IN ('accepted', 'rejected'))
       SELECT status, matches, certificate_number, extract(epoch FROM clock_timestamp() - created_at)::float8 AS latency FROM sent`,
      [receipt.inReplyTo, receipt.from, receipt.body.digest, receipt.body.status, receipt.jws, JSON.stringify(receipt.body.errors)],
    ),
  );
  const sent = rows[0];
  if (!sent) return { note: 'unknown-message' };
  if (!sent.matches) {
    // The peer acknowledged other bytes than ours: no proof; the message stays due for a resend.
    await client.query('UPDATE outbox SET last_error = $2, last_error_at = now() WHERE id = $1', [receipt.inReplyTo, `receipt digest ${receipt.body.digest} does not match the message sent`]);
    return { note: 'digest-mismatch' };
  }
  if (sent.status === 'accepted' || sent.status === 'rejected') return { note: 'already-recorded' };
  return { note: 'recorded', latencySeconds: sent.latency, ...(sent.certificate_number ? { certificateNumber: sent.certificate_number } : {}) };
}

export type DeliveryStatus = 'queued' | 'sent' | 'accepted' | 'rejected' | 'dead';
export type Delivery = {
  messageId: string;
  type: string;
  peer: string;
  status: DeliveryStatus;
  attempts: number;
  lastError: string | null;
  createdAt: string;
  sentAt: string | null;
  receiptAt: string | null;
  errors: MessageError[];
  certificateNumber: string | null;
};

type DeliveryRow = {
  id: string;
  type: string;
  peer: string;
  status: DeliveryStatus;
  attempts: number;
  last_error: string | null;
  created_at: Date;
  sent_at: Date | null;
  receipt_at: Date | null;
  receipt_errors: MessageError[] | null;
  certificate_number: string | null;
};

const toDelivery = (r: DeliveryRow): Delivery => ({
  messageId: r.id,
  type: r.type,
  peer: r.peer,
  status: r.status,
  attempts: r.attempts,
  lastError: r.last_error,
  createdAt: r.created_at.toISOString(),
  sentAt: r.sent_at?.toISOString() ?? null,
  receiptAt: r.receipt_at?.toISOString() ?? null,
  errors: r.receipt_errors ?? [],
  certificateNumber: r.certificate_number,
});

const DELIVERY_COLUMNS = 'id, type, peer, status, attempts, last_error, created_at, sent_at, receipt_at, receipt_errors, certificate_number';

export async function deliveriesFor(db: Queryable, certificateNumber: string): Promise<Delivery[]> {
  const { rows } = await db.query<DeliveryRow>(`SELECT ${DELIVERY_COLUMNS} FROM outbox WHERE certificate_number = $1 ORDER BY created_at`, [certificateNumber]);
  return rows.map(toDelivery);
}

export async function findDelivery(db: Queryable, id: string): Promise<(Delivery & { body: string; receipt: string | null }) | undefined> {
  const { rows } = await db.query<DeliveryRow & { body: string; receipt: string | null }>(`SELECT ${DELIVERY_COLUMNS}, body, receipt FROM outbox WHERE id = $1`, [id]);
  return rows[0] && { ...toDelivery(rows[0]), body: rows[0].body, receipt: rows[0].receipt };
}

/** Outgoing messages by status, and the age of the oldest one still waiting to be sent. */
/** Outgoing messages by status, and the age of the oldest one still waiting to be sent. */
export async function outboxSummary(db: Queryable): Promise<{ byStatus: Record<DeliveryStatus, number>; oldestQueuedSeconds: number | null }> {
  const { rows } = await db.query<{ status: DeliveryStatus; n: number; oldest: number | null }>(
    `SELECT status, count(*)::int AS n, extract(epoch FROM now() - min(created_at))::float8 AS oldest FROM outbox GROUP BY status`,
  );
  const byStatus = { queued: 0, sent: 0, accepted: 0, rejected: 0, dead: 0 };
  for (const r of rows) byStatus[r.status] = r.n;
  const oldest = rows.find((r) => r.status === 'queued')?.oldest;
  return { byStatus, oldestQueuedSeconds: oldest ?? null };
}

export type Backlog = { queued: number; awaitingReceipt: number; dead: number; oldestPendingSeconds: number };

/**
 * What still needs the relay or an operator: queued, sent and awaiting a receipt (receipts we send
 * stay `sent` for good, as nothing answers them), dead; and the age of the oldest pending one (0
 * when none). Read through the partial indexes only, as the console and every scrape ask for it.
 */
export async function outboxBacklog(db: Queryable): Promise<Backlog> {
  const { rows } = await db.query<{ queued: number; awaiting: number; oldest: number | null; dead: number }>(
    `SELECT count(*) FILTER (WHERE status = 'queued')::int AS queued, count(*) FILTER (WHERE status = 'sent')::int AS awaiting,
            extract(epoch FROM now() - min(created_at))::float8 AS oldest,
            (SELECT count(*)::int FROM outbox WHERE status = 'dead') AS dead
       FROM outbox WHERE status = 'queued' OR (status = 'sent' AND expects_receipt)`,
  );
  const r = rows[0]!;
  return { queued: r.queued, awaitingReceipt: r.awaiting, dead: r.dead, oldestPendingSeconds: r.oldest ?? 0 };
}

export type MessageFilter = { id?: string; number?: string; peer?: string; status?: string; type?: string; since?: string; until?: string; limit: number };

/**
 * The one meaning of a message search, for the outbox and the inbox alike: every filter given
 * must match, newest first. `columns` names the id, peer and time columns of the table.
 */
export function messageSearchSql(columns: { id: string; peer: string; at: string }, filter: MessageFilter): { where: string; params: unknown[] } {
  return {
    where: `WHERE ($1::uuid IS NULL OR ${columns.id} = $1) AND ($2::text IS NULL OR certificate_number = $2) AND ($3::text IS NULL OR ${columns.peer} = $3)
        AND ($4::text IS NULL OR status = $4) AND ($5::text IS NULL OR type = $5)
        AND ($6::timestamptz IS NULL OR ${columns.at} >= $6) AND ($7::timestamptz IS NULL OR ${columns.at} < $7)
      ORDER BY ${columns.at} DESC LIMIT $8`,
    params: [filter.id ?? null, filter.number ?? null, filter.peer ?? null, filter.status ?? null, filter.type ?? null, filter.since ?? null, filter.until ?? null, filter.limit],
  };
}

export async function listDeliveries(db: Queryable, filter: MessageFilter): Promise<Delivery[]> {
  const { where, params } = messageSearchSql({ id: 'id', peer: 'peer', at: 'created_at' }, filter);
  const { rows } = await db.query<DeliveryRow>(`SELECT ${DELIVERY_COLUMNS} FROM outbox ${where}`, params);
  return rows.map(toDelivery);
}

export type DeliveryError = { message: string; at: string | null; messageId: string; status: DeliveryStatus; attempts: number };

/**
 * Each peer's latest delivery error among the messages still carrying one (retrying, or dead): why
 * the console shows it retrying or failing, and since when. `at` is null for an error recorded
 * before the time was. Through the partial index outbox_last_error, one row per peer.
 */
export async function lastDeliveryErrors(db: Queryable, peers: string[]): Promise<Map<string, DeliveryError>> {
  const { rows } = await db.query<{ peer: string; id: string; status: DeliveryStatus; attempts: number; last_error: string; last_error_at: Date | null }>(
    `SELECT p.peer, e.id, e.status, e.attempts, e.last_error, e.last_error_at
       FROM unnest($1::text[]) AS p(peer)
       CROSS JOIN LATERAL (SELECT id, status, attempts, last_error, last_error_at FROM outbox
                            WHERE outbox.peer = p.peer AND last_error IS NOT NULL
                            ORDER BY last_error_at DESC NULLS LAST LIMIT 1) AS e`,
    [peers],
  );
  return new Map(rows.map((r) => [r.peer, { message: r.last_error, at: r.last_error_at?.toISOString() ?? null, messageId: r.id, status: r.status, attempts: r.attempts }]));
}

export type PeerTraffic = { peer: string; counts: Record<DeliveryStatus, number>; retrying: number; lastAt: string | null };

/** Per peer, messages created in the last `sinceSeconds` by status, and how many of them are retrying after an error. */
export async function outboundTraffic(db: Queryable, sinceSeconds: number): Promise<PeerTraffic[]> {
  const { rows } = await db.query<{ peer: string; status: DeliveryStatus; n: number; retrying: number; last: Date }>(
    `SELECT peer, status, count(*)::int AS n, count(*) FILTER (WHERE last_error IS NOT NULL AND status = 'queued')::int AS retrying, max(created_at) AS last
       FROM outbox WHERE created_at > now() - make_interval(secs => $1) GROUP BY peer, status`,
    [sinceSeconds],
  );
  const byPeer = new Map<string, PeerTraffic>();
  for (const r of rows) {
    const traffic = byPeer.get(r.peer) ?? { peer: r.peer, counts: { queued: 0, sent: 0, accepted: 0, rejected: 0, dead: 0 }, retrying: 0, lastAt: null };
    traffic.counts[r.status] = r.n;
    traffic.retrying += r.retrying;
    if (!traffic.lastAt || r.last.toISOString() > traffic.lastAt) traffic.lastAt = r.last.toISOString();
    byPeer.set(r.peer, traffic);
  }
  return [...byPeer.values()];
}
