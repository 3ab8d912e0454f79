// Gateways as real OS processes (demo, tests, benchmark): tests SIGKILL them by PID and start them again.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createWriteStream, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createApiKey } from '../../src/auth/index.ts';
import { createPool } from '../../src/db/index.ts';
import { freePort } from './services.ts';

let logDir: string | undefined;
// One for every gateway this process starts (unless the env names one): processes sharing a
// database, and a gateway restarted, must open the same sealed keys. Never written anywhere.
const keyEncryptionKey = randomBytes(32).toString('base64');
const started = new Set<ChildProcess>();

// An interrupted run must not leave gateways behind.
const killAll = () => {
  for (const child of started) child.kill('SIGKILL');
};
process.once('exit', killAll);
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    killAll();
    process.exit(130);
  });
}

export class GatewayProcess {
  private child?: ChildProcess;
  readonly logFile: string;
  port?: number;

  /** Output goes to a log file (see tail()), or to ours with `inheritOutput`; `entry` runs the compiled dist/main.js instead of src/main.ts through tsx. */
  constructor(
    readonly name: string,
    private readonly env: Record<string, string>,
    private readonly options: { inheritOutput?: boolean; entry?: 'source' | 'compiled' } = {},
  ) {
    logDir ??= mkdtempSync(join(tmpdir(), 'eco-gateway-logs-'));
    this.logFile = join(logDir, `${name}.log`);
  }

  /** An API key with every role, made at start for api processes (see apiHeaders). */
  apiKey?: string;

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Started and not exited, by itself or by a signal. */
  get running(): boolean {
    return !!this.child && this.child.exitCode === null && this.child.signalCode === null;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  async start(): Promise<void> {
    this.port ??= await freePort();
    // ECO_GATEWAY_NODE_ARGS: extra node flags for every gateway process, e.g. '--cpu-prof' to profile a benchmark.
    const nodeArgs = process.env.ECO_GATEWAY_NODE_ARGS?.split(' ').filter(Boolean) ?? [];
    const args = [...nodeArgs, ...(this.options.entry === 'compiled' ? ['dist/main.js'] : ['--import', 'tsx', 'src/main.ts'])];
    this.child = spawn(process.execPath, args, {
      env: {
        ...process.env,
        LOG_LEVEL: process.env.ECO_TEST_LOG_LEVEL ?? 'warn',
        HTTP_PORT: String(this.port),
        KEY_ENCRYPTION_KEY: keyEncryptionKey,
        ...this.env,
      },
      stdio: ['ignore', this.options.inheritOutput ? 'inherit' : 'pipe', this.options.inheritOutput ? 'inherit' : 'pipe'],
    });
    const child = this.child;
    started.add(child);
    child.once('exit', () => started.delete(child));
    if (!this.options.inheritOutput) {
      const log = createWriteStream(this.logFile, { flags: 'a' });
      child.stdout!.pipe(log);
      child.stderr!.pipe(log);
    }
    if (!this.env.ROLE || this.env.ROLE === 'all' || this.env.ROLE.includes('api')) {
      await this.waitHealthy();
      this.apiKey ??= await this.makeApiKey();
    }
  }

  /** Authorization header for this gateway's API. */
  get apiHeaders(): Record<string, string> {
    return this.apiKey ? { authorization: `Bearer ${this.apiKey}` } : {};
  }

  private async makeApiKey(): Promise<string | undefined> {
    if (!this.env.DATABASE_URL) return undefined;
    const db = createPool(this.env.DATABASE_URL, 1);
    try {
      return (await createApiKey(db, `${this.name} operator`, ['issuer', 'customs', 'admin'])).key;
    } finally {
      await db.end();
    }
  }

  private async waitHealthy(): Promise<void> {
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      if (this.child?.exitCode !== null) throw new Error(`${this.name} exited: ${this.tail()}`);
      const ok = await fetch(`${this.url}/health`).then(
        (r) => r.ok,
        () => false,
      );
      if (ok) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`${this.name} did not become healthy: ${this.tail()}`);
  }

  /** SIGKILL: no shutdown code runs, as in a crash. */
  async kill(): Promise<void> {
    await this.signal('SIGKILL');
  }

  async stop(): Promise<void> {
    await this.signal('SIGTERM');
  }

  /** SIGTERM, then the exit code (null when killed by a signal, or not running). */
  async stopWithCode(): Promise<number | null> {
    await this.signal('SIGTERM');
    return this.child?.exitCode ?? null;
  }

  private async signal(signal: NodeJS.Signals): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, 'exit');
    child.kill(signal);
    await exited;
  }

  tail(lines = 30): string {
    try {
      return readFileSync(this.logFile, 'utf8').split('\n').slice(-lines).join('\n');
    } catch {
      return '(no log)';
    }
  }
}
