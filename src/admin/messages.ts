// Operators' view of the traffic in both directions: what we sent (outbox) and what we received
// (inbox), searched together, and one message with its envelope and receipt.

import type { Queryable } from '../db/index.ts';
import { conflict, notFound } from '../errors.ts';
import type { MessageError } from '../exchange/index.ts';
import { decodeUnverified } from '../exchange/index.ts';
import { findReceived, listReceived, type ReceivedMessage } from '../inbound/index.ts';
import { type Delivery, findDelivery, listDeliveries, type MessageFilter } from '../outbound/index.ts';

export type Direction = 'outbound' | 'inbound';
export type MessageRecord = {
  direction: Direction;
  messageId: string;
  type: string;
  peer: string;
  status: string;
  certificateNumber: string | null;
  /** Queued (outbound) or received (inbound). */
  at: string;
  attempts: number | null;
  lastError: string | null;
  sentAt: string | null;
  receiptAt: string | null;
  /** Outbound: the peer's rejection errors; inbound: the errors we answered with. */
  errors: MessageError[];
};

const fromDelivery = (d: Delivery): MessageRecord => ({
  direction: 'outbound',
  messageId: d.messageId,
  type: d.type,
  peer: d.peer,
  status: d.status,
  certificateNumber: d.certificateNumber,
  at: d.createdAt,
  attempts: d.attempts,
  lastError: d.lastError,
  sentAt: d.sentAt,
  receiptAt: d.receiptAt,
  errors: d.errors,
});

const fromReceived = (r: ReceivedMessage): MessageRecord => ({
  direction: 'inbound',
  messageId: r.messageId,
  type: r.type,
  peer: r.peer,
  status: r.status,
  certificateNumber: r.certificateNumber,
  at: r.receivedAt,
  attempts: null,
  lastError: null,
  sentAt: null,
  receiptAt: null,
  errors: r.errors,
});

export async function searchMessages(db: Queryable, filter: MessageFilter & { direction?: Direction }): Promise<MessageRecord[]> {
  const [outbound, inbound] = await Promise.all([filter.direction === 'inbound' ? [] : listDeliveries(db, filter), filter.direction === 'outbound' ? [] : listReceived(db, filter)]);
  return [...outbound.map(fromDelivery), ...inbound.map(fromReceived)].sort((x, y) => y.at.localeCompare(x.at)).slice(0, filter.limit);
}

export type Opened = { compact: string; encrypted: boolean; header: unknown; payload: unknown };

/** A compact JWS decoded (not verified: it was verified when it arrived); a JWE shows only its header. */
function open(compact: string): Opened {
  const parts = compact.split('.');
  if (parts.length === 5) {
    let header: unknown = null;
    try {
      header = JSON.parse(Buffer.from(parts[0]!, 'base64url').toString('utf8'));
    } catch {
      // not JSON: shown as null
    }
    return { compact, encrypted: true, header, payload: null };
  }
  const decoded = decodeUnverified(compact);
  return { compact, encrypted: false, header: decoded?.header ?? null, payload: decoded?.payload ?? null };
}

export type MessageView = { message: MessageRecord; envelope: Opened; receipt: Opened | null };

/**
 * One message with its envelope and receipt: the peer's receipt for what we sent, ours for what we
 * received. Received ids are unique per sender only: 409 when two senders used it and `peer` names neither.
 */
export async function viewMessage(db: Queryable, id: string, peer?: string): Promise<MessageView> {
  const sent = peer ? undefined : await findDelivery(db, id);
  if (sent) return { message: fromDelivery(sent), envelope: open(sent.body), receipt: sent.receipt ? open(sent.receipt) : null };
  const found = await findReceived(db, id, peer);
  if (found.length > 1) throw conflict(`message id ${id} was used by several peers (${found.map((m) => m.peer).join(', ')}): name one with ?peer=`);
  const received = found[0];
  if (!received) throw notFound(`no message ${id}${peer ? ` from ${peer}` : ''} was sent or received here`);
  const ours = received.receiptId ? await findDelivery(db, received.receiptId) : undefined;
  return { message: fromReceived(received), envelope: open(received.body), receipt: ours ? open(ours.body) : null };
}
