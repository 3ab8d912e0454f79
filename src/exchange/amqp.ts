// AMQP 0-9-1 transport as the exchange profile fixes it (docs/wire.md): the inbox topology and confirmed publishing.

import { once } from 'node:events';
import type { ChannelModel, ConfirmChannel, Options } from 'amqplib';
import amqp from 'amqplib';

export const INBOUND_EXCHANGE = 'eco.inbound';
export const INBOUND_QUEUE = 'eco.inbound';
export const DEAD_EXCHANGE = 'eco.dead';
export const DEAD_QUEUE = 'eco.dead';

/** A broker address: one AMQP URL, or the comma-separated URLs of a cluster's nodes. */
export function brokerUrls(urls: string): string[] {
  return urls
    .split(',')
    .map((url) => url.trim())
    .filter(Boolean);
}

/**
 * True when the broker answered and refused us (credentials, vhost, permissions): waiting will not
 * help, unlike a broker that is down. amqplib reports a wrong vhost as "Expected ConnectionOpenOk".
 */
export function isBrokerRefusal(error: unknown): boolean {
  const message = (error as { message?: unknown })?.message;
  return typeof message === 'string' && /ACCESS[-_]REFUSED|NOT[-_]ALLOWED|Expected ConnectionOpenOk|vhost/i.test(message);
}

/** The node each address list last connected to: reconnects try it first, then the next ones in turn. */
const lastGood = new Map<string, number>();

/** Where a connection reports its errors (a pino logger will do). */
export type WarnLog = { warn(fields: object, message: string): void };

const consoleLog: WarnLog = { warn: (fields, message) => console.warn(message, fields) };

/**
 * How long one node has to open a connection (TCP and the AMQP handshake). A node that died
 * without refusing (its host gone, packets dropped, a hung broker) would otherwise hold a
 * failover for the system's TCP timeout, about two minutes, before the next node is tried.
 */
export const NODE_CONNECT_TIMEOUT_MS = 5000;

/**
 * Nagle off: with it on, every publish -> confirm round trip waits ~44 ms. `url` may list several
 * nodes of one cluster (comma-separated): the first that accepts the connection is used, starting
 * with the one that worked last time, so a lost node costs one refused connection per reconnect,
 * or NODE_CONNECT_TIMEOUT_MS for one that does not answer at all.
 */
export async function connect(url: string, name: string, log: WarnLog = consoleLog): Promise<ChannelModel> {
  const urls = brokerUrls(url);
  const first = lastGood.get(url) ?? 0;
  let lastError: unknown = new Error('no broker URL');
  for (let i = 0; i < urls.length; i++) {
    const index = (first + i) % urls.length;
    try {
      const connection = await amqp.connect(urls[index]!, { noDelay: true, timeout: NODE_CONNECT_TIMEOUT_MS, clientProperties: { connection_name: name } });
      // Without a listener an 'error' event would take the process down; 'close' follows and is handled by owners.
      connection.on('error', (error: Error) => log.warn({ err: error, connection: name }, 'broker connection error; it closes'));
      if (urls.length > 1) lastGood.set(url, index);
      return connection;
    } catch (error) {
      // The next node is tried; if none accepts, the last error is thrown.
      lastError = error;
    }
  }
  throw lastError;
}

/**
 * connect(), given up after `timeoutMs` (an unreachable host can hang for minutes); a connection
 * that opens after the deadline is closed rather than leaked.
 */
export async function connectWithin(url: string, name: string, timeoutMs: number, log: WarnLog): Promise<ChannelModel> {
  const connecting = connect(url, name, log);
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      reject(new Error(`no connection within ${timeoutMs} ms`));
      // Given up on already: a connection that fails to open, or to close, is nothing to report.
      void connecting.then((late) => late.close()).catch(() => {});
    }, timeoutMs);
  });
  try {
    return await Promise.race([connecting, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/** How long a broker has to answer our close before its socket is simply destroyed. */
const CLOSE_TIMEOUT_MS = 2000;

/**
 * Closes a connection, waiting at most `timeoutMs` for the broker's close-ok: a hung broker never
 * sends it, and amqplib would wait for ever. Past that the socket is destroyed, which fails every
 * publish still waiting for a confirm on it.
 */
export async function closeWithin(connection: ChannelModel, timeoutMs: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const closing = connection.close().then(
    () => true,
    // Closing what the broker may already have closed: nothing is left to release.
    () => true,
  );
  const late = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), timeoutMs);
  });
  const closed = await Promise.race([closing, late]);
  clearTimeout(timer);
  // amqplib keeps its socket as connection.stream, which its types leave out; it reacts to the socket's error, not to its close.
  if (!closed) (connection.connection as unknown as { stream?: { destroy(error: Error): void } }).stream?.destroy(new Error(`the broker did not answer our close within ${timeoutMs} ms`));
}

