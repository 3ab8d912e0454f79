// Starts real Postgres and RabbitMQ natively (no Docker engine on these machines), on free
// ports, in temporary folders, and stops them again. Used by `npm test`, the demo and the benchmark.
import { execFile as execFileCb, execFileSync } from 'node:child_process';
import { chmodSync, chownSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const execFile = promisify(execFileCb);
const isRoot = process.getuid?.() === 0;

// Every server this process starts is stopped when it exits, however it exits (an interrupted
// test run must not leave brokers and databases behind).
const running = new Set<{ stopSync(): void }>();
process.once('exit', () => {
  for (const server of running) server.stopSync();
});
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    for (const server of running) server.stopSync();
    process.exit(130);
  });
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function ownedBy(user: string, path: string): void {
  if (!existsSync(path)) mkdirSync(path, { recursive: true });
  if (!isRoot) return;
  const uid = Number(execFileSync('id', ['-u', user]).toString().trim());
  const gid = Number(execFileSync('id', ['-g', user]).toString().trim());
  chownSync(path, uid, gid);
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function waitForExit(pid: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (processAlive(pid)) {
    if (Date.now() > deadline) throw new Error(`process ${pid} did not exit within ${timeoutMs} ms`);
    await sleep(50);
  }
}

function readPid(file: string): number | undefined {
  try {
    const pid = Number(readFileSync(file, 'utf8').split('\n')[0]?.trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------- the lifecycle both servers share

abstract class LocalServer {
  /** The signal for a clean stop, and how long one may take. */
  protected abstract readonly stopSignal: NodeJS.Signals;
  protected abstract readonly stopTimeoutMs: number;

  /** `owned`: started by this process, so stopped when it exits (not so a server it only attached to). */
  constructor(
    readonly dir: string,
    owned: boolean,
  ) {
    if (owned) running.add(this);
  }

  abstract get pid(): number | undefined;
  abstract startProcess(): Promise<void>;

  async stopProcess(signal: NodeJS.Signals = this.stopSignal): Promise<void> {
    const pid = this.pid;
    if (!pid || !processAlive(pid)) return;
    process.kill(pid, signal);
    await waitForExit(pid, this.stopTimeoutMs);
  }

  async restart(): Promise<void> {
    await this.stopProcess();
    await this.startProcess();
  }

  async stop(): Promise<void> {
    await this.stopProcess();
    running.delete(this);
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** On exit, where nothing can be awaited. */
  stopSync(): void {
    const pid = this.pid;
    if (pid && processAlive(pid)) process.kill(pid, this.stopSignal);
  }
}

// ---------------------------------------------------------------- Postgres

function postgresBinDir(): string {
  const candidates = ['/usr/lib/postgresql'];
  for (const base of candidates) {
    if (!existsSync(base)) continue;
    const versions = readdirSync(base).filter((v) => existsSync(join(base, v, 'bin', 'initdb')));
    versions.sort((a, b) => Number(b) - Number(a));
    if (versions[0]) return join(base, versions[0], 'bin');
  }
  try {
    const initdb = execFileSync('sh', ['-c', 'command -v initdb']).toString().trim();
    if (initdb) return initdb.replace(/\/initdb$/, '');
  } catch {
    // fall through to the clear error below
  }
  throw new Error('Postgres server binaries (initdb, pg_ctl) not found: apt-get install postgresql');
}

/** Runs a Postgres tool as the `postgres` OS user when we are root (initdb refuses root). */
async function runAsPostgres(bin: string, args: string[]): Promise<void> {
  if (!isRoot) {
    await execFile(bin, args);
    return;
  }
  const quoted = [bin, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  await execFile('su', ['postgres', '-s', '/bin/sh', '-c', quoted]);
}

export interface PostgresOptions {
  /** Trade durability for speed (tests): fsync and synchronous commit off. */
  fast?: boolean;
  /** Load pg_stat_statements (profiling: `CREATE EXTENSION pg_stat_statements` to read it). */
  statements?: boolean;
}

export class PostgresServer extends LocalServer {
  // Fast shutdown: rolls back open transactions, then exits.
  protected readonly stopSignal = 'SIGINT';
  protected readonly stopTimeoutMs = 30_000;
  private readonly bin = postgresBinDir();

  private constructor(
    dir: string,
    readonly port: number,
    private readonly fast: boolean,
    owned = true,
    private readonly statements = false,
  ) {
    super(dir, owned);
  }

  /** A server started by another process (the test runner), described by `describe()`. */
  static attach(described: { dir: string; port: number; fast: boolean; statements?: boolean }): PostgresServer {
    return new PostgresServer(described.dir, described.port, described.fast, false, described.statements);
  }

  /** Enough for attach() to restart it as it was started. */
  describe(): { dir: string; port: number; fast: boolean; statements: boolean } {
    return { dir: this.dir, port: this.port, fast: this.fast, statements: this.statements };
  }

  static async start(options: PostgresOptions = {}): Promise<PostgresServer> {
    const dir = mkdtempSync(join(tmpdir(), 'eco-pg-'));
    ownedBy('postgres', dir);
    const server = new PostgresServer(dir, await freePort(), options.fast ?? false, true, options.statements ?? false);
    await runAsPostgres(join(server.bin, 'initdb'), ['-D', server.dataDir, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-sync']);
    await server.startProcess();
    return server;
  }

  get dataDir(): string {
    return join(this.dir, 'data');
  }

  /** Connection URL for a database on this server. */
  url(database = 'postgres'): string {
    return `postgres://postgres@127.0.0.1:${this.port}/${database}`;
  }

  async startProcess(): Promise<void> {
    const settings = [`-p ${this.port}`, `-k ${this.dir}`, '-c listen_addresses=127.0.0.1', '-c max_connections=300'];
    if (this.fast) settings.push('-c fsync=off', '-c synchronous_commit=off', '-c full_page_writes=off');
    if (this.statements) settings.push('-c shared_preload_libraries=pg_stat_statements', '-c pg_stat_statements.track=all', '-c pg_stat_statements.track_planning=on');
    await runAsPostgres(join(this.bin, 'pg_ctl'), ['-D', this.dataDir, '-l', join(this.dir, 'postgres.log'), '-w', '-t', '60', '-o', settings.join(' '), 'start']);
  }

  get pid(): number | undefined {
    return readPid(join(this.dataDir, 'postmaster.pid'));
  }
}

// ---------------------------------------------------------------- RabbitMQ

function rabbitBin(tool: 'rabbitmq-server' | 'rabbitmqctl'): string {
  // As root the Debian wrappers in /usr/sbin switch to the rabbitmq user (and its Erlang cookie).
  const path = isRoot ? `/usr/sbin/${tool}` : `/usr/lib/rabbitmq/bin/${tool}`;
  if (!existsSync(path)) throw new Error(`${path} not found: apt-get install rabbitmq-server`);
  return path;
}

export const BROKER_MAX_MESSAGE_BYTES = 8 * 1024 * 1024;

export class RabbitServer extends LocalServer {
  protected readonly stopSignal = 'SIGTERM';
  protected readonly stopTimeoutMs = 60_000;
  readonly nodename: string;

  private constructor(
    dir: string,
    readonly port: number,
    private readonly distPort: number,
    owned = true,
  ) {
    super(dir, owned);
    this.nodename = `eco-${port}@localhost`;
  }

  static attach(described: { dir: string; port: number; distPort: number }): RabbitServer {
    return new RabbitServer(described.dir, described.port, described.distPort, false);
  }

  describe(): { dir: string; port: number; distPort: number } {
    return { dir: this.dir, port: this.port, distPort: this.distPort };
  }

  /** With `tls`, also an amqps listener on `tls.port` with that certificate and key (PEM files, copied into the broker's folder). */
  static async start(options: { tls?: { port: number; certFile: string; keyFile: string } } = {}): Promise<RabbitServer> {
    const dir = mkdtempSync(join(tmpdir(), 'eco-rabbit-'));
    const server = new RabbitServer(dir, await freePort(), await freePort());
    for (const sub of ['', 'mnesia', 'log']) ownedBy(isRoot ? 'rabbitmq' : userInfo().username, join(dir, sub));
    writeFileSync(join(dir, 'enabled_plugins'), '[].\n');
    // The broker refuses larger publishes outright (the gateway's own MAX_MESSAGE_BYTES is 4 MiB).
    let config = `max_message_size = ${BROKER_MAX_MESSAGE_BYTES}\n`;
    if (options.tls) {
      // Readable by the rabbitmq user the server switches to; no client certificates asked for.
      for (const [file, name] of [
        [options.tls.certFile, 'server.pem'],
        [options.tls.keyFile, 'server-key.pem'],
      ] as const) {
        copyFileSync(file, join(dir, name));
        chmodSync(join(dir, name), 0o644);
      }
      config += `listeners.ssl.default = ${options.tls.port}\nssl_options.certfile = ${join(dir, 'server.pem')}\nssl_options.keyfile = ${join(dir, 'server-key.pem')}\nssl_options.verify = verify_none\nssl_options.fail_if_no_peer_cert = false\n`;
    }
    writeFileSync(join(dir, 'rabbitmq.conf'), config);
    if (isRoot) ownedBy('rabbitmq', join(dir, 'enabled_plugins'));
    await server.startProcess();
    return server;
  }

  private get env(): NodeJS.ProcessEnv {
    return {
      ...process.env,
      RABBITMQ_MNESIA_BASE: join(this.dir, 'mnesia'),
      RABBITMQ_LOG_BASE: join(this.dir, 'log'),
      RABBITMQ_PID_FILE: join(this.dir, 'mnesia', 'rabbit.pid'),
      RABBITMQ_ENABLED_PLUGINS_FILE: join(this.dir, 'enabled_plugins'),
      RABBITMQ_NODENAME: this.nodename,
      RABBITMQ_NODE_IP_ADDRESS: '127.0.0.1',
      RABBITMQ_NODE_PORT: String(this.port),
      RABBITMQ_DIST_PORT: String(this.distPort),
      RABBITMQ_CONFIG_FILE: join(this.dir, 'rabbitmq.conf'),
    };
  }

  /** AMQP URL for a vhost (the default `/` when none is named); guest works from 127.0.0.1. */
  url(vhost = '/', user = 'guest', password = 'guest'): string {
    return `amqp://${encodeURIComponent(user)}:${encodeURIComponent(password)}@127.0.0.1:${this.port}/${encodeURIComponent(vhost)}`;
  }

  get pid(): number | undefined {
    return readPid(join(this.dir, 'mnesia', 'rabbit.pid'));
  }

  async ctl(...args: string[]): Promise<string> {
    const { stdout } = await execFile(rabbitBin('rabbitmqctl'), ['-q', '-n', this.nodename, ...args], { env: this.env, cwd: this.dir });
    return stdout;
  }

  async startProcess(): Promise<void> {
    await execFile(rabbitBin('rabbitmq-server'), ['-detached'], { env: this.env, cwd: this.dir });
    // await_startup fails at once until the node has registered with epmd: retry until it answers.
    const deadline = Date.now() + 90_000;
    for (;;) {
      try {
        await this.ctl('await_startup', '--timeout', '60');
        return;
      } catch (error) {
        if (Date.now() > deadline) throw new Error(`RabbitMQ did not start: ${String(error)}`);
        await sleep(250);
      }
    }
  }

  async addVhost(vhost: string): Promise<void> {
    await this.ctl('add_vhost', vhost);
    await this.ctl('set_permissions', '-p', vhost, 'guest', '.*', '.*', '.*');
  }

  /** A peer's own user on our inbox's vhost: it may publish to eco.inbound and do nothing else. */
  async addPeerUser(vhost: string, user: string, password: string): Promise<string> {
    await this.ctl('add_user', user, password);
    await this.ctl('set_permissions', '-p', vhost, user, '^$', '^eco\\.inbound$', '^$');
    return this.url(vhost, user, password);
  }
}

// ---------------------------------------------------------------- a RabbitMQ cluster

/**
 * `size` RabbitMQ nodes on this machine, clustered: each its own node name, AMQP and distribution
 * ports and folders (a RabbitServer each); the others join the first with stop_app, reset,
 * join_cluster, start_app. They share the Erlang cookie of the user the brokers run as. Quorum
 * queues declared once all are up get a member on every node. Nodes are killed and restarted one
 * by one through `nodes[i]` (stopProcess / startProcess): a restarted node rejoins by itself.
 */
export class RabbitCluster {
  private constructor(readonly nodes: RabbitServer[]) {}

  static async start(size = 3): Promise<RabbitCluster> {
    const nodes: RabbitServer[] = [];
    try {
      // Started one after the other: on two cores, parallel boots take as long and time out more.
      for (let i = 0; i < size; i++) nodes.push(await RabbitServer.start());
      const [first, ...others] = nodes;
      for (const node of others) {
        await node.ctl('stop_app');
        await node.ctl('reset');
        await node.ctl('join_cluster', first!.nodename);
        await node.ctl('start_app');
        await node.ctl('await_startup', '--timeout', '60');
      }
      const cluster = new RabbitCluster(nodes);
      await cluster.awaitRunning(size, 60_000);
      return cluster;
    } catch (error) {
      await Promise.all(nodes.map((node) => node.stop().catch(() => {})));
      throw error;
    }
  }

  /** A node that is up, to run rabbitmqctl against (any node speaks for the cluster). */
  private get live(): RabbitServer {
    const node = this.nodes.find((n) => n.pid !== undefined && processAlive(n.pid));
    if (!node) throw new Error('no node of the cluster is running');
    return node;
  }

  ctl(...args: string[]): Promise<string> {
    return this.live.ctl(...args);
  }

  /** The nodes the cluster sees running, by name. */
  async runningNodes(): Promise<string[]> {
    const status = JSON.parse(await this.ctl('cluster_status', '--formatter', 'json')) as { running_nodes: string[] };
    return status.running_nodes;
  }

  /** Waits until `count` nodes run in the cluster, at most `timeoutMs`. */
  async awaitRunning(count: number, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const running = await this.runningNodes().catch(() => []);
      if (running.length >= count) return;
      if (Date.now() > deadline) throw new Error(`cluster: ${running.length} of ${count} nodes running after ${timeoutMs} ms`);
      await sleep(250);
    }
  }

  /** Every node's AMQP URL for a vhost, comma-separated, as AMQP_URL and a peer's amqpUrl take them. */
  url(vhost = '/', user = 'guest', password = 'guest'): string {
    return this.nodes.map((node) => node.url(vhost, user, password)).join(',');
  }

  async addVhost(vhost: string): Promise<void> {
    await this.ctl('add_vhost', vhost);
    await this.ctl('set_permissions', '-p', vhost, 'guest', '.*', '.*', '.*');
  }

  async stop(): Promise<void> {
    await Promise.all(this.nodes.map((node) => node.stop()));
  }
}

/** Set by the test runner so that test files (child processes) reach the services it started. */
export const SERVICES_ENV = 'ECO_TEST_SERVICES';

export function servicesFromEnv(): { postgres: PostgresServer; rabbit: RabbitServer } {
  const described = process.env[SERVICES_ENV];
  if (!described) throw new Error(`${SERVICES_ENV} is not set: run the tests with npm test, which starts Postgres and RabbitMQ`);
  const parsed = JSON.parse(described) as { postgres: Parameters<typeof PostgresServer.attach>[0]; rabbit: Parameters<typeof RabbitServer.attach>[0] };
  return { postgres: PostgresServer.attach(parsed.postgres), rabbit: RabbitServer.attach(parsed.rabbit) };
}

/** Starts both services; they stop when the process exits, however it exits. */
export async function startServices(options: PostgresOptions = {}): Promise<{ postgres: PostgresServer; rabbit: RabbitServer; stop: () => Promise<void> }> {
  const [postgres, rabbit] = await Promise.all([PostgresServer.start(options), RabbitServer.start()]);
  return { postgres, rabbit, stop: async () => void (await Promise.all([postgres.stop(), rabbit.stop()])) };
}
