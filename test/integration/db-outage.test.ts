// No database error can end a process: Postgres stopped again and again (fast and immediate
// shutdown, alternately) while a dozen transactions and queries are in flight on the gateway's
// pool. Before every client's 'error' was heard for its whole life, this child died of an
// unhandled 'error' event (57P01) in most runs.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { after, before, describe, it } from 'node:test';
import { PostgresServer } from '../../scripts/lib/services.ts';

const STOPS = 20;

describe('Postgres stopped under load', () => {
  let postgres: PostgresServer;
  before(async () => {
    postgres = await PostgresServer.start({ fast: true });
  });
  after(() => postgres?.stop());

  it(`survives ${STOPS} stops with transactions in flight, and commits again after each`, async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'test/support/db-stress.ts'], {
      env: { ...process.env, DATABASE_URL: postgres.url() },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk) => (output += chunk));
    child.stderr.on('data', (chunk) => (output += chunk));
    const exited = once(child, 'exit');
    while (!output.includes('ready') && child.exitCode === null) await new Promise((r) => setTimeout(r, 50));
    for (let stop = 0; stop < STOPS && child.exitCode === null; stop++) {
      await new Promise((r) => setTimeout(r, 300));
      await postgres.stopProcess(stop % 2 ? 'SIGQUIT' : 'SIGINT');
      await new Promise((r) => setTimeout(r, 100));
      await postgres.startProcess();
    }
    assert.equal(child.exitCode, null, `the process died:\n${output.slice(-2000)}`);
    await new Promise((r) => setTimeout(r, 500));
    child.stdin.end();
    const [code] = await exited;
    assert.equal(code, 0, output.slice(-2000));
    const { committed } = JSON.parse(output.trim().split('\n').at(-1)!) as { committed: number };
    assert.ok(committed > 0, 'transactions committed');
  });
});
