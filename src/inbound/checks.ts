// The receiver checks of the exchange profile (docs/wire.md), in the order it fixes. Nothing here writes: the verdict says
// whether a message may be stored, must be answered with a rejection, or cannot be answered at all.
import { z } from 'zod';
import type { Certificate } from '../dataset/index.ts';
import { findUnsafeText, isPartyId, safeText, toPointer } from '../dataset/index.ts';
import type { ReceiptBody } from '../exchange/index.ts';
import {
  ACCEPTED_ALGS,
  type Cancellation,
  type CertificateRequest,
  decodeUnverified,
  decrypt,
  type Envelope,
  envelopeSchema,
  hasKey,
  JWE_ALGS,
  JWS_TYP,
  type MessageError,
  messageBodySchemas,
  messageError,
  type PeerKeys,
  PROFILE_VERSION,
  type ReconciliationAnswer,
  type ReconciliationStatement,
  type RejectionCode,
  type Utilization,
  type VerificationAnswer,
  type VerificationRequest,
  verify,
} from '../exchange/index.ts';
import type { KnownPeer, PeerDirectory } from '../peers/index.ts';

/** No registered peer can be addressed: dead-letter it, send nothing. */
export type Dead = { outcome: 'dead'; error: MessageError };
/** Answerable with a signed rejection to `peer`. */
export type Rejected = { outcome: 'rejected'; peer: KnownPeer; messageId?: string; errors: MessageError[]; isReceipt: boolean };
/**
 * Signed by a registered peer with one of its keys: its id can be trusted for deduplication.
 * `isReceipt` is decided here, once, from the signed type: a receipt is never answered.
 */
export type Authentic = { outcome: 'authentic'; peer: KnownPeer; messageId: string | undefined; payload: Record<string, unknown>; jws: string; isReceipt: boolean };
/** Authentic, addressed to us and well-formed: ready for the business rules and storage. */
export type Verified = { outcome: 'verified'; peer: KnownPeer; envelope: Envelope; message: InboundMessage; isReceipt: boolean };

export type InboundMessage =
  | { type: 'certificate.issued' | 'certificate.replaced'; certificate: Certificate; rawCertificate: unknown }
  | { type: 'certificate.cancelled'; cancellation: Cancellation }
  | { type: 'certificate.utilized'; utilization: Utilization }
  | { type: 'verification.requested'; request: VerificationRequest }
  | { type: 'verification.answered'; answer: VerificationAnswer }
  | { type: 'certificate.requested'; request: CertificateRequest }
  | { type: 'reconciliation.statement'; statement: ReconciliationStatement }
  | { type: 'reconciliation.answered'; answer: ReconciliationAnswer }
  | { type: 'receipt'; inReplyTo: string; receipt: ReceiptBody };

export type CheckContext = {
  partyId: string;
  /** The countries we receive for: a CO's importCountry must be one of them. */
  countries: readonly string[];
  peers: PeerDirectory;
  sentAtWindowSeconds: number;
  now?: Date;
  decryptionKeys: () => Promise<PeerKeys>;
};

const looseEnvelope = z.looseObject({ from: z.unknown(), id: z.unknown(), type: z.unknown() });

