// SQL for both certificate tables: issued here (exporting side) and received (importing side).

import type { Certificate } from '../dataset/index.ts';
import { prepared, type Queryable } from '../db/index.ts';
import { canonicalForm } from '../seals/index.ts';

export type CertificateStatus = 'valid' | 'replaced' | 'cancelled';

export type VersionRow = {
  issuer: string;
  number: string;
  version: number;
  kind: string;
  agreement: string | null;
  status: CertificateStatus;
  dataset: Certificate;
  jws: string;
  at: Date;
  counterparty: string;
  cancel_reason: string | null;
  cancelled_at: Date | null;
  /** Issued versions only: the seal's h, fixed at issue. */
  canonical_hash?: string | null;
};

/** A version issued here, with the message it was sent in and that message's exact bytes. */
export async function insertIssued(
  client: Queryable,
  row: { certificate: Certificate; importingParty: string; sent: { messageId: string; bytes: string }; idempotency?: { key: string; digest: string } },
): Promise<void> {
  const c = row.certificate;
  await client.query(
    prepared(
      'certificates.insert',
      `INSERT INTO certificates (number, version, kind, agreement, importing_party, dataset, message_id, jws, idempotency_key, idempotency_digest, canonical_hash)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
      [
        c.number,
        c.version,
        c.kind,
        c.agreement ?? null,
        row.importingParty,
        JSON.stringify(c),
        row.sent.messageId,
        row.sent.bytes,
        row.idempotency?.key ?? null,
        row.idempotency?.digest ?? null,
        // The seal's h, fixed now: the body sent is this very object.
        canonicalForm(c).hash,
      ],
    ),
  );
}

/** Within a transaction: the latest version issued under `number`, locked until commit. */
export async function lockLatestIssued(client: Queryable, number: string): Promise<{ version: number; status: CertificateStatus } | undefined> {
  const { rows } = await client.query<{ version: number; status: CertificateStatus }>('SELECT version, status FROM certificates WHERE number = $1 ORDER BY version DESC LIMIT 1 FOR UPDATE', [number]);
  return rows[0];
}

export async function markReplaced(client: Queryable, number: string, version: number): Promise<void> {
  await client.query("UPDATE certificates SET status = 'replaced' WHERE number = $1 AND version = $2", [number, version]);
}

export async function markCancelled(client: Queryable, number: string, version: number, reason: string, cancelledAt: string): Promise<void> {
  await client.query("UPDATE certificates SET status = 'cancelled', cancel_reason = $3, cancelled_at = $4 WHERE number = $1 AND version = $2", [number, version, reason, cancelledAt]);
}

export async function findIssuedByIdempotencyKey(db: Queryable, key: string): Promise<{ number: string; version: number; recipient: string; messageId: string; digest: string | null } | undefined> {
  const { rows } = await db.query<{ number: string; version: number; recipient: string; messageId: string; digest: string | null }>(
    'SELECT number, version, importing_party AS recipient, message_id AS "messageId", idempotency_digest AS digest FROM certificates WHERE idempotency_key = $1',
    [key],
  );
  return rows[0];
}

/** Every version issued here under `number`, newest first, with the bytes sent for each. */
export async function issuedVersions(db: Queryable, issuer: string, number: string): Promise<VersionRow[]> {
  const { rows } = await db.query<VersionRow>(
    `SELECT $2::text AS issuer, c.number, c.version, c.kind, c.agreement, c.status, c.dataset, c.jws,
            c.created_at AS at, c.importing_party AS counterparty, c.cancel_reason, c.cancelled_at, c.canonical_hash
       FROM certificates c
      WHERE c.number = $1 ORDER BY c.version DESC`,
    [number, issuer],
  );
  return rows;
}

/** Every version received under `number` (from one issuer, or all), newest first. */
export async function receivedVersions(db: Queryable, number: string, issuer?: string): Promise<VersionRow[]> {
  const { rows } = await db.query<VersionRow>(
    `SELECT r.issuer_party AS issuer, r.number, r.version, r.kind, r.agreement, r.status, r.dataset, r.jws, r.received_at AS at,
            r.issuer_party AS counterparty, c.reason AS cancel_reason, c.cancelled_at
       FROM received_certificates r
       LEFT JOIN received_cancellations c ON c.issuer_party = r.issuer_party AND c.number = r.number
      WHERE r.number = $1 AND ($2::text IS NULL OR r.issuer_party = $2)
      ORDER BY r.issuer_party, r.version DESC`,
    [number, issuer ?? null],
  );
  return rows;
}

/** A row of `lookupVersions`: a version (issued or received), or a cancellation whose certificate has not arrived. */
export type LookupRow = (VersionRow & { orphan: false }) | { orphan: true; issuer: string; cancel_reason: string; cancelled_at: Date };

/**
 * A lookup by number in one statement, on one connection: the versions issued here (when `own`
 * names us), then those received (when `others`; from `issuer` only, if given), each issuer's
 * newest first, then the cancellations received for a number whose certificate has not arrived.
 * Each branch is an index scan on `number`; a branch switched off costs nothing (a one-time filter).
 */
export async function lookupVersions(db: Queryable, number: string, query: { own: string | null; others: boolean; issuer?: string }): Promise<LookupRow[]> {
  const { rows } = await db.query<LookupRow>(
    prepared(
      'certificates.lookup',
      `SELECT false AS orphan, 0 AS branch, $2::text AS issuer, c.number, c.version, c.kind, c.agreement, c.status, c.dataset, c.jws,
            c.created_at AS at, c.importing_party AS counterparty, c.cancel_reason, c.cancelled_at
       FROM certificates c
      WHERE $2::text IS NOT NULL AND c.number = $1
     UNION ALL
     SELECT false, 1, r.issuer_party, r.number, r.version, r.kind, r.agreement, r.status, r.dataset, r.jws, r.received_at,
            r.issuer_party, x.reason, x.cancelled_at
       FROM received_certificates r
       LEFT JOIN received_cancellations x ON x.issuer_party = r.issuer_party AND x.number = r.number
      WHERE $3::boolean AND r.number = $1 AND ($4::text IS NULL OR r.issuer_party = $4)
     UNION ALL
     SELECT true, 2, x.issuer_party, x.number, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, x.reason, x.cancelled_at
       FROM received_cancellations x
      WHERE $3::boolean AND x.number = $1 AND ($4::text IS NULL OR x.issuer_party = $4)
        AND NOT EXISTS (SELECT 1 FROM received_certificates r WHERE r.issuer_party = x.issuer_party AND r.number = x.number)
      ORDER BY branch, issuer, version DESC`,
      [number, query.own, query.others, query.issuer ?? null],
    ),
  );
  return rows;
}

export type ReceiveOutcome = 'stored' | 'duplicate' | 'conflict';

/**
 * Stores a received version. The same issuer, number and version again is a duplicate when the
 * content is the same (jsonb equality ignores key order and spacing) and a conflict otherwise.
 * A stored version is 'valid' as inserted; only where other versions or a cancellation were there
 * before are the statuses derived again (most certificates arrive once).
 */
export async function insertReceived(client: Queryable, row: { issuer: string; certificate: Certificate; rawDataset: unknown; jws: string; messageId: string }): Promise<ReceiveOutcome> {
  const c = row.certificate;
  // Taken first, so that what the insert reads of this certificate's rows is all committed.
  await lockReceived(client, row.issuer, c.number);
  // The RETURNING subqueries read the statement's snapshot, which does not hold the row it inserts.
  const inserted = await client.query<{ alone: boolean }>(
    prepared(
      'received.insert',
      `INSERT INTO received_certificates (issuer_party, number, version, kind, agreement, dataset, jws, message_id)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING
     RETURNING NOT EXISTS (SELECT 1 FROM received_certificates WHERE issuer_party = $1 AND number = $2)
           AND NOT EXISTS (SELECT 1 FROM received_cancellations WHERE issuer_party = $1 AND number = $2) AS alone`,
      [row.issuer, c.number, c.version, c.kind, c.agreement ?? null, JSON.stringify(row.rawDataset), row.jws, row.messageId],
    ),
  );
  if (inserted.rowCount === 1) {
    if (!inserted.rows[0]!.alone) await updateReceivedStatuses(client, row.issuer, c.number);
    return 'stored';
  }
  const { rows } = await client.query<{ same: boolean }>('SELECT dataset = $4::jsonb AS same FROM received_certificates WHERE issuer_party = $1 AND number = $2 AND version = $3', [
    row.issuer,
    c.number,
    c.version,
    JSON.stringify(row.rawDataset),
  ]);
  return rows[0]?.same ? 'duplicate' : 'conflict';
}

/** Keeps a received cancellation; the first one received for a certificate is the one kept. */
export async function insertCancellation(client: Queryable, row: { issuer: string; number: string; reason: string; cancelledAt: string; messageId: string }): Promise<void> {
  await client.query(
    `INSERT INTO received_cancellations (issuer_party, number, reason, cancelled_at, message_id)
     VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING`,
    [row.issuer, row.number, row.reason, row.cancelledAt, row.messageId],
  );
}

/**
 * Serialises the transactions that change one received certificate, until commit: a new version
 * or cancellation arriving, a drawdown. Without it two concurrent transactions each miss the
 * other's uncommitted rows (both versions 'valid'; two drawdowns from different versions).
 */
export async function lockReceived(client: Queryable, issuer: string, number: string): Promise<void> {
  await client.query(prepared('received.lock', "SELECT pg_advisory_xact_lock(hashtext($1 || '/' || $2))", [issuer, number]));
}

/** Under lockReceived, derives the statuses again (see updateReceivedStatuses). */
export async function refreshReceivedStatuses(client: Queryable, issuer: string, number: string): Promise<void> {
  await lockReceived(client, issuer, number);
  await updateReceivedStatuses(client, issuer, number);
}

/**
 * Derives every received version's status from what has arrived, whatever the order: the highest
 * version is current (cancelled if a cancellation arrived, valid otherwise), all others replaced.
 */
async function updateReceivedStatuses(client: Queryable, issuer: string, number: string): Promise<void> {
  await client.query(
    prepared(
      'received.statuses',
      `UPDATE received_certificates r
        SET status = CASE WHEN r.version < m.current THEN 'replaced'
                          WHEN EXISTS (SELECT 1 FROM received_cancellations c WHERE c.issuer_party = $1 AND c.number = $2) THEN 'cancelled'
                          ELSE 'valid' END
       FROM (SELECT max(version) AS current FROM received_certificates WHERE issuer_party = $1 AND number = $2) m
      WHERE r.issuer_party = $1 AND r.number = $2`,
      [issuer, number],
    ),
  );
}

export type CurrentReceived = {
  issuer: string;
  number: string;
  version: number;
  status: CertificateStatus;
  dataset: Certificate;
  receivedAt: Date;
  /** How many versions have been received. */
  versions: number;
  /** When its cancellation came, if one did. */
  cancelledAt: Date | null;
};

/** The current version of each received certificate, the most recently received first. */
export async function currentReceived(db: Queryable, limit: number): Promise<CurrentReceived[]> {
  const { rows } = await db.query<CurrentReceived>(
    `SELECT c.issuer_party AS issuer, c.number, c.version, c.status, c.dataset, c.received_at AS "receivedAt",
            (SELECT count(*)::int FROM received_certificates r WHERE r.issuer_party = c.issuer_party AND r.number = c.number) AS versions,
            x.cancelled_at AS "cancelledAt"
       FROM (SELECT DISTINCT ON (issuer_party, number) * FROM received_certificates ORDER BY issuer_party, number, version DESC) c
       LEFT JOIN received_cancellations x ON x.issuer_party = c.issuer_party AND x.number = c.number
      ORDER BY c.received_at DESC LIMIT $1`,
    [limit],
  );
  return rows;
}

/** Exporting side: whether a certificate of that number was issued here to that party. */
export async function wasIssuedTo(db: Queryable, number: string, party: string): Promise<boolean> {
  const { rowCount } = await db.query('SELECT 1 FROM certificates WHERE number = $1 AND importing_party = $2 LIMIT 1', [number, party]);
  return (rowCount ?? 0) > 0;
}

/** Importing side: whether any version of that certificate has been received from `issuer`. */
export async function hasReceived(db: Queryable, issuer: string, number: string): Promise<boolean> {
  const { rowCount } = await db.query('SELECT 1 FROM received_certificates WHERE issuer_party = $1 AND number = $2 LIMIT 1', [issuer, number]);
  return (rowCount ?? 0) > 0;
}

/**
 * Exporting side: keeps what an importing party reported drawing down. False when no certificate of
 * that number was issued here to that party (UNKNOWN_CERTIFICATE).
 */
export async function insertReportedUtilization(
  client: Queryable,
  row: { from: string; number: string; declarationRef: string; items: unknown; clearedAt: string; messageId: string },
): Promise<boolean> {
  if (!(await wasIssuedTo(client, row.number, row.from))) return false;
  await client.query('INSERT INTO reported_utilizations (message_id, from_party, number, declaration_ref, items, cleared_at) VALUES ($1, $2, $3, $4, $5, $6)', [
    row.messageId,
    row.from,
    row.number,
    row.declarationRef,
    JSON.stringify(row.items),
    row.clearedAt,
  ]);
  return true;
}

export type ReportedUtilization = { reportedBy: string; declarationRef: string; items: { itemNumber: number; quantity: string }[]; clearedAt: string };

export async function reportedUtilizations(db: Queryable, number: string): Promise<ReportedUtilization[]> {
  const { rows } = await db.query<{ from_party: string; declaration_ref: string; items: ReportedUtilization['items']; cleared_at: Date }>(
    'SELECT from_party, declaration_ref, items, cleared_at FROM reported_utilizations WHERE number = $1 ORDER BY cleared_at',
    [number],
  );
  return rows.map((r) => ({ reportedBy: r.from_party, declarationRef: r.declaration_ref, items: r.items, clearedAt: r.cleared_at.toISOString() }));
}
