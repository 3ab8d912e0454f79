// Our own eco.inbound queue -> PROFILE checks -> one transaction (inbox row, what the message
// changes, the signed receipt to send) -> ack. A message is acked only after that commit; a
// database failure puts it back on the queue, a bounded number of times.
import { randomUUID } from 'node:crypto';
import type { ChannelModel, ConfirmChannel, ConsumeMessage, Options } from 'amqplib';
import type { Logger } from 'pino';
import type { AgreementBook } from '../agreements/index.ts';
import { actors, audit } from '../audit/index.ts';
import { DEAD_ID_HEADER, storeDeadLetter } from '../deadletters/index.ts';
import { type Db, type DbClient, isDatabaseUnavailable } from '../db/index.ts';
import { safeText } from '../dataset/index.ts';
import { connect, DEAD_EXCHANGE, DEAD_QUEUE, declareInbox, INBOUND_QUEUE } from '../exchange/amqp.ts';
import { messageError, type DeadLetterCode, type MessageError } from '../exchange/codes.ts';
import { messageTypes } from '../exchange/envelope.ts';
import { bodyDigest, type ReceiptBody } from '../exchange/receipt.ts';
import type { Metrics } from '../metrics/index.ts';
import type { OutboxWriter, Outbound, ReceiptOutcome } from '../outbound/index.ts';
import type { PeerKeys } from '../exchange/jose.ts';
import type { KnownPeer, PeerDirectory } from '../peers/index.ts';
import { applyMessage } from './apply.ts';
import { authenticate, validate, type Authentic } from './checks.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export type ConsumerOptions = {
  partyId: string;
  /** The countries we receive for (a CO's importCountry). */
  countries: readonly string[];
  amqpUrl: string;
  prefetch: number;
  sentAtWindowSeconds: number;
  maxDeliveries: number;
  /** Larger bodies are dead-lettered unread (MESSAGE_TOO_LARGE). */
  maxMessageBytes: number;
};

/** What happened to one delivery, for logs, metrics and tests; `peer` is set once the sender is known. */
export type Handled = { peer?: string } & (
  | { outcome: 'accepted'; messageId: string; type: string; receiptId?: string; note?: ReceiptOutcome; receiptLatencySeconds?: number }
  | { outcome: 'duplicate'; messageId: string; receiptId?: string }
  | { outcome: 'rejected'; messageId?: string; errors: MessageError[]; receiptId?: string }
  | { outcome: 'dead'; error: { code: DeadLetterCode; message: string }; messageId?: string }
);

export class Consumer {
  private connection?: ChannelModel;
  private consumer?: { channel: ConfirmChannel; tag: string };
  private stopping = false;
  private reconnectTimer?: NodeJS.Timeout;
  private readonly inFlight = new Set<Promise<void>>();
  /** Test hook: sees every handled delivery. */
  onHandled?: (handled: Handled) => void;

  constructor(
    private readonly db: Db,
    private readonly peers: PeerDirectory,
    private readonly decryptionKeys: () => Promise<PeerKeys>,
    private readonly outbound: Outbound,
    private readonly agreements: AgreementBook,
    private readonly options: ConsumerOptions,
    private readonly log: Logger,
    private readonly metrics?: Metrics,
  ) {}

