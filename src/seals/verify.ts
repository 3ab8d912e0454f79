// Verifying a seal (PROFILE 1.2): one function for the CLI and the /verify page, which differ only
// in how they read the QR code and fetch. Runs in Node and in a browser.
import {
  CERTIFICATE_TYP,
  type CompactJws,
  canonicalJson,
  hasProfileHeader,
  isCurrentKey,
  MAX_SEAL_CHARS,
  MAX_STATUS_ANSWER_CHARS,
  MAX_TRUST_LIST_CHARS,
  readCompactJws,
  SEAL_PREFIX,
  SEAL_TYP,
  type SealPayload,
  STATUS_CLOCK_SKEW_MS,
  STATUS_HASH_CHARS,
  STATUS_TYP,
  type StatusAnswer,
  sealPayloadSchema,
  sha256Base64url,
  staleAfter,
  statusAnswerSchema,
  TRUST_TYP,
  type TrustList,
  type TrustListKey,
  thumbprint,
  toBase64url,
  trustListSchema,
  verifyEs256,
} from './format.ts';

/** Every reason, in the order PROFILE ranks them: when several apply, the first is reported. */
export const REASONS = [
  'SEAL_MALFORMED',
  'TRUST_LIST_INVALID',
  'TRUST_LIST_UNPINNED',
  'SEAL_KEY_UNKNOWN',
  'SEAL_SIGNATURE_INVALID',
  'SEAL_KEY_REVOKED',
  'ISSUER_NOT_FOR_COUNTRY',
  'HASH_MISMATCH',
  'CERTIFICATE_CANCELLED',
  'CERTIFICATE_REPLACED',
  'STATUS_UNKNOWN',
  'STATUS_UNAVAILABLE',
  'TRUST_LIST_STALE',
  'OK',
] as const;
export type Reason = (typeof REASONS)[number];
export type Language = 'en' | 'fr';

/** What each reason tells an officer, in each language of the page and the CLI. */
export const REASON_TEXT: Record<Reason, Record<Language, string>> = {
  OK: { en: 'The seal is genuine and the certificate is valid.', fr: 'Le sceau est authentique et le certificat est valide.' },
  SEAL_MALFORMED: {
    en: 'This is not a certificate-of-origin seal (it must start with ECO1: and be signed ES256).',
    fr: "Ce n'est pas un sceau de certificat d'origine (il doit commencer par ECO1: et être signé en ES256).",
  },
  TRUST_LIST_INVALID: { en: 'The trust list cannot be used: it is unreadable or its signature is wrong.', fr: 'La liste de confiance est inutilisable : illisible ou mal signée.' },
  TRUST_LIST_UNPINNED: {
    en: 'The trust list is not signed by a key you have pinned: check the thumbprint with the issuing authority.',
    fr: "La liste de confiance n'est pas signée par une clé épinglée : vérifiez l'empreinte auprès de l'autorité émettrice.",
  },
  SEAL_KEY_UNKNOWN: { en: 'The seal was made with a key the issuer does not list.', fr: "Le sceau a été fait avec une clé que l'émetteur ne déclare pas." },
  SEAL_SIGNATURE_INVALID: { en: 'The seal has been altered: its signature does not match.', fr: 'Le sceau a été modifié : sa signature ne correspond pas.' },
  SEAL_KEY_REVOKED: {
    en: "The seal's key has been revoked (compromised): ask the issuer for a newly sealed copy or check the status online.",
    fr: 'La clé du sceau a été révoquée (compromise) : demandez une copie scellée à nouveau ou vérifiez le statut en ligne.',
  },
  ISSUER_NOT_FOR_COUNTRY: { en: 'The issuer may not issue certificates for this export country.', fr: "L'émetteur ne peut pas délivrer de certificats pour ce pays d'exportation." },
  HASH_MISMATCH: { en: 'The attached certificate data is not what the seal was made for.', fr: 'Les données du certificat jointes ne sont pas celles pour lesquelles le sceau a été fait.' },
  CERTIFICATE_CANCELLED: { en: 'The certificate has been cancelled by its issuer.', fr: 'Le certificat a été annulé par son émetteur.' },
  CERTIFICATE_REPLACED: {
    en: 'The certificate has been replaced by a newer version: ask for the current one.',
    fr: 'Le certificat a été remplacé par une version plus récente : demandez la version en vigueur.',
  },
  STATUS_UNKNOWN: { en: 'The issuer does not know this certificate.', fr: "L'émetteur ne connaît pas ce certificat." },
  STATUS_UNAVAILABLE: { en: "The issuer's status service gave no trustworthy answer.", fr: "Le service de statut de l'émetteur n'a pas donné de réponse fiable." },
  TRUST_LIST_STALE: {
    en: 'The seal is genuine, but the trust list is out of date: the status shown is as of its date.',
    fr: 'Le sceau est authentique, mais la liste de confiance est périmée : le statut affiché date de celle-ci.',
  },
};

