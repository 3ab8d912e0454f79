// Import clearance: check a declaration's claim against the received CO, and draw the quantities
// down when the declaration is confirmed, atomically per CO, telling the issuer (certificate.utilized).
import { randomUUID } from 'node:crypto';
import type { AgreementBook } from '../agreements/index.ts';
import { audit } from '../audit/index.ts';
import { lockReceived, receivedVersions } from '../certificates/index.ts';
import { add, convert, type Exact, exact, format } from '../dataset/index.ts';
import type { Db, Queryable } from '../db/index.ts';
import { conflict, EcoError, notFound } from '../errors.ts';
import type { Outbound, OutboxWriter } from '../outbound/index.ts';
import type { KnownPeer, PeerDirectory } from '../peers/index.ts';
import { latestVerification } from '../verifications/index.ts';
import { assess, type Claim, decide, type Finding, inCertificateUnits, type ReceivedCertificate } from './findings.ts';

export type CheckView = {
  id: string;
  declarationRef: string;
  decision: 'accept' | 'refer' | 'reject';
  findings: Finding[];
  certificate: { issuer: string; number: string; version: number; status: string } | null;
  status: 'checked' | 'confirmed';
  createdAt: string;
  confirmedAt: string | null;
};

type CheckRow = {
  id: string;
  declaration_ref: string;
  certificate_number: string;
  issuer_party: string | null;
  certificate_version: number | null;
  claim: Claim;
  decision: CheckView['decision'];
  findings: Finding[];
  status: CheckView['status'];
  created_at: Date;
  confirmed_at: Date | null;
};

type Balance = { item_number: number; unit: string; drawn: string };

/** What confirmed declarations drew down per item of a CO, kept in the unit the item had when drawn. */
async function balances(db: Queryable, issuer: string, number: string): Promise<Balance[]> {
  const { rows } = await db.query<Balance>('SELECT item_number, unit, drawn::text AS drawn FROM item_balances WHERE issuer_party = $1 AND number = $2', [issuer, number]);
  return rows;
}

/**
 * The drawn quantity of each item in the unit of the CO's current version (a replacement may have
 * changed it). One that no longer converts counts as the whole item: nothing can be drawn from it.
 */
function usedIn(co: ReceivedCertificate, drawn: Balance[]): Map<number, Exact> {
  return new Map(
    drawn.map((b) => {
      const item = co.dataset.items.find((i) => i.itemNumber === b.item_number);
      const converted = item ? convert(exact(b.drawn), b.unit, item.quantity.unit) : undefined;
      return [b.item_number, converted ?? exact(item?.quantity.value ?? b.drawn)];
    }),
  );
}

const today = () => new Date().toISOString().slice(0, 10);

export class ClearanceService {
  constructor(
    private readonly db: Db,
    private readonly peers: PeerDirectory,
    private readonly agreements: AgreementBook,
    private readonly outbound: Outbound,
  ) {}

  /** The current received version of a CO, or undefined; 409 when two issuers used the number. */
  private async received(db: Queryable, number: string, issuer?: string): Promise<ReceivedCertificate | undefined> {
    const versions = await receivedVersions(db, number, issuer);
    const issuers = [...new Set(versions.map((v) => v.issuer))];
    if (issuers.length > 1) throw conflict(`certificate number ${number} was issued by several parties (${issuers.join(', ')}): name the issuer`);
    const current = versions[0];
    if (!current) return undefined;
    return { issuer: current.issuer, version: current.version, status: current.status, dataset: current.dataset, receivedAt: current.at, cancellationReason: current.cancel_reason };
  }

