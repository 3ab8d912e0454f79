// The clearance rules as a pure function: severities, decisions, verification answers.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Agreement } from '../../src/agreements/index.ts';
import { assess, type Claim, claimSchema, decide, type ReceivedCertificate } from '../../src/clearance/findings.ts';
import { exact } from '../../src/dataset/index.ts';
import { daysAfter, exampleCertificate } from '../support/fixtures.ts';

// Dates relative to the example's issue date, which moves with today.
const issued = exampleCertificate();
const day = issued.issuedAt;
const co: ReceivedCertificate = { issuer: 'KR-KCS', version: 1, status: 'valid', dataset: issued, receivedAt: new Date(`${day}T00:00:00Z`), cancellationReason: null };
const claim: Claim = {
  declarationRef: 'D-1',
  certificateNumber: co.dataset.number,
  exportCountry: 'KR',
  importer: { id: 'VN0312345678' },
  items: [{ itemNumber: 1, hsCode: '850440', originCountry: 'KR', quantity: { value: '100', unit: 'NAR' } }],
  purpose: 'preference',
  waitSeconds: 0,
  confirm: false,
};
const context = { used: new Map(), today: daysAfter(day, 1) };
const krVn: Agreement = {
  code: 'KR-VN-FTA',
  name: 'x',
  parties: ['KR', 'VN'],
  kinds: ['preferential'],
  originCriteria: [],
  validityDays: 365,
  retroactiveDays: null,
  example: false,
  hsMatchDigits: 6,
  findingSeverities: {},
  pullAllowed: false,
  acceptsCertificatesOf: [],
  hsCorrelations: [],
};
const withDataset = (overrides: Partial<ReceivedCertificate['dataset']>): ReceivedCertificate => ({ ...co, dataset: exampleCertificate(overrides) });