export type Verdict = {
  reason: Reason;
  /** Why, in a sentence (English; REASON_TEXT has the reason's own text in each language). */
  detail: string;
  /** The sealed fields, for an officer to compare with the paper; absent when the seal is unreadable. */
  fields?: SealPayload;
  trustList?: { party: string; issuedAt: string; nextUpdate: string; stale: boolean; signedBy: string };
  /** The status shown: from the issuer now (online), or as of the trust list's date. */
  status?: { source: 'online'; answer: StatusAnswer } | { source: 'trust-list'; asOf: string; state: 'valid' | 'replaced' | 'cancelled' };
  /** What the verifier pins for the list's party from now on (pinsAfter). */
  pinsFromNow?: string[];
};

export type VerifyOptions = {
  seal: string;
  /** The trust list, a compact JWS as served; undefined when none could be read. */
  trustList?: string;
  /** Thumbprints of trust keys the verifier has pinned. */
  pins: readonly string[];
  now: number;
  /** The `certificate.jws` attached to a PDF copy, when there is one. */
  certificateJws?: string;
  /**
   * Asks the status URL (GET u?h&nonce, Accept application/jose): given, the status is asked
   * online, and no answer (no network, an error, a forged or replayed one) is STATUS_UNAVAILABLE
   * (PROFILE). Not given, the verification is offline: the status is as of the trust list.
   */
  fetchStatus?: (url: string) => Promise<StatusFetch>;
};

export type StatusFetch = { reached: false } | { reached: true; text?: string };

/** Reads a seal's text; undefined when it is not a well-formed seal of this profile. */
export function readSeal(text: string): (CompactJws & { payload: SealPayload }) | undefined {
  if (typeof text !== 'string' || text.length > MAX_SEAL_CHARS || !text.startsWith(SEAL_PREFIX)) return undefined;
  const jws = readCompactJws(text.slice(SEAL_PREFIX.length));
  if (!jws || !hasProfileHeader(jws, SEAL_TYP)) return undefined;
  const payload = sealPayloadSchema.safeParse(jws.payload);
  return payload.success ? { ...jws, payload: payload.data } : undefined;
}

export type AcceptedList = { list: TrustList; signedBy: string };

/**
 * PROFILE: once a list signed by a pinned key is accepted, the trust keys it announces are pinned,
 * and the others only until then. The one rule for the CLI, the page and peers' lists.
 */
export function pinsAfter(accepted: AcceptedList): string[] {
  return [...new Set([accepted.signedBy, ...accepted.list.trustKeys])].slice(0, 100);
}

