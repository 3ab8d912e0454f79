// Our own eco.inbound queue, the AMQP side of receiving: connect and reconnect, consume with a
// prefetch, hand each message to the Receiver (one transaction: inbox row, what the message
// changes, the signed receipt to send), ack only after that commit. A database failure puts the
// message back on the queue, a bounded number of times. eco.dead is drained on the same channel.
import type { ChannelModel, ConfirmChannel, ConsumeMessage } from 'amqplib';
import type { Logger } from 'pino';
import type { AgreementBook } from '../agreements/index.ts';
import { type Db, isDatabaseUnavailable, isDatabaseUnwritable } from '../db/index.ts';
import { drainDeadLetter, publishDeadLetter } from '../deadletters/index.ts';
import type { PeerKeys } from '../exchange/index.ts';
import { bodyDigest, connect, DEAD_QUEUE, declareInbox, INBOUND_QUEUE, isBrokerRefusal, messageTypes } from '../exchange/index.ts';
import type { Metrics } from '../metrics/index.ts';
import type { Outbound } from '../outbound/index.ts';
import type { PeerDirectory } from '../peers/index.ts';
import { authenticate } from './checks.ts';
import { type Handled, Receiver } from './receive.ts';

export type { Handled } from './receive.ts';

export type ConsumerOptions = {
  partyId: string;
  /** The countries we receive for (a CO's importCountry). */
  countries: readonly string[];
  amqpUrl: string;
  prefetch: number;
  sentAtWindowSeconds: number;
  unauthenticatedAnswersPerHour: number;
  maxDeliveries: number;
  /** Larger bodies are dead-lettered unread (MESSAGE_TOO_LARGE). */
  maxMessageBytes: number;
};

export class Consumer {
  private connection?: ChannelModel;
  private consumer?: { channel: ConfirmChannel; tag: string };
  private stopping = false;
  private reconnectTimer?: NodeJS.Timeout;
  private readonly inFlight = new Set<Promise<void>>();
  private readonly receiver: Receiver;
  /** Test hook: sees every handled delivery. */
  onHandled?: (handled: Handled) => void;

  constructor(
    private readonly db: Db,
    private readonly peers: PeerDirectory,
    private readonly decryptionKeys: () => Promise<PeerKeys>,
    outbound: Outbound,
    agreements: AgreementBook,
    private readonly options: ConsumerOptions,
    private readonly log: Logger,
    private readonly metrics?: Metrics,
  ) {
    this.receiver = new Receiver(outbound, agreements, options);
  }

  /** Told when the broker refuses us (credentials, vhost) while reconnecting: waiting will not help. */
  onFatal?: (error: unknown) => void;

  /**
   * Connects (waiting for the broker if it is not up yet) and starts consuming. A broker that
   * answers and refuses us is not waited for: that error is thrown.
   */
  async start(): Promise<void> {
    for (let attempt = 1; !this.stopping; attempt++) {
      try {
        await this.consume();
        return;
      } catch (error) {
        if (this.stopping) return;
        if (isBrokerRefusal(error)) throw error;
        // The outage itself is logged at warn where it is seen first (at start, or the connection's
        // loss); the first retry at info, each further one at debug.
        if (attempt === 1) this.log.info({ reason: (error as Error).message }, 'broker not reachable; retrying with backoff until it is (logged again once connected)');
        else this.log.debug({ reason: (error as Error).message, attempt }, 'broker not reachable; retrying');
        await new Promise((r) => setTimeout(r, Math.min(5000, 250 * 2 ** attempt)));
      }
    }
  }

  async stop(): Promise<void> {
    this.stopping = true;
    clearTimeout(this.reconnectTimer);
    // Stopping: a channel or connection the broker already closed has nothing to cancel or close.
    if (this.consumer) await this.consumer.channel.cancel(this.consumer.tag).catch(() => {});
    await Promise.allSettled([...this.inFlight]);
    await this.connection?.close().catch(() => {});
  }

  /** One attempt to connect and consume; throws what the broker (or its absence) said. */
  async connectOnce(): Promise<void> {
    await this.consume();
  }

