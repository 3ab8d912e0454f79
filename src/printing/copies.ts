// Printable copies of certificates, issued here (sealed) or received (not: only the issuer can seal).
import { type CertificateService, issuedVersions, receivedVersions, type VersionRow } from '../certificates/index.ts';
import type { Certificate } from '../dataset/index.ts';
import type { Db } from '../db/index.ts';
import { EcoError, notFound } from '../errors.ts';
import type { OwnKeys } from '../keys/index.ts';
import { canonicalForm, certificateJws, isStatusUrl, makeSeal, type SealPayload, sealPayload } from '../seals/index.ts';
import { renderPdf } from './pdf.ts';

export class Copies {
  constructor(
    private readonly db: Db,
    private readonly keys: OwnKeys,
    private readonly certificates: CertificateService,
    private readonly partyId: string,
    /** The status service's URL, the seal's `u` (PUBLIC_URL + /status). */
    private readonly statusUrl: () => string,
  ) {}

  /** A version issued here (default the newest): its dataset, status and canonical form. */
  private async issued(number: string, version?: number) {
    const versions = await issuedVersions(this.db, this.partyId, number);
    const row = version ? versions.find((v) => v.version === version) : versions[0];
    if (!row) throw notFound(version ? `no version ${version} of certificate ${number} has been issued here` : `no certificate ${number} has been issued here`);
    const { canonical, hash } = canonicalForm(row.dataset);
    // Stored at issue from the very body sent: a difference would be a seal no status check finds.
    if (row.canonical_hash && row.canonical_hash !== hash) throw new Error(`certificate ${number} v${row.version}: its stored data no longer has the hash it was issued with`);
    return { row, canonical, hash };
  }

  /** What every copy of a version shows, issued or received. */
  private printed(row: VersionRow) {
    const cancellation = row.cancel_reason && row.cancelled_at ? { reason: row.cancel_reason, cancelledAt: row.cancelled_at.toISOString() } : null;
    return { certificate: row.dataset, status: row.status, cancellation, printedBy: this.partyId, printedAt: new Date() };
  }

  /** The seal of a version issued here, made now with our current signing key. */
  async seal(number: string, version?: number): Promise<{ seal: string; payload: SealPayload }> {
    const { row, hash } = await this.issued(number, version);
    return this.sealOf(row.dataset, hash);
  }

  private async sealOf(certificate: Certificate, hash: string): Promise<{ seal: string; payload: SealPayload }> {
    const statusUrl = this.statusUrl();
    // Every verifier would call such a seal malformed: better none than one nobody can check.
    if (!isStatusUrl(statusUrl)) throw new EcoError('UNAVAILABLE', `seals cannot be made: their status URL ${statusUrl} is not https (set PUBLIC_URL to the address verifiers reach)`);
    const payload = sealPayload(certificate, hash, statusUrl);
    return { seal: await makeSeal(payload, await this.keys.signingKey()), payload };
  }

  /**
   * The PDF copy of a certificate issued or received here (`version`: default the newest). A copy
   * of one issued here is sealed, which only a caller who may issue (`maySeal`) can have.
   */
  async pdf(number: string, query: { issuer?: string; version?: number }, maySeal: boolean): Promise<Buffer> {
    const { view } = await this.certificates.find(number, query.issuer);
    if (!view.certificate) throw notFound(`certificate ${number} of ${view.issuer} was cancelled before it arrived: there is nothing to print`);
    if (view.direction === 'issued') {
      if (!maySeal) throw new EcoError('FORBIDDEN', `certificate ${number} was issued here: its sealed copy is printed by the issuer role`);
      const { row, canonical, hash } = await this.issued(number, query.version);
      const key = await this.keys.signingKey();
      return renderPdf({
        ...this.printed(row),
        direction: 'issued',
        seal: (await this.sealOf(row.dataset, hash)).seal,
        attachments: [
          {
            name: 'certificate.jws',
            type: 'application/jose',
            description: 'The certificate, signed by its issuer (PROFILE 1.2: canonical JSON, RFC 8785)',
            text: await certificateJws(canonical, key),
          },
        ],
      });
    }
    const versions = await receivedVersions(this.db, number, view.issuer);
    const row = query.version ? versions.find((v) => v.version === query.version) : versions[0];
    if (!row) throw notFound(`no version ${query.version} of certificate ${number} from ${view.issuer} has been received`);
    return renderPdf({
      ...this.printed(row),
      direction: 'received',
      attachments: [{ name: 'message.jws', type: 'application/jose', description: `The message as received from ${view.issuer}, signed by it`, text: row.jws }],
    });
  }
}
