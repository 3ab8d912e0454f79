// The ES256 hot path (node:crypto) against node-jose, and the forgeries it must refuse. Pure unit
// tests: no services. Each forgery is built so that some careless verifier would accept it (the
// "a lax verifier would" assertions), so that a refusal here means something.
import assert from 'node:assert/strict';
import { createHmac, createPrivateKey, createPublicKey, sign as cryptoSign, verify as cryptoVerify, generateKeyPairSync, type JsonWebKey, type KeyObject } from 'node:crypto';
import { before, describe, it } from 'node:test';
import jose from 'node-jose';
import { generateEncryptionKey, generateSigningKey, importJwks, type Jwk, type PeerKeys, type SigningKey, sign, verify } from '../../src/exchange/jose.ts';
import { exampleCertificate } from '../support/fixtures.ts';

const b64 = (value: unknown) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');
const envelope = (body: unknown = exampleCertificate()) => ({
  profile: 'eco/1.0',
  id: crypto.randomUUID(),
  type: 'certificate.issued',
  from: 'KR-KCS',
  to: 'VN-MOIT',
  sentAt: new Date().toISOString(),
  body,
});

const publicOf = async (...keys: SigningKey[]): Promise<PeerKeys> => importJwks({ keys: keys.map((k) => k.toJSON() as Jwk) });
const privateKeyOf = (key: SigningKey): KeyObject => createPrivateKey({ key: key.toJSON(true) as JsonWebKey, format: 'jwk' });
const publicKeyOf = (key: SigningKey): KeyObject => createPublicKey(privateKeyOf(key));

async function joseSign(payload: unknown, key: SigningKey): Promise<string> {
  const fields = { alg: 'ES256', kid: key.kid, typ: 'eco+jws' };
  return String(
    await jose.JWS.createSign({ format: 'compact', fields }, key)
      .update(Buffer.from(JSON.stringify(payload)))
      .final(),
  );
}

async function joseAccepts(jws: string, keys: PeerKeys | SigningKey, algorithms = ['ES256', 'PS256', 'EdDSA']): Promise<boolean> {
  try {
    await jose.JWS.createVerify(keys, { algorithms }).verify(jws);
    return true;
  } catch {
    return false;
  }
}

/** A compact JWS with any header, signed over its own signing input by `signer`. */
function forge(header: object, payload: unknown, signer: (input: Buffer) => Buffer): string {
  const input = `${b64(header)}.${b64(payload)}`;
  return `${input}.${signer(Buffer.from(input)).toString('base64url')}`;
}

const inputOf = (jws: string) => Buffer.from(jws.split('.').slice(0, 2).join('.'));
const signatureOf = (jws: string) => Buffer.from(jws.split('.')[2]!, 'base64url');
const withSignature = (jws: string, signature: string) => `${jws.split('.').slice(0, 2).join('.')}.${signature}`;