/** Declares our own inbox: what peers publish to and what our consumer reads. Idempotent. */
export async function declareInbox(channel: ConfirmChannel, ownPartyId: string): Promise<void> {
  await channel.assertExchange(DEAD_EXCHANGE, 'fanout', { durable: true });
  await channel.assertQueue(DEAD_QUEUE, { durable: true, arguments: { 'x-queue-type': 'quorum' } });
  await channel.bindQueue(DEAD_QUEUE, DEAD_EXCHANGE, '');
  await channel.assertExchange(INBOUND_EXCHANGE, 'direct', { durable: true });
  await channel.assertQueue(INBOUND_QUEUE, {
    durable: true,
    arguments: { 'x-queue-type': 'quorum', 'x-dead-letter-exchange': DEAD_EXCHANGE },
  });
  await channel.bindQueue(INBOUND_QUEUE, INBOUND_EXCHANGE, ownPartyId);
}

export class PublishError extends Error {
  constructor(
    readonly reason: 'unroutable' | 'nacked' | 'timeout' | 'connection',
    message: string,
  ) {
    super(message);
  }
}

/**
 * Publishes on a confirm channel and settles only on the broker's answer: resolves on ack, rejects
 * on nack, on a mandatory message returned as unroutable, on channel loss, or after `timeoutMs`
 * (confirms can hang when a broker dies). The broker sends basic.return before the basic.ack of
 * the same message, so a returned message is known by the time its ack arrives.
 */
export class ConfirmPublisher {
  private readonly returned = new Set<string>();
  private drained: Promise<unknown> = Promise.resolve();
  private closed = false;
  private closing?: Promise<void>;
  private lastError?: Error;

  constructor(
    readonly channel: ConfirmChannel,
    private readonly timeoutMs: number,
    private readonly connection?: ChannelModel,
  ) {
    channel.on('return', (message) => {
      if (typeof message.properties.messageId === 'string') this.returned.add(message.properties.messageId);
    });
    // Emitted before 'close' when the broker closes the channel (no such exchange, say).
    // Not swallowed: kept, and thrown by the next publish (whose caller logs it).
    channel.on('error', (error: Error) => {
      this.lastError = error;
    });
    channel.on('close', () => {
      this.closed = true;
    });
  }

  /** Closes the channel, and the connection when this publisher owns it; once, however often asked. */
  close(): Promise<void> {
    this.closed = true;
    this.closing ??= this.connection
      ? closeWithin(this.connection, CLOSE_TIMEOUT_MS)
      : // Closing what the broker may already have closed: nothing is left to release.
        this.channel.close().catch(() => {});
    return this.closing;
  }

  async publish(exchange: string, routingKey: string, body: Buffer, options: Options.Publish & { messageId: string }): Promise<void> {
    await this.drained;
    if (this.closed) throw new PublishError('connection', 'channel closed');
    const confirmed = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new PublishError('timeout', `no confirm within ${this.timeoutMs} ms`)), this.timeoutMs);
      const ok = this.channel.publish(exchange, routingKey, body, options, (error) => {
        clearTimeout(timer);
        const wasReturned = this.returned.delete(options.messageId);
        // amqplib fails unconfirmed messages with 'message nacked' or 'channel closed'.
        if (error?.message === 'message nacked') reject(new PublishError('nacked', 'broker nacked the message'));
        else if (error) reject(new PublishError('connection', `channel closed before confirm${this.lastError ? `: ${this.lastError.message}` : ''}`));
        else if (wasReturned) reject(new PublishError('unroutable', `no queue bound for routing key ${routingKey} on ${exchange}`));
        else resolve();
      });
      // Wait for 'drain' before the next publish; a closing channel ends the wait too.
      // Either event ends the wait; a channel that errors instead is closed, and the next publish says so.
      if (!ok) this.drained = Promise.race([once(this.channel, 'drain'), once(this.channel, 'close')]).catch(() => {});
    });
    await confirmed;
  }
}

export type PingResult = { ok: boolean; connectMs?: number; roundTripMs?: number; error?: string };

/**
 * Connection test of a peer's broker: a mandatory publish to eco.inbound under a routing key no
 * queue is bound to. The broker returning it proves the address, the credentials and the right to
 * write to eco.inbound, and nothing reaches the peer's consumer.
 */
export async function pingBroker(url: string, name: string, log: WarnLog, timeoutMs = 5000): Promise<PingResult> {
  const started = performance.now();
  let publisher: ConfirmPublisher | undefined;
  try {
    const connection = await connectWithin(url, name, timeoutMs, log);
    const connectMs = Math.round(performance.now() - started);
    publisher = new ConfirmPublisher(await connection.createConfirmChannel(), timeoutMs, connection);
    const sent = performance.now();
    const outcome = await publisher.publish(INBOUND_EXCHANGE, 'eco.ping', Buffer.from('ping'), { messageId: `ping-${Date.now()}`, mandatory: true, type: 'ping' }).then(
      () => new PublishError('connection', 'the ping was routed to a queue; it should have come back'),
      (error: unknown) => error as Error,
    );
    const roundTripMs = Math.round(performance.now() - sent);
    if (outcome instanceof PublishError && outcome.reason === 'unroutable') return { ok: true, connectMs, roundTripMs };
    return { ok: false, connectMs, roundTripMs, error: outcome.message };
  } catch (error) {
    return { ok: false, error: (error as Error).message };
  } finally {
    await publisher?.close();
  }
}
