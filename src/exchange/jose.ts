// JOSE for the wire (RFC 7515 compact JWS). node-jose does key generation, JWK/JWKS import and
// export, JWE and the optional PS256; ES256 JWS, on every message, goes straight to node:crypto,
// because node-jose re-encodes the JWK to PEM through ASN.1 on every call (measured: about 10x
// slower to sign and 3x to verify than the path below; bench/signing.ts).
import { createPrivateKey, createPublicKey, sign as cryptoSign, verify as cryptoVerify, type KeyObject } from 'node:crypto';
import jose from 'node-jose';

export const JWS_TYP = 'eco+jws';
/** Signature algorithms we accept from peers (PROFILE: ES256 required, PS256 and EdDSA allowed). */
export const ACCEPTED_ALGS = ['ES256', 'PS256', 'EdDSA'];

export type Jwk = Record<string, unknown> & { kty: string; kid: string };
export type Jwks = { keys: Jwk[] };
export type SigningKey = jose.JWK.Key;
export type PeerKeys = jose.JWK.KeyStore;

export async function generateSigningKey(): Promise<SigningKey> {
  return jose.JWK.createKey('EC', 'P-256', { alg: 'ES256', use: 'sig' });
}

/** Our key for payloads peers encrypt to us (PROFILE: ECDH-ES+A256KW or RSA-OAEP-256, A256GCM). */
export async function generateEncryptionKey(): Promise<SigningKey> {
  return jose.JWK.createKey('EC', 'P-256', { alg: 'ECDH-ES+A256KW', use: 'enc' });
}

export async function importKey(jwk: Jwk): Promise<SigningKey> {
  return jose.JWK.asKey(jwk);
}

/** A peer's public keys; throws on a malformed JWKS. */
export async function importJwks(jwks: Jwks): Promise<PeerKeys> {
  return jose.JWK.asKeyStore(jwks);
}

// KeyObjects made once per node-jose key: a WeakMap ties each to its key's lifetime (peer
// keystores are re-imported every few seconds), so the cache cannot grow. null = not an ES256 key.
const es256PrivateKeys = new WeakMap<SigningKey, KeyObject | null>();
const es256PublicKeys = new WeakMap<SigningKey, KeyObject | null>();

/** The JWK members of an EC P-256 key that node-jose would let sign/verify ES256, else undefined. */
function es256Jwk(key: SigningKey, isPrivate: boolean): { kty: 'EC'; crv: 'P-256'; x: string; y: string; d?: string } | undefined {
  // node-jose refuses a key whose `use` is enc or whose `alg` is another one: so do we.
  if (key.kty !== 'EC' || (key.use && key.use !== 'sig') || (key.alg && key.alg !== 'ES256')) return undefined;
  const jwk = key.toJSON(isPrivate) as Record<string, unknown>;
  if (jwk.crv !== 'P-256' || typeof jwk.x !== 'string' || typeof jwk.y !== 'string') return undefined;
  if (isPrivate && typeof jwk.d !== 'string') return undefined;
  return { kty: 'EC', crv: 'P-256', x: jwk.x, y: jwk.y, ...(isPrivate ? { d: jwk.d as string } : {}) };
}

function cached(cache: WeakMap<SigningKey, KeyObject | null>, key: SigningKey, make: () => KeyObject | null): KeyObject | null {
  let object = cache.get(key);
  if (object === undefined) {
    try {
      object = make();
    } catch {
      object = null; // e.g. a point not on the curve
    }
    cache.set(key, object);
  }
  return object;
}

function es256PrivateKey(key: SigningKey): KeyObject | null {
  return cached(es256PrivateKeys, key, () => {
    const jwk = es256Jwk(key, true);
    return jwk ? createPrivateKey({ key: jwk, format: 'jwk' }) : null;
  });
}

function es256PublicKey(key: SigningKey): KeyObject | null {
  return cached(es256PublicKeys, key, () => {
    const jwk = es256Jwk(key, false);
    return jwk ? createPublicKey({ key: jwk, format: 'jwk' }) : null;
  });
}

const b64url = (text: string) => Buffer.from(text).toString('base64url');

export async function sign(payload: unknown, key: SigningKey): Promise<string> {
  return signText(JSON.stringify(payload), key, JWS_TYP);
}

/** A compact JWS of exactly `payloadText` (the seal and its siblings name their own `typ`). */
export async function signText(payloadText: string, key: SigningKey, typ: string): Promise<string> {
  const fields = { alg: String(key.alg), kid: key.kid, typ };
  const privateKey = fields.alg === 'ES256' ? es256PrivateKey(key) : null;
  if (privateKey) {
    // Same header member order as node-jose, so the bytes look alike whichever path signed.
    const input = `${b64url(JSON.stringify(fields))}.${b64url(payloadText)}`;
    const signature = cryptoSign('sha256', Buffer.from(input), { key: privateKey, dsaEncoding: 'ieee-p1363' });
    return `${input}.${signature.toString('base64url')}`;
  }
  const jws = await jose.JWS.createSign({ format: 'compact', fields }, key).update(Buffer.from(payloadText)).final();
  return String(jws);
}

export type JwsHeader = { alg?: unknown; kid?: unknown; typ?: unknown };
export type DecodedJws = { header: JwsHeader; payload: unknown };

