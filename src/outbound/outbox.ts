// The outbox: one row per message to send, written in the same transaction as the state change
// it announces, so that nothing is announced that was not stored and nothing stored goes unsent.
import type { Queryable } from '../db/index.ts';
import type { MessageType } from '../exchange/envelope.ts';

export const OUTBOX_CHANNEL = 'eco_outbox';

export type OutboxMessage = { id: string; peer: string; type: MessageType; certificateNumber?: string; body: string };

export async function enqueue(client: Queryable, message: OutboxMessage): Promise<void> {
  await client.query('INSERT INTO outbox (id, peer, type, certificate_number, body) VALUES ($1, $2, $3, $4, $5)', [
    message.id,
    message.peer,
    message.type,
    message.certificateNumber ?? null,
    message.body,
  ]);
  // Delivered at commit: wakes the relays at once instead of at their next poll.
  await client.query(`SELECT pg_notify('${OUTBOX_CHANNEL}', '')`);
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
};

export async function deliveriesFor(db: Queryable, certificateNumber: string): Promise<Delivery[]> {
  const { rows } = await db.query<{ id: string; type: string; peer: string; status: DeliveryStatus; attempts: number; last_error: string | null; created_at: Date; sent_at: Date | null }>(
    'SELECT id, type, peer, status, attempts, last_error, created_at, sent_at FROM outbox WHERE certificate_number = $1 ORDER BY created_at',
    [certificateNumber],
  );
  return rows.map((r) => ({
    messageId: r.id,
    type: r.type,
    peer: r.peer,
    status: r.status,
    attempts: r.attempts,
    lastError: r.last_error,
    createdAt: r.created_at.toISOString(),
    sentAt: r.sent_at?.toISOString() ?? null,
  }));
}