  /**
   * Checks a claim (and draws it down with `confirm`). Idempotent for a retry: the same
   * Idempotency-Key, or a confirmed claim of a declaration that already drew on this CO, answers
   * the first check (`replayed`); a key reused for another claim is 422.
   */
  async check(claim: Claim, actor: string, idempotencyKey?: string): Promise<CheckView & { replayed?: boolean }> {
    if (idempotencyKey) {
      const { rows } = await this.db.query<{ id: string; same: boolean }>('SELECT id, claim = $2::jsonb AS same FROM clearance_checks WHERE idempotency_key = $1', [
        idempotencyKey,
        JSON.stringify(claim),
      ]);
      if (rows[0] && !rows[0].same) throw new EcoError('IDEMPOTENCY_KEY_REUSED', `Idempotency-Key ${idempotencyKey} was used for another claim`);
      if (rows[0]) return { ...(await this.find(rows[0].id)), replayed: true };
    }
    let co = await this.received(this.db, claim.certificateNumber, claim.issuer);
    if (claim.confirm && co) {
      const first = await this.confirmedFor(this.db, claim.declarationRef, co.issuer, claim.certificateNumber);
      if (first) return { ...(await this.find(first)), replayed: true };
    }
    const requestedFrom = co ? undefined : await this.pull(claim);
    if (requestedFrom && claim.waitSeconds > 0) co = await this.waitForCertificate(claim, requestedFrom, claim.waitSeconds);
    const findings = await this.assess(this.db, claim, co);
    if (requestedFrom && !co) {
      findings.push({ code: 'CO_REQUESTED', severity: 'refer', fields: ['/certificateNumber'], message: `requested from ${requestedFrom} (Pull model); check again once it has arrived` });
    }
    const decision = decide(findings);
    const id = randomUUID();
    const { rowCount } = await this.db.query(
      `INSERT INTO clearance_checks (id, declaration_ref, certificate_number, issuer_party, certificate_version, claim, decision, findings, idempotency_key)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (idempotency_key) DO NOTHING`,
      [id, claim.declarationRef, claim.certificateNumber, co?.issuer ?? null, co?.version ?? null, JSON.stringify(claim), decision, JSON.stringify(findings), idempotencyKey ?? null],
    );
    // Two requests with one key raced: the loser answers as a retry would.
    if (!rowCount) return this.check(claim, actor, idempotencyKey);
    // A claim that loses the drawdown is answered like any rejected claim: 201 with the check.
    if (claim.confirm && decision !== 'reject' && co) {
      try {
        await this.drawDown(id, actor);
      } catch (error) {
        // Not drawn down (the issuer unregistered, say): the check stands unconfirmed, and the
        // caller gets its id with the reason, to confirm again later.
        if (!(error instanceof EcoError)) throw error;
        throw new EcoError(error.code, error.detail, error.errors, { ...error.extensions, check: await this.find(id) });
      }
    }
    return this.find(id);
  }

  private async assess(db: Queryable, claim: Claim, co: ReceivedCertificate | undefined) {
    if (!co) return assess(claim, undefined, { used: new Map(), today: today() });
    const agreement = co.dataset.agreement ? await this.agreements.find(co.dataset.agreement, db) : undefined;
    const claimedAgreement = claim.agreement && claim.agreement !== co.dataset.agreement ? await this.agreements.find(claim.agreement, db) : undefined;
    const used = usedIn(co, await balances(db, co.issuer, claim.certificateNumber));
    const verification = await latestVerification(db, co.issuer, claim.certificateNumber);
    return assess(claim, co, { agreement, claimedAgreement, used, today: today(), verification });
  }

  /**
   * Pull model: when the claimed agreement allows it, asks the exporting party (the named issuer,
   * or the one registered peer of the export country) for the CO. Returns whom it asked.
   */
  private async pull(claim: Claim): Promise<string | undefined> {
    const agreement = claim.agreement ? await this.agreements.find(claim.agreement) : undefined;
    if (!agreement?.pullAllowed) return undefined;
    const candidates = (await this.peers.list()).filter(
      (p) => p.status === 'active' && p.agreements.includes(agreement.code) && (claim.issuer ? p.partyId === claim.issuer : p.countries.includes(claim.exportCountry)),
    );
    const peer = candidates.length === 1 ? await this.peers.find(candidates[0]!.partyId) : undefined;
    if (!peer) return undefined;
    const body = { certificateNumber: claim.certificateNumber };
    await this.outbound.send({ to: peer, type: 'certificate.requested', body, certificateNumber: claim.certificateNumber });
    return peer.partyId;
  }