// The signature part may be empty: an unsecured JWS (alg none) is still a JWS (RFC 7515 6; PROFILE
// 1.1), to be answered SIGNATURE_INVALID rather than dead-lettered as unreadable.
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

/**
 * Reads header and payload WITHOUT verifying: the receiver needs `from` and `kid` to know whose
 * keys to verify with. Returns undefined when the text is not a compact JWS with JSON parts.
 */
export function decodeUnverified(text: string): DecodedJws | undefined {
  if (!COMPACT_JWS.test(text)) return undefined;
  const [header, payload] = text.split('.');
  try {
    const parsedHeader: unknown = JSON.parse(Buffer.from(header!, 'base64url').toString('utf8'));
    const parsedPayload: unknown = JSON.parse(Buffer.from(payload!, 'base64url').toString('utf8'));
    if (typeof parsedHeader !== 'object' || parsedHeader === null || Array.isArray(parsedHeader)) return undefined;
    return { header: parsedHeader as JwsHeader, payload: parsedPayload };
  } catch {
    // Not a compact JWS with JSON in it: the caller treats undefined as such.
    return undefined;
  }
}

export function hasKey(keys: PeerKeys, kid: string): boolean {
  return keys.get(kid) !== null && keys.get(kid) !== undefined;
}

// An ES256 signature is r || s, 32 bytes each: 86 base64url characters, no padding.
const ES256_SIGNATURE_CHARS = 86;
// The kty each algorithm needs: an alg that does not fit the key is refused before any maths.
const KEY_TYPE_OF_ALG: Record<string, string> = { PS256: 'RSA', EdDSA: 'OKP' };

function verifyEs256(header64: string, payload64: string, signature64: string, key: SigningKey): boolean {
  const publicKey = es256PublicKey(key);
  if (!publicKey || signature64.length !== ES256_SIGNATURE_CHARS) return false;
  const signature = Buffer.from(signature64, 'base64url');
  // Only the canonical encoding: other spellings of the same bytes would make one message many.
  if (signature.length !== 64 || signature.toString('base64url') !== signature64) return false;
  try {
    return cryptoVerify('sha256', Buffer.from(`${header64}.${payload64}`), { key: publicKey, dsaEncoding: 'ieee-p1363' }, signature);
  } catch {
    // Whatever fails here (bad encoding, wrong key type) is a signature that does not verify.
    return false;
  }
}

/** True when `jws` carries a valid signature by the key `kid` of `keys` with an accepted algorithm. */
export async function verify(jws: string, keys: PeerKeys, kid: string): Promise<boolean> {
  const key = keys.get(kid);
  if (!key || !COMPACT_JWS.test(jws)) return false;
  const [header64, payload64, signature64] = jws.split('.') as [string, string, string];
  let header: unknown;
  try {
    header = JSON.parse(Buffer.from(header64, 'base64url').toString('utf8'));
  } catch {
    // Whatever fails here (bad encoding, wrong key type) is a signature that does not verify.
    return false;
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) return false;
  // No extension is understood, so none may be critical (RFC 7515 4.1.11).
  if ('crit' in header) return false;
  const alg = (header as JwsHeader).alg;
  if (alg === 'ES256') return verifyEs256(header64, payload64, signature64, key);
  if (typeof alg !== 'string' || !ACCEPTED_ALGS.includes(alg) || KEY_TYPE_OF_ALG[alg] !== key.kty) return false;
  try {
    await jose.JWS.createVerify(key, { algorithms: [alg] }).verify(jws);
    return true;
  } catch {
    // Whatever fails here (bad encoding, wrong key type) is a signature that does not verify.
    return false;
  }
}

export const JWE_ALGS = ['ECDH-ES+A256KW', 'RSA-OAEP-256'];

/** The peer's key to encrypt to: one published with `use: enc` and an algorithm PROFILE allows. */
export function encryptionKeyOf(keys: PeerKeys): SigningKey | undefined {
  return keys.all({ use: 'enc' }).find((k) => JWE_ALGS.includes(String(k.alg)));
}

/**
 * Signs the envelope and, for a peer that requires it, encrypts the JWS to the peer's key
 * (sign, then encrypt). Done once, when the message is queued: a retry sends the same bytes.
 */
export async function seal(payload: unknown, signingKey: SigningKey, peer: { encrypt: boolean; keys: PeerKeys }): Promise<string> {
  const jws = await sign(payload, signingKey);
  if (!peer.encrypt) return jws;
  const key = encryptionKeyOf(peer.keys);
  if (!key) throw new Error('the peer requires encryption but publishes no encryption key');
  const fields = { alg: String(key.alg), enc: 'A256GCM', kid: key.kid, cty: JWS_TYP };
  return String(await jose.JWE.createEncrypt({ format: 'compact', fields }, key).update(Buffer.from(jws)).final());
}

/** The JWS inside a compact JWE, or undefined when none of our keys opens it. */
export async function decrypt(jwe: string, ourKeys: PeerKeys): Promise<string | undefined> {
  try {
    const result = await jose.JWE.createDecrypt(ourKeys, { algorithms: [...JWE_ALGS, 'A256GCM'] }).decrypt(jwe);
    return result.plaintext.toString('utf8');
  } catch {
    // None of our keys opens it: undefined is the answer (DECRYPTION_FAILED).
    return undefined;
  }
}
