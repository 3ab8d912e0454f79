// Outbox -> peers' brokers. Rows are claimed with FOR UPDATE SKIP LOCKED and leased (next_attempt_at
// moved ahead), so several relays share the work and a relay that dies only delays its rows.
// A row counts as sent only after the peer's broker confirmed it.
// Each peer is a lane of its own: a peer's batch is published and recorded apart from the others',
// and the loop goes on claiming for the other peers meanwhile, so a slow, frozen or refusing broker
// holds back only its own messages (test/e2e/noisy-neighbour.test.ts).

import pg from 'pg';
import type { Logger } from 'pino';
import type { Config } from '../config.ts';
import { createPool, type Db, prepared } from '../db/index.ts';
import { ConfirmPublisher, connectWithin, INBOUND_EXCHANGE, PublishError } from '../exchange/index.ts';
import type { Metrics } from '../metrics/index.ts';
import type { KnownPeer, PeerDirectory } from '../peers/index.ts';
import { OUTBOX_CHANNEL } from './outbox.ts';

export type RelayOptions = Config['relay'] & { partyId: string; databaseUrl: string };

/** The longest a peer whose last batch all failed is left alone before new messages are tried. */
const HOLD_MAX_MS = 5000;

/** How long a stopping relay lets its lanes finish before it closes their connections. */
const STOP_GRACE_MS = 2000;

type ClaimedRow = { id: string; peer: string; type: string; body: string; attempts: number; expired: boolean; last_error: string | null };

/** Exponential backoff with jitter: base, 2 x base, 4 x base ... capped, each 50-100 % of that. */
export function backoffMs(attempts: number, baseMs: number, maxMs: number): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.max(0, attempts - 1));
  return Math.round(ceiling * (0.5 + Math.random() * 0.5));
}

export class Relay {
  private readonly publishers = new Map<string, Promise<ConfirmPublisher>>();
  private running = false;
  private stopped = false;
  private wake?: () => void;
  /** A notification that arrived while we were busy: the next idle() returns at once. */
  private notified = false;
  private listener?: pg.Client;
  /** Peers whose last publish failed: their failures are logged once, and their recovery. */
  private readonly unreachablePeers = new Set<string>();
  private loop?: Promise<void>;
  /** Peers with a batch in flight, each with its lane's promise: not claimed for until it ends. */
  private readonly lanes = new Map<string, Promise<void>>();
  /** Peers whose last batch all failed, and until when their messages wait (the backoff). */
  private readonly heldUntil = new Map<string, number>();

  /**
   * The relay's own bookkeeping (claims, 'sent', backoff) commits without waiting for the WAL flush:
   * losing such an update in a crash only makes a message go out again, which receivers deduplicate,
   * and not waiting saves an fsync per step on the path of every message.
   */
  private readonly db: Db;

  constructor(
    private readonly peers: PeerDirectory,
    private readonly options: RelayOptions,
    private readonly log: Logger,
    private readonly metrics?: Metrics,
  ) {
    // Lanes record their outcomes concurrently: a few connections, so that one lane's statements do not queue behind another's.
    this.db = createPool(options.databaseUrl, 4, log, '-c synchronous_commit=off');
  }

  async start(): Promise<void> {
    this.running = true;
    await this.listen();
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.running = false;
    this.wake?.();
    await this.loop;
    // Lanes get a moment to record what their brokers confirm; closing the publishers then fails
    // whatever still waits (a hung broker's confirms), and each lane records that and ends.
    const lanes = Promise.all(this.lanes.values());
    await Promise.race([lanes, new Promise((resolve) => setTimeout(resolve, STOP_GRACE_MS).unref())]);
    // Stopping: a listener or publisher that is already broken has nothing left to release.
    await this.listener?.end().catch(() => {});
    await Promise.all([...this.publishers.values()].map((publisher) => publisher.then((p) => p.close()).catch(() => {})));
    this.publishers.clear();
    await lanes;
    await this.db.end();
  }

