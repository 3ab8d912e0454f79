// Issue (exporting side) and look up (both sides) certificates of origin.
import { createHash } from 'node:crypto';
import { type AgreementBook, agreementViolations, issueDateProblem } from '../agreements/index.ts';
import { actors } from '../audit/index.ts';
import type { Certificate } from '../dataset/index.ts';
import type { Db, DbClient } from '../db/index.ts';
import { conflict, EcoError, notFound, unprocessable } from '../errors.ts';
import type { MessageType } from '../exchange/index.ts';
import { type Delivery, deliveriesFor, type Outbound, type Sent } from '../outbound/index.ts';
import type { KnownPeer, PeerDirectory } from '../peers/index.ts';
import { takeNumber } from './numbering.ts';
import {
  type CertificateStatus,
  findIssuedByIdempotencyKey,
  insertIssued,
  issuedVersions,
  lockLatestIssued,
  lookupVersions,
  markCancelled,
  markReplaced,
  type ReportedUtilization,
  reportedUtilizations,
  type VersionRow,
} from './store.ts';

export type IssueResult = {
  number: string;
  version: number;
  status: CertificateStatus;
  recipient: string;
  messageId: string;
  delivery: { status: 'queued' };
};

export type CertificateView = {
  number: string;
  issuer: string;
  direction: 'issued' | 'received';
  /** Null only when a cancellation arrived before the certificate itself. */
  version: number | null;
  status: CertificateStatus;
  kind: string | null;
  agreement: string | null;
  /** Issued: the importing party it was sent to. Received: the issuing party it came from. */
  counterparty: string;
  signatureVerified: boolean;
  certificate: Certificate | null;
  cancellation: { reason: string; cancelledAt: string } | null;
  history: { version: number; status: CertificateStatus; at: string }[];
  deliveries?: Delivery[];
  /** Exporting side: what importing parties reported drawing down at clearance. */
  utilizations?: ReportedUtilization[];
};

const UNIQUE_VIOLATION = '23505';

/**
 * What an Idempotency-Key stands for: the validated certificate and the recipient asked for, as
 * JSON with sorted keys, so that the same request spelled differently has the same digest.
 */
function requestDigest(certificate: Certificate, recipient: string | undefined): string {
  const sorted = (_key: string, value: unknown) =>
    value && typeof value === 'object' && !Array.isArray(value) ? Object.fromEntries(Object.entries(value).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) : value;
  return createHash('sha256')
    .update(JSON.stringify({ certificate, recipient: recipient ?? null }, sorted))
    .digest('hex');
}

export class CertificateService {
  constructor(
    private readonly db: Db,
    private readonly partyId: string,
    /** The countries we issue for (exportCountry). */
    private readonly countries: readonly string[],
    private readonly peers: PeerDirectory,
    private readonly agreements: AgreementBook,
    private readonly outbound: Outbound,
  ) {}

  /**
   * Every check of an issue or a replacement, without storing anything: issuer, importing peer,
   * the agreement's rules, the issue date. Returns the peer the certificate goes to.
   */
  async check(certificate: Certificate, recipient?: string): Promise<KnownPeer> {
    if (certificate.issuer.partyId !== this.partyId) {
      throw unprocessable(`this gateway issues for ${this.partyId} only`, [{ pointer: '/issuer/partyId', detail: `must be ${this.partyId}` }]);
    }
    if (!this.countries.includes(certificate.exportCountry)) {
      throw unprocessable(`this gateway issues for ${this.countries.join(', ')} only`, [{ pointer: '/exportCountry', detail: `must be ${this.countries.join(' or ')}` }]);
    }
    const peer = await this.recipientFor(certificate, recipient);
    if (!peer.countries.includes(certificate.importCountry)) {
      throw unprocessable(`${peer.partyId} receives for ${peer.countries.join(', ') || 'no country'}`, [{ pointer: '/importCountry', detail: `is not a country of ${peer.partyId}` }]);
    }
    const agreement = certificate.agreement ? await this.agreements.find(certificate.agreement) : undefined;
    const violations = agreementViolations(certificate, agreement, peer.agreements);
    const errors = violations.map((v) => ({ pointer: v.pointer, detail: v.message }));
    const issueDate = issueDateProblem(certificate, agreement, new Date().toISOString().slice(0, 10));
    if (issueDate) errors.push({ pointer: '/issuedAt', detail: issueDate });
    if (errors.length) {
      const title = violations.some((v) => v.code === 'NOT_A_PARTY')
        ? 'not covered by an agreement between the parties'
        : violations.length
          ? 'breaks the rules of its agreement'
          : 'cannot be issued with this issue date';
      throw unprocessable(`the certificate ${title}`, errors);
    }
    return peer;
  }

