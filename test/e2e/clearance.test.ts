// Import clearance at B: declaration checks with every finding, drawdown that cannot go below zero
// even under concurrent confirmations, and utilization reported back to the issuing party A.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Certificate } from '../../src/dataset/index.ts';
import { api, B, count, daysAfter, eventually, exampleAgreements, exampleCertificate, issueAndWait, type Pair, registerPeer, startPair } from '../support/gateways.ts';

describe('import clearance', () => {
  let pair: Pair;
  before(async () => {
    pair = await startPair();
  });
  after(async () => {
    await pair.stop();
  });

  const issued = (overrides: Partial<Certificate> = {}) => issueAndWait(pair, overrides);

  const claimFor = (co: Certificate, overrides: Record<string, unknown> = {}, item: Record<string, unknown> = {}) => ({
    declarationRef: `DECL-${Math.random().toString(36).slice(2, 10)}`,
    certificateNumber: co.number,
    exportCountry: 'KR',
    importer: { id: 'VN0312345678' },
    items: [{ itemNumber: 1, hsCode: '8504400000', originCountry: 'KR', quantity: { value: '500', unit: 'NAR' }, ...item }],
    ...overrides,
  });

  const check = async (claim: object) => {
    const response = await api(pair.b, 'POST', '/clearance/checks', claim);
    assert.equal(response.status, 201, JSON.stringify(response.body));
    return response.body;
  };
  const codes = (result: { findings: { code: string }[] }) => result.findings.map((f) => f.code).sort();

  it('accepts a claim the CO backs, draws it down on confirmation and tells the issuer', async () => {
    const co = await issued();
    const result = await check(claimFor(co));
    assert.equal(result.decision, 'accept');
    assert.deepEqual(result.findings, []);
    assert.deepEqual(result.certificate, { issuer: 'KR-KCS', number: co.number, version: 1, status: 'valid' });
    const confirmed = await api(pair.b, 'POST', `/clearance/checks/${result.id}/confirm`);
    assert.equal(confirmed.status, 200);
    assert.equal(confirmed.body.status, 'confirmed');
    assert.equal((await api(pair.b, 'POST', `/clearance/checks/${result.id}/confirm`)).status, 200, 'confirming twice changes nothing');
    const audit = await pair.b.db.query<{ actor: string }>("SELECT actor FROM audit_log WHERE action = 'clearance.confirmed' AND subject = $1", [result.id]);
    assert.equal(audit.rows.length, 1, 'the drawdown audited once, in its transaction');
    assert.match(audit.rows[0]!.actor, /^api:tests#/);
    assert.equal(await count(pair.b, 'utilizations WHERE number = $1', [co.number]), 1);
    const atA = await eventually(async () => {
      const r = await api(pair.a, 'GET', `/certificates/${co.number}`);
      return r.body.utilizations?.length ? r.body : undefined;
    }, 'the utilization reported to A');
    assert.deepEqual(atA.utilizations[0].items, [{ itemNumber: 1, quantity: '500' }]);
    assert.equal(atA.utilizations[0].reportedBy, B);
  });

  it("draws a quantity in another unit of the same dimension in the CO item's unit, exactly, and never draws one that does not convert", async () => {
    const co = await issued({ items: [{ ...exampleCertificate().items[0]!, quantity: { value: '24000', unit: 'KGM' } }] });
    const inTonnes = (value: string, unit = 'TNE', extra: object = {}) => ({ ...claimFor(co, {}, { quantity: { value, unit } }), confirm: true, ...extra });
    const first = await check(inTonnes('12'));
    assert.deepEqual([first.decision, first.status, codes(first)], ['accept', 'confirmed', ['UNIT_CONVERTED']]);
    const drawn = await pair.b.db.query<{ quantity: string; unit: string; claimed: string }>('SELECT quantity::text, unit, claimed FROM utilizations WHERE number = $1', [co.number]);
    assert.deepEqual(drawn.rows, [{ quantity: '12000', unit: 'KGM', claimed: '12 TNE' }], "kept in the CO item's unit, with what was claimed");
    const balance = await pair.b.db.query<{ issued: string; drawn: string; unit: string }>('SELECT issued::text, drawn::text, unit FROM item_balances WHERE number = $1', [co.number]);
    assert.deepEqual(balance.rows, [{ issued: '24000', drawn: '12000', unit: 'KGM' }]);
    const over = await check(inTonnes('12.001'));
    assert.deepEqual([over.decision, codes(over)], ['reject', ['QUANTITY_EXCEEDED', 'UNIT_CONVERTED']], '12.001 t is 1 kg more than remains');
    assert.match(over.findings.find((f: { code: string }) => f.code === 'QUANTITY_EXCEEDED').message, /12000 KGM remain of 24000/);
    const grams = await check(inTonnes('12000000', 'GRM'));
    assert.deepEqual([grams.decision, grams.status], ['accept', 'confirmed'], '12,000,000 g is exactly what remains');
    const litres = await api(pair.b, 'POST', '/clearance/checks', { ...claimFor(co, {}, { quantity: { value: '1', unit: 'LTR' } }), confirm: true });
    assert.equal(litres.status, 409, 'a unit that does not convert is never drawn');
    assert.match(litres.body.detail, /nothing was drawn down: .*KGM, which LTR does not convert to/);
    assert.deepEqual(
      litres.body.check.findings.map((f: { code: string }) => f.code),
      ['UNIT_MISMATCH'],
    );
    assert.equal(litres.body.check.status, 'checked');
    assert.equal(await count(pair.b, 'utilizations WHERE number = $1', [co.number]), 2);
    assert.deepEqual((await pair.b.db.query('SELECT drawn::text FROM item_balances WHERE number = $1', [co.number])).rows, [{ drawn: '24000' }]);
    // The reports to the issuer carry the quantities in the CO item's unit.
    const atA = await eventually(async () => {
      const r = await api(pair.a, 'GET', `/certificates/${co.number}`);
      return r.body.utilizations?.length === 2 ? r.body : undefined;
    }, 'both uses reported to A');
    assert.deepEqual(atA.utilizations.map((u: { items: { quantity: string }[] }) => u.items[0]!.quantity).sort(), ['12000', '12000']);
  });

  it('a retried confirmation never draws twice: the same declaration or Idempotency-Key answers the first check', async () => {
    const co = await issued();
    const claim = { ...claimFor(co, {}, { quantity: { value: '100', unit: 'NAR' } }), confirm: true };
    const first = await api(pair.b, 'POST', '/clearance/checks', claim);
    assert.deepEqual([first.status, first.body.status], [201, 'confirmed']);
    const retry = await api(pair.b, 'POST', '/clearance/checks', claim);
    assert.deepEqual([retry.status, retry.body.id], [200, first.body.id], 'the same declaration, confirmed again: the first check');
    const sameDeclarationOtherQuantity = await api(pair.b, 'POST', '/clearance/checks', { ...claim, items: [{ ...claim.items[0]!, quantity: { value: '5', unit: 'NAR' } }] });
    assert.deepEqual([sameDeclarationOtherQuantity.status, sameDeclarationOtherQuantity.body.id], [200, first.body.id], 'a declaration draws on a CO once');
    const key = { 'idempotency-key': `retry-${co.number}` };
    const keyed = { ...claimFor(co, {}, { quantity: { value: '10', unit: 'NAR' } }), confirm: true };
    const once = await api(pair.b, 'POST', '/clearance/checks', keyed, key);
    const twice = await api(pair.b, 'POST', '/clearance/checks', keyed, key);
    assert.deepEqual([once.status, twice.status, twice.body.id], [201, 200, once.body.id]);
    const reused = await api(pair.b, 'POST', '/clearance/checks', { ...keyed, declarationRef: 'OTHER' }, key);
    assert.equal(reused.status, 422, 'a key reused for another claim');
    assert.equal(await count(pair.b, 'utilizations WHERE number = $1', [co.number]), 2, 'two declarations, two drawdowns');
    assert.deepEqual((await pair.b.db.query('SELECT drawn::text FROM item_balances WHERE number = $1', [co.number])).rows, [{ drawn: '110' }]);
    // Confirming a second check of a declaration that already drew is refused, and draws nothing.
    const second = await check(claimFor(co, { declarationRef: claim.declarationRef }, { quantity: { value: '1', unit: 'NAR' } }));
    const confirmed = await api(pair.b, 'POST', `/clearance/checks/${second.id}/confirm`);
    assert.equal(confirmed.status, 409);
    assert.match(confirmed.body.detail, /already drew on KR-KCS .*a declaration draws once/);
  });

  it('refuses a claim member it does not know, with its path, and checks a named invoice', async () => {
    const co = await issued();
    const unknown = await api(pair.b, 'POST', '/clearance/checks', { ...claimFor(co, {}, { grossWeight: '5' }), invoiceNo: 'INV-88' });
    assert.equal(unknown.status, 400);
    assert.deepEqual(unknown.body.errors.map((e: { pointer: string }) => e.pointer).sort(), ['/invoiceNo', '/items/0/grossWeight']);
    assert.deepEqual(codes(await check(claimFor(co, { invoice: { number: co.invoice!.number } }))), []);
    assert.deepEqual(codes(await check(claimFor(co, { invoice: { number: 'INV-99' } }))), ['INVOICE_MISMATCH']);
    const before = await check(claimFor(co, { arrivalDate: daysAfter(co.issuedAt, -10) }));
    assert.deepEqual([before.decision, codes(before)], ['refer', ['ARRIVED_BEFORE_ISSUE', 'RECEIVED_AFTER_GOODS']], 'goods that arrived before the CO existed');
  });

  it('follows partial shipments and rejects the one that claims more than remains', async () => {
    const co = await issued();
    for (const quantity of ['700', '450']) {
      const r = await check({ ...claimFor(co, {}, { quantity: { value: quantity, unit: 'NAR' } }), confirm: true });
      assert.equal(r.decision, 'accept');
      assert.equal(r.status, 'confirmed');
    }
    const over = await check(claimFor(co, {}, { quantity: { value: '50.5', unit: 'NAR' } }));
    assert.equal(over.decision, 'reject');
    assert.deepEqual(codes(over), ['QUANTITY_EXCEEDED']);
    assert.match(over.findings[0].message, /^50 NAR remain of 1200/);
    const refused = await api(pair.b, 'POST', `/clearance/checks/${over.id}/confirm`);
    assert.equal(refused.status, 409);
    assert.equal(refused.body.check.id, over.id, 'the problem carries the check');
    assert.equal(refused.body.check.decision, 'reject');
  });

  it('lets only as many of concurrent confirmations win as the quantity allows, and gives each loser a decision', async () => {
    const co = await issued();
    const checks = await Promise.all(Array.from({ length: 10 }, () => check(claimFor(co, {}, { quantity: { value: '200', unit: 'NAR' } }))));
    assert.ok(checks.every((c) => c.decision === 'accept'));
    const outcomes = await Promise.all(checks.map((c) => api(pair.b, 'POST', `/clearance/checks/${c.id}/confirm`)));
    const statuses = outcomes.map((o) => o.status).sort();
    assert.deepEqual(statuses, [200, 200, 200, 200, 200, 200, 409, 409, 409, 409]);
    const { rows } = await pair.b.db.query<{ used: string }>('SELECT sum(quantity)::text AS used FROM utilizations WHERE number = $1', [co.number]);
    assert.equal(Number(rows[0]!.used), 1200, 'exactly the CO quantity, never more');
    for (const [i, outcome] of outcomes.entries()) {
      const stored = (await api(pair.b, 'GET', `/clearance/checks/${checks[i].id}`)).body;
      if (outcome.status === 200) {
        assert.deepEqual([stored.decision, stored.status], ['accept', 'confirmed']);
        continue;
      }
      assert.equal(outcome.body.check?.id, checks[i].id, JSON.stringify(outcome.body));
      for (const loser of [outcome.body.check, stored]) {
        assert.deepEqual([loser.decision, loser.status], ['reject', 'checked'], 'the stored check says what happened');
        assert.deepEqual(codes(loser), ['QUANTITY_EXCEEDED']);
        assert.match(loser.findings[0].message, /^0 NAR remain of 1200/);
      }
      assert.deepEqual(
        outcome.body.errors.map((e: { pointer: string }) => e.pointer),
        ['/items/0/quantity/value'],
      );
    }
    const again = await api(pair.b, 'POST', `/clearance/checks/${checks[outcomes.findIndex((o) => o.status === 409)].id}/confirm`);
    assert.deepEqual([again.status, again.body.check.decision], [409, 'reject'], 'a loser trying again');
  });

  it('gives the loser of a race with confirm: true its check id and a reject', async () => {
    const co = await issued();
    const claims = Array.from({ length: 8 }, () => ({ ...claimFor(co, {}, { quantity: { value: '300', unit: 'NAR' } }), confirm: true }));
    const responses = await Promise.all(claims.map((claim) => api(pair.b, 'POST', '/clearance/checks', claim)));
    assert.deepEqual(
      responses.map((r) => r.status),
      Array(8).fill(201),
      JSON.stringify(responses.find((r) => r.status !== 201)?.body),
    );
    const results = responses.map((r) => r.body);
    assert.equal(results.filter((r) => r.decision === 'accept' && r.status === 'confirmed').length, 4);
    const lost = results.filter((r) => r.status !== 'confirmed');
    assert.equal(lost.length, 4);
    for (const loser of lost) {
      assert.match(loser.id, /^[0-9a-f-]{36}$/);
      assert.deepEqual([loser.decision, loser.status, codes(loser)], ['reject', 'checked', ['QUANTITY_EXCEEDED']]);
      assert.match(loser.findings[0].message, /^0 NAR remain of 1200/);
      const stored = (await api(pair.b, 'GET', `/clearance/checks/${loser.id}`)).body;
      assert.deepEqual([stored.decision, stored.status, stored.findings], ['reject', 'checked', loser.findings]);
    }
  });

  it("answers a drawdown that cannot be made with the check's id, and leaves the check unconfirmed", async () => {
    const co = await issued();
    // The issuing party is no longer registered: the use could not be reported to it.
    await pair.b.db.query('DELETE FROM peers WHERE party_id = $1', [pair.a.config.partyId]);
    await pair.b.peers.setStatus(pair.a.config.partyId, 'active', 'test'); // drops the cached peer
    try {
      const response = await api(pair.b, 'POST', '/clearance/checks', { ...claimFor(co), confirm: true });
      assert.equal(response.status, 409, JSON.stringify(response.body));
      assert.match(response.body.check.id, /^[0-9a-f-]{36}$/);
      const stored = (await api(pair.b, 'GET', `/clearance/checks/${response.body.check.id}`)).body;
      assert.deepEqual([stored.decision, stored.status], ['accept', 'checked'], 'accepted, not drawn down');
      assert.equal(await count(pair.b, 'utilizations WHERE number = $1', [co.number]), 0);
    } finally {
      await registerPeer(pair.b, pair.a, pair.placeA.amqpUrl);
    }
  });

  it('finds each mismatch between claim and CO', async () => {
    const co = await issued();
    const cases: [Record<string, unknown>, Record<string, unknown>, string[]][] = [
      [{ exportCountry: 'CN' }, {}, ['EXPORT_COUNTRY_MISMATCH']],
      [{ importer: { id: 'VN999' } }, {}, ['IMPORTER_MISMATCH']],
      [{}, { itemNumber: 7 }, ['ITEM_NOT_ON_CO']],
      [{}, { hsCode: '850450' }, ['HS_MISMATCH']],
      [{}, { originCountry: 'CN' }, ['ORIGIN_MISMATCH']],
      [{}, { quantity: { value: '5', unit: 'KGM' } }, ['UNIT_MISMATCH']],
      [{}, { quantity: { value: '1200.000001', unit: 'NAR' } }, ['QUANTITY_EXCEEDED']],
      [{ declarationDate: daysAfter(co.issuedAt, 400) }, {}, ['CO_EXPIRED']],
      [{ arrivalDate: daysAfter(co.issuedAt, 1) }, {}, []],
      [{ arrivalDate: `${co.issuedAt}T00:00:00Z` }, {}, ['RECEIVED_AFTER_GOODS']],
    ];
    for (const [claim, item, expected] of cases) {
      const result = await check(claimFor(co, claim, item));
      assert.deepEqual(codes(result), expected, JSON.stringify({ claim, item }));
    }
    assert.equal((await check(claimFor(co, { arrivalDate: `${co.issuedAt}T00:00:00Z` }))).decision, 'accept', 'info findings do not change the decision');
    const today = new Date().toISOString().slice(0, 10);
    assert.deepEqual(codes(await check(claimFor(co, { arrivalDate: `${today}T00:00:00Z` }))), ['RECEIVED_AFTER_GOODS'], 'goods arrived earlier on the day the CO arrived');
    assert.deepEqual(codes(await check(claimFor(co, { arrivalDate: today }))), [], 'a date: the same day is not after');
    assert.equal((await check(claimFor(co, { importer: { id: 'VN999' } }))).decision, 'refer');
    assert.equal((await check(claimFor(co, { exportCountry: 'CN' }))).decision, 'reject');
  });

  it("matches the claim's purpose with the CO's kind", async () => {
    const base = exampleCertificate();
    const nonPreferential = await issued({ kind: 'non-preferential', agreement: undefined, items: base.items.map((item) => ({ ...item, originCriterion: undefined })) });
    for (const claim of [claimFor(nonPreferential), claimFor(nonPreferential, { purpose: 'preference', agreement: 'KR-VN-FTA' })]) {
      const preference = await check(claim);
      assert.equal(preference.decision, 'reject', JSON.stringify(claim));
      assert.deepEqual(
        preference.findings.map((f: { code: string; fields: string[] }) => [f.code, f.fields]),
        [['CO_NOT_PREFERENTIAL', ['/kind']]],
      );
    }
    const quota = await check(claimFor(nonPreferential, { purpose: 'quota' }));
    assert.equal(quota.decision, 'accept');
    assert.deepEqual(quota.findings, []);
    const unknown = await api(pair.b, 'POST', '/clearance/checks', claimFor(nonPreferential, { purpose: 'free-lunch' }));
    assert.equal(unknown.status, 400);
    assert.deepEqual(
      unknown.body.errors.map((e: { pointer: string }) => e.pointer),
      ['/purpose'],
    );
  });

  it("compares the claimed agreement with the CO's, unless agreement data says it accepts the CO's", async () => {
    const co = await issued();
    const other = await check(claimFor(co, { agreement: 'RCEP' }));
    assert.equal(other.decision, 'reject');
    assert.deepEqual(
      other.findings.map((f: { code: string; fields: string[] }) => [f.code, f.fields]),
      [['AGREEMENT_MISMATCH', ['/agreement']]],
    );
    assert.equal((await check(claimFor(co, { agreement: 'KR-VN-FTA' }))).decision, 'accept');
    const badCode = await api(pair.b, 'PUT', '/admin/agreements/RCEP', { ...exampleAgreements.RCEP, acceptsCertificatesOf: ['KR VN'] });
    assert.equal(badCode.status, 400);
    assert.deepEqual(
      badCode.body.errors.map((e: { pointer: string }) => e.pointer),
      ['/acceptsCertificatesOf/0'],
    );
    const accepting = await api(pair.b, 'PUT', '/admin/agreements/RCEP', { ...exampleAgreements.RCEP, acceptsCertificatesOf: ['KR-VN-FTA'] });
    assert.equal(accepting.status, 200, JSON.stringify(accepting.body));
    assert.deepEqual(accepting.body.acceptsCertificatesOf, ['KR-VN-FTA']);
    try {
      const accepted = await check(claimFor(co, { agreement: 'RCEP' }));
      assert.equal(accepted.decision, 'accept', JSON.stringify(accepted));
    } finally {
      await api(pair.b, 'PUT', '/admin/agreements/RCEP', exampleAgreements.RCEP);
    }
  });

  it('says "not received" for a number it does not hold', async () => {
    const result = await check(claimFor(exampleCertificate()));
    assert.deepEqual(codes(result), ['CO_NOT_RECEIVED']);
    assert.equal(result.decision, 'refer');
    assert.equal(result.certificate, null);
  });

  it('finds cancelled, replaced and retroactively issued COs', async () => {
    const cancelled = await issued();
    await api(pair.a, 'POST', `/certificates/${cancelled.number}/cancel`, { reason: 'fraud suspected' });
    await eventually(async () => ((await api(pair.b, 'GET', `/certificates/${cancelled.number}`)).body.status === 'cancelled' ? true : undefined), 'cancelled at B');
    const c1 = await check(claimFor(cancelled));
    assert.deepEqual(codes(c1), ['CO_CANCELLED']);
    assert.equal(c1.decision, 'reject');
    assert.match(c1.findings[0].message, /fraud suspected/);

    const replaced = await issued();
    await api(pair.a, 'POST', `/certificates/${replaced.number}/replace`, { ...replaced, version: 2 });
    await eventually(async () => ((await api(pair.b, 'GET', `/certificates/${replaced.number}`)).body.version === 2 ? true : undefined), 'v2 at B');
    const c2 = await check(claimFor(replaced, { certificateVersion: 1 }));
    assert.deepEqual(codes(c2), ['CO_REPLACED']);
    assert.match(c2.findings[0].message, /current version is 2/);
    const c3 = await check(claimFor(replaced));
    assert.deepEqual([codes(c3), c3.decision], [['CO_VERSION_CHECKED'], 'accept'], 'citing no version: checked against v2, and told so');
    assert.match(c3.findings[0].message, /version 2 .*replaced/);

    const retro = await issued({ transport: { departureDate: daysAfter(exampleCertificate().issuedAt, -30) }, flags: { issuedRetroactively: true } });
    assert.deepEqual(codes(await check(claimFor(retro))), ['ISSUED_RETROACTIVELY']);
  });

  it("applies the agreement's own severities and HS digits", async () => {
    const co = await issued();
    const strict = { ...exampleAgreements['KR-VN-FTA'], findingSeverities: { IMPORTER_MISMATCH: 'reject' }, hsMatchDigits: 8 };
    assert.equal((await api(pair.b, 'PUT', '/admin/agreements/KR-VN-FTA', strict)).status, 200);
    try {
      assert.equal((await check(claimFor(co, { importer: { id: 'VN999' } }))).decision, 'reject');
      assert.deepEqual(codes(await check(claimFor(co, {}, { hsCode: '8504409000' }))), ['HS_MISMATCH'], '8 digits must match now');
    } finally {
      await api(pair.b, 'PUT', '/admin/agreements/KR-VN-FTA', exampleAgreements['KR-VN-FTA']);
    }
  });

  it('refuses a claim that is not well formed (400 with pointers), storing nothing', async () => {
    const before = await count(pair.b, 'clearance_checks');
    const response = await api(pair.b, 'POST', '/clearance/checks', { declarationRef: 'X', certificateNumber: 'KR 1', exportCountry: 'KR', importer: {}, items: [{ hsCode: '85' }] });
    assert.equal(response.status, 400);
    assert.ok(response.body.errors.some((e: { pointer: string }) => e.pointer === '/certificateNumber'));
    assert.equal(await count(pair.b, 'clearance_checks'), before);
  });
});
