// Prometheus metrics (prom-client). One registry per gateway, not the library's global one: tests
// run two gateways in one process. Counts are per process; the backlog gauges read Postgres at
// scrape time, so every process reports the same shared figures. The readers of those figures
// come from the modules that own the tables (gateway.ts passes them): metrics imports none.
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

/** What the outbox holds: the shape outbound's backlog reader returns. */
export type Backlog = { queued: number; awaitingReceipt: number; dead: number; oldestPendingSeconds: number };

export type MetricsReaders = {
  backlog: () => Promise<Backlog>;
  /** Dead letters awaiting an operator. */
  deadLettersHeld: () => Promise<number>;
};

export class Metrics {
  readonly registry = new Registry();

  readonly sent = new Counter({
    name: 'eco_messages_sent_total',
    help: 'Messages published to a peer broker and confirmed, by type and peer',
    labelNames: ['type', 'peer'] as const,
    registers: [this.registry],
  });

  readonly received = new Counter({
    name: 'eco_messages_received_total',
    help: 'Messages taken from our inbox, by type, sending peer and outcome (accepted, duplicate, rejected, dead)',
    labelNames: ['type', 'peer', 'outcome'] as const,
    registers: [this.registry],
  });

  readonly rejected = new Counter({
    name: 'eco_messages_rejected_total',
    help: 'Rejection codes given to received messages (a receipt, or a dead letter), by type, peer and code',
    labelNames: ['type', 'peer', 'code'] as const,
    registers: [this.registry],
  });

  readonly unauthenticated = new Counter({
    name: 'eco_unauthenticated_messages_total',
    help: "Messages in a registered peer's name that failed authentication, by the peer they claimed to come from and whether they were answered (a bounded number per hour is)",
    labelNames: ['claimed', 'answered'] as const,
    registers: [this.registry],
  });

  readonly receiptLatency = new Histogram({
    name: 'eco_receipt_latency_seconds',
    help: "From queueing a message to recording the peer's receipt for it",
    labelNames: ['peer'] as const,
    buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800],
    registers: [this.registry],
  });

  readonly httpDuration = new Histogram({
    name: 'eco_http_request_duration_seconds',
    help: 'HTTP API requests by method, route and status',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  });

  constructor(readers: MetricsReaders) {
    // Unprefixed: stock dashboards and alerts expect prom-client's standard process_* and nodejs_* names.
    collectDefaultMetrics({ register: this.registry });
    // Both outbox gauges come from one read per scrape (their collects run together).
    let reading: Promise<Backlog> | undefined;
    const readBacklog = () => (reading ??= readers.backlog().finally(() => setImmediate(() => (reading = undefined))));
    const backlog = new Gauge({
      name: 'eco_outbox_messages',
      help: 'Outbox backlog by status (queued: not yet published; sent: published, awaiting a receipt; dead: given up)',
      labelNames: ['status'] as const,
      registers: [this.registry],
      async collect() {
        const b = await readBacklog();
        backlog.set({ status: 'queued' }, b.queued);
        backlog.set({ status: 'sent' }, b.awaitingReceipt);
        backlog.set({ status: 'dead' }, b.dead);
      },
    });
    const oldest = new Gauge({
      name: 'eco_outbox_oldest_pending_seconds',
      help: 'Age of the oldest message not yet answered by a receipt (queued, or sent and awaiting one); 0 when none',
      registers: [this.registry],
      async collect() {
        oldest.set((await readBacklog()).oldestPendingSeconds);
      },
    });
    const dead = new Gauge({
      name: 'eco_dead_letters_held',
      help: 'Received messages dead-lettered and awaiting an operator (replay or discard)',
      registers: [this.registry],
      async collect() {
        dead.set(await readers.deadLettersHeld());
      },
    });
  }
}
