// The seal verifier against hostile and broken input (PROFILE 1.2): every seal, list and status
// answer a forger or a buggy issuer can make gets its reason, in PROFILE's order, and none throws.
import assert from 'node:assert/strict';
import { generateKeyPairSync, type KeyObject, sign } from 'node:crypto';
import { describe, it } from 'node:test';
import { deflateSync } from 'node:zlib';
import fc from 'fast-check';
import { PNG } from 'pngjs';
import { canonicalJson, fromBase64url, MAX_TRUST_LIST_CHARS, type SealPayload, thumbprint } from '../../src/seals/format.ts';
import { readPdfCopy, sealFromPng, sealPng, UnreadableCopy } from '../../src/seals/qr.ts';
import { type StatusFetch, type VerifyOptions, verifySeal } from '../../src/seals/verify.ts';

const b64 = (text: string | Buffer) => Buffer.from(text).toString('base64url');
const NOW = Date.parse('2031-03-01T12:00:00Z'); // any instant: every date below is relative to it
const at = (hours: number) => new Date(NOW + hours * 3600_000).toISOString();

type Key = { privateKey: KeyObject; jwk: { kty: string; crv: string; x: string; y: string }; kid: string };
async function newKey(): Promise<Key> {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const { kty, crv, x, y } = publicKey.export({ format: 'jwk' }) as { kty: string; crv: string; x: string; y: string };
  const jwk = { kty, crv, x, y };
  return { privateKey, jwk, kid: await thumbprint(jwk) };
}

function jws(header: object, payloadText: string, key: KeyObject): string {
  const input = `${b64(JSON.stringify(header))}.${b64(payloadText)}`;
  return `${input}.${b64(sign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' }))}`;
}

const certificate = { number: 'KR-2031-0001', version: 1, kind: 'preferential', issuer: { partyId: 'KR-KCS', name: 'KCS' }, exportCountry: 'KR', importCountry: 'VN', note: 'é ✓' };
const canonical = canonicalJson(certificate);
const h = Buffer.from(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(canonical))).toString('base64url');
const payload: SealPayload = { n: 'KR-2031-0001', v: 1, i: 'KR-KCS', k: 'P', d: '2031-02-27', x: 'KR', m: 'VN', h, u: 'https://eco.kr.example/status' };

const signing = await newKey();
const trust = await newKey();
const stranger = await newKey();

const seal = (p: object = payload, key: Key = signing, header: object = { alg: 'ES256', kid: key.kid, typ: 'eco-seal+jws' }) => `ECO1:${jws(header, JSON.stringify(p), key.privateKey)}`;

type ListOptions = { keys?: object[]; status?: object[]; issuedAt?: string; nextUpdate?: string; countries?: string[]; signer?: Key; header?: object; trustKeys?: string[] };
function trustList(o: ListOptions = {}): string {
  const signer = o.signer ?? trust;
  const list = {
    party: 'KR-KCS',
    countries: o.countries ?? ['KR'],
    issuedAt: o.issuedAt ?? at(-1),
    nextUpdate: o.nextUpdate ?? at(23),
    trustKeys: o.trustKeys ?? [trust.kid],
    keys: o.keys ?? [
      { ...signing.jwk, kid: signing.kid, use: 'sig', validFrom: at(-1000) },
      { ...trust.jwk, kid: trust.kid, use: 'trust', validFrom: at(-1000) },
    ],
    status: o.status ?? [],
  };
  return jws(o.header ?? { alg: 'ES256', kid: signer.kid, typ: 'eco-trust+jws' }, JSON.stringify(list), signer.privateKey);
}

const verify = (o: Partial<VerifyOptions> = {}) => verifySeal({ seal: seal(), trustList: trustList(), pins: [trust.kid], now: NOW, ...o });
const reasonOf = async (o: Partial<VerifyOptions> = {}) => (await verify(o)).reason;

/** A status service answering what `answer` gives, signed by `key` (the issuer's by default). */
function statusService(answer: (nonce: string, h22: string) => object, key: Key = signing): (url: string) => Promise<StatusFetch> {
  return async (url) => {
    const query = new URL(url).searchParams;
    const body = answer(query.get('nonce')!, query.get('h')!);
    return { reached: true, text: jws({ alg: 'ES256', kid: key.kid, typ: 'eco-status+jws' }, JSON.stringify(body), key.privateKey) };
  };
}
const validAnswer = (nonce: string, h22: string) => ({ n: payload.n, v: 1, i: 'KR-KCS', h: h22, nonce, status: 'valid', at: at(-50), checkedAt: at(0) });