  /**
   * Issues version 1. With `assignNumber`, the certificate's number is only a stand-in: the issuer's
   * numbering pattern gives the real one in the issuing transaction (numbering.ts).
   */
  async issue(certificate: Certificate, options: { recipient?: string; idempotencyKey?: string; actor?: string; assignNumber?: boolean } = {}): Promise<{ created: boolean; result: IssueResult }> {
    const idempotency = options.idempotencyKey ? { key: options.idempotencyKey, digest: requestDigest(certificate, options.recipient) } : undefined;
    if (idempotency) {
      const earlier = await this.replayIdempotent(idempotency, certificate);
      if (earlier) return { created: false, result: earlier };
    }
    if (certificate.version !== 1 || certificate.replaces) {
      throw unprocessable('a new certificate is version 1 and replaces nothing; use POST /certificates/{number}/replace for a new version', [
        { pointer: certificate.replaces ? '/replaces' : '/version', detail: 'not allowed on a new certificate' },
      ]);
    }
    const peer = await this.check(certificate, options.recipient);
    let issued = certificate;
    let messageId: string;
    try {
      messageId = await this.send(
        options.actor,
        peer,
        'certificate.issued',
        async (client) => {
          if (options.assignNumber) issued = { ...certificate, number: await takeNumber(client, this.partyId, Number(certificate.issuedAt.slice(0, 4))) };
          return { number: issued.number, body: issued };
        },
        (client, sent) => insertIssued(client, { certificate: issued, importingParty: peer.partyId, sent, idempotency }),
      );
    } catch (error) {
      if ((error as { code?: string }).code !== UNIQUE_VIOLATION) throw error;
      // Two requests with one Idempotency-Key raced: the loser answers with the winner's result.
      const earlier = idempotency && (await this.replayIdempotent(idempotency, certificate));
      if (earlier) return { created: false, result: earlier };
      throw conflict(`certificate ${issued.number} has already been issued by ${this.partyId}`);
    }
    return { created: true, result: { number: issued.number, version: 1, status: 'valid', recipient: peer.partyId, messageId, delivery: { status: 'queued' } } };
  }

  /** Issues version n+1 of a valid certificate and sends it as certificate.replaced. */
  async replace(number: string, certificate: Certificate, actor?: string): Promise<IssueResult> {
    if (certificate.number !== number) throw unprocessable('the replacement keeps the certificate number', [{ pointer: '/number', detail: `must be ${number}` }]);
    const current = await this.current(number);
    if (certificate.version !== current.version + 1) {
      throw conflict(`the current version of ${number} is ${current.version}: a replacement is version ${current.version + 1}`);
    }
    const replaces = { number, version: current.version };
    if (certificate.replaces && (certificate.replaces.number !== number || certificate.replaces.version !== current.version)) {
      throw unprocessable('a replacement replaces the current version', [{ pointer: '/replaces', detail: `must be ${JSON.stringify(replaces)}` }]);
    }
    const replacement = { ...certificate, replaces };
    const peer = await this.check(replacement, current.counterparty);
    const messageId = await this.send(
      actor,
      peer,
      'certificate.replaced',
      async () => ({ number, body: replacement }),
      async (client, sent) => {
        await this.lockCurrent(client, number, current.version);
        await markReplaced(client, number, current.version);
        await insertIssued(client, { certificate: replacement, importingParty: peer.partyId, sent });
      },
    );
    return { number, version: replacement.version, status: 'valid', recipient: peer.partyId, messageId, delivery: { status: 'queued' } };
  }

  /** Withdraws a valid certificate and sends certificate.cancelled with the reason. */
  async cancel(number: string, reason: string, actor?: string): Promise<IssueResult> {
    const current = await this.current(number);
    const peer = await this.peers.find(current.counterparty);
    if (!peer) throw unprocessable(`the importing party ${current.counterparty} is no longer registered`);
    const cancelledAt = new Date().toISOString();
    const messageId = await this.send(
      actor,
      peer,
      'certificate.cancelled',
      async () => ({ number, body: { certificateNumber: number, reason, cancelledAt } }),
      async (client) => {
        await this.lockCurrent(client, number, current.version);
        await markCancelled(client, number, current.version, reason, cancelledAt);
      },
    );
    return { number, version: current.version, status: 'cancelled', recipient: peer.partyId, messageId, delivery: { status: 'queued' } };
  }

  /** The current version issued here, which must still be valid to be replaced or cancelled. */
  private async current(number: string): Promise<VersionRow> {
    const [current] = await issuedVersions(this.db, this.partyId, number);
    if (!current) throw notFound(`no certificate ${number} has been issued here`);
    if (current.status !== 'valid') throw conflict(`certificate ${number} is ${current.status}`);
    return current;
  }

  /** Within the transaction: the version is still the current, valid one (no concurrent change won). */
  private async lockCurrent(client: DbClient, number: string, version: number): Promise<void> {
    const latest = await lockLatestIssued(client, number);
    if (latest?.version !== version || latest.status !== 'valid') throw conflict(`certificate ${number} changed meanwhile; look it up and try again`);
  }

