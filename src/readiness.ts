// Whether this gateway can do its work now: Postgres reachable and able to write, our broker
// reachable and not in a memory or disk alarm. /ready asks afresh; the API's write gate reads the
// latest answer, which a timer keeps at most a few seconds old.
import type { Logger } from 'pino';
import { type Db, lastWriteFailure } from './db/index.ts';
import { closeWithin, connectWithin } from './exchange/index.ts';
import type { Readiness } from './http/index.ts';

const PROBE_TIMEOUT_MS = 2000;
/** A write that failed for lack of disk or a read-only database counts this long, unless one succeeds. */
const WRITE_FAILURE_MEMORY_MS = 10_000;

export class ReadinessMonitor {
  private current?: Readiness;
  private timer?: NodeJS.Timeout;
  private checking?: Promise<Readiness>;

  constructor(
    private readonly db: Db,
    private readonly amqpUrl: string,
    private readonly log: Logger,
  ) {}

  /** Probes every `intervalMs`, logging each change of state once. */
  start(intervalMs = 5000): void {
    this.timer = setInterval(() => {
      // check() reports failures as states; anything else thrown is a bug, logged and survived.
      this.check().catch((error) => this.log.error({ err: error }, 'readiness probe failed'));
    }, intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** The latest answer, if any probe has run. */
  latest(): Readiness | undefined {
    return this.current;
  }

  /** Probes now (one probe at a time: concurrent callers share it). */
  check(): Promise<Readiness> {
    this.checking ??= this.probe().finally(() => {
      this.checking = undefined;
    });
    return this.checking;
  }

  private async probe(): Promise<Readiness> {
    const [postgres, broker] = await Promise.all([this.probePostgres(), this.probeBroker()]);
    const next: Readiness = { postgres: postgres.state, broker: broker.state, reasons: [postgres.reason, broker.reason].filter((r): r is string => !!r) };
    const before = this.current;
    if (before && (before.postgres !== next.postgres || before.broker !== next.broker)) {
      if (next.reasons.length) this.log.warn({ postgres: next.postgres, broker: next.broker, reasons: next.reasons, details: [postgres.detail, broker.detail].filter(Boolean) }, 'not ready');
      else this.log.info('ready again');
    }
    this.current = next;
    return next;
  }

  // `reason` is what /ready tells anyone who asks; `detail` (addresses, file names) only the log.
  private async probePostgres(): Promise<{ state: Readiness['postgres']; reason?: string; detail?: string }> {
    try {
      const { rows } = await within(
        this.db.query<{ recovery: boolean; read_only: string }>("SELECT pg_is_in_recovery() AS recovery, current_setting('default_transaction_read_only') AS read_only"),
        PROBE_TIMEOUT_MS,
      );
      if (rows[0]!.recovery) return { state: 'unwritable', reason: 'Postgres is a standby (in recovery): it cannot write' };
      if (rows[0]!.read_only === 'on') return { state: 'unwritable', reason: 'Postgres is read-only (default_transaction_read_only = on)' };
      const failure = lastWriteFailure(this.db, WRITE_FAILURE_MEMORY_MS);
      if (failure)
        return { state: 'unwritable', reason: `Postgres failed a write ${Math.round(failure.agoMs / 1000)} s ago (${failure.code}: no disk space, memory or write access)`, detail: failure.reason };
      return { state: 'ok' };
    } catch (error) {
      return { state: 'down', reason: 'Postgres cannot be reached', detail: (error as Error).message };
    }
  }

  /**
   * Publishes a message nothing receives (the default exchange, a queue that does not exist, so it
   * comes back): a broker in a memory or disk alarm blocks the connection instead, and says why.
   */
  private async probeBroker(): Promise<{ state: Readiness['broker']; reason?: string; detail?: string }> {
    let connection: Awaited<ReturnType<typeof connectWithin>> | undefined;
    try {
      connection = await connectWithin(this.amqpUrl, 'eco-readiness', PROBE_TIMEOUT_MS, this.log);
      const open = connection;
      const blocked = new Promise<string>((resolve) => open.once('blocked', (reason: string) => resolve(reason)));
      const channel = await open.createConfirmChannel();
      const routed = new Promise<void>((resolve, reject) => {
        channel.publish('', 'eco.readiness-probe', Buffer.from('probe'), { mandatory: true }, (error) => (error ? reject(error) : resolve()));
      });
      const outcome = await within(Promise.race([routed.then(() => ({ blocked: undefined })), blocked.then((reason) => ({ blocked: reason }))]), PROBE_TIMEOUT_MS);
      if (outcome.blocked !== undefined) return { state: 'alarm', reason: `the broker blocks publishers: ${outcome.blocked} (a memory or disk alarm)` };
      return { state: 'ok' };
    } catch (error) {
      return { state: 'down', reason: 'the broker cannot be reached', detail: (error as Error).message };
    } finally {
      if (connection) await closeWithin(connection, 1000);
    }
  }
}

function within<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([work, late]).finally(() => clearTimeout(timer));
}
