// Replace and cancel, in order and out of order; agreement rules at issue and at receipt.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Certificate } from '../../src/dataset/index.ts';
import { A, api, B, count, daysAfter, eventually, exampleCertificate, inboxOfB, type Pair, startPair } from '../support/gateways.ts';

describe('certificate lifecycle and agreements', () => {
  let pair: Pair;
  let inbox: ReturnType<typeof inboxOfB>;

  before(async () => {
    pair = await startPair();
    inbox = inboxOfB(pair);
  });
  after(async () => {
    await pair.stop();
  });

  /** B's lookup once it shows `version` with `status`. */
  const atB = (number: string, version: number | null, status: string, query = '') =>
    eventually(async () => {
      const r = await api(pair.b, 'GET', `/certificates/${number}${query}`);
      return r.status === 200 && r.body.version === version && r.body.status === status ? r.body : undefined;
    }, `${number} v${version} ${status} at B`);

  /** The example certificate issued, invoiced and shipped `days` from today (UTC). */
  const issuedOn = (days: number): Certificate => {
    const date = new Date(Date.now() + days * 86_400_000).toISOString().slice(0, 10);
    const base = exampleCertificate();
    const invoice = { number: 'INV-88', date };
    return { ...base, issuedAt: date, invoice, items: base.items.map((item) => ({ ...item, invoice })), transport: { ...base.transport, departureDate: date } };
  };

  const replacementOf = (co: Certificate, version: number): Certificate => ({
    ...co,
    version,
    remarks: `version ${version}`,
    replaces: { number: co.number, version: version - 1 },
  });

  it('replaces: B keeps every version and shows the new one as current', async () => {
    const co = exampleCertificate();
    assert.equal((await api(pair.a, 'POST', '/certificates', co)).status, 201);
    const replaced = await api(pair.a, 'POST', `/certificates/${co.number}/replace`, { ...co, version: 2, remarks: 'corrected' });
    assert.equal(replaced.status, 201, JSON.stringify(replaced.body));
    assert.equal(replaced.body.version, 2);
    const lookup = await atB(co.number, 2, 'valid');
    assert.deepEqual(
      lookup.history.map((h: { version: number; status: string }) => [h.version, h.status]),
      [
        [2, 'valid'],
        [1, 'replaced'],
      ],
    );
    assert.equal(lookup.certificate.remarks, 'corrected');
    assert.deepEqual(lookup.certificate.replaces, { number: co.number, version: 1 });
    const atA = await api(pair.a, 'GET', `/certificates/${co.number}`);
    assert.deepEqual(
      atA.body.history.map((h: { status: string }) => h.status),
      ['valid', 'replaced'],
    );
    assert.deepEqual(
      atA.body.deliveries.map((d: { type: string }) => d.type),
      ['certificate.issued', 'certificate.replaced'],
    );
  });

  it('refuses a replacement that is not version n+1 (409) or changes the number (422)', async () => {
    const co = exampleCertificate();
    await api(pair.a, 'POST', '/certificates', co);
    assert.equal((await api(pair.a, 'POST', `/certificates/${co.number}/replace`, { ...co, version: 3 })).status, 409);
    assert.equal((await api(pair.a, 'POST', `/certificates/${co.number}/replace`, { ...co, number: 'KR-OTHER-1', version: 2 })).status, 422);
    assert.equal((await api(pair.a, 'POST', '/certificates/KR-NEVER-1/replace', { ...co, number: 'KR-NEVER-1', version: 2 })).status, 404);
    assert.equal(await count(pair.a, 'certificates WHERE number = $1', [co.number]), 1);
  });

  it('cancels: B shows the certificate as cancelled with the reason, never deletes it', async () => {
    const co = exampleCertificate();
    await api(pair.a, 'POST', '/certificates', co);
    const cancelled = await api(pair.a, 'POST', `/certificates/${co.number}/cancel`, { reason: 'goods not shipped' });
    assert.equal(cancelled.status, 200);
    assert.equal(cancelled.body.status, 'cancelled');
    const lookup = await atB(co.number, 1, 'cancelled');
    assert.equal(lookup.cancellation.reason, 'goods not shipped');
    assert.equal(lookup.certificate.number, co.number, 'the dataset is still there');
    assert.equal((await api(pair.a, 'POST', `/certificates/${co.number}/cancel`, { reason: 'again' })).status, 409);
    assert.equal((await api(pair.a, 'POST', `/certificates/${co.number}/replace`, { ...co, version: 2 })).status, 409);
  });

  it('ends in the right state when a replacement arrives before its original', async () => {
    const co = exampleCertificate();
    const v2 = await inbox.fromA('certificate.replaced', replacementOf(co, 2));
    const v1 = await inbox.fromA('certificate.issued', co);
    assert.equal((await inbox.deliver(v2.jws, { messageId: v2.envelope.id })).outcome, 'accepted');
    await atB(co.number, 2, 'valid');
    assert.equal((await inbox.deliver(v1.jws, { messageId: v1.envelope.id })).outcome, 'accepted');
    const lookup = await atB(co.number, 2, 'valid');
    assert.deepEqual(
      lookup.history.map((h: { version: number; status: string }) => [h.version, h.status]),
      [
        [2, 'valid'],
        [1, 'replaced'],
      ],
    );
  });

  it('ends in the right state when a cancellation arrives before the certificate', async () => {
    const co = exampleCertificate();
    const cancel = await inbox.fromA('certificate.cancelled', { certificateNumber: co.number, reason: 'withdrawn', cancelledAt: new Date().toISOString() });
    assert.equal((await inbox.deliver(cancel.jws, { messageId: cancel.envelope.id })).outcome, 'accepted');
    // A cancellation waiting for its certificate answers a lookup that names its issuer; a bare number
    // is not blocked by it (anyone may cancel a number of their own before issuing it).
    const early = await atB(co.number, null, 'cancelled', `?issuer=${A}`);
    assert.equal((await api(pair.b, 'GET', `/certificates/${co.number}`)).status, 404);
    assert.equal(early.certificate, null);
    assert.equal(early.cancellation.reason, 'withdrawn');
    const issued = await inbox.fromA('certificate.issued', co);
    assert.equal((await inbox.deliver(issued.jws, { messageId: issued.envelope.id })).outcome, 'accepted');
    const late = await atB(co.number, 1, 'cancelled');
    assert.equal(late.certificate.number, co.number);
  });

  it('ends in the right state when versions of a certificate are handled at the same time', async () => {
    // The consumer works on many deliveries at once: three versions of each of ten COs in flight together.
    const cos = Array.from({ length: 10 }, () => exampleCertificate());
    const messages = (
      await Promise.all(
        cos.flatMap((co) => [inbox.fromA('certificate.issued', co), inbox.fromA('certificate.replaced', replacementOf(co, 2)), inbox.fromA('certificate.replaced', replacementOf(co, 3))]),
      )
    ).sort(() => Math.random() - 0.5);
    const handled = await Promise.all(messages.map((m) => inbox.deliver(m.jws, { messageId: m.envelope.id })));
    assert.ok(handled.every((h) => h.outcome === 'accepted'));
    for (const co of cos) {
      const lookup = await atB(co.number, 3, 'valid');
      assert.deepEqual(
        lookup.history.map((h: { version: number; status: string }) => [h.version, h.status]),
        [
          [3, 'valid'],
          [2, 'replaced'],
          [1, 'replaced'],
        ],
      );
    }
  });

  it('rejects a replacement that does not name a lower version of the same number', async () => {
    const co = exampleCertificate();
    const bad = await inbox.fromA('certificate.replaced', { ...co, version: 2, replaces: { number: co.number, version: 2 } });
    const handled = await inbox.deliver(bad.jws, { messageId: bad.envelope.id });
    assert.deepEqual(handled.outcome === 'rejected' && handled.errors.map((e) => [e.code, e.path]), [['SCHEMA_INVALID', '/body/replaces/version']]);
    const noReplaces = await inbox.fromA('certificate.replaced', { ...co, version: 2 });
    const handled2 = await inbox.deliver(noReplaces.jws, { messageId: noReplaces.envelope.id });
    assert.deepEqual(handled2.outcome === 'rejected' && handled2.errors.map((e) => e.path), ['/body/replaces']);
  });

  describe('agreements', () => {
    it('refuses at issue what the agreement does not allow (422 with the rule)', async () => {
      const cases: [Partial<Certificate>, string][] = [
        [{ kind: 'origin-declaration', exporterAuthorization: 'KR-AE-1' }, '/kind'],
        [{ items: [{ ...exampleCertificate().items[0]!, originCriterion: 'XYZ' }] }, '/items/0/originCriterion'],
        [{ items: [{ ...exampleCertificate().items[0]!, originCountry: 'DE' }] }, '/items/0/originCountry'],
        [{ agreement: 'EU-VN-FTA' }, '/agreement'],
      ];
      for (const [change, pointer] of cases) {
        const response = await api(pair.a, 'POST', '/certificates', exampleCertificate(change));
        assert.equal(response.status, 422, `${pointer}: ${JSON.stringify(response.body)}`);
        assert.deepEqual(
          response.body.errors.map((e: { pointer: string }) => e.pointer),
          [pointer],
        );
      }
    });

    it("refuses retroactive issuance past the agreement's limit", async () => {
      const today = exampleCertificate().issuedAt;
      const co = exampleCertificate({ transport: { departureDate: daysAfter(today, -366) }, flags: { issuedRetroactively: true } });
      const response = await api(pair.a, 'POST', '/certificates', co);
      assert.equal(response.status, 422);
      assert.match(response.body.errors[0].detail, /at most 365 days after shipment/);
      const withinLimit = exampleCertificate({ transport: { departureDate: daysAfter(today, -364) }, flags: { issuedRetroactively: true } });
      assert.equal((await api(pair.a, 'POST', '/certificates', withinLimit)).status, 201);
    });

    it("refuses at issue a CO outside its agreement's validity or dated after tomorrow (422 at /issuedAt), as validate does", async () => {
      for (const [days, detail] of [
        [-366, /valid until .* under KR-VN-FTA/],
        [2, /after tomorrow/],
      ] as const) {
        const co = issuedOn(days);
        for (const path of ['/certificates', '/certificates/validate']) {
          const response = await api(pair.a, 'POST', path, co);
          assert.equal(response.status, 422, `${path} ${co.issuedAt}: ${JSON.stringify(response.body)}`);
          assert.deepEqual(
            response.body.errors.map((e: { pointer: string }) => e.pointer),
            ['/issuedAt'],
          );
          assert.match(response.body.errors[0].detail, detail);
        }
        assert.equal(await count(pair.a, 'certificates WHERE number = $1', [co.number]), 0);
      }
      for (const days of [-365, 1]) assert.equal((await api(pair.a, 'POST', '/certificates/validate', issuedOn(days))).status, 200, `${days} days: still valid`);
    });

    it('stores at receipt a CO that expired in transit: validity is checked at issue only', async () => {
      const co = issuedOn(-400);
      const message = await inbox.fromA('certificate.issued', co);
      assert.equal((await inbox.deliver(message.jws, { messageId: message.envelope.id })).outcome, 'accepted');
      await atB(co.number, 1, 'valid');
    });

    it('checks again at receipt: NOT_A_PARTY for an unknown agreement, SCHEMA_INVALID for a rule', async () => {
      const unknown = await inbox.fromA('certificate.issued', exampleCertificate({ agreement: 'EU-VN-FTA' }));
      const h1 = await inbox.deliver(unknown.jws, { messageId: unknown.envelope.id });
      assert.deepEqual(h1.outcome === 'rejected' && h1.errors.map((e) => [e.code, e.path]), [['NOT_A_PARTY', '/body/agreement']]);
      const criterion = await inbox.fromA('certificate.issued', exampleCertificate({ items: [{ ...exampleCertificate().items[0]!, originCriterion: 'XYZ' }] }));
      const h2 = await inbox.deliver(criterion.jws, { messageId: criterion.envelope.id });
      assert.deepEqual(h2.outcome === 'rejected' && h2.errors.map((e) => [e.code, e.path]), [['SCHEMA_INVALID', '/body/items/0/originCriterion']]);
    });

    it('lets non-preferential certificates travel without an agreement', async () => {
      const { agreement: _a, ...rest } = exampleCertificate({ kind: 'non-preferential' });
      const co = { ...rest, items: rest.items.map(({ originCriterion: _o, ...item }) => item) };
      const response = await api(pair.a, 'POST', '/certificates', co);
      assert.equal(response.status, 201, JSON.stringify(response.body));
      await atB(co.number, 1, 'valid');
    });
  });

  describe('POST /certificates/validate', () => {
    it('answers valid: true for a good certificate and stores nothing', async () => {
      const before = await count(pair.a, 'outbox');
      const co = exampleCertificate();
      const response = await api(pair.a, 'POST', '/certificates/validate', co);
      assert.equal(response.status, 200);
      assert.deepEqual(response.body, { valid: true, recipient: B });
      assert.equal(await count(pair.a, 'outbox'), before);
      assert.equal(await count(pair.a, 'certificates WHERE number = $1', [co.number]), 0);
    });

    it('answers the same problems as an issue would', async () => {
      const schema = await api(pair.a, 'POST', '/certificates/validate', { ...exampleCertificate(), hsCode: undefined, items: [] });
      assert.equal(schema.status, 400);
      assert.deepEqual(
        schema.body.errors.map((e: { pointer: string }) => e.pointer),
        ['/items'],
      );
      const rule = await api(pair.a, 'POST', '/certificates/validate', exampleCertificate({ agreement: 'EU-VN-FTA' }));
      assert.equal(rule.status, 422);
      assert.match(rule.contentType, /problem\+json/);
    });
  });
});