  /** Connects (waiting for the broker if it is not up yet) and starts consuming. */
  async start(): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.consume();
        return;
      } catch (error) {
        if (this.stopping) return;
        this.log.warn({ err: error, attempt }, 'broker not reachable; retrying');
        await new Promise((r) => setTimeout(r, Math.min(5000, 250 * 2 ** attempt)));
      }
    }
  }

  async stop(): Promise<void> {
    this.stopping = true;
    clearTimeout(this.reconnectTimer);
    if (this.consumer) await this.consumer.channel.cancel(this.consumer.tag).catch(() => {});
    await Promise.allSettled([...this.inFlight]);
    await this.connection?.close().catch(() => {});
  }

  private async consume(): Promise<void> {
    const connection = await connect(this.options.amqpUrl, `eco-consumer ${this.options.partyId}`);
    connection.on('close', () => {
      if (this.stopping) return;
      this.log.warn('broker connection lost; reconnecting');
      this.consumer = undefined;
      this.reconnectTimer = setTimeout(() => void this.start().then(() => this.log.info('consumer reconnected')), 500);
    });
    this.connection = connection;
    const channel = await connection.createConfirmChannel();
    channel.on('error', (error) => this.log.error({ err: error }, 'consumer channel error'));
    // A channel closed by the broker (a protocol error) would silently stop consumption: start over.
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
    let failures = 0;
    for (let attempt = 1; ; attempt++) {
      try {
        // Past a few failures that are not an outage, the letter is kept without its properties
        // rather than retried forever.
        await storeDeadLetter(this.db, message, { minimal: failures > 3 });
        settle(channel, message, 'ack');
        return;
      } catch (error) {
        if (!isDatabaseUnavailable(error)) failures++;
        this.log.error({ err: error, attempt }, 'dead letter not stored yet; it stays on eco.dead');
        await pause(attempt);
        if (!this.holds(channel)) return;
      }
    }
  }

  private async handle(channel: ConfirmChannel, message: ConsumeMessage): Promise<void> {
    let handled: Handled;
    for (let attempt = 1; ; attempt++) {
      try {
        handled = await this.process(channel, message);
        break;
      } catch (error) {
        if (!isDatabaseUnavailable(error)) return this.retryLater(channel, message, error);
        // Postgres is away: not the message's fault, so it keeps its place and its delivery count;
        // it is held (the prefetch bounds how many) until Postgres answers again.
        if (attempt === 1 || attempt % 20 === 0) this.log.warn({ err: error, messageId: message.properties.messageId, attempt }, 'database unavailable; holding the message');
        await pause(attempt);
        // Its channel gone, the broker has put it back for another delivery.
        if (!this.holds(channel)) return;
      }
    }
    // Acked on the channel that delivered it; if that channel is gone the broker redelivers,
    // and the inbox row makes the redelivery a duplicate.
    if (!settle(channel, message, 'ack')) return;
    const fields = { ...handled, peer: handled.peer ?? safeText(String(message.properties.appId), 64), type: safeText(String(message.properties.type), 64) };
    if (handled.outcome === 'accepted' || handled.outcome === 'duplicate') this.log.info(fields, 'message received');
    else this.log.warn(fields, 'message refused');
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
      await this.deadLetter(channel, message, { code: 'PROCESSING_FAILED', message: safeText(String((error as Error)?.message ?? error), 500) });
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
      await this.deadLetter(channel, message, error);
      return { outcome: 'dead', error, messageId: message.properties.messageId as string | undefined };
    }
    const bodyText = message.content.toString('utf8');
    const digest = bodyDigest(message.content);
    const ctx = { partyId: this.options.partyId, countries: this.options.countries, peers: this.peers, sentAtWindowSeconds: this.options.sentAtWindowSeconds, decryptionKeys: this.decryptionKeys };
    const authentic = await authenticate(bodyText, message.properties.appId as string | undefined, ctx);
    if (authentic.outcome === 'dead') {
      await this.deadLetter(channel, message, authentic.error);
      return { ...authentic, messageId: message.properties.messageId as string | undefined };
    }
    let handled: Handled;
    if (authentic.outcome === 'rejected') {
      // Not authenticated, so not remembered: each copy is checked, and answered, afresh.
      const inReplyTo = [authentic.messageId, message.properties.messageId].find((id): id is string => typeof id === 'string' && UUID.test(id));
      const receiptId = await this.outbound.transaction(async (client, outbox) => {
        await this.auditReceived(client, authentic.peer.partyId, inReplyTo, { type: message.properties.type, status: 'rejected', errors: authentic.errors });
        return authentic.isReceipt ? undefined : this.sendReceipt(outbox, authentic.peer, inReplyTo, { status: 'rejected', digest, errors: authentic.errors });
      });
      handled = { outcome: 'rejected', peer: authentic.peer.partyId, messageId: inReplyTo, errors: authentic.errors, receiptId };
    } else {
      // What is kept is the signed JWS (inside the JWE, for an encrypted message); the digest is of the bytes received.
      handled = await this.outbound.transaction((client, outbox) => this.store(client, outbox, authentic, authentic.jws, digest));
    }
    return handled;
  }

  /** Checks 4-6 and storage, in one transaction with the inbox row that deduplicates. */
  private async store(client: DbClient, outbox: OutboxWriter, authentic: Authentic, bodyText: string, digest: string): Promise<Handled> {
    const messageId = authentic.messageId && UUID.test(authentic.messageId) ? authentic.messageId : undefined;
    if (messageId) {
      // Serialise on the message id so two consumers handling copies do not both store it.
      await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [messageId]);
      const { rows } = await client.query<{ receipt_id: string | null }>('SELECT receipt_id FROM inbox WHERE message_id = $1', [messageId]);
      if (rows[0]) {
        // PROFILE: a duplicate is not stored again and gets the same receipt again.
        if (rows[0].receipt_id) await outbox.requeue(rows[0].receipt_id);
        return { outcome: 'duplicate', peer: authentic.peer.partyId, messageId, receiptId: rows[0].receipt_id ?? undefined };
      }
    }
    const verdict = validate(authentic, { partyId: this.options.partyId, countries: this.options.countries, sentAtWindowSeconds: this.options.sentAtWindowSeconds });
    const isReceipt = verdict.outcome === 'rejected' ? verdict.isReceipt : verdict.message.type === 'receipt';
    const applied = verdict.outcome === 'verified' ? await applyMessage(client, verdict, bodyText, this.agreements) : { errors: verdict.errors };
    const errors = messageId ? applied.errors : [messageError('SCHEMA_INVALID', 'id must be a UUID', '/id')];
    const status = errors.length ? 'rejected' : 'accepted';
    const receiptId = isReceipt ? undefined : await this.sendReceipt(outbox, authentic.peer, messageId, { status, digest, errors });
    const peer = authentic.peer.partyId;
    const type = safeText(String(authentic.payload.type), 64);
    const certificateNumber = certificateNumberOf(authentic.payload);
    await this.auditReceived(client, peer, messageId, { type, status, errors, certificateNumber });
    if (!messageId) return { outcome: 'rejected', peer, errors, receiptId };
    const inReplyTo = typeof authentic.payload.inReplyTo === 'string' && UUID.test(authentic.payload.inReplyTo) ? authentic.payload.inReplyTo : null;
    await client.query(
      `INSERT INTO inbox (message_id, from_party, type, digest, body, status, errors, in_reply_to, receipt_id, certificate_number)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
      [messageId, peer, type, digest, bodyText, status, JSON.stringify(errors), inReplyTo, receiptId ?? null, certificateNumber ?? null],
    );
    if (errors.length) return { outcome: 'rejected', peer, messageId, errors, receiptId };
    const { note, receiptLatencySeconds } = 'note' in applied ? applied : { note: undefined, receiptLatencySeconds: undefined };
    return { outcome: 'accepted', peer, messageId, type, receiptId, ...(note ? { note } : {}), ...(receiptLatencySeconds !== undefined ? { receiptLatencySeconds } : {}) };
  }

  private auditReceived(client: DbClient, peer: string, messageId: string | undefined, data: { type: unknown; status: string; errors: MessageError[]; certificateNumber?: string }): Promise<void> {
    const { errors, ...rest } = data;
    return audit(client, { actor: actors.peer(peer), action: `message.${data.status}`, subject: messageId, data: { ...rest, codes: errors.map((e) => e.code) } });
  }

  /** Queues a signed receipt inside the caller's transaction. */
  private async sendReceipt(outbox: OutboxWriter, to: KnownPeer, inReplyTo: string | undefined, body: ReceiptBody): Promise<string> {
    return (await outbox.send({ to, type: 'receipt', inReplyTo, body })).messageId;
  }

  /** For messages no peer can be answered for: onto eco.dead with the reason in headers, confirmed. */
  private async deadLetter(channel: ConfirmChannel, message: ConsumeMessage, error: { code: DeadLetterCode; message: string }): Promise<void> {
    const ours = { 'x-eco-error': error.code, 'x-eco-reason': safeText(error.message, 500), [DEAD_ID_HEADER]: randomUUID() };
    // Not copied: userId (the broker checks it against our own user and would close the channel on
    // a mismatch) and expiration (it would let the letter vanish from eco.dead).
    // Nor what a sender may have set to pass for our own or the broker's dead-lettering marks.
    const { userId: _userId, expiration: _expiration, headers, ...properties } = message.properties;
    const copied = Object.fromEntries(Object.entries(headers ?? {}).filter(([name]) => name !== 'x-death' && !name.startsWith('x-eco-')));
    const publish = (props: Options.Publish) =>
      new Promise<void>((resolve, reject) => {
        try {
          channel.publish(DEAD_EXCHANGE, '', message.content, { ...props, persistent: true }, (err) => (err ? reject(err) : resolve()));
        } catch (encoding) {
          // Thrown before anything was sent: the properties do not encode again.
          reject(new UnencodableCopy(encoding));
        }
      });
    try {
      await publish({ ...properties, headers: { ...copied, ...ours } });
    } catch (failure) {
      // A sender's headers plus ours can exceed amqplib's 64 KiB field table, and a property the
      // broker passed as raw bytes can grow past 255 once decoded: keep ours, and what still fits.
      if (!(failure instanceof UnencodableCopy)) throw failure;
      const fits = (value: unknown) => (typeof value === 'string' && Buffer.byteLength(value) <= 255 ? value : undefined);
      await publish({
        messageId: fits(properties.messageId),
        appId: fits(properties.appId),
        type: fits(properties.type),
        headers: { ...ours, 'x-eco-properties-dropped': 'the original properties could not be copied' },
      });
    }
  }
}

class UnencodableCopy extends Error {
  constructor(cause: unknown) {
    super(`the dead-letter copy cannot be encoded: ${(cause as Error)?.message ?? String(cause)}`, { cause });
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

function certificateNumberOf(payload: Record<string, unknown>): string | undefined {
  const body = payload.body as { number?: unknown; certificateNumber?: unknown } | undefined;
  const number = body?.number ?? body?.certificateNumber;
  return typeof number === 'string' ? safeText(number, 64) : undefined;
}
