// Our own eco.inbound queue -> PROFILE checks -> one transaction -> ack. A message is acked only
// after what it changed is committed; a database failure leaves it on the queue.
import type { ChannelModel, ConfirmChannel, ConsumeMessage } from 'amqplib';
import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import { insertReceived } from '../certificates/index.ts';
import { type Db, type DbClient, withTransaction } from '../db/index.ts';
import { connect, DEAD_EXCHANGE, declareInbox, INBOUND_QUEUE } from '../exchange/amqp.ts';
import type { PeerDirectory } from '../peers/index.ts';
import { authenticate, messageError, validate, type Authentic, type MessageError, type Verified } from './checks.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export type ConsumerOptions = { partyId: string; amqpUrl: string; prefetch: number; sentAtWindowSeconds: number };

/** What happened to one delivery, for logs and tests. */
export type Handled =
  | { outcome: 'accepted' | 'duplicate'; messageId: string }
  | { outcome: 'rejected'; messageId?: string; errors: MessageError[] }
  | { outcome: 'dead'; error: MessageError };

export function digestOf(body: Buffer): string {
  return createHash('sha256').update(body).digest('base64url');
}

export class Consumer {
  private connection?: ChannelModel;
  private channel?: ConfirmChannel;
  private consumerTag?: string;
  private readonly inFlight = new Set<Promise<void>>();
  /** Test hook: sees every handled delivery. */
  onHandled?: (handled: Handled) => void;

  constructor(
    private readonly db: Db,
    private readonly peers: PeerDirectory,
    private readonly options: ConsumerOptions,
    private readonly log: Logger,
  ) {}

  async start(): Promise<void> {
    this.connection = await connect(this.options.amqpUrl, `eco-consumer ${this.options.partyId}`);
    const channel = await this.connection.createConfirmChannel();
    channel.on('error', (error) => this.log.error({ err: error }, 'consumer channel error'));
    await declareInbox(channel, this.options.partyId);
    await channel.prefetch(this.options.prefetch);
    this.channel = channel;
    const { consumerTag } = await channel.consume(INBOUND_QUEUE, (message) => {
      if (!message) return;
      const work = this.handle(channel, message).finally(() => this.inFlight.delete(work));
      this.inFlight.add(work);
    });
    this.consumerTag = consumerTag;
  }

  async stop(): Promise<void> {
    if (this.channel && this.consumerTag) await this.channel.cancel(this.consumerTag).catch(() => {});
    await Promise.allSettled([...this.inFlight]);
    await this.connection?.close().catch(() => {});
  }

  private async handle(channel: ConfirmChannel, message: ConsumeMessage): Promise<void> {
    let handled: Handled;
    try {
      handled = await this.process(channel, message);
    } catch (error) {
      // Not processed (database down, say): back on the queue after a pause, never acked.
      this.log.error({ err: error, messageId: message.properties.messageId }, 'message not processed; requeued');
      await new Promise((r) => setTimeout(r, 1000));
      try {
        channel.nack(message, false, true);
      } catch {
        // channel gone: the broker requeues unacked messages by itself
      }
      return;
    }
    channel.ack(message);
    const logFields = { ...handled, peer: message.properties.appId, type: message.properties.type };
    if (handled.outcome === 'accepted' || handled.outcome === 'duplicate') this.log.info(logFields, 'message received');
    else this.log.warn(logFields, 'message refused');
    this.onHandled?.(handled);
  }

  private async process(channel: ConfirmChannel, message: ConsumeMessage): Promise<Handled> {
    const bodyText = message.content.toString('utf8');
    const ctx = { partyId: this.options.partyId, peers: this.peers, sentAtWindowSeconds: this.options.sentAtWindowSeconds };
    const authentic = await authenticate(bodyText, message.properties.appId as string | undefined, ctx);
    if (authentic.outcome === 'dead') {
      await this.deadLetter(channel, message, authentic.error);
      return authentic;
    }
    if (authentic.outcome === 'rejected') return authentic;
    return withTransaction(this.db, (client) => this.store(client, authentic, bodyText, digestOf(message.content)));
  }

  /** Checks 4-6 and storage, in one transaction with the inbox row that deduplicates. */
  private async store(client: DbClient, authentic: Authentic, bodyText: string, digest: string): Promise<Handled> {
    const messageId = authentic.messageId && UUID.test(authentic.messageId) ? authentic.messageId : undefined;
    if (messageId) {
      // Serialise on the message id so two consumers handling a redelivery do not both store it.
      await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [messageId]);
      const { rowCount } = await client.query('SELECT 1 FROM inbox WHERE message_id = $1', [messageId]);
      if (rowCount) return { outcome: 'duplicate', messageId };
    }
    const verdict = validate(authentic, { partyId: this.options.partyId, sentAtWindowSeconds: this.options.sentAtWindowSeconds });
    if (!messageId) return verdict.outcome === 'rejected' ? verdict : { outcome: 'rejected', errors: [messageError('SCHEMA_INVALID', 'id must be a UUID', '/id')] };
    const type = String(authentic.payload.type).slice(0, 64);
    const record = (status: 'accepted' | 'rejected', errors: MessageError[]) =>
      client.query(
        `INSERT INTO inbox (message_id, from_party, type, digest, body, status, errors) VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (message_id) DO UPDATE SET status = $6, errors = $7`,
        [messageId, authentic.peer.partyId, type, digest, bodyText, status, JSON.stringify(errors)],
      );
    if (verdict.outcome === 'rejected') {
      await record('rejected', verdict.errors);
      return { outcome: 'rejected', messageId, errors: verdict.errors };
    }
    await record('accepted', []); // first, since what apply() stores references it
    const errors = await this.apply(client, verdict, bodyText);
    if (errors.length) {
      await record('rejected', errors);
      return { outcome: 'rejected', messageId, errors };
    }
    return { outcome: 'accepted', messageId };
  }

  /** Business rules and storage of a verified message; returns the errors that reject it, if any. */
  private async apply(client: DbClient, verified: Verified, bodyText: string): Promise<MessageError[]> {
    const { envelope, message } = verified;
    const outcome = await insertReceived(client, {
      issuer: envelope.from,
      certificate: message.certificate,
      rawDataset: message.rawCertificate,
      jws: bodyText,
      messageId: envelope.id,
    });
    if (outcome === 'conflict') {
      const { number, version } = message.certificate;
      return [messageError('CONFLICTING_CERTIFICATE', `${envelope.from} ${number} version ${version} was received before with other content`, '/body')];
    }
    return [];
  }

  /** For messages no peer can be answered for: onto eco.dead with the reason in headers, confirmed. */
  private async deadLetter(channel: ConfirmChannel, message: ConsumeMessage, error: MessageError): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      channel.publish(
        DEAD_EXCHANGE,
        '',
        message.content,
        { ...message.properties, headers: { ...message.properties.headers, 'x-eco-error': error.code, 'x-eco-reason': error.message }, persistent: true },
        (err) => (err ? reject(err) : resolve()),
      );
    });
  }
}
