// Over REST, text Postgres cannot keep (U+0000, unpaired surrogates) is a 400 naming the field,
// whatever the route, and a CO is issued only for this gateway's own country.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { A, api, B, exampleCertificate, issueAndWait, type Pair, startPair } from '../support/gateways.ts';

describe('REST input Postgres could not keep, and countries at issue', () => {
  let pair: Pair;
  before(async () => {
    pair = await startPair();
  });
  after(async () => {
    await pair.stop();
  });

  function assertRefused(response: { status: number; body: any; contentType: string }, pointer: string): void {
    assert.equal(response.status, 400, JSON.stringify(response.body));
    assert.match(response.contentType, /application\/problem\+json/);
    assert.deepEqual(
      response.body.errors.map((e: { pointer: string }) => e.pointer),
      [pointer],
    );
  }

  for (const [label, bad] of [
    ['U+0000', 'a\u0000b'],
    ['a lone high surrogate', 'a\ud800b'],
    ['a lone low surrogate', '\udfffb'],
  ] as const) {
    it(`refuses ${label} in every kind of field with 400 and its pointer, storing nothing`, async () => {
      const co = await issueAndWait(pair);
      const cases: [string, string, string, unknown, string][] = [
        [A, 'POST', '/certificates', { ...exampleCertificate(), remarks: bad }, '/remarks'],
        [A, 'POST', '/certificates/validate', { ...exampleCertificate(), exporter: { name: bad } }, '/exporter/name'],
        [A, 'POST', `/certificates/${co.number}/cancel`, { reason: bad }, '/reason'],
        [A, 'POST', '/admin/api-keys', { name: bad, roles: ['customs'] }, '/name'],
        [A, 'PUT', '/admin/agreements/X-TEST', { name: bad, parties: ['KR', 'VN'], kinds: ['preferential'], validityDays: 365 }, '/name'],
        [B, 'POST', '/clearance/checks', { declarationRef: bad, certificateNumber: co.number, exportCountry: 'KR', importer: {}, items: [] }, '/declarationRef'],
        [B, 'POST', '/verifications', { certificateNumber: co.number, issuer: A, reasons: ['fine', bad], questions: '' }, '/reasons/1'],
      ];
      // A URL cannot carry a lone surrogate (its UTF-8 form decodes to U+FFFD), but it can carry %00.
      if (bad.includes('\u0000')) {
        cases.push([A, 'GET', `/admin/messages?peer=${encodeURIComponent(bad)}`, undefined, '/query/peer']);
        cases.push([A, 'GET', `/certificates/${encodeURIComponent(bad)}`, undefined, '/params/number']);
      }
      for (const [party, method, path, body, pointer] of cases) {
        const gateway = party === A ? pair.a : pair.b;
        assertRefused(await api(gateway, method, path, body), pointer);
      }
      // The cancellation was refused: the CO is still valid at both sides.
      assert.equal((await api(pair.a, 'GET', `/certificates/${co.number}`)).body.status, 'valid');
      assert.equal((await api(pair.a, 'GET', '/admin/api-keys')).body.clients?.some((c: { name: string }) => c.name.includes('\ufffd')) ?? false, false);
    });
  }

  it('issues only with its own country as exportCountry, and only to the peer of the importCountry', async () => {
    // RCEP includes JP, so the agreement alone would allow both.
    const foreignExport = await api(pair.a, 'POST', '/certificates', exampleCertificate({ exportCountry: 'JP', agreement: 'RCEP' }));
    assert.equal(foreignExport.status, 422, JSON.stringify(foreignExport.body));
    assert.deepEqual(
      foreignExport.body.errors.map((e: { pointer: string }) => e.pointer),
      ['/exportCountry'],
    );
    const elsewhere = await api(pair.a, 'POST', `/certificates?recipient=${B}`, exampleCertificate({ importCountry: 'JP', agreement: 'RCEP' }));
    assert.equal(elsewhere.status, 422, JSON.stringify(elsewhere.body));
    assert.deepEqual(
      elsewhere.body.errors.map((e: { pointer: string }) => e.pointer),
      ['/importCountry'],
    );
    const validate = await api(pair.a, 'POST', '/certificates/validate', exampleCertificate({ exportCountry: 'JP', agreement: 'RCEP' }));
    assert.ok(JSON.stringify(validate.body).includes('/exportCountry'), JSON.stringify(validate.body));
  });
});
