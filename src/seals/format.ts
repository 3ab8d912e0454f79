// The printed seal, the status answer and the trust list (PROFILE 1.2): their shapes and the JOSE
// they need, in code that runs alike in Node and in a browser (WebCrypto, no node: modules), so that
// the gateway, the CLI verifier and the /verify page read them in one way.
import canonicalize from 'canonicalize';
import { z } from 'zod';

export const SEAL_PREFIX = 'ECO1:';
export const MAX_SEAL_CHARS = 900;
export const SEAL_TYP = 'eco-seal+jws';
export const STATUS_TYP = 'eco-status+jws';
export const TRUST_TYP = 'eco-trust+jws';
export const CERTIFICATE_TYP = 'eco-certificate+jws';
/** `application/eco-seal+jws` names the same type (RFC 7515 4.1.9). */
const typIs = (typ: unknown, expected: string) => typ === expected || typ === `application/${expected}`;

/** A status answer is accepted only this close to the verifier's clock. */
export const STATUS_CLOCK_SKEW_MS = 5 * 60_000;
/** A list's nextUpdate counts as at most this long after its issuedAt. */
export const TRUST_LIST_MAX_LIFETIME_MS = 24 * 3600_000;
/** Larger lists are refused unread: no party has that many keys and final statuses (PROFILE leaves it open). */
export const MAX_TRUST_LIST_CHARS = 32 * 1024 * 1024;
export const MAX_STATUS_ANSWER_CHARS = 4096;
/** How many characters of `h` a status request names. */
export const STATUS_HASH_CHARS = 22;

const b64url = /^[A-Za-z0-9_-]*$/;
const partyId = z.string().regex(/^[A-Z]{2}-[A-Z0-9]{2,16}$/);
const country = z.string().regex(/^[A-Z]{2}$/);
const date = z.string().regex(/^\d{4}-\d{2}-\d{2}$/);
// RFC 3339 with its offset: without one, Date.parse would read local time and move every window by hours.
const dateTime = z
  .string()
  .max(40)
  .refine((t) => /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/i.test(t) && !Number.isNaN(Date.parse(t)));
const number = z.string().regex(/^[A-Za-z0-9/.-]{1,35}$/);
const version = z.number().int().min(1).max(2_147_483_647);
const sha256 = z.string().length(43).regex(b64url);

/** A status URL: https (plain http only on a loopback address, for tests), no query, no fragment, at most 100 characters. */
export function isStatusUrl(text: string): boolean {
  if (text.length > 100) return false;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return false;
  }
  if (url.search || url.hash || text.includes('?') || text.includes('#') || url.username || url.password) return false;
  return url.protocol === 'https:' || (url.protocol === 'http:' && isLoopback(url.hostname));
}

const isLoopback = (host: string) => host === 'localhost' || host === '[::1]' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);

export const sealPayloadSchema = z.looseObject({
  n: number,
  v: version,
  i: partyId,
  k: z.enum(['P', 'N', 'D']),
  d: date,
  x: country,
  m: country,
  h: sha256,
  u: z.string().refine(isStatusUrl),
});
export type SealPayload = z.infer<typeof sealPayloadSchema>;

export const KIND_LETTERS = { preferential: 'P', 'non-preferential': 'N', 'origin-declaration': 'D' } as const;

const ecJwk = z.looseObject({ kty: z.literal('EC'), crv: z.literal('P-256'), x: z.string().length(43).regex(b64url), y: z.string().length(43).regex(b64url) });

export const trustListSchema = z.looseObject({
  party: partyId,
  countries: z.array(country).max(300),
  issuedAt: dateTime,
  nextUpdate: dateTime,
  trustKeys: z.array(z.string().max(100)).max(100),
  keys: z
    .array(
      z.looseObject({
        kty: z.string().max(10),
        kid: z.string().max(100),
        use: z.enum(['sig', 'trust']),
        validFrom: dateTime,
        retiredAt: dateTime.optional(),
        revokedAt: dateTime.optional(),
      }),
    )
    .max(1000),
  status: z.array(z.looseObject({ n: number, v: version, s: z.enum(['replaced', 'cancelled']), at: dateTime })).max(5_000_000),
});
export type TrustList = z.infer<typeof trustListSchema>;
export type TrustListKey = TrustList['keys'][number];

export const statusAnswerSchema = z.looseObject({
  h: z.string().length(STATUS_HASH_CHARS),
  nonce: z.string().min(16).max(64).regex(b64url),
  status: z.enum(['valid', 'replaced', 'cancelled', 'unknown']),
  checkedAt: dateTime,
  n: number.optional(),
  v: version.optional(),
  i: partyId.optional(),
  replacedBy: version.optional(),
  at: dateTime.optional(),
});
export type StatusAnswer = z.infer<typeof statusAnswerSchema>;