describe('ES256 JWS on node:crypto', () => {
  let key: SigningKey;
  let other: SigningKey;
  let keys: PeerKeys;

  before(async () => {
    key = await generateSigningKey();
    other = await generateSigningKey();
    keys = await publicOf(key);
  });

  describe('is interchangeable with node-jose', () => {
    const payloads = () => [envelope(), envelope({ remarks: 'Ünïcödé — 原产地证书 🚢', n: 1.5, nested: [null, true, { '': '' }] }), { tiny: 1 }];

    it('node-jose verifies what we sign, and reads the same payload', async () => {
      for (const payload of payloads()) {
        const jws = await sign(payload, key);
        const result = await jose.JWS.createVerify(keys, { algorithms: ['ES256'] }).verify(jws);
        assert.deepEqual(JSON.parse(result.payload.toString('utf8')), payload);
        assert.equal((result.header as { alg?: unknown }).alg, 'ES256');
        assert.equal((result.header as { kid?: unknown }).kid, key.kid);
        assert.equal(signatureOf(jws).length, 64, 'r || s, not DER');
      }
    });

    it('we verify what node-jose signs', async () => {
      for (const payload of payloads()) assert.equal(await verify(await joseSign(payload, key), keys, key.kid), true);
    });

    it('writes the same header and payload bytes as node-jose', async () => {
      const payload = envelope();
      assert.deepEqual((await sign(payload, key)).split('.').slice(0, 2), (await joseSign(payload, key)).split('.').slice(0, 2));
    });

    it('verifies with a keystore holding several keys, by kid, and with a freshly imported one', async () => {
      const both = await publicOf(key, other);
      const jws = await sign(envelope(), other);
      assert.equal(await verify(jws, both, other.kid), true);
      assert.equal(await verify(jws, both, key.kid), false);
      // Peer keystores are re-imported every few seconds: a new key object must work at once.
      assert.equal(await verify(jws, await publicOf(other), other.kid), true);
    });

    it('keeps node-jose for PS256, and refuses PS256 with an EC key', async () => {
      const rsa = await jose.JWK.createKey('RSA', 2048, { alg: 'PS256', use: 'sig' });
      const rsaKeys = await publicOf(rsa);
      const jws = await sign(envelope(), rsa);
      assert.equal(JSON.parse(Buffer.from(jws.split('.')[0]!, 'base64url').toString()).alg, 'PS256');
      assert.equal(await verify(jws, rsaKeys, rsa.kid), true);
      assert.equal(await verify(jws, await publicOf(key), key.kid), false);
    });
  });

  describe('refuses', () => {
    it('a tampered payload', async () => {
      const jws = await sign(envelope(), key);
      const [h, p, s] = jws.split('.') as [string, string, string];
      const payload = JSON.parse(Buffer.from(p, 'base64url').toString());
      payload.to = 'JP-MOF';
      assert.equal(await verify(`${h}.${b64(payload)}.${s}`, keys, key.kid), false);
      assert.equal(await verify(jws, keys, key.kid), true, 'the untampered one verifies');
    });

    it('a tampered header', async () => {
      const jws = await sign(envelope(), key);
      const [, p, s] = jws.split('.') as [string, string, string];
      for (const header of [
        { alg: 'ES256', kid: key.kid, typ: 'other' },
        { alg: 'ES256', kid: key.kid },
        { kid: key.kid, typ: 'eco+jws', alg: 'ES256' },
      ]) {
        assert.equal(await verify(`${b64(header)}.${p}.${s}`, keys, key.kid), false, JSON.stringify(header));
      }
    });

    it('a signature by another key of the same kind', async () => {
      const jws = forge({ alg: 'ES256', kid: key.kid, typ: 'eco+jws' }, envelope(), (input) => cryptoSign('sha256', input, { key: privateKeyOf(other), dsaEncoding: 'ieee-p1363' }));
      assert.equal(cryptoVerify('sha256', inputOf(jws), { key: publicKeyOf(other), dsaEncoding: 'ieee-p1363' }, signatureOf(jws)), true, 'a lax verifier trusting any P-256 key would');
      assert.equal(await verify(jws, keys, key.kid), false);
    });

    it('alg none with an empty signature', async () => {
      for (const header of [{ alg: 'none', kid: key.kid, typ: 'eco+jws' }, { alg: 'none' }]) {
        const jws = `${b64(header)}.${b64(envelope())}.`;
        assert.equal(await verify(jws, keys, key.kid), false);
        assert.equal(await joseAccepts(jws, keys), false);
      }
    });

    it('HS256 keyed with the public key (algorithm confusion)', async () => {
      const publicPem = publicKeyOf(key).export({ format: 'pem', type: 'spki' });
      const publicJwk = JSON.stringify(key.toJSON());
      for (const secret of [publicPem, publicJwk]) {
        const jws = forge({ alg: 'HS256', kid: key.kid, typ: 'eco+jws' }, envelope(), (input) => createHmac('sha256', secret).update(input).digest());
        // A verifier that took alg from the header and the key's bytes as its secret would accept:
        const confused = await jose.JWK.asKey({ kty: 'oct', k: b64(secret), kid: key.kid });
        assert.equal(await joseAccepts(jws, confused, ['HS256']), true, 'a lax verifier would');
        assert.equal(await verify(jws, keys, key.kid), false);
      }
    });

    it('alg ES256 against an RSA key (an RS256 signature relabelled)', async () => {
      const rsa = await jose.JWK.createKey('RSA', 2048, { use: 'sig' });
      const jws = forge({ alg: 'ES256', kid: rsa.kid, typ: 'eco+jws' }, envelope(), (input) => cryptoSign('sha256', input, privateKeyOf(rsa)));
      assert.equal(cryptoVerify('sha256', inputOf(jws), publicKeyOf(rsa), signatureOf(jws)), true, 'a verifier that ignores the key type and the length would');
      assert.equal(await verify(jws, await publicOf(rsa), rsa.kid), false);
    });

    it('alg ES256 against an Ed25519 key (signatures of the same 64 bytes)', async () => {
      // node-jose 2.2 cannot import OKP keys, so the keystore is a stand-in holding a key object
      // shaped like node-jose's: what matters is that the key type is checked, not the length.
      const { privateKey, publicKey } = generateKeyPairSync('ed25519');
      const jwk = { ...publicKey.export({ format: 'jwk' }), kid: 'ed-1' };
      const edKey = { kty: 'OKP', kid: 'ed-1', use: 'sig', alg: '', toJSON: () => jwk } as unknown as SigningKey;
      const edKeys = { get: (kid: string) => (kid === 'ed-1' ? edKey : null) } as unknown as PeerKeys;
      const jws = forge({ alg: 'ES256', kid: 'ed-1', typ: 'eco+jws' }, envelope(), (input) => cryptoSign(null, input, privateKey));
      assert.equal(signatureOf(jws).length, 64);
      assert.equal(cryptoVerify(null, inputOf(jws), createPublicKey({ key: jwk, format: 'jwk' }), signatureOf(jws)), true, 'a verifier that builds the key from the JWK alone would');
      assert.equal(await verify(jws, edKeys, 'ed-1'), false);
    });

    it('alg ES384 (SHA-384 over the same P-256 key)', async () => {
      const jws = forge({ alg: 'ES384', kid: key.kid, typ: 'eco+jws' }, envelope(), (input) => cryptoSign('sha384', input, { key: privateKeyOf(key), dsaEncoding: 'ieee-p1363' }));
      assert.equal(cryptoVerify('sha384', inputOf(jws), { key: publicKeyOf(key), dsaEncoding: 'ieee-p1363' }, signatureOf(jws)), true, 'a verifier hashing by the header would');
      assert.equal(await verify(jws, keys, key.kid), false);
    });

    it('an EC P-256 key published for encryption, as node-jose does', async () => {
      const enc = await generateEncryptionKey();
      const jws = forge({ alg: 'ES256', kid: enc.kid, typ: 'eco+jws' }, envelope(), (input) => cryptoSign('sha256', input, { key: privateKeyOf(enc), dsaEncoding: 'ieee-p1363' }));
      assert.equal(cryptoVerify('sha256', inputOf(jws), { key: publicKeyOf(enc), dsaEncoding: 'ieee-p1363' }, signatureOf(jws)), true);
      const encKeys = await publicOf(enc);
      assert.equal(await joseAccepts(jws, encKeys), false);
      assert.equal(await verify(jws, encKeys, enc.kid), false);
    });

    it('a crit header, even correctly signed', async () => {
      const jws = forge({ alg: 'ES256', kid: key.kid, typ: 'eco+jws', crit: ['exp'], exp: 1 }, envelope(), (input) =>
        cryptoSign('sha256', input, { key: privateKeyOf(key), dsaEncoding: 'ieee-p1363' }),
      );
      assert.equal(cryptoVerify('sha256', inputOf(jws), { key: publicKeyOf(key), dsaEncoding: 'ieee-p1363' }, signatureOf(jws)), true, 'a verifier ignoring crit would');
      assert.equal(await verify(jws, keys, key.kid), false);
    });

    it('a signature of the wrong length', async () => {
      const jws = await sign(envelope(), key);
      const signature = signatureOf(jws);
      const r = signature.subarray(0, 32);
      const s = signature.subarray(32);
      const zero = Buffer.alloc(1);
      const variants = {
        // The same integers r and s, each one byte wider: a verifier reading halves as numbers would accept.
        padded: Buffer.concat([zero, r, zero, s]),
        // A trailing byte: a verifier reading the first 64 bytes would accept.
        trailing: Buffer.concat([signature, zero]),
        truncated: signature.subarray(0, 63),
        empty: Buffer.alloc(0),
      };
      assert.equal(BigInt(`0x${variants.padded.subarray(0, 33).toString('hex')}`), BigInt(`0x${r.toString('hex')}`));
      for (const [name, variant] of Object.entries(variants)) {
        assert.equal(await verify(withSignature(jws, variant.toString('base64url')), keys, key.kid), false, name);
      }
    });

    it('non-base64url characters, even where they decode to the valid signature', async () => {
      let jws = await sign(envelope(), key);
      // Most signatures hold a - or _; sign again until one does, so the standard alphabet differs.
      while (!/[-_]/.test(jws.split('.')[2]!)) jws = await sign(envelope(), key);
      const [h, p, s] = jws.split('.') as [string, string, string];
      const standard = s.replace(/-/g, '+').replace(/_/g, '/');
      assert.deepEqual(Buffer.from(standard, 'base64url'), signatureOf(jws), 'a lax decoder reads the same bytes');
      for (const forged of [`${h}.${p}.${standard}`, `${h}.${p}.${s}==`, `${h}.${p}.${s}\n`, `${h}.${p}.${s.slice(0, 40)} ${s.slice(40)}`, `${h}=.${p}.${s}`, ` ${jws}`]) {
        assert.equal(await verify(forged, keys, key.kid), false, JSON.stringify(forged.slice(-8)));
      }
      assert.equal(await verify(jws, keys, key.kid), true);
    });

    it('a non-canonical base64url spelling of the signature', async () => {
      // 64 bytes take 86 characters whose last carries 4 unused bits: flipping them keeps the bytes.
      const jws = await sign(envelope(), key);
      const s = jws.split('.')[2]!;
      const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
      const last = alphabet.indexOf(s.at(-1)!);
      const respelled = `${s.slice(0, -1)}${alphabet[last ^ 1]}`;
      assert.deepEqual(Buffer.from(respelled, 'base64url'), signatureOf(jws), 'a lax decoder reads the same bytes');
      assert.equal(await verify(withSignature(jws, respelled), keys, key.kid), false);
    });

    it('a DER-encoded signature', async () => {
      const jws = forge({ alg: 'ES256', kid: key.kid, typ: 'eco+jws' }, envelope(), (input) => cryptoSign('sha256', input, { key: privateKeyOf(key), dsaEncoding: 'der' }));
      assert.equal(cryptoVerify('sha256', inputOf(jws), { key: publicKeyOf(key), dsaEncoding: 'der' }, signatureOf(jws)), true, 'node:crypto with its default encoding would');
      assert.equal(await verify(jws, keys, key.kid), false);
    });

    it('an unknown kid, a header that is not a JSON object, and a body that is not a JWS', async () => {
      const jws = await sign(envelope(), key);
      const [, p, s] = jws.split('.') as [string, string, string];
      assert.equal(await verify(jws, keys, other.kid), false);
      for (const header of [b64('[1]'), b64('null'), b64('"ES256"'), b64('{'), 'x']) assert.equal(await verify(`${header}.${p}.${s}`, keys, key.kid), false, header);
      for (const text of ['', 'a.b', 'a.b.c.d.e', jws.split('.').slice(0, 2).join('.')]) assert.equal(await verify(text, keys, key.kid), false, text);
    });
  });
});