/** A trust list signed by one of its own trust keys, whose thumbprint is among `pins`. */
export async function acceptTrustList(text: string | undefined, pins: readonly string[]): Promise<{ ok: true; accepted: AcceptedList } | { ok: false; reason: Reason; detail: string }> {
  const invalid = (detail: string) => ({ ok: false as const, reason: 'TRUST_LIST_INVALID' as const, detail });
  if (text === undefined) return invalid('no trust list could be read');
  if (text.length > MAX_TRUST_LIST_CHARS) return invalid(`the trust list is over ${MAX_TRUST_LIST_CHARS} characters`);
  const jws = readCompactJws(text.trim());
  if (!jws) return invalid('the trust list is not a compact JWS with JSON in it');
  if (!hasProfileHeader(jws, TRUST_TYP)) return invalid(`the trust list is not signed ES256 with typ ${TRUST_TYP}`);
  const parsed = trustListSchema.safeParse(jws.payload);
  if (!parsed.success) return invalid(`the trust list is not of the profile's shape (${parsed.error.issues[0]?.path.join('/') || 'top level'})`);
  const list = parsed.data;
  const key = list.keys.find((k) => k.kid === jws.header.kid && k.use === 'trust');
  if (!key) return invalid('the trust list is signed by a key it does not name as a trust key');
  const signedBy = await thumbprint(key);
  if (signedBy !== key.kid) return invalid("the trust key's kid is not its thumbprint");
  if (!(await verifyEs256(jws, key))) return invalid("the trust list's signature does not verify");
  if (!pins.includes(signedBy)) return { ok: false, reason: 'TRUST_LIST_UNPINNED', detail: `the trust list is signed by ${signedBy}, which is not pinned` };
  return { ok: true, accepted: { list, signedBy } };
}

/** The seal's signing key, as the list names it (kid checked against the key's thumbprint). */
async function sealKey(list: TrustList, kid: unknown): Promise<TrustListKey | undefined> {
  const key = list.keys.find((k) => k.kid === kid && k.use === 'sig');
  return key && (await thumbprint(key)) === key.kid ? key : undefined;
}

/** Checks `certificate.jws` of a PDF: signed by the issuer, canonical, and of the sealed hash. */
async function attachmentProblem(text: string, list: TrustList, seal: SealPayload): Promise<string | undefined> {
  const jws = readCompactJws(text.trim());
  if (!jws || !hasProfileHeader(jws, CERTIFICATE_TYP)) return 'the attached certificate.jws is unreadable, or not a compact JWS of typ eco-certificate+jws';
  const key = await sealKey(list, jws.header.kid);
  if (!key || key.revokedAt !== undefined || !(await verifyEs256(jws, key))) return "the attached certificate.jws is not signed by one of the issuer's keys, or by a revoked one";
  let canonical: string;
  try {
    canonical = canonicalJson(jws.payload);
  } catch {
    return 'the attached certificate is not JSON';
  }
  if (canonical !== jws.payloadText) return 'the attached certificate is not in canonical form (RFC 8785)';
  if ((await sha256Base64url(jws.payloadText)) !== seal.h) return 'the attached certificate is not the one the seal was made for';
  return undefined;
}

function randomNonce(): string {
  return toBase64url(crypto.getRandomValues(new Uint8Array(16)));
}

/** A status answer worth believing: signed by a current key of the list, with our nonce and h, fresh, about this seal. */
async function checkStatusAnswer(text: string | undefined, list: TrustList, seal: SealPayload, nonce: string, now: number): Promise<StatusAnswer | undefined> {
  if (text === undefined || text.length > MAX_STATUS_ANSWER_CHARS) return undefined;
  const jws = readCompactJws(text.trim());
  if (!jws || !hasProfileHeader(jws, STATUS_TYP)) return undefined;
  const key = await sealKey(list, jws.header.kid);
  if (!key || !isCurrentKey(key, now) || !(await verifyEs256(jws, key))) return undefined;
  const parsed = statusAnswerSchema.safeParse(jws.payload);
  if (!parsed.success) return undefined;
  const answer = parsed.data;
  if (answer.nonce !== nonce || answer.h !== seal.h.slice(0, STATUS_HASH_CHARS)) return undefined;
  if (Math.abs(Date.parse(answer.checkedAt) - now) > STATUS_CLOCK_SKEW_MS) return undefined;
  if (answer.status !== 'unknown' && (answer.n !== seal.n || answer.v !== seal.v || answer.i !== seal.i)) return undefined;
  return answer;
}

const ONLINE_REASON = { valid: 'OK', replaced: 'CERTIFICATE_REPLACED', cancelled: 'CERTIFICATE_CANCELLED', unknown: 'STATUS_UNKNOWN' } as const;

