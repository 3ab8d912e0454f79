// One received message's transaction: PROFILE checks 4-6, what the message changes, the inbox row
// that deduplicates it, its audit entry and the signed receipt that answers it, committed together.
// Nothing here knows AMQP: the consumer acks once this has committed.
import { randomUUID } from 'node:crypto';
import type { AgreementBook } from '../agreements/index.ts';
import { actors, audit } from '../audit/index.ts';
import { safeText } from '../dataset/index.ts';
import type { DbClient } from '../db/index.ts';
import type { ReceiptBody } from '../exchange/index.ts';
import { type DeadLetterCode, type MessageError, messageError } from '../exchange/index.ts';
import type { Outbound, OutboxWriter, ReceiptOutcome } from '../outbound/index.ts';
import type { KnownPeer } from '../peers/index.ts';
import { applyMessage } from './apply.ts';
import { type Authentic, type Rejected, validate } from './checks.ts';
import { claimMessage, settleInbox } from './inbox.ts';
import { countUnauthenticated } from './unauthenticated.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * What happened to one delivery, for logs, metrics and tests; `peer` is set once the sender is
 * known, or named; `unauthenticated` when the message named a peer but failed authentication.
 */
export type Handled = { peer?: string; unauthenticated?: true } & (
  | {
      outcome: 'accepted';
      messageId: string;
      type: string;
      receiptId?: string;
      note?: ReceiptOutcome;
      receiptLatencySeconds?: number;
      certificateNumber?: string;
      receipt?: { status: string; inReplyTo: string; certificateNumber?: string };
    }
  | { outcome: 'duplicate'; messageId: string; receiptId?: string }
  | { outcome: 'rejected'; messageId?: string; errors: MessageError[]; receiptId?: string; certificateNumber?: string }
  | { outcome: 'dead'; error: { code: DeadLetterCode; message: string }; messageId?: string }
);

export type ReceiveOptions = {
  partyId: string;
  /** The countries we receive for (a CO's importCountry). */
  countries: readonly string[];
  sentAtWindowSeconds: number;
  /** Rejections of messages that fail authentication answered per named peer and hour; the rest are dead-lettered. */
  unauthenticatedAnswersPerHour: number;
};

export class Receiver {
  constructor(
    private readonly outbound: Outbound,
    private readonly agreements: AgreementBook,
    private readonly options: ReceiveOptions,
  ) {}

  /**
   * A message in a known peer's name that failed authentication: answered to that peer with a
   * signed rejection that says so, within the hourly bound; past it, dead-lettered unanswered.
   * Not authenticated, so not remembered: each copy is checked, and counted, afresh.
   * `delivered` is what the AMQP properties claimed.
   */
  async refuse(refused: Rejected, delivered: { messageId: unknown; type: unknown }, digest: string): Promise<Handled> {
    const inReplyTo = [refused.messageId, delivered.messageId].find((id): id is string => typeof id === 'string' && UUID.test(id));
    const peer = refused.peer.partyId;
    const errors = refused.errors.map((e) => messageError(e.code, `the sender was not authenticated: ${e.message}`, e.path));
    const code = errors[0]!.code;
    return this.outbound.transaction(async (client, outbox): Promise<Handled> => {
      const limit = this.options.unauthenticatedAnswersPerHour;
      // A receipt is never answered: counted as unanswered, it takes none of the hour's answers.
      if (refused.isReceipt) {
        await countUnauthenticated(client, peer, code, 0);
        await auditReceived(client, peer, inReplyTo, { type: delivered.type, status: 'rejected', errors });
        return { outcome: 'rejected', peer, unauthenticated: true, messageId: inReplyTo, errors };
      }
      if (!(await countUnauthenticated(client, peer, code, limit))) {
        const message = `not answered: more than ${limit} messages in the name of ${peer} failed authentication this hour; ${errors[0]!.message}`;
        return { outcome: 'dead', peer, unauthenticated: true, messageId: inReplyTo, error: { code, message: safeText(message, 500) } };
      }
      await auditReceived(client, peer, inReplyTo, { type: delivered.type, status: 'rejected', errors });
      const receiptId = await sendReceipt(outbox, refused.peer, undefined, inReplyTo, { status: 'rejected', digest, errors });
      return { outcome: 'rejected', peer, unauthenticated: true, messageId: inReplyTo, errors, receiptId };
    });
  }