describe('seal verification', () => {
  it('accepts a seal signed by a listed key under a pinned list, and one with members it does not know', async () => {
    assert.equal(await reasonOf(), 'OK');
    assert.equal(await reasonOf({ seal: seal({ ...payload, extra: 'ignored' }) }), 'OK');
    assert.equal(await reasonOf({ seal: seal(payload, signing, { alg: 'ES256', kid: signing.kid, typ: 'application/eco-seal+jws' }) }), 'OK');
  });

  it('follows a trust-key rotation the list announced, with no new pin, and drops the key the next list leaves out', async () => {
    const next = await newKey();
    const trustEntry = (key: Key) => ({ ...key.jwk, kid: key.kid, use: 'trust', validFrom: at(-10) });
    const signingEntry = { ...signing.jwk, kid: signing.kid, use: 'sig', validFrom: at(-1000) };
    const announcing = await verify({ trustList: trustList({ trustKeys: [trust.kid, next.kid], keys: [signingEntry, trustEntry(trust), trustEntry(next)] }) });
    assert.deepEqual(announcing.pinsFromNow, [trust.kid, next.kid]);
    const rotated = trustList({ signer: next, trustKeys: [next.kid], keys: [signingEntry, trustEntry(next)] });
    assert.equal(await reasonOf({ trustList: rotated, pins: [trust.kid] }), 'TRUST_LIST_UNPINNED', 'not without the announcement');
    const followed = await verify({ trustList: rotated, pins: announcing.pinsFromNow });
    assert.equal(followed.reason, 'OK');
    assert.deepEqual(followed.pinsFromNow, [next.kid], 'the old trust key is pinned no more');
  });

  it('calls malformed: no prefix, over 900 characters, not UTF-8, not JSON, another typ, alg none or HS256, a payload not of the shape', async () => {
    const malformed = [
      seal().slice(5),
      `${seal()}${'A'.repeat(900)}`,
      `ECO1:${b64(JSON.stringify({ alg: 'ES256', kid: signing.kid, typ: 'eco-seal+jws' }))}.${b64(Buffer.from([0xff, 0xfe, 0x7b]))}.${b64('x'.repeat(64))}`,
      `ECO1:${b64('{"alg":"ES256"')}.${b64('{}')}.${b64('x')}`,
      seal(payload, signing, { alg: 'ES256', kid: signing.kid, typ: 'eco+jws' }),
      `ECO1:${b64(JSON.stringify({ alg: 'none', kid: signing.kid, typ: 'eco-seal+jws' }))}.${b64(JSON.stringify(payload))}.`,
      seal(payload, signing, { alg: 'HS256', kid: signing.kid, typ: 'eco-seal+jws' }),
      seal(payload, signing, { alg: 'ES256', kid: signing.kid, typ: 'eco-seal+jws', crit: ['exp'] }),
      seal({ ...payload, k: 'X' }),
      seal({ ...payload, h: 'short' }),
      seal({ ...payload, v: 0 }),
      seal({ ...payload, u: 'http://eco.kr.example/status' }),
      seal({ ...payload, u: 'https://eco.kr.example/status?n=1' }),
      seal({ ...payload, u: 'https://eco.kr.example/status#x' }),
      seal({ ...payload, u: `https://eco.kr.example/${'s'.repeat(90)}` }),
      seal({ ...payload, u: 'javascript:alert(1)' }),
      seal({ n: payload.n }),
      'ECO1:',
      '',
    ];
    for (const [i, text] of malformed.entries()) assert.equal(await reasonOf({ seal: text }), 'SEAL_MALFORMED', `case ${i}: ${text.slice(0, 80)}`);
  });

  it('refuses lists that are missing, unsigned, self-inconsistent or huge, and unpinned ones, before looking at the seal', async () => {
    const bad = seal(payload, stranger); // would be SEAL_KEY_UNKNOWN: list problems rank first
    assert.equal(await reasonOf({ seal: bad, trustList: undefined }), 'TRUST_LIST_INVALID');
    assert.equal(await reasonOf({ seal: bad, trustList: 'not a list' }), 'TRUST_LIST_INVALID');
    const list = trustList();
    assert.equal(await reasonOf({ seal: bad, trustList: `${list.slice(0, list.lastIndexOf('.'))}.` }), 'TRUST_LIST_INVALID', 'unsigned');
    assert.equal(await reasonOf({ seal: bad, trustList: trustList({ header: { alg: 'none', kid: trust.kid, typ: 'eco-trust+jws' } }) }), 'TRUST_LIST_INVALID');
    assert.equal(await reasonOf({ seal: bad, trustList: trustList({ signer: signing }) }), 'TRUST_LIST_INVALID', 'signed by a key listed for seals only');
    assert.equal(
      await reasonOf({ seal: bad, trustList: trustList({ keys: [{ ...trust.jwk, kid: stranger.kid, use: 'trust', validFrom: at(-1) }], signer: { ...trust, kid: stranger.kid } }) }),
      'TRUST_LIST_INVALID',
      'kid is not the thumbprint',
    );
    assert.equal(await reasonOf({ seal: bad, trustList: trustList({ status: [{ n: 'x', v: 'one', s: 'cancelled', at: at(0) }] }) }), 'TRUST_LIST_INVALID');
    assert.equal(await reasonOf({ seal: bad, trustList: trustList({ issuedAt: at(-1).replace('Z', '') }) }), 'TRUST_LIST_INVALID', 'a date-time without its offset');
    const started = performance.now();
    assert.equal(await reasonOf({ seal: bad, trustList: 'A'.repeat(MAX_TRUST_LIST_CHARS + 1) }), 'TRUST_LIST_INVALID');
    assert.ok(performance.now() - started < 2000, 'refused unread');
    // 20 MB of nesting, unsigned: refused before JSON.parse, in well under a second's work.
    const deep = `${b64(JSON.stringify({ alg: 'ES256', kid: trust.kid, typ: 'eco-trust+jws' }))}.${b64('['.repeat(10_000_000) + ']'.repeat(10_000_000))}.${b64('x'.repeat(64))}`;
    const deepStarted = performance.now();
    assert.equal(await reasonOf({ seal: bad, trustList: deep }), 'TRUST_LIST_INVALID');
    assert.ok(performance.now() - deepStarted < 5000, `${Math.round(performance.now() - deepStarted)} ms`);
    assert.equal(await reasonOf({ seal: bad, pins: [stranger.kid] }), 'TRUST_LIST_UNPINNED');
    assert.equal(await reasonOf({ seal: bad, trustList: trustList({ signer: stranger, keys: [{ ...stranger.jwk, kid: stranger.kid, use: 'trust', validFrom: at(-1) }] }) }), 'TRUST_LIST_UNPINNED');
  });

  it('reports, in order: unknown key, altered seal, revoked key, foreign country, then the listed status, then staleness', async () => {
    assert.equal(await reasonOf({ seal: seal(payload, stranger) }), 'SEAL_KEY_UNKNOWN');
    assert.equal(await reasonOf({ seal: seal({ ...payload, i: 'VN-MOIT' }) }), 'SEAL_KEY_UNKNOWN', "another party's seal under this list");
    const good = seal();
    const dot = good.lastIndexOf('.');
    const flipped = `${good.slice(0, dot + 5)}${good[dot + 5] === 'Q' ? 'R' : 'Q'}${good.slice(dot + 6)}`;
    assert.equal(await reasonOf({ seal: flipped }), 'SEAL_SIGNATURE_INVALID');
    const keys = (extra: object) => [
      { ...signing.jwk, kid: signing.kid, use: 'sig', validFrom: at(-1000), ...extra },
      { ...trust.jwk, kid: trust.kid, use: 'trust', validFrom: at(-1000) },
    ];
    assert.equal(await reasonOf({ trustList: trustList({ keys: keys({ retiredAt: at(-500) }) }) }), 'OK', 'a retired key still verifies what it sealed');
    assert.equal(await reasonOf({ trustList: trustList({ keys: keys({ revokedAt: at(-500) }), countries: ['VN'] }) }), 'SEAL_KEY_REVOKED');
    assert.equal(await reasonOf({ trustList: trustList({ countries: ['VN'] }) }), 'ISSUER_NOT_FOR_COUNTRY');
    const cancelled = [{ n: payload.n, v: 1, s: 'cancelled', at: at(-2) }];
    assert.equal(await reasonOf({ trustList: trustList({ status: cancelled, issuedAt: at(-48), nextUpdate: at(-24) }) }), 'CERTIFICATE_CANCELLED', 'a stale list still tells a cancellation');
    assert.equal(await reasonOf({ trustList: trustList({ status: [{ n: payload.n, v: 1, s: 'replaced', at: at(-2) }] }) }), 'CERTIFICATE_REPLACED');
    assert.equal(await reasonOf({ trustList: trustList({ status: [{ n: payload.n, v: 2, s: 'cancelled', at: at(-2) }] }) }), 'OK', 'by number and version');
    assert.equal(await reasonOf({ trustList: trustList({ issuedAt: at(-30), nextUpdate: at(10) }) }), 'TRUST_LIST_STALE', 'nextUpdate past 24 h counts as 24 h');
  });

  it('checks the attached certificate.jws against h: other bytes, a non-canonical spelling, a bad signature', async () => {
    const header = { alg: 'ES256', kid: signing.kid, typ: 'eco-certificate+jws' };
    assert.equal(await reasonOf({ certificateJws: jws(header, canonical, signing.privateKey) }), 'OK');
    assert.equal(await reasonOf({ certificateJws: jws(header, JSON.stringify(certificate, null, 1), signing.privateKey) }), 'HASH_MISMATCH');
    assert.equal(await reasonOf({ certificateJws: jws(header, canonicalJson({ ...certificate, version: 2 }), signing.privateKey) }), 'HASH_MISMATCH');
    assert.equal(await reasonOf({ certificateJws: jws({ ...header, kid: stranger.kid }, canonical, stranger.privateKey) }), 'HASH_MISMATCH');
    assert.equal(await reasonOf({ certificateJws: 'garbage' }), 'HASH_MISMATCH');
    assert.equal(await reasonOf({ certificateJws: '' }), 'HASH_MISMATCH', 'an attachment that could not be read');
    assert.equal(await reasonOf({ certificateJws: jws(header, `\uFEFF${canonical}`, signing.privateKey) }), 'HASH_MISMATCH', 'a byte-order mark is other bytes');
    const other = await newKey();
    const revokedSigner = trustList({
      keys: [
        { ...signing.jwk, kid: signing.kid, use: 'sig', validFrom: at(-1000) },
        { ...other.jwk, kid: other.kid, use: 'sig', validFrom: at(-2000), revokedAt: at(-100) },
        { ...trust.jwk, kid: trust.kid, use: 'trust', validFrom: at(-1000) },
      ],
    });
    assert.equal(await reasonOf({ trustList: revokedSigner, certificateJws: jws({ ...header, kid: other.kid }, canonical, other.privateKey) }), 'HASH_MISMATCH', 'signed by a revoked key');
  });

  it('believes a status answer only with its nonce and h, fresh, signed by a current key; offline it falls back to the list', async () => {
    assert.equal(await reasonOf({ fetchStatus: statusService(validAnswer) }), 'OK');
    assert.equal(await reasonOf({ fetchStatus: statusService(validAnswer), trustList: trustList({ issuedAt: at(-48), nextUpdate: at(-24) }) }), 'OK', 'valid online beats a stale list');
    const unavailable: [string, (url: string) => Promise<StatusFetch>][] = [
      ['forged', statusService(validAnswer, stranger)],
      ['replayed', statusService((_n, h22) => validAnswer('A'.repeat(22), h22))],
      ['foreign h', statusService((nonce) => validAnswer(nonce, 'B'.repeat(22)))],
      ['old', statusService((nonce, h22) => ({ ...validAnswer(nonce, h22), checkedAt: at(-0.2) }))],
      ['another certificate', statusService((nonce, h22) => ({ ...validAnswer(nonce, h22), n: 'KR-2031-0002' }))],
      ['an error', async () => ({ reached: true })],
      ['not a JWS', async () => ({ reached: true, text: '<html>' })],
    ];
    for (const [what, fetchStatus] of unavailable) assert.equal(await reasonOf({ fetchStatus }), 'STATUS_UNAVAILABLE', what);
    const retired = trustList({
      keys: [
        { ...signing.jwk, kid: signing.kid, use: 'sig', validFrom: at(-1000), retiredAt: at(-1) },
        { ...trust.jwk, kid: trust.kid, use: 'trust', validFrom: at(-1000) },
      ],
    });
    assert.equal(await reasonOf({ trustList: retired, fetchStatus: statusService(validAnswer) }), 'STATUS_UNAVAILABLE', 'signed by a retired key');
    assert.equal(await reasonOf({ fetchStatus: statusService((nonce, h22) => ({ h: h22, nonce, status: 'unknown', checkedAt: at(0) })) }), 'STATUS_UNKNOWN');
    assert.equal(await reasonOf({ fetchStatus: statusService((nonce, h22) => ({ ...validAnswer(nonce, h22), status: 'cancelled' })) }), 'CERTIFICATE_CANCELLED');
    // Asked and not answered is STATUS_UNAVAILABLE (PROFILE), shown with the status as of the list;
    // not asked (offline), the list decides.
    const unreachable = await verify({ fetchStatus: async () => ({ reached: false }) });
    assert.equal(unreachable.reason, 'STATUS_UNAVAILABLE');
    assert.equal(unreachable.status?.source, 'trust-list');
    assert.equal(await reasonOf({ fetchStatus: async () => Promise.reject(new Error('boom')) }), 'STATUS_UNAVAILABLE', 'a fetch that throws');
    const offline = await verify();
    assert.equal(offline.reason, 'OK');
    assert.match(offline.detail, /offline/);
  });

  it('reads base64url only in its canonical spelling, as Node re-encodes it', () => {
    fc.assert(
      fc.property(fc.string({ unit: fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'), maxLength: 40 }), (text) => {
        const canonical = text.length % 4 !== 1 && Buffer.from(text, 'base64url').toString('base64url') === text;
        assert.equal(fromBase64url(text) !== undefined, canonical, text);
      }),
      { numRuns: 2000 },
    );
  });

  it('never says OK for a seal with one character changed, and never throws on any text', async () => {
    const good = seal();
    await fc.assert(
      fc.asyncProperty(fc.nat(good.length - 1), fc.constantFrom(...'AQgw-_0aZ.:{'), async (index, char) => {
        fc.pre(good[index] !== char);
        const changed = good.slice(0, index) + char + good.slice(index + 1);
        assert.notEqual(await reasonOf({ seal: changed }), 'OK');
      }),
      { numRuns: 200 },
    );
    await fc.assert(
      fc.asyncProperty(fc.string({ unit: 'binary', maxLength: 1200 }), fc.string({ unit: 'binary', maxLength: 300 }), async (text, list) => {
        const verdict = await verifySeal({ seal: `ECO1:${text}`, trustList: list, pins: [trust.kid], now: NOW });
        assert.notEqual(verdict.reason, 'OK');
      }),
      { numRuns: 200 },
    );
  });
});

describe('reading seals from copies', () => {
  it('reads back the QR code it draws, in byte mode, for seals up to 900 characters', () => {
    const text = seal();
    assert.equal(sealFromPng(sealPng(text)), text);
    const longest = `ECO1:${'x'.repeat(895)}`;
    assert.equal(sealFromPng(sealPng(longest)), longest);
  });

  it('refuses corrupt and oversized images and PDFs without decoding them', async () => {
    assert.throws(() => sealFromPng(Buffer.from('not a png')), UnreadableCopy);
    const png = sealPng(seal());
    const corrupt = Buffer.from(png);
    corrupt.fill(0x41, 40, 200);
    assert.throws(() => sealFromPng(corrupt), UnreadableCopy);
    // A header that claims 100,000 x 100,000 pixels: refused from the header alone.
    const huge = Buffer.from(png);
    huge.writeUInt32BE(100_000, 16);
    huge.writeUInt32BE(100_000, 20);
    assert.throws(() => sealFromPng(huge), /pixels/);
    const blank = new PNG({ width: 50, height: 50 });
    blank.data.fill(255);
    assert.equal(sealFromPng(PNG.sync.write(blank)), undefined, 'no QR code: nothing, not an error');
    // A flate bomb (96 MiB of zeros in a 96 KB stream, an object stream pdf-lib would inflate) is refused before any parser does.
    const bomb = deflateSync(Buffer.alloc(96 * 1024 * 1024));
    const bombPdf = Buffer.concat([
      Buffer.from(`%PDF-1.7\n1 0 obj\n<< /Type /ObjStm /N 1 /First 0 /Length ${bomb.length} /Filter /FlateDecode >>\nstream\n`),
      bomb,
      Buffer.from('\nendstream\nendobj\n%%EOF\n'),
    ]);
    await assert.rejects(readPdfCopy(bombPdf), /inflate to over/);
    // A PDF with nothing readable in it has no seal: the CLI says so (SEAL_MALFORMED), it does not crash.
    assert.deepEqual(await readPdfCopy(Buffer.from('%PDF-1.7\ngarbage')), { seal: undefined, certificateJws: undefined });
  });
});
