// Operators' reads take turns (src/http/admission.ts): one runs, a bounded queue waits, the rest are
// refused at once, and a turn is handed over only after its rest.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EcoError } from '../../src/errors.ts';
import { Admission } from '../../src/http/admission.ts';

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('admission', () => {
  it('runs one at a time, queues up to the bound, and refuses the rest with UNAVAILABLE', async () => {
    const admission = new Admission({ inFlight: 1, queue: 2, restRatio: 0, what: 'operator reads' });
    const first = await admission.enter();
    const order: number[] = [];
    const waiting = [1, 2].map(async (n) => {
      const release = await admission.enter();
      order.push(n);
      return release;
    });
    await assert.rejects(admission.enter(), (error: unknown) => error instanceof EcoError && error.code === 'UNAVAILABLE' && /too many operator reads/.test(error.detail ?? ''));
    await tick();
    assert.deepEqual(order, [], 'nobody runs while the first holds its turn');
    first();
    const second = await waiting[0]!;
    await tick();
    assert.deepEqual(order, [1], 'one turn handed over, not two');
    second();
    (await waiting[1]!)();
    assert.deepEqual(order, [1, 2]);
    // All turns given back: the next one enters at once.
    (await admission.enter())();
  });

  it('hands a turn over only after resting restRatio times as long as it ran', async () => {
    const admission = new Admission({ inFlight: 1, queue: 1, restRatio: 3, what: 'reads' });
    const release = await admission.enter();
    await new Promise((resolve) => setTimeout(resolve, 40));
    const next = admission.enter();
    release();
    // The rest is at least 3 x 40 ms; a timer never fires early, so 60 ms later it still rests.
    // (The rest's own timer does not keep a process alive: these sleeps do.)
    const sleep = (ms: number) => new Promise<'rested'>((resolve) => setTimeout(() => resolve('rested'), ms));
    assert.equal(await Promise.race([next.then(() => 'admitted' as const), sleep(60)]), 'rested');
    assert.equal(await Promise.race([next.then(() => 'admitted' as const), sleep(2000)]), 'admitted');
  });
});
