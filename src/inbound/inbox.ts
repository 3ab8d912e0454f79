// The inbox table's SQL: one row per authenticated message received (its id is the dedupe key),
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

/**
 * Within the transaction: serialises on the message id, so two consumers handling copies do not
 * both store it, and returns the earlier row's receipt if the message was received before.
 */
export async function claimMessage(client: Queryable, messageId: string): Promise<{ receiptId: string | null } | undefined> {
  await client.query(prepared('inbox.lock', 'SELECT pg_advisory_xact_lock(hashtext($1))', [messageId]));
  const { rows } = await client.query<{ receipt_id: string | null }>(prepared('inbox.find', 'SELECT receipt_id FROM inbox WHERE message_id = $1', [messageId]));
  return rows[0] && { receiptId: rows[0].receipt_id };
}

export async function insertInbox(
  client: Queryable,
  row: {
    messageId: string;
    from: string;
    type: string;
    digest: string;
    body: string;
    status: 'accepted' | 'rejected';
    errors: MessageError[];
    inReplyTo: string | null;
    receiptId: string | undefined;
    certificateNumber: string | undefined;
  },
): Promise<void> {
  await client.query(
    prepared(
      'inbox.insert',
      `INSERT INTO inbox (message_id, from_party, type, digest, body, status, errors, in_reply_to, receipt_id, certificate_number)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
      [row.messageId, row.from, row.type, row.digest, row.body, row.status, JSON.stringify(row.errors), row.inReplyTo, row.receiptId ?? null, row.certificateNumber ?? null],
    ),
  );
}

const COLUMNS = 'message_id, type, from_party, status, certificate_number, received_at, errors, receipt_id';

export async function listReceived(db: Queryable, filter: MessageFilter): Promise<ReceivedMessage[]> {
  const { where, params } = messageSearchSql({ id: 'message_id', peer: 'from_party', at: 'received_at' }, filter);
  const { rows } = await db.query<Row>(`SELECT ${COLUMNS} FROM inbox ${where}`, params);
  return rows.map(toReceived);
}

/** One received message with the JWS as it arrived (inside its JWE, if it was encrypted). */
export async function findReceived(db: Queryable, id: string): Promise<(ReceivedMessage & { body: string }) | undefined> {
  const { rows } = await db.query<Row & { body: string }>(`SELECT ${COLUMNS}, body FROM inbox WHERE message_id = $1`, [id]);
  return rows[0] && { ...toReceived(rows[0]), body: rows[0].body };
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
