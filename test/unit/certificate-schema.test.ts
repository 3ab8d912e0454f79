// The dataset rules of docs/wire.md "The certificate", without services.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { type Certificate, certificateSchema, toPointer } from '../../src/dataset/index.ts';
import { daysAfter, exampleCertificate } from '../support/fixtures.ts';

function failures(input: unknown): string[] {
  const result = certificateSchema.safeParse(input);
  return result.success ? [] : result.error.issues.map((i) => toPointer(i.path)).sort();
}

const exampleFile = (name: string) => JSON.parse(readFileSync(new URL(`../../examples/${name}`, import.meta.url), 'utf8'));

describe('certificate dataset', () => {
  it('accepts the example of every kind', () => {
    for (const file of ['certificate.json', 'certificate-non-preferential.json', 'origin-declaration.json']) {
      assert.deepEqual(failures(exampleFile(file)), [], file);
    }
  });

  it('refuses each kind without what that kind requires', () => {
    const { certification: _c, ...preferential } = exampleFile('certificate.json');
    assert.deepEqual(failures(preferential), ['/certification']);
    const nonPreferential = exampleFile('certificate-non-preferential.json');
    assert.deepEqual(failures({ ...nonPreferential, exporter: undefined }), ['/exporter']);
    const { exporterAuthorization: _e, ...declaration } = exampleFile('origin-declaration.json');
    assert.deepEqual(failures(declaration), ['/exporterAuthorization']);
  });

  it('checks code lists: ISO 3166 countries, ISO 4217 currencies, the country of a UN/LOCODE', () => {
    const co = exampleCertificate();
    const item = co.items[0]!;
    const bad = {
      ...co,
      exportCountry: 'XK1',
      importCountry: 'ZZ',
      transport: { ...co.transport, loadingPort: 'ZZPUS' },
      items: [{ ...item, value: { amount: '10.00', currency: 'ABC' } }],
    };
    assert.deepEqual(failures(bad), ['/exportCountry', '/importCountry', '/items/0/value/currency', '/transport/loadingPort']);
  });

  it('checks that dates tell a possible story', () => {
    // Dates relative to the example's issue date, which moves with today.
    const co = exampleCertificate();
    const invoicedLater = { ...co, invoice: { number: 'INV-1', date: daysAfter(co.issuedAt, 7) } };
    assert.deepEqual(failures(invoicedLater), ['/invoice/date']);
    const shippedBefore = { ...co, transport: { ...co.transport, departureDate: daysAfter(co.issuedAt, -23) }, flags: { issuedRetroactively: false } };
    assert.deepEqual(failures(shippedBefore), ['/flags/issuedRetroactively']);
    assert.deepEqual(failures({ ...shippedBefore, flags: { issuedRetroactively: true } }), []);
    assert.deepEqual(failures({ ...co, importCountry: 'KR' }), ['/importCountry']);
  });

  it('checks optional totals against the items', () => {
    const co = exampleCertificate();
    const right = { ...co, totals: { packages: 40, grossWeight: { value: '5300.500', unit: 'KGM' }, value: { amount: '125000', currency: 'USD' } } };
    assert.deepEqual(failures(right), []);
    const wrong = { ...co, totals: { packages: 41, grossWeight: { value: '5300.4', unit: 'KGM' }, value: { amount: '125000', currency: 'EUR' } } };
    assert.deepEqual(failures(wrong), ['/totals/grossWeight', '/totals/packages', '/totals/value']);
  });

  it('requires agreement and origin criterion unless non-preferential', () => {
    const { agreement: _a, ...noAgreement } = exampleCertificate();
    const item = { ...noAgreement.items[0]!, originCriterion: undefined };
    assert.deepEqual(failures({ ...noAgreement, items: [item] }), ['/agreement', '/items/0/originCriterion']);
    assert.deepEqual(failures({ ...noAgreement, kind: 'non-preferential', items: [item] }), []);
  });

  it('requires the exporter authorization for an origin declaration, and certification otherwise', () => {
    const { certification: _c, ...declaration } = exampleCertificate({ kind: 'origin-declaration' });
    assert.deepEqual(failures(declaration), ['/exporterAuthorization']);
    assert.deepEqual(failures({ ...declaration, exporterAuthorization: 'KR-AE-2291' }), []);
    const { certification: _c2, ...noCertification } = exampleCertificate();
    assert.deepEqual(failures(noCertification), ['/certification']);
  });

  it('refuses duplicate item numbers and an empty item list', () => {
    const co = exampleCertificate();
    assert.deepEqual(failures({ ...co, items: [co.items[0], co.items[0]] }), ['/items/1/itemNumber']);
    assert.deepEqual(failures({ ...co, items: [] }), ['/items']);
  });

  it('checks formats: number, HS code, countries, dates, decimals, codes', () => {
    const co: Certificate = exampleCertificate();
    const item = co.items[0]!;
    const bad = {
      ...co,
      number: 'KR 2026 #1',
      exportCountry: 'kr',
      issuedAt: '2026-13-01',
      transport: { mode: '12', loadingPort: 'busan' },
      items: [{ ...item, hsCode: '8504.40', quantity: { value: '-1', unit: 'kilograms' }, value: { amount: '1e5', currency: 'usd' }, packages: { count: 1, kind: 'CARTON' } }],
    };
    assert.deepEqual(failures(bad), [
      '/exportCountry',
      '/issuedAt',
      '/items/0/hsCode',
      '/items/0/packages/kind',
      '/items/0/quantity/unit',
      '/items/0/quantity/value',
      '/items/0/value/amount',
      '/items/0/value/currency',
      '/number',
      '/transport/loadingPort',
      '/transport/mode',
    ]);
  });
});
