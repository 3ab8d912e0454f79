// Admission control for a class of heavy requests: at most `inFlight` run at once, at most `queue`
// wait for their turn, and the rest are refused at once (503 with Retry-After) instead of piling
// up. After each, its turn is held for `restRatio` times as long as it ran (at most MAX_REST_MS)
// before the next one goes: however many such callers there are, they take a bounded share of the
// process and of Postgres, and the other callers keep the rest.
import { EcoError } from '../errors.ts';

const MAX_REST_MS = 1000;

export class Admission {
  private running = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly options: { inFlight: number; queue: number; restRatio: number; what: string }) {}

  /**
   * Waits for a turn and returns the function that ends it (call it exactly once); throws
   * UNAVAILABLE when the queue is full.
   */
  async enter(): Promise<() => void> {
    if (this.running < this.options.inFlight) this.running++;
    else if (this.waiting.length >= this.options.queue) throw new EcoError('UNAVAILABLE', `too many ${this.options.what} at once; retry shortly`);
    // The turn is handed over by handOver(): `running` stays counted for the one let in.
    else await new Promise<void>((resolve) => this.waiting.push(resolve));
    const started = performance.now();
    return () => {
      const rest = Math.min(MAX_REST_MS, (performance.now() - started) * this.options.restRatio);
      if (rest >= 1) setTimeout(() => this.handOver(), rest).unref();
      else this.handOver();
    };
  }

  private handOver(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.running--;
  }
}
