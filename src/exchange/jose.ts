// JOSE for the wire (RFC 7515 compact JWS), with node-jose.
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

export async function sign(payload: unknown, key: SigningKey): Promise<string> {
  const fields = { alg: String(key.alg), kid: key.kid, typ: JWS_TYP };
  const jws = await jose.JWS.createSign({ format: 'compact', fields }, key).update(Buffer.from(JSON.stringify(payload))).final();
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
    return undefined;
  }
}

export function hasKey(keys: PeerKeys, kid: string): boolean {
  return keys.get(kid) !== null && keys.get(kid) !== undefined;
}

/** True when `jws` carries a valid signature by the key `kid` of `keys` with an accepted algorithm. */
export async function verify(jws: string, keys: PeerKeys, kid: string): Promise<boolean> {
  const key = keys.get(kid);
  if (!key) return false;
  try {
    await jose.JWS.createVerify(key, { algorithms: ACCEPTED_ALGS }).verify(jws);
    return true;
  } catch {
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
    return undefined;
  }
}