  /** Sends one message (`message` makes it, within the transaction) with, in the same transaction, the `change` it announces. Returns its id. */
  private send(
    actor: string | undefined,
    peer: KnownPeer,
    type: MessageType,
    message: (client: DbClient) => Promise<{ number: string; body: object }>,
    change: (client: DbClient, sent: Sent) => Promise<void>,
  ): Promise<string> {
    return this.outbound.transaction(async (client, outbox) => {
      const { number, body } = await message(client);
      const version = 'version' in body ? body.version : undefined;
      const sent = await outbox.send({
        to: peer,
        type,
        body,
        certificateNumber: number,
        audit: (messageId) => ({ actor: actor ?? actors.system, action: type, subject: number, data: { version, peer: peer.partyId, messageId } }),
      });
      await change(client, sent);
      return sent.messageId;
    });
  }

  /** The earlier answer to a request with this Idempotency-Key, if it was the same request. */
  private async replayIdempotent(idempotency: { key: string; digest: string }, certificate: Certificate): Promise<IssueResult | undefined> {
    const earlier = await findIssuedByIdempotencyKey(this.db, idempotency.key);
    if (!earlier) return undefined;
    // Keys stored before digests were kept have none: the certificate number is all there is to compare.
    if (earlier.number !== certificate.number || (earlier.digest !== null && earlier.digest !== idempotency.digest)) {
      throw new EcoError('IDEMPOTENCY_KEY_REUSED', `this Idempotency-Key was used for another request (certificate ${earlier.number})`);
    }
    return { ...earlier, status: 'valid', delivery: { status: 'queued' } };
  }

  /** The named recipient, or the one active peer of the import country. */
  private async recipientFor(certificate: Certificate, named?: string): Promise<KnownPeer> {
    const candidates = named ? [named] : (await this.peers.cachedList()).filter((p) => p.status === 'active' && p.countries.includes(certificate.importCountry)).map((p) => p.partyId);
    if (candidates.length === 1) {
      const peer = await this.peers.find(candidates[0]!);
      if (peer?.status !== 'active') throw unprocessable(`${candidates[0]} is not an active registered peer`, [{ pointer: '/recipient', detail: 'unknown peer' }]);
      return peer;
    }
    const detail = candidates.length
      ? `several peers serve ${certificate.importCountry} (${candidates.join(', ')}): name one with ?recipient=`
      : `no active peer is registered for import country ${certificate.importCountry}`;
    throw unprocessable(detail, [{ pointer: '/importCountry', detail }]);
  }

  /**
   * Looks a certificate up by number among those issued here and those received. Numbers are unique
   * per issuer only, so when two issuers used the same number the caller must name the issuer.
   */
  async find(number: string, issuer?: string): Promise<{ view: CertificateView; jws: string | null }> {
    const own = !issuer || issuer === this.partyId;
    const others = issuer !== this.partyId;
    const rows = await lookupVersions(this.db, number, { own: own ? this.partyId : null, others, issuer });
    const byIssuer = new Map<string, VersionRow[]>();
    const orphans: { issuer: string; reason: string; cancelledAt: Date }[] = [];
    for (const row of rows) {
      // A cancellation that arrived before its certificate waits for it. Anyone may say that about
      // a number of their own, so it answers only a lookup naming its issuer: a bare number is
      // never blocked (nor made ambiguous) by a party that issued no certificate of that number.
      if (row.orphan) {
        if (issuer) orphans.push({ issuer: row.issuer, reason: row.cancel_reason, cancelledAt: row.cancelled_at });
      } else byIssuer.set(row.issuer, [...(byIssuer.get(row.issuer) ?? []), row]);
    }
    const issuers = [...byIssuer.keys(), ...orphans.map((o) => o.issuer)];
    if (issuers.length === 0) throw notFound(`no certificate ${number}${issuer ? ` from ${issuer}` : ''} has been issued here or received`);
    if (issuers.length > 1) throw conflict(`certificate number ${number} was issued by several parties (${issuers.join(', ')}): name one with ?issuer=`);

    const orphan = orphans[0];
    if (orphan) {
      const cancellation = { reason: orphan.reason, cancelledAt: orphan.cancelledAt.toISOString() };
      const view: CertificateView = {
        number,
        issuer: orphan.issuer,
        direction: 'received',
        version: null,
        status: 'cancelled',
        kind: null,
        agreement: null,
        counterparty: orphan.issuer,
        signatureVerified: true,
        certificate: null,
        cancellation,
        history: [],
      };
      return { view, jws: null };
    }
    const [[owner, versions]] = [...byIssuer.entries()] as [[string, VersionRow[]]];
    const current = versions[0]!;
    const direction = owner === this.partyId ? 'issued' : 'received';
    const view: CertificateView = {
      number,
      issuer: owner,
      direction,
      version: current.version,
      status: current.status,
      kind: current.kind,
      agreement: current.agreement,
      counterparty: current.counterparty,
      // A received version is stored only after its signature verified; an issued one we signed.
      signatureVerified: true,
      certificate: current.dataset,
      cancellation: current.cancel_reason && current.cancelled_at ? { reason: current.cancel_reason, cancelledAt: current.cancelled_at.toISOString() } : null,
      history: versions.map((v) => ({ version: v.version, status: v.status, at: v.at.toISOString() })),
      ...(direction === 'issued' ? { deliveries: await deliveriesFor(this.db, number), utilizations: await reportedUtilizations(this.db, number) } : {}),
    };
    return { view, jws: current.jws };
  }
}
