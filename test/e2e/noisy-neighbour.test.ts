// One partner cannot slow the others: with a partner's broker frozen mid-connection (its publishes
// never confirmed) while that partner floods us with messages to answer, COs to another partner
// still go out and arrive. Before the relay kept a lane per peer, every batch that held one of the
// frozen partner's rows waited for its confirm timeout (60 s here), and the deliveries below timed out.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { type FrozenBroker, frozenBroker } from '../../scripts/lib/frozen-broker.ts';
import { type ForeignPeer, foreignPeer } from '../support/foreign-peer.ts';
import { api, B, count, eventually, exampleAgreements, exampleCertificate, type Pair, startPair } from '../support/gateways.ts';

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((x, y) => x - y);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

describe('noisy neighbour', () => {
  let pair: Pair;
  let noisy: ForeignPeer;
  let frozen: FrozenBroker;

  before(async () => {
    pair = await startPair({ CONFIRM_TIMEOUT_MS: '60000', RELAY_POLL_MS: '200' });
    noisy = await foreignPeer(pair.a, pair.placeA.amqpUrl, 'NZ-MPI', { countries: ['NZ'] });
    frozen = await frozenBroker(noisy.inboxUrl);
    const registered = await api(pair.a, 'PUT', `/admin/peers/${noisy.partyId}`, {
      name: 'a partner whose broker hangs',
      amqpUrl: frozen.url,
      jwks: { keys: [noisy.key.toJSON()] },
      agreements: Object.keys(exampleAgreements),
      countries: ['NZ'],
    });
    assert.equal(registered.status, 200, JSON.stringify(registered.body));
  });
  after(async () => {
    // Stopping does not wait out the hung broker's 60 s confirm timeout.
    await pair.stop();
    await frozen.close();
  });

  /** Issues a CO at A for B and returns the milliseconds until B's lookup finds it. */
  async function deliveryMs(): Promise<number> {
    const co = exampleCertificate();
    const started = performance.now();
    const issued = await api(pair.a, 'POST', `/certificates?recipient=${B}`, co);
    assert.equal(issued.status, 201, JSON.stringify(issued.body));
    await eventually(async () => ((await api(pair.b, 'GET', `/certificates/${co.number}`)).status === 200 ? true : undefined), `CO ${co.number} at B`);
    return performance.now() - started;
  }

  it("deliveries to one partner go on while another partner's broker hangs and that partner floods us", async (t) => {
    const quiet: number[] = [];
    for (let i = 0; i < 10; i++) quiet.push(await deliveryMs());

    // The noisy partner's first message goes through, so our relay holds an open connection to
    // its broker; then the broker hangs and the partner sends a flood that we must answer.
    const first = await noisy.send('certificate.issued', { number: 'not a CO' });
    await noisy.receiptFor(first.envelope.id);
    const sentToNoisy = () => count(pair.a, "outbox WHERE peer = $1 AND status IN ('sent', 'accepted', 'rejected')", [noisy.partyId]);
    const sentBeforeFreeze = await sentToNoisy();
    frozen.freeze();
    for (let i = 0; i < 50; i++) await noisy.send('certificate.issued', { number: `flood-${randomUUID()}` });
    await eventually(
      async () => ((await count(pair.a, "outbox WHERE peer = $1 AND type = 'receipt' AND status = 'queued' AND attempts > 0", [noisy.partyId])) > 0 ? true : undefined),
      'receipts to the frozen partner in flight',
    );

    const noisyRun: number[] = [];
    for (let i = 0; i < 10; i++) noisyRun.push(await deliveryMs());

    // The frozen partner's receipts are still waiting for their confirm: none went out meanwhile.
    assert.equal(await sentToNoisy(), sentBeforeFreeze);
    assert.ok(frozen.openConnections() >= 1, 'the relay still waits on the hung broker');
    t.diagnostic(`A->B delivery, quiet: p50 ${percentile(quiet, 50).toFixed(0)} ms, p99 ${percentile(quiet, 99).toFixed(0)} ms`);
    t.diagnostic(`A->B delivery, partner frozen and flooding: p50 ${percentile(noisyRun, 50).toFixed(0)} ms, p99 ${percentile(noisyRun, 99).toFixed(0)} ms`);
  });
});
