// Making seals and their companions for certificates issued here (PROFILE 1.2). Node only.
import { createHash } from 'node:crypto';
import type { Certificate } from '../dataset/index.ts';
import type { Queryable } from '../db/index.ts';
import { type SigningKey, signText } from '../exchange/index.ts';
import { CERTIFICATE_TYP, canonicalJson, KIND_LETTERS, MAX_SEAL_CHARS, SEAL_PREFIX, SEAL_TYP, type SealPayload } from './format.ts';

/** The certificate's canonical bytes (RFC 8785) and their base64url SHA-256, the seal's `h`. */
export function canonicalForm(certificate: Certificate): { canonical: string; hash: string } {
  const canonical = canonicalJson(certificate);
  return { canonical, hash: createHash('sha256').update(canonical, 'utf8').digest('base64url') };
}

/** The seal's payload, members in PROFILE's order. */
export function sealPayload(certificate: Certificate, hash: string, statusUrl: string): SealPayload {
  return {
    n: certificate.number,
    v: certificate.version,
    i: certificate.issuer.partyId,
    k: KIND_LETTERS[certificate.kind],
    d: certificate.issuedAt,
    x: certificate.exportCountry,
    m: certificate.importCountry,
    h: hash,
    u: statusUrl,
  };
}

/** `ECO1:` and a compact JWS of the payload, signed with the issuer's current key. */
export async function makeSeal(payload: SealPayload, key: SigningKey): Promise<string> {
  const seal = SEAL_PREFIX + (await signText(JSON.stringify(payload), key, SEAL_TYP));
  // Cannot happen with the profile's bounds (number 35, party id 19, URL 100 characters); checked all the same.
  if (seal.length > MAX_SEAL_CHARS) throw new Error(`the seal of ${payload.n} is ${seal.length} characters, over ${MAX_SEAL_CHARS}`);
  return seal;
}

/** What a PDF copy attaches as certificate.jws: a compact JWS whose payload is exactly the canonical bytes. */
export function certificateJws(canonical: string, key: SigningKey): Promise<string> {
  return signText(canonical, key, CERTIFICATE_TYP);
}

/**
 * Fills `canonical_hash` of versions issued before it was kept (at start). From the stored dataset:
 * the same JSON as the body sent, since both are the validated certificate (no number but integers).
 */
export async function fillCanonicalHashes(db: Queryable): Promise<number> {
  // Written so that the index on left(canonical_hash, 22) finds them: no scan of every certificate at each start.
  const { rows } = await db.query<{ number: string; version: number; dataset: Certificate }>('SELECT number, version, dataset FROM certificates WHERE left(canonical_hash, 22) IS NULL');
  for (const row of rows) {
    await db.query('UPDATE certificates SET canonical_hash = $3 WHERE number = $1 AND version = $2', [row.number, row.version, canonicalForm(row.dataset).hash]);
  }
  return rows.length;
}
