// Clearance across two real gateways: a verification round trip, a Pull round trip, risk flags.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Certificate } from '../../src/dataset/index.ts';
import { A, api, daysAfter, eventually, exampleAgreements, exampleCertificate, issueAndWait, type Pair, startPair } from '../support/gateways.ts';

describe('clearance exchanges between gateways', () => {
  let pair: Pair;
  before(async () => {
    pair = await startPair();
  });
  after(async () => {
    await pair.stop();
  });

  const issued = (overrides: Partial<Certificate> = {}) => issueAndWait(pair, overrides);

  const claim = (number: string, extra: Record<string, unknown> = {}) => ({
    declarationRef: `DECL-${Math.random().toString(36).slice(2, 10)}`,
    certificateNumber: number,
    exportCountry: 'KR',
    importer: { id: 'VN0312345678' },
    items: [{ itemNumber: 1, hsCode: '850440', originCountry: 'KR', quantity: { value: '10', unit: 'NAR' } }],
    ...extra,
  });
  const check = async (body: object) => {
    const r = await api(pair.b, 'POST', '/clearance/checks', body);
    assert.equal(r.status, 201, JSON.stringify(r.body));
    return r.body as { decision: string; findings: { code: string }[] };
  };
  const codes = (r: { findings: { code: string }[] }) => r.findings.map((f) => f.code).sort();

  it("verification round trip: B asks, A answers not confirmed, B's check turns to reject", async () => {
    const co = await issued();
    const asked = await api(pair.b, 'POST', '/verifications', { certificateNumber: co.number, issuer: A, reasons: ['origin criterion doubtful'], questions: 'Please send the cost statement.' });
    assert.equal(asked.status, 201, JSON.stringify(asked.body));
    assert.equal(asked.body.status, 'open');
    assert.deepEqual(codes(await check(claim(co.number))), ['VERIFICATION_PENDING']);

    const open = await eventually(async () => {
      const r = await api(pair.a, 'GET', '/verifications?role=verifier&status=open');
      // Matched by the id on the wire: A keeps the request under an id of its own (a requester's ids are unique among its requests only).
      return r.body.verifications.find((v: { requestId: string }) => v.requestId === asked.body.requestId);
    }, 'the request at A');
    assert.deepEqual(open.reasons, ['origin criterion doubtful']);
    assert.equal(asked.body.requestId, asked.body.id, "the requester's own id is the one it sends");
    assert.notEqual(open.id, asked.body.id, 'the verifier keeps the request under an id of its own');
    const answered = await api(pair.a, 'POST', `/verifications/${open.id}/answer`, { result: 'not-confirmed', findings: 'Producer could not show the records' });
    assert.equal(answered.status, 200);
    assert.equal((await api(pair.a, 'POST', `/verifications/${open.id}/answer`, { result: 'confirmed' })).status, 409, 'answered once');
    const audited = async (gateway: typeof pair.a, action: string) =>
      (await gateway.db.query<{ actor: string }>('SELECT actor FROM audit_log WHERE action = $1 AND subject = $2', [action, asked.body.id])).rows.map((r) => r.actor);
    const requested = await audited(pair.b, 'verification.requested');
    assert.equal(requested.length, 1);
    assert.match(requested[0]!, /^api:tests#/, 'with the API client that asked');
    assert.equal((await audited(pair.a, 'verification.answered')).length, 1, 'one answer, audited once (the refused second one not at all)');

    await eventually(async () => ((await api(pair.b, 'GET', `/verifications/${asked.body.id}`)).body.result === 'not-confirmed' ? true : undefined), 'the answer at B');
    const result = await check(claim(co.number));
    assert.equal(result.decision, 'reject');
    assert.deepEqual(codes(result), ['VERIFICATION_NOT_CONFIRMED']);
  });

  it('refuses a verification request about a CO it has not received (422)', async () => {
    const r = await api(pair.b, 'POST', '/verifications', { certificateNumber: 'KR-NOPE-1', issuer: A, reasons: ['x'] });
    assert.equal(r.status, 422);
  });

  it('Pull round trip: a CO B lacks is requested from A and arrives while the check waits', async () => {
    const pullable = { ...exampleAgreements['KR-VN-FTA'], pullAllowed: true };
    assert.equal((await api(pair.b, 'PUT', '/admin/agreements/KR-VN-FTA', pullable)).status, 200);
    const co = await issued();
    // Make B as if it had never received it (a lost message).
    await pair.b.db.query('WITH lost AS (DELETE FROM received_certificates WHERE number = $1 RETURNING message_id) DELETE FROM inbox WHERE message_id IN (SELECT message_id FROM lost)', [co.number]);
    assert.equal((await api(pair.b, 'GET', `/certificates/${co.number}`)).status, 404);

    const result = await check(claim(co.number, { agreement: 'KR-VN-FTA', waitSeconds: 10 }));
    assert.equal(result.decision, 'accept', JSON.stringify(result));
    assert.deepEqual(result.findings, []);
    assert.equal((await api(pair.b, 'GET', `/certificates/${co.number}`)).body.version, 1);
  });

  it('Pull for a number A never issued: refer "requested", and A answers NOT_FOUND', async () => {
    const result = await check(claim('KR-NEVER-ISSUED-9', { agreement: 'KR-VN-FTA' }));
    assert.deepEqual(codes(result), ['CO_NOT_RECEIVED', 'CO_REQUESTED']);
    assert.equal(result.decision, 'refer');
    const request = await eventually(async () => {
      const r = await api(pair.b, 'GET', '/admin/messages?peer=KR-KCS&limit=50');
      return r.body.messages.find((m: { type: string; status: string }) => m.type === 'certificate.requested' && m.status === 'rejected');
    }, "A's rejection of the request");
    assert.deepEqual(
      request.errors.map((e: { code: string }) => e.code),
      ['NOT_FOUND'],
    );
  });

  it('lists risk flags for a risk officer', async () => {
    const retroCancelled = await issued({ transport: { departureDate: daysAfter(exampleCertificate().issuedAt, -10) }, flags: { issuedRetroactively: true } });
    await api(pair.a, 'POST', `/certificates/${retroCancelled.number}/cancel`, { reason: 'withdrawn' });
    const replaced = await issued();
    await api(pair.a, 'POST', `/certificates/${replaced.number}/replace`, { ...replaced, version: 2 });
    await api(pair.a, 'POST', `/certificates/${replaced.number}/replace`, { ...replaced, version: 3 });
    const used = await issued();
    await check({ ...claim(used.number, { confirm: true }), items: [{ itemNumber: 1, hsCode: '850440', originCountry: 'KR', quantity: { value: '1200', unit: 'NAR' } }] });
    for (let i = 0; i < 5; i++) await issued();
    const base = exampleCertificate();
    const pricey = await issued({ items: [{ ...base.items[0]!, value: { amount: '1500000.00', currency: 'USD' } }] });
    await eventually(async () => ((await api(pair.b, 'GET', `/certificates/${replaced.number}`)).body.version === 3 ? true : undefined), 'v3 at B');
    await eventually(async () => ((await api(pair.b, 'GET', `/certificates/${retroCancelled.number}`)).body.status === 'cancelled' ? true : undefined), 'cancelled at B');

    const risk = await api(pair.b, 'GET', '/clearance/risk');
    assert.equal(risk.status, 200);
    const flagsOf = (number: string) => (risk.body.certificates.find((c: { number: string }) => c.number === number)?.flags ?? []).map((f: { code: string }) => f.code).sort();
    assert.deepEqual(flagsOf(retroCancelled.number), ['CANCELLED_AFTER_SHIPMENT', 'ISSUED_RETROACTIVELY']);
    assert.deepEqual(flagsOf(replaced.number), ['MANY_REPLACEMENTS']);
    assert.deepEqual(flagsOf(used.number), ['FULLY_USED']);
    assert.deepEqual(flagsOf(pricey.number), ['VALUE_OUTLIER']);
    assert.deepEqual(flagsOf(base.number), [], 'an ordinary CO carries no flag');
  });
});