  /**
   * An authentic message: checks 4-6 and storage, in one transaction with the inbox row that
   * deduplicates. What is kept is the signed JWS (inside the JWE, for an encrypted message); the
   * digest is of the bytes received.
   */
  receive(authentic: Authentic, digest: string): Promise<Handled> {
    return this.outbound.transaction((client, outbox) => this.store(client, outbox, authentic, digest));
  }

  private async store(client: DbClient, outbox: OutboxWriter, authentic: Authentic, digest: string): Promise<Handled> {
    const bodyText = authentic.jws;
    const peer = authentic.peer.partyId;
    const messageId = authentic.messageId && UUID.test(authentic.messageId) ? authentic.messageId : undefined;
    const type = safeText(String(authentic.payload.type), 64);
    const certificateNumber = certificateNumberOf(authentic.payload);
    // Named before it is queued: the inbox row, written first, names it.
    const receiptId = authentic.isReceipt ? undefined : randomUUID();
    if (messageId) {
      const inReplyTo = typeof authentic.payload.inReplyTo === 'string' && UUID.test(authentic.payload.inReplyTo) ? authentic.payload.inReplyTo : null;
      const sentAt = storableTime(authentic.payload.sentAt);
      const earlier = await claimMessage(client, { messageId, from: peer, type, digest, body: bodyText, inReplyTo, receiptId, certificateNumber, sentAt });
      if (earlier) {
        // PROFILE: a duplicate is not stored again and gets the same receipt again.
        if (earlier.receiptId) await outbox.requeue(earlier.receiptId);
        return { outcome: 'duplicate', peer, messageId, receiptId: earlier.receiptId ?? undefined };
      }
    }
    const verdict = validate(authentic, this.options);
    const applied = verdict.outcome === 'verified' ? await applyMessage(client, outbox, verdict, bodyText, this.agreements) : { errors: verdict.errors };
    const errors = messageId ? applied.errors : [messageError('SCHEMA_INVALID', 'id must be a UUID', '/id')];
    const status = errors.length ? 'rejected' : 'accepted';
    if (receiptId) await sendReceipt(outbox, authentic.peer, receiptId, messageId, { status, digest, errors });
    await auditReceived(client, peer, messageId, { type, status, errors, certificateNumber });
    if (!messageId) return { outcome: 'rejected', peer, errors, receiptId, ...(certificateNumber ? { certificateNumber } : {}) };
    await settleInbox(client, peer, messageId, errors);
    const number = certificateNumber ? { certificateNumber } : {};
    if (errors.length) return { outcome: 'rejected', peer, messageId, errors, receiptId, ...number };
    const { note, receiptLatencySeconds, receipt } = 'note' in applied ? applied : { note: undefined, receiptLatencySeconds: undefined, receipt: undefined };
    return {
      outcome: 'accepted',
      peer,
      messageId,
      type,
      receiptId,
      ...number,
      ...(note ? { note } : {}),
      ...(receiptLatencySeconds !== undefined ? { receiptLatencySeconds } : {}),
      ...(receipt ? { receipt } : {}),
    };
  }
}

function auditReceived(client: DbClient, peer: string, messageId: string | undefined, data: { type: unknown; status: string; errors: MessageError[]; certificateNumber?: string }): Promise<void> {
  const { errors, ...rest } = data;
  return audit(client, { actor: actors.peer(peer), action: `message.${data.status}`, subject: messageId, data: { ...rest, codes: errors.map((e) => e.code) } });
}

/** Queues a signed receipt inside the caller's transaction. */
async function sendReceipt(outbox: OutboxWriter, to: KnownPeer, id: string | undefined, inReplyTo: string | undefined, body: ReceiptBody): Promise<string> {
  return (await outbox.send({ id, to, type: 'receipt', inReplyTo, body })).messageId;
}

function certificateNumberOf(payload: Record<string, unknown>): string | undefined {
  const body = payload.body as { number?: unknown; certificateNumber?: unknown } | undefined;
  const number = body?.number ?? body?.certificateNumber;
  return typeof number === 'string' ? safeText(number, 64) : undefined;
}

/** A peer's date-time as one Postgres can keep (years 1970-9999), before the schema has checked it. */
function storableTime(value: unknown): string | undefined {
  const ms = typeof value === 'string' ? Date.parse(value) : NaN;
  return ms > 0 && ms < Date.UTC(10_000, 0, 1) ? new Date(ms).toISOString() : undefined;
}
