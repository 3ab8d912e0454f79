// A promise rejected with nobody listening is logged and the gateway process goes on; without the
// guard, Node would end the process (which is what took API, relay and consumer down together).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';

/** Runs a script in a fresh Node process whose timer fails the way an unguarded background loop would. */
function runTimerThatFails(guarded: boolean): { status: number | null; stdout: string } {
  const script = `
    import { pino } from 'pino';
    import { guardProcess } from './src/gateway.ts';
    if (${guarded}) guardProcess(pino());
    let ticks = 0;
    const timer = setInterval(() => {
      ticks++;
      void Promise.reject(new Error('database unavailable'));
      if (ticks === 3) { clearInterval(timer); console.log('still running after ' + ticks + ' failures'); }
    }, 10);
  `;
  const result = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 30_000 });
  return { status: result.status, stdout: result.stdout };
}

describe('unhandled rejections', () => {
  it('are logged and the process keeps running', () => {
    const { status, stdout } = runTimerThatFails(true);
    assert.equal(status, 0, stdout);
    assert.match(stdout, /still running after 3 failures/);
    const logged = stdout.split('\n').filter((line) => line.includes('unhandled rejection'));
    assert.equal(logged.length, 3, stdout);
    assert.equal(JSON.parse(logged[0]!).err.message, 'database unavailable');
  });

  it('would end the process without the guard (the test can fail)', () => {
    const { status, stdout } = runTimerThatFails(false);
    assert.notEqual(status, 0);
    assert.doesNotMatch(stdout, /still running/);
  });
});
