// Start-up failures an operator can fix: the gateway, as a real process, exits non-zero with one
// log line naming the cause and what to do, and no stack trace. A broker that is merely down is
// waited for, with the API listening and /ready naming what is down.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { connect as connectTcp, createServer, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { GatewayProcess } from '../../scripts/lib/gateway-process.ts';
import { freePort } from '../../scripts/lib/services.ts';
import { A, B, eventually, freshPlace, services, startTestGateway, TEST_KEY_ENCRYPTION_KEY } from '../support/gateways.ts';

/** Runs src/main.ts to its exit (or kills it after 30 s): its exit code and its output lines. */
async function runGateway(env: Record<string, string>): Promise<{ code: number | null; lines: string[] }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    env: { ...process.env, HTTP_PORT: '0', LOG_LEVEL: 'info', KEY_ENCRYPTION_KEY: TEST_KEY_ENCRYPTION_KEY, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk) => (output += chunk));
  child.stderr.on('data', (chunk) => (output += chunk));
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  const code = await new Promise<number | null>((resolve) => child.on('exit', (exitCode) => resolve(exitCode)));
  clearTimeout(timer);
  return { code, lines: output.split('\n').filter(Boolean) };
}

/** Exactly one line, a fatal pino line whose message matches `expected`, and no stack anywhere. */
function assertOneLine(result: { code: number | null; lines: string[] }, expected: RegExp): void {
  assert.equal(result.code, 1, result.lines.join('\n'));
  assert.equal(result.lines.length, 1, result.lines.join('\n'));
  const line = JSON.parse(result.lines[0]!) as { level: number; msg: string; err?: unknown; stack?: unknown };
  assert.equal(line.level, 60);
  assert.match(line.msg, expected);
  assert.equal(line.err, undefined);
  assert.doesNotMatch(result.lines[0]!, /\bat .+:\d+:\d+/);
}