describe('clearance findings', () => {
  it('accepts a clean claim', () => {
    assert.deepEqual(assess(claim, co, context), []);
    assert.equal(decide([]), 'accept');
  });

  it('turns verification answers into findings', () => {
    const partial = assess(claim, co, { ...context, verification: { status: 'answered', result: 'partially-confirmed', findings: 'item 1 only' } });
    assert.deepEqual(
      partial.map((f) => [f.code, f.severity]),
      [['VERIFICATION_PARTIALLY_CONFIRMED', 'refer']],
    );
    assert.equal(decide(partial), 'refer');
    const confirmed = assess(claim, co, { ...context, verification: { status: 'answered', result: 'confirmed', findings: '' } });
    assert.deepEqual(confirmed, []);
  });

  it('counts what earlier declarations drew down, exactly', () => {
    const used = new Map([[1, exact('1199.999999')]]); // of 1200 used
    const findings = assess({ ...claim, items: [{ ...claim.items[0]!, quantity: { value: '0.000002', unit: 'NAR' } }] }, co, { ...context, used });
    assert.deepEqual(
      findings.map((f) => f.code),
      ['QUANTITY_EXCEEDED'],
    );
    assert.match(findings[0]!.message, /^0\.000001 NAR remain/);
  });

  it('lets the agreement override a severity', () => {
    const agreement = {
      code: 'X',
      name: 'x',
      parties: ['KR', 'VN'],
      kinds: ['preferential' as const],
      originCriteria: [],
      validityDays: 365,
      retroactiveDays: null,
      example: false,
      hsMatchDigits: 6,
      findingSeverities: { ORIGIN_MISMATCH: 'refer' as const },
      pullAllowed: false,
      acceptsCertificatesOf: [],
      hsCorrelations: [],
    };
    const findings = assess({ ...claim, items: [{ ...claim.items[0]!, originCountry: 'CN' }] }, co, { ...context, agreement });
    assert.deepEqual(
      findings.map((f) => [f.code, f.severity]),
      [['ORIGIN_MISMATCH', 'refer']],
    );
    assert.equal(decide(findings), 'refer');
  });

  it('rejects a preference claim against a CO that cannot carry preference, pointing at /kind', () => {
    const nonPreferential = withDataset({ kind: 'non-preferential' });
    const findings = assess(claim, nonPreferential, context);
    assert.deepEqual(
      findings.map((f) => [f.code, f.severity, f.fields]),
      [['CO_NOT_PREFERENTIAL', 'reject', ['/kind']]],
    );
    assert.equal(decide(findings), 'reject');
    const declaration = withDataset({ kind: 'origin-declaration', exporterAuthorization: 'KR-AE-1' });
    assert.deepEqual(
      assess(claim, declaration, { ...context, agreement: krVn }).map((f) => [f.code, f.fields]),
      [['CO_NOT_PREFERENTIAL', ['/kind']]],
    );
    assert.deepEqual(assess(claim, declaration, { ...context, agreement: { ...krVn, kinds: ['preferential', 'origin-declaration'] } }), [], 'an agreement providing for origin declarations');
    assert.deepEqual(assess(claim, co, { ...context, agreement: krVn }), []);
  });

  it('accepts any kind of CO for a non-preferential purpose', () => {
    for (const purpose of ['quota', 'trade-remedy', 'origin-marking', 'statistics'] as const) {
      assert.deepEqual(assess({ ...claim, purpose }, withDataset({ kind: 'non-preferential' }), context), [], purpose);
      assert.deepEqual(assess({ ...claim, purpose }, co, { ...context, agreement: krVn }), [], purpose);
    }
  });

  it("compares the claimed agreement with the CO's, unless the claimed one accepts its COs", () => {
    const rcep: Agreement = { ...krVn, code: 'RCEP', kinds: ['preferential', 'origin-declaration'] };
    const mismatch = assess({ ...claim, agreement: 'RCEP' }, co, { ...context, agreement: krVn, claimedAgreement: rcep });
    assert.deepEqual(
      mismatch.map((f) => [f.code, f.severity, f.fields]),
      [['AGREEMENT_MISMATCH', 'reject', ['/agreement']]],
    );
    assert.match(mismatch[0]!.message, /KR-VN-FTA/);
    assert.deepEqual(assess({ ...claim, agreement: 'RCEP' }, co, { ...context, agreement: krVn, claimedAgreement: { ...rcep, acceptsCertificatesOf: ['KR-VN-FTA'] } }), []);
    assert.deepEqual(
      assess({ ...claim, agreement: 'EU-VN-FTA' }, co, { ...context, agreement: krVn }).map((f) => f.code),
      ['AGREEMENT_MISMATCH'],
      'an agreement unknown here',
    );
    assert.deepEqual(assess({ ...claim, agreement: 'KR-VN-FTA' }, co, { ...context, agreement: krVn }), []);
    assert.deepEqual(assess(claim, co, { ...context, agreement: krVn }), [], "naming no agreement claims the CO's");
  });

  it('names the version checked when the claim cites none and earlier versions were replaced', () => {
    const v2: ReceivedCertificate = { ...co, version: 2 };
    const findings = assess(claim, v2, context);
    assert.deepEqual(
      findings.map((f) => [f.code, f.severity, f.fields]),
      [['CO_VERSION_CHECKED', 'info', ['/certificateVersion']]],
    );
    assert.match(findings[0]!.message, /version 2/);
    assert.match(findings[0]!.message, /replaced/);
    assert.equal(decide(findings), 'accept');
    assert.deepEqual(assess({ ...claim, certificateVersion: 2 }, v2, context), [], 'the claim cites the current version');
    assert.deepEqual(assess(claim, co, context), [], 'a first version replaced nothing');
  });

  it('compares instants when arrivalDate is a date-time, days when it is a date', () => {
    const received: ReceivedCertificate = { ...co, receivedAt: new Date(`${day}T10:00:00Z`) };
    const arriving = (arrivalDate: string) => assess({ ...claim, arrivalDate }, received, context).map((f) => f.code);
    assert.deepEqual(arriving(`${day}T08:00:00Z`), ['RECEIVED_AFTER_GOODS'], 'the goods arrived earlier on the day the CO arrived');
    assert.deepEqual(arriving(`${day}T17:30:00+09:00`), ['RECEIVED_AFTER_GOODS'], 'with an offset: 08:30 UTC');
    assert.deepEqual(arriving(`${day}T12:00:00+00:00`), []);
    assert.deepEqual(arriving(day), [], 'a date: the same day is not after');
    assert.deepEqual(arriving(daysAfter(day, -1)), ['RECEIVED_AFTER_GOODS', 'ARRIVED_BEFORE_ISSUE'], 'the day before the CO was issued');
    for (const good of [day, `${day}T08:00:00Z`, `${day}T08:00:00.123+07:00`]) {
      assert.ok(claimSchema.safeParse({ ...claim, arrivalDate: good }).success, good);
    }
    for (const bad of [`${day}T08:00:00`, '24/11/2026', `${day}T25:00:00Z`, `${day} 08:00:00Z`]) {
      assert.ok(!claimSchema.safeParse({ ...claim, arrivalDate: bad }).success, bad);
    }
  });

  it('refers goods that arrived before the CO was issued, unless it is retroactive within its window', () => {
    const before = { ...claim, arrivalDate: daysAfter(day, -10) };
    // The CO was received on its issue day, after the goods arrived: that is RECEIVED_AFTER_GOODS too (info).
    const codes = (c: ReceivedCertificate, agreement?: Agreement) => assess(before, c, { ...context, agreement }).map((f) => f.code);
    assert.deepEqual(codes(co), ['RECEIVED_AFTER_GOODS', 'ARRIVED_BEFORE_ISSUE']);
    assert.equal(decide(assess(before, co, context)), 'refer');
    const retro = withDataset({ flags: { issuedRetroactively: true } });
    assert.deepEqual(codes(retro, { ...krVn, retroactiveDays: 30 }), ['ISSUED_RETROACTIVELY', 'RECEIVED_AFTER_GOODS'], 'within 30 days');
    assert.deepEqual(codes(retro, { ...krVn, retroactiveDays: 5 }), ['ISSUED_RETROACTIVELY', 'RECEIVED_AFTER_GOODS', 'ARRIVED_BEFORE_ISSUE'], 'past 5 days');
  });

  it('converts a quantity in another unit of the same dimension exactly, and never draws one that does not convert', () => {
    const kg = withDataset({ items: [{ ...issued.items[0]!, quantity: { value: '24000', unit: 'KGM' } }] });
    const claiming = (value: string, unit: string, used = '12000') =>
      assess({ ...claim, items: [{ ...claim.items[0]!, quantity: { value, unit } }] }, kg, { ...context, used: new Map([[1, exact(used)]]) });
    assert.deepEqual(
      claiming('12', 'TNE').map((f) => [f.code, f.message]),
      [['UNIT_CONVERTED', "12 TNE is 12000 KGM, the CO item's unit"]],
    );
    assert.deepEqual(
      claiming('12.001', 'TNE').map((f) => f.code),
      ['UNIT_CONVERTED', 'QUANTITY_EXCEEDED'],
      '1 kg too many',
    );
    assert.deepEqual(
      claiming('24000000', 'GRM', '0').map((f) => f.code),
      ['UNIT_CONVERTED'],
    );
    assert.deepEqual(
      claiming('24000001', 'GRM', '0').map((f) => f.code),
      ['UNIT_CONVERTED', 'QUANTITY_EXCEEDED'],
    );
    const litres = claiming('5', 'LTR');
    assert.deepEqual(
      litres.map((f) => f.code),
      ['UNIT_MISMATCH'],
    );
    assert.match(litres[0]!.message, /counted in KGM, which LTR does not convert to/);
  });

  it('compares the invoice a claim names with the CO', () => {
    const invoice = issued.invoice!;
    assert.deepEqual(assess({ ...claim, invoice: { number: invoice.number.toLowerCase(), date: invoice.date } }, co, context), []);
    assert.deepEqual(
      assess({ ...claim, invoice: { number: 'INV-OTHER' } }, co, context).map((f) => f.code),
      ['INVOICE_MISMATCH'],
    );
    assert.deepEqual(
      assess({ ...claim, invoice: { number: invoice.number, date: daysAfter(invoice.date!, 1) } }, co, context).map((f) => f.code),
      ['INVOICE_MISMATCH'],
    );
  });

  it("compares HS codes of different editions through the agreement's correlation, else refers naming both", () => {
    const hs2017 = withDataset({ hsEdition: 'HS2017' });
    const in2022 = { ...claim, hsEdition: 'HS2022' as const };
    const differs = assess(in2022, hs2017, { ...context, agreement: krVn });
    assert.deepEqual(
      differs.map((f) => f.code),
      ['HS_EDITION_DIFFERS'],
    );
    assert.match(differs[0]!.message, /HS2017 850440 .* HS2022 850440/);
    const correlated = { ...krVn, hsCorrelations: [{ from: 'HS2017' as const, to: 'HS2022' as const, codes: { '850440': ['850441', '850442'] } }] };
    assert.deepEqual(
      assess(in2022, hs2017, { ...context, agreement: correlated }).map((f) => f.code),
      ['HS_MISMATCH'],
    );
    const moved = { ...in2022, items: [{ ...claim.items[0]!, hsCode: '850442' }] };
    assert.deepEqual(assess(moved, hs2017, { ...context, agreement: correlated }), []);
  });

  it('refuses a claim with a member it does not know, naming its path', () => {
    const parsed = claimSchema.safeParse({ ...claim, invoiceNumber: 'INV-1', items: [{ ...claim.items[0]!, grossWeight: '5' }] });
    assert.ok(!parsed.success);
    const unknown = parsed.error.issues.map((i) => [i.path.join('/'), 'keys' in i ? i.keys : []]);
    assert.deepEqual(unknown, [
      ['items/0', ['grossWeight']],
      ['', ['invoiceNumber']],
    ]);
  });
});
