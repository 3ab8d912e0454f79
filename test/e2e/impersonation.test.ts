// No one speaks in another's name for free: messages that claim a registered peer as sender but
// fail authentication are answered to that peer (PROFILE), saying the sender was not
// authenticated, at most UNAUTHENTICATED_ANSWERS_PER_HOUR times an hour; the rest are
// dead-lettered unanswered, and both are counted for operators (metric, console notice).
// Before, every such message got the named peer a signed rejection, as often as anyone liked.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { decodeUnverified } from '../../src/exchange/jose.ts';
import { type ForeignPeer, foreignPeer } from '../support/foreign-peer.ts';
import { A, api, deadLetterAt, eventually, exampleCertificate, type Pair, startPair } from '../support/gateways.ts';

describe('messages in another peer’s name', () => {
  let pair: Pair;
  let mallory: ForeignPeer;

  before(async () => {
    pair = await startPair({ UNAUTHENTICATED_ANSWERS_PER_HOUR: '3' });
    mallory = await foreignPeer(pair.b, pair.placeB.amqpUrl, 'NZ-MPI', { countries: ['NZ'] });
  });
  after(() => pair.stop());

  it('answers a bounded number to the named peer, says it was not authenticated, dead-letters the rest and tells the operators', async () => {
    // The bound is per clock hour: not started just before one ends.
    const toNextHour = 3_600_000 - (Date.now() % 3_600_000);
    if (toNextHour < 20_000) await new Promise((resolve) => setTimeout(resolve, toNextHour + 1000));
    // Signed with Mallory's own key, claiming to be A (appId and from): the key is not one of A's.
    const sent: string[] = [];
    for (let i = 0; i < 5; i++) sent.push((await mallory.send('certificate.issued', exampleCertificate() as unknown as Record<string, unknown>, { from: A })).envelope.id);

    type Receipt = { inReplyTo: string; body: { status: string; errors: { code: string; message: string }[] } };
    const answersTo = async (): Promise<Receipt[]> => {
      const { rows } = await pair.b.db.query<{ body: string }>("SELECT body FROM outbox WHERE peer = $1 AND type = 'receipt'", [A]);
      return rows.map((r) => decodeUnverified(r.body)?.payload as Receipt).filter((r) => sent.includes(r.inReplyTo));
    };
    const receipts = await eventually(async () => ((await answersTo()).length >= 3 ? answersTo() : undefined), 'three rejections queued to A');
    // Which three are answered depends on the order the consumer took them in.
    const answered = new Set(receipts.map((r) => r.inReplyTo));
    assert.equal(answered.size, 3);
    for (const id of sent.filter((id) => !answered.has(id))) {
      const dead = await deadLetterAt(pair.b, id);
      assert.equal(dead.code, 'UNKNOWN_KEY');
      assert.match((await api(pair.b, 'GET', `/admin/dead-letters/${dead.id}`)).body.reason, /^not answered: more than 3 messages in the name of KR-KCS failed authentication this hour/);
    }
    assert.equal((await answersTo()).length, 3, 'no more answers than the bound');

    // Each says that the sender was not authenticated, and why.
    for (const receipt of receipts) {
      assert.equal(receipt.body.status, 'rejected');
      assert.equal(receipt.body.errors[0]!.code, 'UNKNOWN_KEY');
      assert.match(receipt.body.errors[0]!.message, /^the sender was not authenticated: kid \S+ is not a key of KR-KCS$/);
    }

    const metrics = (await api(pair.b, 'GET', '/metrics')).body as string;
    assert.match(metrics, /^eco_unauthenticated_messages_total\{claimed="KR-KCS",answered="yes"\} 3$/m);
    assert.match(metrics, /^eco_unauthenticated_messages_total\{claimed="KR-KCS",answered="no"\} 2$/m);
    const { notices } = (await api(pair.b, 'GET', '/admin/overview')).body;
    assert.equal(notices.length, 1);
    assert.deepEqual(
      { peer: notices[0].peer, answered: notices[0].answered, unanswered: notices[0].unanswered, lastCode: notices[0].lastCode },
      { peer: A, answered: 3, unanswered: 2, lastCode: 'UNKNOWN_KEY' },
    );
    assert.match(notices[0].text, /^5 messages claiming to be from KR-KCS failed authentication/);
  });
});