describe('start-up failures', () => {
  let place: { databaseUrl: string; amqpUrl: string; vhost: string };

  before(async () => {
    place = await freshPlace('startup');
    // A's first start records its party and seals its keys under the test key.
    const first = await startTestGateway(A, place, { ROLE: 'api' });
    await first.stop();
  });

  it('says the database cannot be reached', async () => {
    const result = await runGateway({ PARTY_ID: A, DATABASE_URL: `postgres://postgres@127.0.0.1:${await freePort()}/nowhere`, AMQP_URL: place.amqpUrl });
    assertOneLine(result, /cannot start: the database at postgres:\/\/127\.0\.0\.1:\d+\/nowhere cannot be reached \(ECONNREFUSED\): check DATABASE_URL/);
  });

  it('says the KEY_ENCRYPTION_KEY is not the one the database was started with', async () => {
    const result = await runGateway({ PARTY_ID: A, DATABASE_URL: place.databaseUrl, AMQP_URL: place.amqpUrl, KEY_ENCRYPTION_KEY: randomBytes(32).toString('base64') });
    assertOneLine(result, /cannot start: KEY_ENCRYPTION_KEY does not open the secrets sealed in this database: start with the key this database was first started with/);
  });

  it('says the HTTP port is taken, in one line', async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const port = String((taken.address() as { port: number }).port);
    try {
      const result = await runGateway({ PARTY_ID: A, DATABASE_URL: place.databaseUrl, AMQP_URL: place.amqpUrl, ROLE: 'api,relay', HTTP_HOST: '127.0.0.1', HTTP_PORT: port });
      assertOneLine(result, new RegExp(`cannot start: 127\\.0\\.0\\.1:${port} is already in use`));
    } finally {
      taken.close();
    }
  });

  it('refuses a database that belongs to another party', async () => {
    const result = await runGateway({ PARTY_ID: B, DATABASE_URL: place.databaseUrl, AMQP_URL: place.amqpUrl });
    assertOneLine(result, new RegExp(`cannot start: the database at .* belongs to party ${A}, not to PARTY_ID ${B}: point DATABASE_URL at ${B}'s own database, or correct PARTY_ID`));
  });

  it('ends the start on a vhost that does not exist, instead of waiting forever', async () => {
    const result = await runGateway({ PARTY_ID: A, DATABASE_URL: place.databaseUrl, AMQP_URL: services.rabbit.url('no_such_vhost') });
    assertOneLine(result, /cannot start: the broker at amqp:\/\/127\.0\.0\.1:\d+\/no_such_vhost refused the connection .*: check AMQP_URL's user, password and vhost/);
  });

  it('ends the start on broker credentials that are refused', async () => {
    const result = await runGateway({ PARTY_ID: A, DATABASE_URL: place.databaseUrl, AMQP_URL: services.rabbit.url(place.vhost, 'guest', 'wrong-password') });
    assertOneLine(result, /cannot start: the broker at .* refused the connection \(.*ACCESS.REFUSED.*\): check AMQP_URL's user, password and vhost/);
    assert.doesNotMatch(result.lines[0]!, /wrong-password/);
  });

  describe('with the broker down at start', () => {
    /** A TCP port that forwards to the test broker once opened: a broker that comes up later. */
    async function laterBroker(): Promise<{ port: number; open: () => Promise<void>; close: () => void }> {
      const port = await freePort();
      const sockets = new Set<Socket>();
      const server = createServer((socket) => {
        const upstream = connectTcp(services.rabbit.port, '127.0.0.1');
        for (const s of [socket, upstream]) {
          sockets.add(s);
          s.on('error', () => {});
        }
        socket.pipe(upstream).pipe(socket);
      });
      return {
        port,
        open: () => new Promise((resolve) => server.listen(port, '127.0.0.1', resolve)),
        close: () => {
          for (const s of sockets) s.destroy();
          server.close();
        },
      };
    }

    it('connects the consumer once the broker is up', async () => {
      const broker = await laterBroker();
      const place = await freshPlace('startup_later');
      const gateway = new GatewayProcess('startup-broker-later', {
        PARTY_ID: A,
        DATABASE_URL: place.databaseUrl,
        AMQP_URL: `amqp://guest:guest@127.0.0.1:${broker.port}/${place.vhost}`,
        LOG_LEVEL: 'info',
      });
      try {
        await gateway.start();
        assert.equal((await fetch(`${gateway.url}/ready`)).status, 503);
        await broker.open();
        await eventually(async () => ((await fetch(`${gateway.url}/ready`)).status === 200 ? true : undefined), '/ready once the broker is up');
        await eventually(async () => (gateway.tail(200).includes('consumer connected to the broker') ? true : undefined), 'the consumer connected');
      } finally {
        await gateway.stop();
        broker.close();
      }
    });

    it('stops with one fatal line when the broker, once up, refuses us', async () => {
      const broker = await laterBroker();
      const place = await freshPlace('startup_refused_later');
      const gateway = new GatewayProcess('startup-refused-later', { PARTY_ID: A, DATABASE_URL: place.databaseUrl, AMQP_URL: `amqp://guest:guest@127.0.0.1:${broker.port}/no_such_vhost` });
      try {
        await gateway.start();
        await broker.open();
        await eventually(async () => (gateway.running ? undefined : true), 'the gateway to stop', 30_000);
        const fatal = gateway
          .tail(200)
          .split('\n')
          .filter((l) => l.includes('"level":60'));
        assert.equal(fatal.length, 1, gateway.tail());
        assert.match(fatal[0]!, /stopping: the broker at amqp:\/\/127\.0\.0\.1:\d+\/no_such_vhost refused the connection .*check AMQP_URL's user, password and vhost/);
        assert.doesNotMatch(gateway.tail(200), /\n\s+at .+:\d+:\d+/);
      } finally {
        await gateway.stop();
        broker.close();
      }
    });
  });

  describe('with the broker down', () => {
    let gateway: GatewayProcess;

    before(async () => {
      const down = await freshPlace('startup_down');
      gateway = new GatewayProcess('startup-broker-down', { PARTY_ID: A, DATABASE_URL: down.databaseUrl, AMQP_URL: `amqp://guest:guest@127.0.0.1:${await freePort()}/`, ROLE: 'all' });
      await gateway.start();
    });
    after(() => gateway.stop());

    it('listens, and /ready names the broker as down', async () => {
      assert.equal((await fetch(`${gateway.url}/health`)).status, 200);
      const ready = await fetch(`${gateway.url}/ready`);
      assert.equal(ready.status, 503);
      const body = (await ready.json()) as Record<string, unknown>;
      assert.equal(body.postgres, 'ok');
      assert.equal(body.broker, 'down');
      assert.equal(body.detail, 'the broker cannot be reached');
      assert.ok(gateway.running);
    });

    it('logs the outage once, not on every retry, and without stack traces', async () => {
      // Retries run every 0.25-5 s: after 8 s a per-retry log would show several lines.
      await new Promise((r) => setTimeout(r, 8000));
      const warnings = gateway
        .tail(500)
        .split('\n')
        .filter((line) => /"level":(40|50|60)/.test(line));
      assert.ok(warnings.length <= 2, warnings.join('\n'));
      assert.doesNotMatch(warnings.join('\n'), /\\n\s+at /, 'no stack trace');
    });
  });

  describe('stopping', () => {
    /** The last JSON line of a process's log, once the log file has caught up with its exit. */
    const lastLine = async (gateway: GatewayProcess, msg: RegExp) => {
      const line = () => JSON.parse(gateway.tail(5).trim().split('\n').at(-1)!) as { level: number; msg: string };
      await eventually(async () => (msg.test(line().msg) ? true : undefined), `a last line matching ${msg}`, 3000).catch(() => {});
      return line();
    };

    it('SIGTERM: finishes, logs "stopped" last and exits 0', async () => {
      const place = await freshPlace('stop_clean');
      const gateway = new GatewayProcess('stop-clean', { PARTY_ID: A, DATABASE_URL: place.databaseUrl, AMQP_URL: place.amqpUrl, LOG_LEVEL: 'info' });
      await gateway.start();
      const code = await gateway.stopWithCode();
      assert.equal(code, 0, gateway.tail());
      assert.equal((await lastLine(gateway, /^stopped$/)).msg, 'stopped');
    });

    it('a stop stuck on a frozen broker ends at STOP_TIMEOUT_SECONDS with exit 1 and a last fatal line', async () => {
      // A broker that accepts and then never answers again: closing its channels waits forever.
      const port = await freePort();
      const sockets = new Set<Socket>();
      let frozen = false;
      const server = createServer((socket) => {
        const upstream = connectTcp(services.rabbit.port, '127.0.0.1');
        for (const [from, to] of [
          [socket, upstream],
          [upstream, socket],
        ] as const) {
          sockets.add(from);
          from.on('error', () => {});
          from.on('data', (chunk) => frozen || to.write(chunk));
        }
      });
      await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
      const place = await freshPlace('stop_frozen');
      const gateway = new GatewayProcess('stop-frozen', {
        PARTY_ID: A,
        DATABASE_URL: place.databaseUrl,
        AMQP_URL: `amqp://guest:guest@127.0.0.1:${port}/${place.vhost}`,
        LOG_LEVEL: 'info',
        STOP_TIMEOUT_SECONDS: '2',
      });
      try {
        await gateway.start();
        await eventually(async () => ((await fetch(`${gateway.url}/ready`)).status === 200 ? true : undefined), 'ready');
        frozen = true;
        const started = Date.now();
        const code = await gateway.stopWithCode();
        assert.equal(code, 1, gateway.tail());
        assert.ok(Date.now() - started < 15_000, `stopped after ${Date.now() - started} ms`);
        const last = await lastLine(gateway, /stop deadline/);
        assert.equal(last.level, 60);
        assert.match(last.msg, /stop deadline passed \(STOP_TIMEOUT_SECONDS\)/);
      } finally {
        await gateway.kill();
        for (const s of sockets) s.destroy();
        server.close();
      }
    });
  });
});