  private async consume(): Promise<void> {
    const connection = await connect(this.options.amqpUrl, `eco-consumer ${this.options.partyId}`, this.log);
    connection.on('close', () => {
      if (this.stopping) return;
      this.log.warn('broker connection lost; reconnecting');
      this.consumer = undefined;
      this.reconnectTimer = setTimeout(() => {
        this.start().then(
          () => this.log.info('consumer reconnected'),
          // Only a broker refusing us ends start(); without an onFatal it is logged.
          (error: unknown) => (this.onFatal ? this.onFatal(error) : this.log.error({ err: error }, 'consumer did not reconnect')),
        );
      }, 500);
    });
    this.connection = connection;
    const channel = await connection.createConfirmChannel();
    channel.on('error', (error) => this.log.error({ err: error }, 'consumer channel error'));
    // A channel closed by the broker (a protocol error) would silently stop consumption: start over.
    // (A connection that fails to close is closed already: its 'close' handler reconnects.)
    channel.on('close', () => void (this.stopping || connection.close().catch(() => {})));
    await declareInbox(channel, this.options.partyId);
    await channel.prefetch(this.options.prefetch);
    const { consumerTag } = await channel.consume(INBOUND_QUEUE, (message) => {
      if (!message) return;
      const work = this.handle(channel, message).finally(() => this.inFlight.delete(work));
      this.inFlight.add(work);
    });
    this.consumer = { channel, tag: consumerTag };
    // eco.dead is drained into Postgres, where operators list, replay or discard what it held.
    await channel.consume(DEAD_QUEUE, (message) => {
      if (!message) return;
      const work = this.drainDead(channel, message).finally(() => this.inFlight.delete(work));
      this.inFlight.add(work);
    });
  }

  /** Still ours to settle: not stopping, and consumed on the channel we still hold. */
  private holds(channel: ConfirmChannel): boolean {
    return !this.stopping && this.consumer?.channel === channel;
  }

  private async drainDead(channel: ConfirmChannel, message: ConsumeMessage): Promise<void> {
    if (await drainDeadLetter(this.db, message, this.log, () => this.holds(channel))) settle(channel, message, 'ack');
  }

  private async handle(channel: ConfirmChannel, message: ConsumeMessage): Promise<void> {
    let handled: Handled;
    for (let attempt = 1; ; attempt++) {
      try {
        handled = await this.process(channel, message);
        break;
      } catch (error) {
        if (!isDatabaseUnavailable(error) && !isDatabaseUnwritable(error)) return this.retryLater(channel, message, error);
        // Postgres is away, or cannot write: not the message's fault, so it keeps its place and its delivery count;
        // it is held (the prefetch bounds how many) until Postgres answers again.
        if (attempt === 1 || attempt % 20 === 0) this.log.warn({ err: error, messageId: message.properties.messageId, attempt }, 'database unavailable or unable to write; holding the message');
        await pause(attempt);
        // Its channel gone, the broker has put it back for another delivery.
        if (!this.holds(channel)) return;
      }
    }
    // Acked on the channel that delivered it; if that channel is gone the broker redelivers,
    // and the inbox row makes the redelivery a duplicate.
    if (!settle(channel, message, 'ack')) return;
    // One line per business event, with the certificate number and message id where there are.
    // Logged as received: pino escapes whatever a property holds, and shortstr properties are at most 255 bytes.
    const fields = { ...handled, peer: handled.peer ?? message.properties.appId, type: message.properties.type };
    if (handled.outcome === 'accepted' && handled.receipt && handled.note === 'recorded') {
      const { receipt, ...rest } = fields as typeof fields & { receipt: NonNullable<typeof handled.receipt> };
      this.log.info({ ...rest, receiptMessageId: handled.messageId, messageId: receipt.inReplyTo, status: receipt.status, certificateNumber: receipt.certificateNumber }, 'receipt recorded');
    } else if (handled.outcome === 'accepted' || handled.outcome === 'duplicate') this.log.info(fields, 'message received');
    else if (handled.outcome === 'rejected') this.log.info(fields, 'message rejected');
    else this.log.warn(fields, 'message dead-lettered');
    this.count(handled, message);
    this.onHandled?.(handled);
  }

