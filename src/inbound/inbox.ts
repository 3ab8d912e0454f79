// The inbox table's SQL: one row per authenticated message received (its sender and id are the
// dedupe key: ids are unique per sender only),
// with the verdict and the receipt we answered it with; and the operators' reads of it.
import { prepared, type Queryable } from '../db/index.ts';
import type { MessageError } from '../exchange/index.ts';
import { type MessageFilter, messageSearchSql } from '../outbound/index.ts';

export type ReceivedMessage = {
  messageId: string;
  type: string;
  peer: string;
  status: 'accepted' | 'rejected';
  certificateNumber: string | null;
  receivedAt: string;
  errors: MessageError[];
  receiptId: string | null;
};

type Row = {
  message_id: string;
  type: string;
  from_party: string;
  status: ReceivedMessage['status'];
  certificate_number: string | null;
  received_at: Date;
  errors: MessageError[];
  receipt_id: string | null;
};

const toReceived = (r: Row): ReceivedMessage => ({
  messageId: r.message_id,
  type: r.type,
  peer: r.from_party,
  status: r.status,
  certificateNumber: r.certificate_number,
  receivedAt: r.received_at.toISOString(),
  errors: r.errors,
  receiptId: r.receipt_id,
});

export type InboxRow = {
  messageId: string;
  from: string;
  type: string;
  digest: string;
  body: string;
  inReplyTo: string | null;
  /** The receipt that will answer it, queued later in the same transaction (none for a receipt). */
  receiptId: string | undefined;
  certificateNumber: string | undefined;
  /** The envelope's sentAt, when it is a date: reconciliation periods are cut on it. */
  sentAt: string | undefined;
};

/**
 * First in the message's transaction: its inbox row, recorded as accepted (settleInbox records
 * a rejection). The primary key deduplicates: a copy being handled concurrently waits on it until
 * the first commits, so two consumers never both store one message. Returns the earlier row's
 * receipt, and inserts nothing, when the message was received before.
 */
export async function claimMessage(client: Queryable, row: InboxRow): Promise<{ receiptId: string | null } | undefined> {
  const { rowCount } = await client.query(
    prepared(
      'inbox.claim',
      `INSERT INTO inbox (message_id, from_party, type, digest, body, status, in_reply_to, receipt_id, certificate_number, envelope_sent_at)
     VALUES ($1, $2, $3, $4, $5, 'accepted', $6, $7, $8, $9) ON CONFLICT (from_party, message_id) DO NOTHING`,
      [row.messageId, row.from, row.type, row.digest, row.body, row.inReplyTo, row.receiptId ?? null, row.certificateNumber ?? null, row.sentAt ?? null],
    ),
  );
  if (rowCount === 1) return undefined;
  const { rows } = await client.query<{ receipt_id: string | null }>(prepared('inbox.find', 'SELECT receipt_id FROM inbox WHERE from_party = $1 AND message_id = $2', [row.from, row.messageId]));
  return { receiptId: rows[0]?.receipt_id ?? null };
}

/** The verdict, where it is a rejection: the row claimMessage wrote says accepted. */
export async function settleInbox(client: Queryable, from: string, messageId: string, errors: MessageError[]): Promise<void> {
  if (errors.length === 0) return;
  await client.query(prepared('inbox.reject', "UPDATE inbox SET status = 'rejected', errors = $3 WHERE from_party = $1 AND message_id = $2", [from, messageId, JSON.stringify(errors)]));
}

/**
 * Reconciliation (PROFILE 1.1): the messages received from `peer` (accepted or rejected) whose
 * envelope sentAt is in [start, end), receipts and reconciliation messages left out; each with
 * the digest of the bytes received.
 */
export async function receivedLines(db: Queryable, peer: string, start: string, end: string): Promise<{ id: string; digest: string }[]> {
  const { rows } = await db.query<{ id: string; digest: string }>(
    `SELECT message_id::text AS id, digest FROM inbox
      WHERE from_party = $1 AND COALESCE(envelope_sent_at, received_at) >= $2 AND COALESCE(envelope_sent_at, received_at) < $3
        AND type NOT IN ('receipt', 'reconciliation.statement', 'reconciliation.answered')`,
    [peer, start, end],
  );
  return rows;
}

const COLUMNS = 'message_id, type, from_party, status, certificate_number, received_at, errors, receipt_id';

export async function listReceived(db: Queryable, filter: MessageFilter): Promise<ReceivedMessage[]> {
  const { where, params } = messageSearchSql({ id: 'message_id', peer: 'from_party', at: 'received_at' }, filter);
  const { rows } = await db.query<Row>(`SELECT ${COLUMNS} FROM inbox ${where}`, params);
  return rows.map(toReceived);
}

/**
 * The received messages with this id (one per sender that used it; `from` narrows to one), each
 * with the JWS as it arrived (inside its JWE, if it was encrypted).
 */
export async function findReceived(db: Queryable, id: string, from?: string): Promise<(ReceivedMessage & { body: string })[]> {
  const { rows } = await db.query<Row & { body: string }>(`SELECT ${COLUMNS}, body FROM inbox WHERE message_id = $1 AND ($2::text IS NULL OR from_party = $2) ORDER BY from_party`, [id, from ?? null]);
  return rows.map((row) => ({ ...toReceived(row), body: row.body }));
}

/** Per peer, messages received since `sinceSeconds` ago by our verdict, and the latest arrival. */
export async function inboundTraffic(db: Queryable, sinceSeconds: number): Promise<{ peer: string; accepted: number; rejected: number; lastAt: string | null }[]> {
  const { rows } = await db.query<{ peer: string; accepted: number; rejected: number; last: Date }>(
    `SELECT from_party AS peer, count(*) FILTER (WHERE status = 'accepted')::int AS accepted, count(*) FILTER (WHERE status = 'rejected')::int AS rejected,
            max(received_at) AS last
       FROM inbox WHERE received_at > now() - make_interval(secs => $1) GROUP BY from_party`,
    [sinceSeconds],
  );
  return rows.map((r) => ({ peer: r.peer, accepted: r.accepted, rejected: r.rejected, lastAt: r.last.toISOString() }));
}