  /** LISTEN on a dedicated connection so a commit anywhere wakes us; polling covers a lost listener. */
  private async listen(): Promise<void> {
    const client = new pg.Client({ connectionString: this.options.databaseUrl });
    client.on('error', (error) => {
      this.log.warn({ err: error }, 'outbox listener lost; polling until it is back');
      this.listener = undefined;
    });
    client.on('notification', () => {
      this.notified = true;
      this.wake?.();
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${OUTBOX_CHANNEL}`);
      this.listener = client;
    } catch (error) {
      this.log.warn({ err: error }, 'outbox listener unavailable; polling only');
    }
  }

  private async run(): Promise<void> {
    while (this.running) {
      let claimed = 0;
      this.notified = false;
      try {
        if (!this.listener) await this.listen();
        claimed = await this.relayBatch();
      } catch (error) {
        this.log.error({ err: error }, 'relay batch failed');
      }
      // A short batch took all that was due: wait for a commit, a lane's end or the poll.
      if (claimed < this.options.batchSize && this.running) await this.idle();
    }
  }

  private idle(): Promise<void> {
    if (this.notified) {
      this.notified = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const timer = setTimeout(done, this.options.pollMs);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.wake = done;
    });
  }

  /**
   * Claims one batch of due rows (queued, or sent with an overdue receipt) of peers that have no
   * batch in flight, and starts each peer's lane. Returns how many rows it claimed.
   */
  async relayBatch(): Promise<number> {
    const { rows } = await this.db.query<ClaimedRow>(
      prepared(
        'relay.claim',
        `UPDATE outbox SET attempts = attempts + 1, next_attempt_at = now() + make_interval(secs => $2)
        WHERE id IN (SELECT id FROM outbox WHERE status IN ('queued', 'sent') AND next_attempt_at <= now() AND peer <> ALL($5)
                      ORDER BY next_attempt_at LIMIT $1 FOR UPDATE SKIP LOCKED)
       RETURNING id, peer, type, body, attempts, last_error,
                 attempts > $3 OR COALESCE(resent_at, created_at) < now() - make_interval(secs => $4) AS expired`,
        [this.options.batchSize, this.options.leaseSeconds, this.options.maxAttempts, this.options.maxAgeSeconds, this.skippedPeers()],
      ),
    );
    if (rows.length === 0) return 0;
    const byPeer = new Map<string, ClaimedRow[]>();
    for (const row of rows) {
      const list = byPeer.get(row.peer);
      if (list) list.push(row);
      else byPeer.set(row.peer, [row]);
    }
    for (const [peer, peerRows] of byPeer) {
      const lane = this.relayToPeer(peer, peerRows)
        .catch((error) => this.log.error({ err: error, peer }, 'relay lane failed; its rows are retried when their lease ends'))
        .finally(() => {
          this.lanes.delete(peer);
          // Its next rows may be due already.
          this.notified = true;
          this.wake?.();
        });
      this.lanes.set(peer, lane);
    }
    return rows.length;
  }

  /** Peers not to claim for now: a batch in flight, or all of the last one failed and it is backing off. */
  private skippedPeers(): string[] {
    const now = Date.now();
    for (const [peer, until] of this.heldUntil) if (until <= now) this.heldUntil.delete(peer);
    return [...this.lanes.keys(), ...this.heldUntil.keys()];
  }

  /** Publishes one peer's claimed rows and records the outcomes. */
  private async relayToPeer(peer: string, rows: ClaimedRow[]): Promise<void> {
    const expired = rows.filter((r) => r.expired);
    const due = rows.filter((r) => !r.expired);
    if (expired.length) await this.giveUp(expired);
    // Looked up once for the batch, not once per message: a batch is up to RELAY_BATCH_SIZE rows.
    const known = due.length ? await this.peers.find(peer) : undefined;
    const outcomes = await Promise.all(
      due.map((row) =>
        this.publish(row, known).then(
          () => undefined,
          (error: Error) => error,
        ),
      ),
    );
    const sent = due.filter((_, i) => !outcomes[i]);
    if (sent.length) {
      // A receipt may already have arrived (accepted/rejected): only queued or sent rows change. A
      // message sent again that holds its receipt from before goes back to that receipt's verdict.
      await this.db.query(
        prepared(
          'relay.sent',
          `UPDATE outbox SET sent_at = now(), last_error = NULL, last_error_at = NULL,
                status = COALESCE(receipt_status, 'sent'),
                next_attempt_at = CASE WHEN expects_receipt AND receipt_status IS NULL THEN now() + make_interval(secs => $2) ELSE 'infinity' END
          WHERE id = ANY($1) AND status IN ('queued', 'sent')`,
          [sent.map((r) => r.id), this.options.receiptTimeoutSeconds],
        ),
      );
      if (this.unreachablePeers.delete(peer)) this.log.info({ peer }, 'peer broker reachable again; waiting messages are going out');
      for (const row of sent) {
        this.log.info({ messageId: row.id, peer, type: row.type, attempts: row.attempts }, 'message sent');
        this.metrics?.sent.inc({ type: row.type, peer });
      }
    }
    const failed = due.flatMap((row, i) => {
      const error = outcomes[i];
      return error ? [{ row, error, delayMs: backoffMs(row.attempts, this.options.backoffBaseMs, this.options.backoffMaxMs) }] : [];
    });
    if (failed.length === 0) return;
    for (const { row, error, delayMs } of failed) {
      // Logged at warn once per outage of a peer's broker, not once per message and attempt.
      const fields = { messageId: row.id, peer, type: row.type, attempts: row.attempts, retryInMs: delayMs, err: error.message };
      if (this.unreachablePeers.has(peer)) this.log.debug(fields, 'publish failed; will retry');
      else {
        this.unreachablePeers.add(peer);
        this.log.warn(fields, 'publishing to this peer fails; its messages wait and are retried with backoff (logged again when it recovers)');
      }
    }
    // One statement for the whole batch: a frozen peer's 200 failures must not hold the pool the
    // other lanes record their deliveries with.
    await this.db.query(
      prepared(
        'relay.failed',
        `UPDATE outbox o SET next_attempt_at = now() + make_interval(secs => f.delay), last_error = f.error, last_error_at = now()
           FROM unnest($1::uuid[], $2::float8[], $3::text[]) AS f(id, delay, error)
          WHERE o.id = f.id AND o.status IN ('queued', 'sent')`,
        [failed.map((f) => f.row.id), failed.map((f) => f.delayMs / 1000), failed.map((f) => f.error.message)],
      ),
    );
    // Nothing got through: the peer's other due messages wait as long as these, instead of being
    // claimed and failed one batch after another. Kept here, not written to every waiting row: on a
    // durable database rewriting thousands of rows would hold up every commit behind its WAL.
    // At most HOLD_MAX_MS, so that a broker that is back is used again soon.
    if (sent.length === 0) this.heldUntil.set(peer, Date.now() + Math.min(HOLD_MAX_MS, ...failed.map((f) => f.delayMs)));
  }

  private async giveUp(rows: ClaimedRow[]): Promise<void> {
    await this.db.query(
      // A message sent again that holds its receipt is not lost: it returns to that receipt's verdict.
      `UPDATE outbox SET status = COALESCE(receipt_status, 'dead'), next_attempt_at = 'infinity', last_error_at = now(),
              last_error = 'given up after ' || (attempts - 1) || ' attempts: ' || coalesce(last_error, 'no receipt')
        WHERE id = ANY($1) AND status IN ('queued', 'sent')`,
      [rows.map((r) => r.id)],
    );
    for (const row of rows) this.log.error({ messageId: row.id, peer: row.peer, type: row.type, attempts: row.attempts - 1, lastError: row.last_error }, 'message dead');
  }

  private async publish(row: ClaimedRow, peer: KnownPeer | undefined): Promise<void> {
    if (!peer) throw new Error(`peer ${row.peer} is not registered`);
    if (peer.status !== 'active') throw new Error(`peer ${row.peer} is suspended`);
    const entry = this.publisherFor(peer.brokerUrl);
    const publisher = await entry;
    try {
      await publisher.publish(INBOUND_EXCHANGE, row.peer, Buffer.from(row.body, 'utf8'), {
        messageId: row.id,
        type: row.type,
        appId: this.options.partyId,
        contentType: 'application/jose',
        timestamp: Math.floor(Date.now() / 1000),
        persistent: true,
        mandatory: true,
      });
    } catch (error) {
      // A channel that timed out or closed is not trusted again: the next attempt reconnects.
      if (error instanceof PublishError && (error.reason === 'timeout' || error.reason === 'connection')) this.dropPublisher(peer.brokerUrl, entry);
      throw error;
    }
  }

  private publisherFor(url: string): Promise<ConfirmPublisher> {
    let publisher = this.publishers.get(url);
    if (!publisher) {
      // Forgotten only if it is still the one in the map: an old connection closing late (a hung
      // broker's close takes seconds) must not take its successor with it.
      const forget = () => {
        if (this.publishers.get(url) === made) this.publishers.delete(url);
      };
      const made: Promise<ConfirmPublisher> = (async () => {
        // Bounded: a broker that accepts TCP but never speaks AMQP would otherwise hold its lane for good.
        const connection = await connectWithin(url, `eco-relay ${this.options.partyId}`, this.options.confirmTimeoutMs, this.log);
        connection.on('close', forget);
        const channel = await connection.createConfirmChannel();
        return new ConfirmPublisher(channel, this.options.confirmTimeoutMs, connection);
      })();
      made.catch(forget);
      this.publishers.set(url, made);
      publisher = made;
    }
    return publisher;
  }

  /** Drops the publisher that failed (not a newer one for the same URL) and closes it. */
  private dropPublisher(url: string, failed: Promise<ConfirmPublisher>): void {
    if (this.publishers.get(url) === failed) this.publishers.delete(url);
    // Dropped because it failed: closing it may fail too, and the next attempt reconnects regardless.
    failed.then((p) => p.close()).catch(() => {});
  }
}