  private count(handled: Handled, message: ConsumeMessage): void {
    if (!this.metrics) return;
    // Labels only from what is bounded: a registered peer, a known type (anything can be sent to us).
    const peer = handled.peer ?? 'unknown';
    const type = (messageTypes as readonly unknown[]).includes(message.properties.type) ? String(message.properties.type) : 'other';
    this.metrics.received.inc({ type, peer, outcome: handled.outcome });
    const errors = handled.outcome === 'dead' ? [handled.error] : handled.outcome === 'rejected' ? handled.errors : [];
    for (const code of new Set(errors.map((e) => e.code))) this.metrics.rejected.inc({ type, peer, code });
    if (handled.outcome === 'accepted' && handled.receiptLatencySeconds !== undefined) this.metrics.receiptLatency.observe({ peer }, handled.receiptLatencySeconds);
    if (handled.unauthenticated) this.metrics.unauthenticated.inc({ claimed: peer, answered: handled.outcome === 'rejected' && handled.receiptId ? 'yes' : 'no' });
  }

  /** Not processed (a bug, a statement Postgres refused): requeued after a growing pause, dead-lettered past the limit. */
  private async retryLater(channel: ConfirmChannel, message: ConsumeMessage, error: unknown): Promise<void> {
    const deliveries = Number(message.properties.headers?.['x-delivery-count'] ?? 0) + 1;
    this.log.error({ err: error, messageId: message.properties.messageId, deliveries }, 'message not processed');
    if (deliveries < this.options.maxDeliveries) {
      await new Promise((r) => setTimeout(r, Math.min(10_000, 250 * 2 ** deliveries)));
      settle(channel, message, 'requeue');
      return;
    }
    try {
      await publishDeadLetter(channel, message, { code: 'PROCESSING_FAILED', message: String((error as Error)?.message ?? error) });
      settle(channel, message, 'ack');
    } catch (deadLetterError) {
      // Not even a copy could be published: rejected without requeue, the broker dead-letters it
      // to eco.dead itself (with x-death), where it is drained like any other.
      this.log.error({ err: deadLetterError, messageId: message.properties.messageId }, 'dead-letter copy failed; the broker dead-letters the message');
      settle(channel, message, 'reject');
    }
  }

  private async process(channel: ConfirmChannel, message: ConsumeMessage): Promise<Handled> {
    if (message.content.length > this.options.maxMessageBytes) {
      // Not parsed, not verified: a signature check is no reason to spend time on an oversized body.
      const error = { code: 'MESSAGE_TOO_LARGE', message: `the body of ${message.content.length} bytes exceeds the limit of ${this.options.maxMessageBytes}` } as const;
      await publishDeadLetter(channel, message, error);
      return { outcome: 'dead', error, messageId: message.properties.messageId as string | undefined };
    }
    const bodyText = message.content.toString('utf8');
    const digest = bodyDigest(message.content);
    const ctx = { partyId: this.options.partyId, countries: this.options.countries, peers: this.peers, sentAtWindowSeconds: this.options.sentAtWindowSeconds, decryptionKeys: this.decryptionKeys };
    const authentic = await authenticate(bodyText, message.properties.appId as string | undefined, ctx);
    if (authentic.outcome === 'dead') {
      await publishDeadLetter(channel, message, authentic.error);
      return { ...authentic, messageId: message.properties.messageId as string | undefined };
    }
    if (authentic.outcome === 'rejected') {
      const refused = await this.receiver.refuse(authentic, message.properties, digest);
      if (refused.outcome === 'dead') await publishDeadLetter(channel, message, refused.error);
      return refused;
    }
    return this.receiver.receive(authentic, digest);
  }
}

/** Acks, requeues or rejects; false when the channel is gone (the broker then requeues by itself). */
function settle(channel: ConfirmChannel, message: ConsumeMessage, how: 'ack' | 'requeue' | 'reject'): boolean {
  try {
    if (how === 'ack') channel.ack(message);
    else channel.nack(message, false, how === 'requeue');
    return true;
  } catch {
    return false;
  }
}

/** 0.5 s, 1 s, 2 s ... up to 5 s between tries. */
const pause = (attempt: number) => new Promise((r) => setTimeout(r, Math.min(5000, 250 * 2 ** attempt)));
