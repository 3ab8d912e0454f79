// The dataset rules of PROFILE.md "The certificate", without services.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { certificateSchema, type Certificate } from '../src/certificates/index.ts';
import { toPointer } from '../src/http/problem.ts';
import { exampleCertificate } from './support/fixtures.ts';

function failures(input: unknown): string[] {
  const result = certificateSchema.safeParse(input);
  return result.success ? [] : result.error.issues.map((i) => toPointer(i.path)).sort();
}

describe('certificate dataset', () => {
  it('accepts the example certificate', () => {
    assert.deepEqual(failures(exampleCertificate()), []);
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
