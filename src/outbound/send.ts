// The one way to send: a message is signed with our current key, queued in the outbox in the same
// transaction as the change it announces and its audit entry, and the relays are woken once that
// transaction has committed. Certificates, verifications, clearance and the consumer's receipts
// all send through here; so do an operator's resend and a resumed peer's held messages.
import { type AuditEntry, audit } from '../audit/index.ts';
import { type Db, type DbClient, withTransaction } from '../db/index.ts';
import type { MessageType, PeerKeys, SigningKey } from '../exchange/index.ts';
import { enqueue, requeue } from './outbox.ts';

/** Whom a message goes to: its party id, and the keys to encrypt to when it requires that. */
export type Recipient = { partyId: string; encrypt: boolean; keys: PeerKeys };

export type Outgoing = {
  /** The message id, when the caller must name it before it is queued (made here otherwise). */
  id?: string;
  to: Recipient;
  type: MessageType;
  body: object;
  inReplyTo?: string;
  /** Lets the certificate's lookup list the message with its delivery status. */
  certificateNumber?: string;
  /** The audit entry the message is written with, if it has one. */
  audit?: (messageId: string) => AuditEntry;
};

/** What was queued: the message id and the exact bytes every attempt sends. */
export type Sent = { messageId: string; bytes: string };

/** The outbox inside one transaction. */
export type OutboxWriter = {
  send(message: Outgoing): Promise<Sent>;
  /** Sends an earlier message again, same id and bytes (a duplicate's receipt). */
  requeue(messageId: string): Promise<void>;
};

export class Outbound {
  constructor(
    private readonly db: Db,
    private readonly partyId: string,
    private readonly keys: { signingKey(): Promise<SigningKey> },
    private readonly relays: { wake(): void },
  ) {}

  /**
   * Runs `work` in one transaction with an outbox writer; once it has committed, wakes the relays
   * if anything was queued.
   */
  async transaction<T>(work: (client: DbClient, outbox: OutboxWriter) => Promise<T>): Promise<T> {
    // Fetched before the transaction: a pool query inside one could wait for a connection that
    // only transactions waiting on it would free.
    const key = await this.keys.signingKey();
    let queued = false;
    const result = await withTransaction(this.db, (client) =>
      work(client, {
        send: async (message) => {
          const { id, to, type, body, inReplyTo, certificateNumber } = message;
          const sent = await enqueue(client, key, { id, from: this.partyId, to, type, body, inReplyTo, certificateNumber });
          if (message.audit) await audit(client, message.audit(sent.messageId));
          queued = true;
          return sent;
        },
        requeue: async (messageId) => {
          await requeue(client, messageId);
          queued = true;
        },
      }),
    );
    if (queued) this.relays.wake();
    return result;
  }

  /** One message in a transaction of its own. */
  send(message: Outgoing): Promise<Sent> {
    return this.transaction((_client, outbox) => outbox.send(message));
  }
}