/** PROFILE checks 1-3: is it a JWS, from a registered peer, signed with one of its keys? */
/** `openedFor`: the peer named by the appId of the JWE this JWS came out of, when it did. */
export async function authenticate(bodyText: string, appId: string | undefined, ctx: CheckContext, openedFor?: KnownPeer): Promise<Dead | Rejected | Authentic> {
  // A JWE (4 dots) carries the signed JWS (2 dots): open it, then check that as any other. Only
  // one layer: a JWE inside is not a JWS.
  if (!openedFor && bodyText.split('.').length - 1 === 4) {
    // Whoever sent it cannot be read from it until it is opened: the party named by appId is
    // answered, as the profile says, and nothing is opened for a party we do not know.
    const peer = appId && isPartyId(appId) ? await ctx.peers.find(appId) : undefined;
    if (peer?.status !== 'active') return { outcome: 'dead', error: messageError('UNKNOWN_SENDER', `the JWE's appId ${safeText(String(appId), 40)} is not a registered active peer`) };
    const refusal = jweHeaderProblem(bodyText);
    const jws = refusal ? undefined : await decrypt(bodyText, await ctx.decryptionKeys());
    if (jws === undefined) return rejected(peer, undefined, [messageError('DECRYPTION_FAILED', refusal ?? 'none of our encryption keys opens this JWE')], false);
    // Sign, then encrypt: what a JWE holds must be a JWS (a JWE inside, or anything else, is not).
    if (jws.split('.').length - 1 !== 2) return rejected(peer, undefined, [messageError('SIGNATURE_INVALID', 'the JWE does not hold a compact JWS')], false);
    return authenticate(jws, appId, ctx, peer);
  }

  // 1. A compact JWS at all?
  const decoded = decodeUnverified(bodyText);
  const envelopeFields = looseEnvelope.safeParse(decoded?.payload);
  if (!decoded || !envelopeFields.success) {
    // Opened from a JWE of a known appId: a signed answer to that party, not silence.
    const error = messageError('SIGNATURE_INVALID', 'the body is neither a compact JWS with a JSON payload nor a JWE');
    return openedFor ? rejected(openedFor, undefined, [error], false) : { outcome: 'dead', error };
  }
  const { from, id, type } = envelopeFields.data;
  const messageId = typeof id === 'string' ? id : undefined;
  const isReceipt = type === 'receipt';

  // 2. A registered, active sender, who also published it, with one of its keys.
  // Only a well-formed party id is looked up: anything else names nobody, and costs no query.
  const sender = typeof from === 'string' && isPartyId(from) ? await ctx.peers.find(from) : undefined;
  if (sender?.status !== 'active') {
    return { outcome: 'dead', error: messageError('UNKNOWN_SENDER', `${String(from)} is not a registered active peer`, '/from') };
  }
  let peer = sender;
  const reject = (code: RejectionCode, text: string, path?: string) => rejected(peer, messageId, [messageError(code, text, path)], isReceipt);
  if (appId !== peer.partyId) return reject('SENDER_MISMATCH', `AMQP appId ${String(appId)} does not match from ${peer.partyId}`, '/from');
  // An unsecured JWS or a MAC (HS256: a "signature" anyone holding our published key could make)
  // is a signature question, whatever its kid says.
  const alg = decoded.header.alg;
  if (typeof alg !== 'string' || !ACCEPTED_ALGS.includes(alg) || bodyText.endsWith('.')) {
    return reject('SIGNATURE_INVALID', `alg ${String(alg)} with ${bodyText.endsWith('.') ? 'no' : 'a'} signature is not accepted (${ACCEPTED_ALGS.join(', ')})`);
  }
  // PROFILE types the JWS eco+jws: another kind of JWS signed by the same key is not a message.
  // A header without typ is read as one (RFC 7515 makes typ optional); media types ignore case.
  const typ = decoded.header.typ;
  if (typ !== undefined && (typeof typ !== 'string' || typ.toLowerCase().replace(/^application\//, '') !== JWS_TYP)) {
    return reject('SIGNATURE_INVALID', `typ ${safeText(String(typ), 100)} is not ${JWS_TYP}`);
  }
  const kid = decoded.header.kid;
  if (typeof kid !== 'string') return reject('UNKNOWN_KEY', 'the JWS header names no kid');
  // A kid we have not seen may be a key the peer has just rotated to: look at its JWKS URL again.
  // A failed fetch leaves the stored keys: the message is then answered UNKNOWN_KEY, which says why.
  if (!hasKey(peer.keys, kid)) peer = (await ctx.peers.refreshKeys(peer.partyId).catch(() => undefined)) ?? peer;
  if (!hasKey(peer.keys, kid)) return reject('UNKNOWN_KEY', `kid ${kid} is not a key of ${peer.partyId}`);

  // 3. The signature.
  if (!(await verify(bodyText, peer.keys, kid))) return reject('SIGNATURE_INVALID', 'the signature does not verify');
  return { outcome: 'authentic', peer, messageId, payload: decoded.payload as Record<string, unknown>, jws: bodyText, isReceipt };
}

/** PROFILE checks 4-5: profile, addressee, freshness, then the envelope and its body by type. */
export function validate(message: Authentic, ctx: Pick<CheckContext, 'partyId' | 'countries' | 'sentAtWindowSeconds' | 'now'>): Rejected | Verified {
  const { peer, messageId, payload, isReceipt } = message;
  const reject = (code: RejectionCode, text: string, path?: string) => rejected(peer, messageId, [messageError(code, text, path)], isReceipt);
  if (payload.profile !== PROFILE_VERSION) return reject('UNSUPPORTED_PROFILE', `profile ${String(payload.profile)} is not ${PROFILE_VERSION}`, '/profile');
  if (payload.to !== ctx.partyId) return reject('NOT_ADDRESSED_TO_RECEIVER', `addressed to ${String(payload.to)}, not ${ctx.partyId}`, '/to');
  const sentAt = typeof payload.sentAt === 'string' ? Date.parse(payload.sentAt) : NaN;
  if (Number.isNaN(sentAt)) return reject('SCHEMA_INVALID', 'sentAt must be an RFC 3339 date-time', '/sentAt');
  const now = (ctx.now ?? new Date()).getTime();
  if (Math.abs(now - sentAt) > ctx.sentAtWindowSeconds * 1000) {
    return reject('STALE_MESSAGE', `sentAt ${String(payload.sentAt)} is outside the accepted window of ${ctx.sentAtWindowSeconds} s`, '/sentAt');
  }

  // Strings Postgres could not keep, anywhere in the message (PROFILE 1.1), before any schema.
  const unsafe = findUnsafeText(payload);
  if (unsafe) return reject('SCHEMA_INVALID', unsafe.message, toPointer(unsafe.path));

  // The envelope and its body, by type.
  const envelope = envelopeSchema.safeParse(payload);
  if (!envelope.success) return rejected(peer, messageId, schemaErrors(envelope.error), isReceipt);
  return checkBody(peer, envelope.data, messageId, isReceipt, ctx.countries);
}

/**
 * Why a JWE is refused before any decryption, from its protected header alone: an algorithm the
 * profile does not name, or compression (`zip`): the profile never compresses, and inflating a
 * small body into gigabytes is a denial of service. Undefined when it may be opened.
 */
function jweHeaderProblem(jwe: string): string | undefined {
  let header: { alg?: unknown; enc?: unknown; zip?: unknown };
  try {
    header = JSON.parse(Buffer.from(jwe.slice(0, jwe.indexOf('.')), 'base64url').toString('utf8'));
  } catch {
    return 'the JWE protected header is not JSON';
  }
  if (header === null || typeof header !== 'object') return 'the JWE protected header is not a JSON object';
  if (header.zip !== undefined) return 'a compressed JWE (zip) is refused: the profile does not compress';
  if (typeof header.alg !== 'string' || !JWE_ALGS.includes(header.alg)) return `JWE alg ${safeText(String(header.alg), 40)} is not one of ${JWE_ALGS.join(', ')}`;
  if (header.enc !== 'A256GCM') return `JWE enc ${safeText(String(header.enc), 40)} is not A256GCM`;
  return undefined;
}

function rejected(peer: KnownPeer, messageId: string | undefined, errors: MessageError[], isReceipt: boolean): Rejected {
  return { outcome: 'rejected', peer, messageId, errors, isReceipt };
}

/** A receipt names at most this many errors: enough to fix a message, and it stays small. */
const MAX_RECEIPT_ERRORS = 100;

function schemaErrors(error: z.ZodError, prefix = ''): MessageError[] {
  return error.issues.slice(0, MAX_RECEIPT_ERRORS).map((issue) => messageError('SCHEMA_INVALID', issue.message, prefix + toPointer(issue.path)));
}

function checkBody(peer: KnownPeer, envelope: Envelope, messageId: string | undefined, isReceipt: boolean, ourCountries: readonly string[]): Rejected | Verified {
  const reject = (errors: MessageError[]) => rejected(peer, messageId, errors, isReceipt);
  const error = (code: RejectionCode, text: string, path: string) => reject([messageError(code, text, path)]);
  const verified = (message: InboundMessage): Verified => ({ outcome: 'verified', peer, envelope, message, isReceipt });
  const parsed = messageBodySchemas[envelope.type].safeParse(envelope.body);
  if (!parsed.success) return reject(schemaErrors(parsed.error, '/body'));
  const body = parsed.data;
  switch (envelope.type) {
    case 'certificate.issued':
    case 'certificate.replaced': {
      const co = body as Certificate;
      if (co.issuer.partyId !== envelope.from) return error('SENDER_MISMATCH', `issuer ${co.issuer.partyId} is not the sender ${envelope.from}`, '/body/issuer/partyId');
      // PROFILE 1.1: a party issues only for its own countries, and only to the party of the import country.
      if (!peer.countries.includes(co.exportCountry)) {
        return error('NOT_A_PARTY', `${peer.partyId} issues for ${peer.countries.join(', ') || 'no country'}, not ${co.exportCountry}`, '/body/exportCountry');
      }
      if (!ourCountries.includes(co.importCountry)) {
        return error('NOT_A_PARTY', `${envelope.to} receives for ${ourCountries.join(', ')}, not ${co.importCountry}`, '/body/importCountry');
      }
      if (envelope.type === 'certificate.issued') {
        if (co.version !== 1) return error('SCHEMA_INVALID', 'a certificate.issued is version 1; later versions come as certificate.replaced', '/body/version');
        if (co.replaces) return error('SCHEMA_INVALID', 'only a certificate.replaced names what it replaces', '/body/replaces');
      } else {
        // Our reading of PROFILE: a replacement keeps the number and raises the version.
        if (!co.replaces) return error('SCHEMA_INVALID', 'a certificate.replaced names what it replaces', '/body/replaces');
        if (co.replaces.number !== co.number) return error('SCHEMA_INVALID', 'must name the same certificate number', '/body/replaces/number');
        if (co.replaces.version >= co.version) return error('SCHEMA_INVALID', `must be lower than the new version ${co.version}`, '/body/replaces/version');
      }
      return verified({ type: envelope.type, certificate: co, rawCertificate: envelope.body });
    }
    case 'certificate.cancelled':
      return verified({ type: 'certificate.cancelled', cancellation: body as Cancellation });
    case 'certificate.utilized':
      return verified({ type: 'certificate.utilized', utilization: body as Utilization });
    case 'verification.requested':
      return verified({ type: 'verification.requested', request: body as VerificationRequest });
    case 'verification.answered':
      return verified({ type: 'verification.answered', answer: body as VerificationAnswer });
    case 'certificate.requested':
      return verified({ type: 'certificate.requested', request: body as CertificateRequest });
    case 'reconciliation.statement':
      return verified({ type: 'reconciliation.statement', statement: body as ReconciliationStatement });
    case 'reconciliation.answered':
      return verified({ type: 'reconciliation.answered', answer: body as ReconciliationAnswer });
    case 'receipt':
      if (!envelope.inReplyTo) return error('SCHEMA_INVALID', 'a receipt names the message it answers in inReplyTo', '/inReplyTo');
      return verified({ type: 'receipt', inReplyTo: envelope.inReplyTo, receipt: body as ReceiptBody });
  }
}
