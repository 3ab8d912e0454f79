// Issue (exporting side) and look up (both sides) certificates of origin.
import { type Db, withTransaction } from '../db/index.ts';
import { buildEnvelope } from '../exchange/envelope.ts';
import { sign } from '../exchange/jose.ts';
import type { OwnKeys } from '../keys/index.ts';
import { deliveriesFor, enqueue, type Delivery } from '../outbound/index.ts';
import type { Peer, PeerDirectory } from '../peers/index.ts';
import { conflict, HttpProblem, notFound, unprocessable } from '../http/problem.ts';
import type { Certificate } from './schema.ts';
import { findIssuedByIdempotencyKey, insertIssued, issuedVersions, receivedVersions, type CertificateStatus, type VersionRow } from './store.ts';

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
  version: number;
  status: CertificateStatus;
  kind: string;
  agreement: string | null;
  /** Issued: the importing party it was sent to. Received: the issuing party it came from. */
  counterparty: string;
  signatureVerified: boolean;
  certificate: Certificate;
  history: { version: number; status: CertificateStatus; at: string }[];
  deliveries?: Delivery[];
};

const UNIQUE_VIOLATION = '23505';

export class CertificateService {
  constructor(
    private readonly db: Db,
    private readonly partyId: string,
    private readonly keys: OwnKeys,
    private readonly peers: PeerDirectory,
  ) {}

  async issue(certificate: Certificate, options: { recipient?: string; idempotencyKey?: string } = {}): Promise<{ created: boolean; result: IssueResult }> {
    if (options.idempotencyKey) {
      const earlier = await this.replayIdempotent(options.idempotencyKey, certificate);
      if (earlier) return { created: false, result: earlier };
    }
    if (certificate.issuer.partyId !== this.partyId) {
      throw unprocessable(`this gateway issues for ${this.partyId} only`, [{ pointer: '/issuer/partyId', detail: `must be ${this.partyId}` }]);
    }
    if (certificate.version !== 1 || certificate.replaces) {
      throw unprocessable('a new certificate is version 1 and replaces nothing; use POST /certificates/{number}/replace for a new version', [
        { pointer: certificate.replaces ? '/replaces' : '/version', detail: 'not allowed on a new certificate' },
      ]);
    }
    const peer = await this.recipientFor(certificate, options.recipient);
    const envelope = buildEnvelope({ type: 'certificate.issued', from: this.partyId, to: peer.partyId, body: certificate });
    const jws = await sign(envelope, await this.keys.signingKey());
    try {
      await withTransaction(this.db, async (client) => {
        await enqueue(client, { id: envelope.id, peer: peer.partyId, type: envelope.type, certificateNumber: certificate.number, body: jws });
        await insertIssued(client, { certificate, importingParty: peer.partyId, messageId: envelope.id, idempotencyKey: options.idempotencyKey });
      });
    } catch (error) {
      if ((error as { code?: string }).code !== UNIQUE_VIOLATION) throw error;
      // Two requests with one Idempotency-Key raced: the loser answers with the winner's result.
      const earlier = options.idempotencyKey && (await this.replayIdempotent(options.idempotencyKey, certificate));
      if (earlier) return { created: false, result: earlier };
      throw conflict(`certificate ${certificate.number} has already been issued by ${this.partyId}`);
    }
    const result: IssueResult = { number: certificate.number, version: 1, status: 'valid', recipient: peer.partyId, messageId: envelope.id, delivery: { status: 'queued' } };
    return { created: true, result };
  }

  /** The earlier answer to a request with this Idempotency-Key, if it was for the same certificate. */
  private async replayIdempotent(key: string, certificate: Certificate): Promise<IssueResult | undefined> {
    const earlier = await findIssuedByIdempotencyKey(this.db, key);
    if (!earlier) return undefined;
    if (earlier.number !== certificate.number) {
      throw new HttpProblem(422, 'idempotency-key-reused', 'Idempotency-Key reused', `this Idempotency-Key was used for certificate ${earlier.number}`);
    }
    return { ...earlier, status: 'valid', delivery: { status: 'queued' } };
  }

  /** The named recipient, or the one active peer of the import country. */
  private async recipientFor(certificate: Certificate, named?: string): Promise<Peer> {
    if (named) {
      const peer = await this.peers.find(named);
      if (!peer || peer.status !== 'active') throw unprocessable(`${named} is not an active registered peer`, [{ pointer: '/recipient', detail: 'unknown peer' }]);
      return peer;
    }
    const candidates = (await this.peers.list()).filter((p) => p.status === 'active' && p.partyId.startsWith(`${certificate.importCountry}-`));
    if (candidates.length === 1) return candidates[0]!;
    const detail = candidates.length
      ? `several peers serve ${certificate.importCountry} (${candidates.map((p) => p.partyId).join(', ')}): name one with ?recipient=`
      : `no active peer is registered for import country ${certificate.importCountry}`;
    throw unprocessable(detail, [{ pointer: '/importCountry', detail }]);
  }

  /**
   * Looks a certificate up by number among those issued here and those received. Numbers are unique
   * per issuer only, so when two issuers used the same number the caller must name the issuer.
   */
  async find(number: string, issuer?: string): Promise<{ view: CertificateView; jws: string }> {
    const issued = !issuer || issuer === this.partyId ? await issuedVersions(this.db, this.partyId, number) : [];
    const received = issuer === this.partyId ? [] : await receivedVersions(this.db, number, issuer);
    const byIssuer = new Map<string, VersionRow[]>();
    for (const row of [...issued, ...received]) byIssuer.set(row.issuer, [...(byIssuer.get(row.issuer) ?? []), row]);
    if (byIssuer.size === 0) throw notFound(`no certificate ${number}${issuer ? ` from ${issuer}` : ''} has been issued here or received`);
    if (byIssuer.size > 1) {
      throw conflict(`certificate number ${number} was issued by several parties (${[...byIssuer.keys()].join(', ')}): name one with ?issuer=`);
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
      history: versions.map((v) => ({ version: v.version, status: v.status, at: v.at.toISOString() })),
      ...(direction === 'issued' ? { deliveries: await deliveriesFor(this.db, number) } : {}),
    };
    return { view, jws: current.jws };
  }
}