// base64url without Buffer (a browser has none).
export function toBase64url(bytes: Uint8Array): string {
  let binary = '';
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

// The last character of a canonical base64url text carries no stray bits: with 2 characters over a
// group of 4 its low 4 bits are zero, with 3 its low 2 bits.
const B64URL_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

export function fromBase64url(text: string): Uint8Array | undefined {
  if (!b64url.test(text) || text.length % 4 === 1) return undefined;
  // Only the canonical spelling: other spellings of the same bytes would make one seal many.
  const last = B64URL_ALPHABET.indexOf(text.at(-1) ?? 'A');
  if ((text.length % 4 === 2 && last & 0x0f) || (text.length % 4 === 3 && last & 0x03)) return undefined;
  // Node's decoder where there is one (megabytes of trust list in milliseconds), atob in a browser.
  const NodeBuffer = (globalThis as { Buffer?: { from(text: string, encoding: string): Uint8Array } }).Buffer;
  if (NodeBuffer) return new Uint8Array(NodeBuffer.from(text, 'base64url'));
  const binary = atob(text.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - (text.length % 4)) % 4));
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

/** Larger nesting is refused before JSON.parse: no document of this profile is deeper than 4. */
const MAX_JSON_DEPTH = 16;

/** True when `text` nests arrays and objects at most `max` deep (strings skipped), counted without parsing. */
function nestsWithin(text: string, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c)
        i++; // backslash: the next character is escaped
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > max) return false;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return true;
}

const utf8 = new TextEncoder();
// ignoreBOM keeps a byte-order mark in the text: the payload is then not JSON, nor the canonical bytes.
const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

export async function sha256Base64url(bytes: Uint8Array | string): Promise<string> {
  const data = typeof bytes === 'string' ? utf8.encode(bytes) : bytes;
  return toBase64url(new Uint8Array(await crypto.subtle.digest('SHA-256', data as Uint8Array<ArrayBuffer>)));
}

/** The certificate's canonical bytes (RFC 8785 JSON Canonicalization Scheme), as text. */
export function canonicalJson(value: unknown): string {
  const text = canonicalize(value);
  if (text === undefined) throw new Error('not JSON');
  return text;
}

/** RFC 7638 thumbprint of an EC P-256 public key (the only kind seals and lists use). */
export async function thumbprint(jwk: { crv?: unknown; kty?: unknown; x?: unknown; y?: unknown }): Promise<string> {
  return sha256Base64url(JSON.stringify({ crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y }));
}

export type CompactJws = { header: Record<string, unknown>; payload: unknown; payloadText: string; signingInput: string; signature: Uint8Array };

/** Reads a compact JWS without verifying it: undefined when it is not one with JSON in it (strict UTF-8). */
export function readCompactJws(text: string): CompactJws | undefined {
  const parts = text.split('.');
  if (parts.length !== 3) return undefined;
  const [header64, payload64, signature64] = parts as [string, string, string];
  const headerBytes = fromBase64url(header64);
  const payloadBytes = fromBase64url(payload64);
  const signature = fromBase64url(signature64);
  if (!headerBytes || !payloadBytes || !signature) return undefined;
  try {
    const headerText = strictUtf8.decode(headerBytes);
    const payloadText = strictUtf8.decode(payloadBytes);
    if (!nestsWithin(headerText, MAX_JSON_DEPTH) || !nestsWithin(payloadText, MAX_JSON_DEPTH)) return undefined;
    const header: unknown = JSON.parse(headerText);
    if (typeof header !== 'object' || header === null || Array.isArray(header)) return undefined;
    return { header: header as Record<string, unknown>, payload: JSON.parse(payloadText), payloadText, signingInput: `${header64}.${payload64}`, signature };
  } catch {
    // Not UTF-8 or not JSON: not a JWS the caller can use.
    return undefined;
  }
}

/** The header every JWS of this profile has: ES256, a kid, the expected typ, nothing critical. */
export function hasProfileHeader(jws: CompactJws, typ: string): boolean {
  const { alg, kid, typ: actual } = jws.header;
  return alg === 'ES256' && typeof kid === 'string' && kid.length > 0 && kid.length <= 100 && typIs(actual, typ) && !('crit' in jws.header);
}

/** An ES256 signature (r || s, 64 bytes) by an EC P-256 public JWK. */
export async function verifyEs256(jws: CompactJws, jwk: Record<string, unknown>): Promise<boolean> {
  if (jws.signature.length !== 64 || !ecJwk.safeParse(jwk).success) return false;
  try {
    const key = await crypto.subtle.importKey('jwk', { kty: 'EC', crv: 'P-256', x: jwk.x as string, y: jwk.y as string }, { name: 'ECDSA', namedCurve: 'P-256' }, false, ['verify']);
    return await crypto.subtle.verify({ name: 'ECDSA', hash: 'SHA-256' }, key, jws.signature as Uint8Array<ArrayBuffer>, utf8.encode(jws.signingInput));
  } catch {
    // A point not on the curve, or any other key WebCrypto refuses: a signature that does not verify.
    return false;
  }
}

/** When a list stops being fresh: its nextUpdate, but never more than 24 h after it was issued. */
export function staleAfter(list: Pick<TrustList, 'issuedAt' | 'nextUpdate'>): number {
  return Math.min(Date.parse(list.nextUpdate), Date.parse(list.issuedAt) + TRUST_LIST_MAX_LIFETIME_MS);
}

/** A key that may sign status answers now: valid from the past, not retired before now, never revoked. */
export function isCurrentKey(key: TrustListKey, now: number): boolean {
  return Date.parse(key.validFrom) <= now && (key.retiredAt === undefined || Date.parse(key.retiredAt) > now) && key.revokedAt === undefined;
}