  private async waitForCertificate(claim: Claim, issuer: string, seconds: number): Promise<ReceivedCertificate | undefined> {
    const deadline = Date.now() + seconds * 1000;
    while (Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 200));
      const co = await this.received(this.db, claim.certificateNumber, issuer);
      if (co) return co;
    }
    return undefined;
  }

  /** The confirmed check through which a declaration drew on a CO, if it did. */
  private async confirmedFor(db: Queryable, declarationRef: string, issuer: string, number: string): Promise<string | undefined> {
    const { rows } = await db.query<{ check_id: string }>('SELECT check_id FROM utilizations WHERE issuer_party = $1 AND number = $2 AND declaration_ref = $3 ORDER BY created_at LIMIT 1', [
      issuer,
      number,
      declarationRef,
    ]);
    return rows[0]?.check_id;
  }

  async find(id: string): Promise<CheckView> {
    const { rows } = await this.db.query<CheckRow>('SELECT * FROM clearance_checks WHERE id = $1', [id]);
    if (!rows[0]) throw notFound(`no check ${id}`);
    return this.view(rows[0]);
  }

  private async view(row: CheckRow): Promise<CheckView> {
    const co = row.issuer_party ? await this.received(this.db, row.certificate_number, row.issuer_party) : undefined;
    return {
      id: row.id,
      declarationRef: row.declaration_ref,
      decision: row.decision,
      findings: row.findings,
      certificate: co ? { issuer: co.issuer, number: row.certificate_number, version: co.version, status: co.status } : null,
      status: row.status,
      createdAt: row.created_at.toISOString(),
      confirmedAt: row.confirmed_at?.toISOString() ?? null,
    };
  }

  /**
   * Draws the claimed quantities down; confirming twice changes nothing. A claim rejected at its
   * check or at the drawdown is answered 409, the problem carrying the check (member `check`):
   * 409 rather than 200 so that no client can take a refused drawdown for a done one.
   */
  async confirm(id: string, actor: string): Promise<CheckView> {
    await this.drawDown(id, actor);
    const check = await this.find(id);
    if (check.decision !== 'reject') return check;
    const rejecting = check.findings.filter((f) => f.severity === 'reject');
    const detail = `the claim was rejected: ${rejecting.map((f) => f.message).join('; ')}`;
    throw new EcoError(
      'CLAIM_REJECTED',
      detail,
      rejecting.map((f) => ({ pointer: f.fields[0]!, detail: f.message })),
      { check },
    );
  }

  /**
   * Draws the claimed quantities down unless the check was rejected. The certificate is locked for
   * the transaction, so declarations racing for the last quantity are serialised: the claim is
   * assessed again under the lock, and a loser's check is stored as rejected with the new findings.
   */
  private async drawDown(id: string, actor: string): Promise<void> {
    // The issuer's keys are needed inside the transaction: fetched before it (no pool use inside).
    const { rows: pre } = await this.db.query<{ issuer_party: string | null }>('SELECT issuer_party FROM clearance_checks WHERE id = $1', [id]);
    const issuerPeer = pre[0]?.issuer_party ? await this.peers.find(pre[0].issuer_party) : undefined;
    await this.outbound.transaction(async (client, outbox) => {
      const { rows } = await client.query<CheckRow>('SELECT * FROM clearance_checks WHERE id = $1 FOR UPDATE', [id]);
      const check = rows[0];
      if (!check) throw notFound(`no check ${id}`);
      if (check.status === 'confirmed' || check.decision === 'reject') return;
      if (!check.issuer_party) throw conflict('the certificate has not been received');
      const issuer = check.issuer_party;
      const number = check.certificate_number;
      await lockReceived(client, issuer, number);
      const co = await this.received(client, number, issuer);
      if (!co) throw conflict(`certificate ${number} is missing`);
      // The declaration's date stays the check's; whatever an agreement makes of its severity, the quantity never goes below zero.
      const claim = { ...check.claim, declarationDate: check.claim.declarationDate ?? check.created_at.toISOString().slice(0, 10) };
      const findings = (await this.assess(client, claim, co)).map((f): Finding => (f.code === 'QUANTITY_EXCEEDED' ? { ...f, severity: 'reject' } : f));
      if (decide(findings) === 'reject') {
        await client.query("UPDATE clearance_checks SET decision = 'reject', findings = $2 WHERE id = $1", [id, JSON.stringify(findings)]);
        await audit(client, { actor, action: 'clearance.rejected', subject: id, data: { declarationRef: check.declaration_ref, issuer, certificateNumber: number } });
        return;
      }
      if (co.status === 'cancelled') throw conflict(`certificate ${number} is cancelled`);
      // A quantity that does not convert to the CO item's unit says nothing of what it uses: never drawn.
      const unconvertible = findings.find((f) => f.code === 'UNIT_MISMATCH');
      if (unconvertible) throw conflict(`nothing was drawn down: ${unconvertible.message} (${unconvertible.fields[0]})`);
      const earlier = await this.confirmedFor(client, check.declaration_ref, issuer, number);
      if (earlier) throw conflict(`declaration ${check.declaration_ref} already drew on ${issuer} ${number} (check ${earlier}): a declaration draws once`);
      const perItem = inCertificateUnits(check.claim, co.dataset);
      if (!perItem) throw conflict('nothing was drawn down: an item is not on the CO or its quantity does not convert');
      // Read under the CO's lock (lockReceived above): no other drawdown of this CO runs meanwhile.
      const drawn = usedIn(co, await balances(client, issuer, number));
      const reported: { itemNumber: number; quantity: string }[] = [];
      for (const [itemNumber, parts] of perItem) {
        const onCo = co.dataset.items.find((i) => i.itemNumber === itemNumber)!;
        const quantity = parts.reduce((sum, p) => add(sum, p.quantity), exact('0'));
        reported.push({ itemNumber, quantity: format(quantity) });
        // Kept in the CO item's unit; the CHECK on item_balances refuses a balance below zero.
        await client.query('INSERT INTO utilizations (check_id, issuer_party, number, item_number, quantity, unit, claimed, declaration_ref) VALUES ($1, $2, $3, $4, $5::numeric, $6, $7, $8)', [
          id,
          issuer,
          number,
          itemNumber,
          format(quantity),
          onCo.quantity.unit,
          parts.map((p) => p.claimed).join(' + '),
          check.declaration_ref,
        ]);
        await client
          .query(
            `INSERT INTO item_balances (issuer_party, number, item_number, unit, issued, drawn) VALUES ($1, $2, $3, $4, $5::numeric, $6::numeric)
             ON CONFLICT (issuer_party, number, item_number) DO UPDATE SET unit = EXCLUDED.unit, issued = EXCLUDED.issued, drawn = EXCLUDED.drawn, updated_at = now()`,
            [issuer, number, itemNumber, onCo.quantity.unit, onCo.quantity.value, format(add(drawn.get(itemNumber) ?? exact('0'), quantity))],
          )
          .catch((error: { code?: string }) => {
            if (error.code === '23514') throw conflict(`item ${itemNumber} of ${number} would go below zero: nothing was drawn down`);
            throw error;
          });
      }
      const { rows: confirmed } = await client.query<{ confirmed_at: Date }>("UPDATE clearance_checks SET status = 'confirmed', confirmed_at = now() WHERE id = $1 RETURNING confirmed_at", [id]);
      if (!issuerPeer) throw conflict(`the issuing party ${issuer} is not a registered peer: the use could not be reported`);
      await this.reportUtilization(outbox, issuerPeer, number, check.declaration_ref, reported, confirmed[0]!.confirmed_at);
      await audit(client, { actor, action: 'clearance.confirmed', subject: id, data: { declarationRef: check.declaration_ref, issuer, certificateNumber: number } });
    });
  }

  /** certificate.utilized to the issuing party, in the drawdown's transaction. */
  /** The quantities are in the CO items' units (the wire's `certificate.utilized` carries none). */
  private async reportUtilization(outbox: OutboxWriter, issuer: KnownPeer, number: string, declarationRef: string, items: { itemNumber: number; quantity: string }[], clearedAt: Date): Promise<void> {
    const body = {
      certificateNumber: number,
      declarationRef,
      items,
      clearedAt: clearedAt.toISOString(),
    };
    await outbox.send({ to: issuer, type: 'certificate.utilized', body, certificateNumber: number });
  }
}
