// What arrived in our inbox, for operators: search and one message with the receipt we answered.
import type { Queryable } from '../db/index.ts';
import type { MessageError } from '../exchange/codes.ts';
import { messageSearchSql, type MessageFilter } from '../outbound/index.ts';

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

type Row = { message_id: string; type: string; from_party: string; status: ReceivedMessage['status']; certificate_number: string | null; received_at: Date; errors: MessageError[]; receipt_id: string | null };

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
