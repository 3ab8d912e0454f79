// Identity is scoped by who said it: a message is its sender and its id, a CO its issuer and its
// number. A second partner that reuses a message id, names another party's CO or answers
// another party's request changes nothing of theirs. Each test failed before migration 022.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { Certificate } from '../../src/dataset/index.ts';
import { type ForeignPeer, foreignPeer } from '../support/foreign-peer.ts';
import { A, api, B, count, eventually, exampleCertificate, type Pair, startPair } from '../support/gateways.ts';

describe('identity scoped by sender', () => {
  let pair: Pair;
  /** A second Korean issuer, registered at B (and at A, as a peer it may exchange with). */
  let c: ForeignPeer;
  let cAtA: ForeignPeer;

  before(async () => {
    pair = await startPair();
    c = await foreignPeer(pair.b, pair.placeB.amqpUrl, 'KR-KITA', { countries: ['KR'] });
    cAtA = await foreignPeer(pair.a, pair.placeA.amqpUrl, 'VN-VCCI', { countries: ['VN'] });
  });
  after(() => pair.stop());

  /** A issues a CO to B (two peers serve VN at A here) and B has it. */
  async function issueToB(): Promise<Certificate> {
    const co = exampleCertificate();
    const issued = await api(pair.a, 'POST', `/certificates?recipient=${B}`, co);
    assert.equal(issued.status, 201, JSON.stringify(issued.body));
    await eventually(async () => ((await api(pair.b, 'GET', `/certificates/${co.number}`)).status === 200 ? true : undefined), 'the CO at B');
    return co;
  }

  it('a CO from a second partner under a message id the first already used is stored, and answered to its own sender', async () => {
    const fromA = await issueToB();
    const { rows } = await pair.b.db.query<{ message_id: string }>("SELECT message_id FROM inbox WHERE from_party = $1 AND type = 'certificate.issued' AND certificate_number = $2", [A, fromA.number]);
    const usedId = rows[0]!.message_id;
    const receiptsToA = await count(pair.b, "outbox WHERE type = 'receipt' AND peer = $1", [A]);
    const fromC = exampleCertificate({ issuer: { partyId: c.partyId, name: 'Korea International Trade Association' } });
    await c.send('certificate.issued', fromC, { id: usedId });
    const receipt = await c.receiptFor(usedId);
    assert.equal(receipt.status, 'accepted', JSON.stringify(receipt.errors));
    assert.equal(await count(pair.b, 'received_certificates WHERE issuer_party = $1 AND number = $2', [c.partyId, fromC.number]), 1, "C's CO is stored");
    assert.equal(await count(pair.b, 'inbox WHERE message_id = $1', [usedId]), 2, 'one message per sender');
    assert.equal(await count(pair.b, "outbox WHERE type = 'receipt' AND peer = $1", [A]), receiptsToA, 'A gets no receipt for what C sent');
    // The same id from C again is C's duplicate: the same receipt, nothing stored again.
    await c.send('certificate.issued', fromC, { id: usedId });
    assert.equal(await count(pair.b, 'received_certificates WHERE issuer_party = $1', [c.partyId]), 1);
    const operator = await api(pair.b, 'GET', `/admin/messages/${usedId}`);
    assert.equal(operator.status, 409, 'an operator names the sender of an id two peers used');
    assert.equal((await api(pair.b, 'GET', `/admin/messages/${usedId}?peer=${c.partyId}`)).body.message.peer, c.partyId);
  });

  it("a cancellation from a party that did not issue the number never blocks or changes the issuer's CO", async () => {
    const real = await issueToB();
    const cancel = (number: string) => c.send('certificate.cancelled', { certificateNumber: number, reason: 'not ours to cancel', cancelledAt: new Date().toISOString() });
    const sent = await cancel(real.number);
    assert.equal((await c.receiptFor(sent.envelope.id)).status, 'accepted', "kept as C's own, waiting for a CO of C's");
    const lookup = await api(pair.b, 'GET', `/certificates/${real.number}`);
    assert.deepEqual([lookup.status, lookup.body.issuer, lookup.body.status], [200, A, 'valid'], "the bare number is still A's valid CO");
    assert.equal((await api(pair.a, 'GET', `/certificates/${real.number}`)).body.status, 'valid', 'and at A, the issuer');
    // Before the issuer has issued it: the number is not blocked either.
    const future = exampleCertificate();
    await cancel(future.number);
    assert.equal((await api(pair.b, 'GET', `/certificates/${future.number}`)).status, 404, 'nothing issued under that number yet');
    assert.equal((await api(pair.a, 'POST', `/certificates?recipient=${B}`, future)).status, 201);
    await eventually(async () => ((await api(pair.b, 'GET', `/certificates/${future.number}`)).body.status === 'valid' ? true : undefined), 'the CO at B, valid');
    const named = await api(pair.b, 'GET', `/certificates/${future.number}?issuer=${c.partyId}`);
    assert.deepEqual([named.status, named.body.status, named.body.issuer], [200, 'cancelled', c.partyId], "asked by name, C's own cancellation is there");
    const check = await api(pair.b, 'POST', '/clearance/checks', {
      declarationRef: `D-${randomUUID()}`,
      certificateNumber: real.number,
      exportCountry: 'KR',
      importer: { id: real.importer!.id },
      items: [{ itemNumber: 1, hsCode: '850440', originCountry: 'KR', quantity: { value: '1', unit: 'NAR' } }],
    });
    assert.deepEqual([check.status, check.body.decision], [201, 'accept'], 'clearance of the real CO is unaffected');
  });

  it('a use or a verification answer from a party the CO or request is not addressed to is refused', async () => {
    const co = await issueToB();
    const use = await cAtA.send('certificate.utilized', { certificateNumber: co.number, declarationRef: 'D-VCCI-1', items: [{ itemNumber: 1, quantity: '1' }], clearedAt: new Date().toISOString() });
    const refused = await cAtA.receiptFor(use.envelope.id);
    assert.deepEqual([refused.status, refused.errors.map((e) => e.code)], ['rejected', ['UNKNOWN_CERTIFICATE']], 'the CO was issued to B, not to VN-VCCI');
    assert.equal(await count(pair.a, 'reported_utilizations WHERE number = $1', [co.number]), 0);

    const asked = await api(pair.b, 'POST', '/verifications', { certificateNumber: co.number, issuer: A, reasons: ['random check'] });
    assert.equal(asked.status, 201);
    const forged = await c.send('verification.answered', { requestId: asked.body.requestId, certificateNumber: co.number, result: 'not-confirmed', findings: 'forged' });
    assert.deepEqual(
      (await c.receiptFor(forged.envelope.id)).errors.map((e) => e.code),
      ['NOT_FOUND'],
      'the request went to A, not to C',
    );
    assert.equal((await api(pair.b, 'GET', `/verifications/${asked.body.id}`)).body.status, 'open');
  });

  it('two requesters may use the same requestId: the issuer keeps both', async () => {
    const toB = await issueToB();
    // A CO A issued to VN-VCCI, so that VN-VCCI may ask about it.
    const forC = exampleCertificate();
    const issued = await api(pair.a, 'POST', `/certificates?recipient=${cAtA.partyId}`, forC);
    assert.equal(issued.status, 201, JSON.stringify(issued.body));
    const asked = await api(pair.b, 'POST', '/verifications', { certificateNumber: toB.number, issuer: A, reasons: ['check B'] });
    const requestId = asked.body.requestId as string;
    const fromC = await cAtA.send('verification.requested', { requestId, certificateNumber: forC.number, reasons: ['check C'], questions: '' });
    assert.equal((await cAtA.receiptFor(fromC.envelope.id)).status, 'accepted');
    const atA = await eventually(async () => {
      const list = (await api(pair.a, 'GET', '/verifications?role=verifier')).body.verifications as { requestId: string; requester: string; reasons: string[] }[];
      const same = list.filter((v) => v.requestId === requestId);
      return same.length === 2 ? same : undefined;
    }, 'both requests at A');
    assert.deepEqual(atA.map((v) => `${v.requester}: ${v.reasons[0]}`).sort(), [`${B}: check B`, `${cAtA.partyId}: check C`]);
  });
});