/** Verifies a seal against a pinned trust list, and online when `fetchStatus` is given. */
export async function verifySeal(options: VerifyOptions): Promise<Verdict> {
  const seal = readSeal(options.seal.trim());
  if (!seal) return { reason: 'SEAL_MALFORMED', detail: "not ECO1: and a compact JWS (ES256, typ eco-seal+jws) of the profile's payload, at most 900 characters" };
  const fields = seal.payload;
  const trusted = await acceptTrustList(options.trustList, options.pins);
  if (!trusted.ok) return { reason: trusted.reason, detail: trusted.detail, fields };
  const { list, signedBy } = trusted.accepted;
  const stale = options.now > staleAfter(list);
  const base = {
    fields,
    trustList: { party: list.party, issuedAt: list.issuedAt, nextUpdate: list.nextUpdate, stale, signedBy },
    pinsFromNow: pinsAfter(trusted.accepted),
  };
  if (list.party !== fields.i) return { ...base, reason: 'SEAL_KEY_UNKNOWN', detail: `the trust list is ${list.party}'s, the seal ${fields.i}'s` };
  const key = await sealKey(list, seal.header.kid);
  if (!key) return { ...base, reason: 'SEAL_KEY_UNKNOWN', detail: `${list.party} lists no signing key ${String(seal.header.kid)}` };
  if (!(await verifyEs256(seal, key))) return { ...base, reason: 'SEAL_SIGNATURE_INVALID', detail: "the seal's signature does not verify with the issuer's key" };
  if (key.revokedAt !== undefined) return { ...base, reason: 'SEAL_KEY_REVOKED', detail: `the seal's key was revoked at ${key.revokedAt}` };
  if (!list.countries.includes(fields.x)) return { ...base, reason: 'ISSUER_NOT_FOR_COUNTRY', detail: `${list.party} issues for ${list.countries.join(', ') || 'no country'}, not ${fields.x}` };
  if (options.certificateJws !== undefined) {
    const problem = await attachmentProblem(options.certificateJws, list, fields);
    if (problem) return { ...base, reason: 'HASH_MISMATCH', detail: problem };
  }
  const listed = list.status.find((s) => s.n === fields.n && s.v === fields.v);
  const asOf = { source: 'trust-list' as const, asOf: list.issuedAt };
  if (listed?.s === 'cancelled') return { ...base, status: { ...asOf, state: 'cancelled' }, reason: 'CERTIFICATE_CANCELLED', detail: `cancelled at ${listed.at}` };
  if (listed?.s === 'replaced') return { ...base, status: { ...asOf, state: 'replaced' }, reason: 'CERTIFICATE_REPLACED', detail: `replaced at ${listed.at}` };
  if (options.fetchStatus) {
    const nonce = randomNonce();
    const fetched = await options.fetchStatus(`${fields.u}?h=${fields.h.slice(0, STATUS_HASH_CHARS)}&nonce=${nonce}`).catch(() => ({ reached: false as const }));
    const answer = fetched.reached ? await checkStatusAnswer(fetched.text, list, fields, nonce, options.now) : undefined;
    if (!answer) {
      const why = fetched.reached ? `no trustworthy answer from ${fields.u}` : `${fields.u} could not be reached (verify offline to rely on the trust list alone)`;
      return { ...base, status: { ...asOf, state: 'valid' }, reason: 'STATUS_UNAVAILABLE', detail: why };
    }
    const reason = ONLINE_REASON[answer.status];
    const detail = answer.status === 'replaced' ? `replaced by version ${answer.replacedBy ?? '?'}` : `${answer.status} at ${answer.checkedAt}`;
    return { ...base, status: { source: 'online', answer }, reason, detail };
  }
  if (stale) return { ...base, status: { ...asOf, state: 'valid' }, reason: 'TRUST_LIST_STALE', detail: `the trust list was due for renewal at ${new Date(staleAfter(list)).toISOString()}` };
  return { ...base, status: { ...asOf, state: 'valid' }, reason: 'OK', detail: `valid as of the trust list of ${list.issuedAt} (offline)` };
}
