// PROFILE receiver checks 4-5 as a pure function: profile, addressee, freshness, text Postgres
// could not keep, the envelope and the body by type, and the countries of a CO (PROFILE 1.1).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildEnvelope } from '../../src/exchange/index.ts';
import { type Authentic, validate } from '../../src/inbound/checks.ts';
import type { KnownPeer } from '../../src/peers/index.ts';
import { exampleCertificate } from '../support/fixtures.ts';

const peer = { partyId: 'KR-KCS', countries: ['KR'], status: 'active' } as KnownPeer;
const ctx = { partyId: 'VN-MOIT', countries: ['VN'], sentAtWindowSeconds: 3600 };

function authentic(overrides: Record<string, unknown> = {}, body: Record<string, unknown> = exampleCertificate()): Authentic {
  const payload = { ...buildEnvelope({ type: 'certificate.issued', from: 'KR-KCS', to: 'VN-MOIT', body }), ...overrides };
  return { outcome: 'authentic', peer, messageId: payload.id as string, payload, jws: 'h.p.s', isReceipt: false };
}

/** The verdict as [code, path] pairs, or 'verified'. */
function verdict(message: Authentic): 'verified' | [string, string | undefined][] {
  const result = validate(message, ctx);
  return result.outcome === 'verified' ? 'verified' : result.errors.map((e) => [e.code, e.path]);
}

describe('receiver checks 4-5', () => {
  it('verifies a well-formed CO from the exporting country to ours', () => {
    assert.equal(verdict(authentic()), 'verified');
  });

  it('refuses in PROFILE order: profile, addressee, freshness', () => {
    assert.deepEqual(verdict(authentic({ profile: 'eco/2.0', to: 'TH-DFT' })), [['UNSUPPORTED_PROFILE', '/profile']]);
    assert.deepEqual(verdict(authentic({ to: 'TH-DFT' })), [['NOT_ADDRESSED_TO_RECEIVER', '/to']]);
    assert.deepEqual(verdict(authentic({ sentAt: new Date(Date.now() - 7_200_000).toISOString() })), [['STALE_MESSAGE', '/sentAt']]);
  });

  it('names the first string Postgres could not keep, and over-deep nesting, as SCHEMA_INVALID with its path', () => {
    const co = exampleCertificate();
    assert.deepEqual(verdict(authentic({}, { ...co, remarks: 'a\u0000b' })), [['SCHEMA_INVALID', '/body/remarks']]);
    assert.deepEqual(verdict(authentic({}, { ...co, exporter: { name: '\ud800' } })), [['SCHEMA_INVALID', '/body/exporter/name']]);
    const deep = JSON.parse(`${'['.repeat(40)}1${']'.repeat(40)}`);
    const errors = verdict(authentic({}, { ...co, extra: deep })) as [string, string][];
    assert.equal(errors.length, 1);
    assert.equal(errors[0]![0], 'SCHEMA_INVALID');
    assert.match(errors[0]![1], /^\/body\/extra(\/0)+$/);
  });

  it("refuses a CO for another export country than the sender's, or another import country than ours", () => {
    assert.deepEqual(verdict(authentic({}, exampleCertificate({ exportCountry: 'JP', agreement: 'RCEP' }))), [['NOT_A_PARTY', '/body/exportCountry']]);
    assert.deepEqual(verdict(authentic({}, exampleCertificate({ importCountry: 'JP', agreement: 'RCEP' }))), [['NOT_A_PARTY', '/body/importCountry']]);
  });

  it('checks the body against its type, with JSON pointers from the envelope root', () => {
    const result = verdict(authentic({}, { ...exampleCertificate(), items: [] }));
    assert.deepEqual(result, [['SCHEMA_INVALID', '/body/items']]);
  });
});
