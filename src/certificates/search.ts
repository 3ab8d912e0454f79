// Searching issued and received certificates as the portal's lists do: current versions only
// (every other version is 'replaced'), filtered by number, exporter, importer (name or identifier,
// partial and case-insensitive), issuer or partner, HS code (chapter, heading or more), status and
// a date range; sorted; a page at a time with a count. Every filter has an index (migration 026),
// so that a search over a million certificates answers in milliseconds (bench phase h).

import type { QueryResultRow } from 'pg';
import { z } from 'zod';
import { isPartyId } from '../dataset/index.ts';
import type { Queryable } from '../db/index.ts';
import type { CertificateStatus } from './store.ts';

/** Counting stops here ("more than 10,000"), and so does paging: a list is for finding, not reading a year. */
export const SEARCH_LIMITS = { pageSize: 50, countCap: 10_000, text: 70 };

/**
 * YYYY-MM-DD naming a real day from 1900 on: Date.parse rolls 2024-02-31 over to March, and
 * Postgres refuses the year 0000; either would be a 500.
 */
export const calendarDate = z.iso.date('must be a date YYYY-MM-DD').refine((s) => {
  const day = new Date(s);
  return s >= '1900' && !Number.isNaN(day.getTime()) && day.toISOString().slice(0, 10) === s;
}, 'must be a date YYYY-MM-DD');
const optionalText = z.string().trim().max(SEARCH_LIMITS.text).optional();

/** A search as the lists' forms send it; every field bounded, an unusable value refused (never silently ignored). */
export const certificateSearchSchema = z.object({
  number: optionalText,
  exporter: optionalText,
  importer: optionalText,
  /** The other party: the issuer of a received certificate, the recipient of an issued one. */
  party: z
    .string()
    .trim()
    .max(20)
    .transform((s) => s.toUpperCase())
    .refine((s) => s === '' || isPartyId(s), 'must be a party id such as KR-KCS')
    .optional(),
  hsCode: z
    .string()
    .trim()
    .regex(/^(\d{2}|\d{4}|\d{6}|\d{8}|\d{10})?$/, 'must be an HS chapter, heading or code: 2, 4, 6, 8 or 10 digits')
    .optional(),
  status: z.enum(['', 'valid', 'cancelled']).optional(),
  from: z.union([z.literal(''), calendarDate]).optional(),
  to: z.union([z.literal(''), calendarDate]).optional(),
  sort: z.enum(['newest', 'oldest', 'number']).optional(),
  page: z.coerce
    .number()
    .int()
    .min(1)
    .max(SEARCH_LIMITS.countCap / SEARCH_LIMITS.pageSize)
    .optional(),
});
export type CertificateSearch = z.infer<typeof certificateSearchSchema>;

export type SearchPage<T> = { rows: T[]; total: number; more: boolean; page: number; pages: number };

/** A certificate issued here as its list shows it: its current version and the latest message about it. */
export type IssuedSummary = {
  number: string;
  version: number;
  kind: string;
  status: CertificateStatus;
  recipient: string;
  agreement: string | null;
  exporter: string;
  importer: string | null;
  issuedAt: Date;
  delivery: { type: string; status: string; receiptAt: Date | null; errors: { code: string; message: string; pointer?: string }[] } | null;
};

export type ReceivedSummary = {
  issuer: string;
  number: string;
  version: number;
  kind: string;
  status: CertificateStatus;
  agreement: string | null;
  receivedAt: Date;
  exporter: string;
  importer: string | null;
  items: number;
};

/** `%` and `_` typed by a user are the characters themselves, not wildcards. */
const contains = (text: string) => `%${text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;

/** The WHERE clause and parameters shared by the count and the page. */
function where(search: CertificateSearch, columns: { date: string; party: string }): { sql: string; params: unknown[] } {
  const params: unknown[] = [];
  const clauses = ["c.status <> 'replaced'"];
  const add = (sql: string, value: unknown) => {
    params.push(value);
    clauses.push(sql.replaceAll('$?', `$${params.length}`));
  };
  if (search.number) add('c.number ILIKE $?', contains(search.number));
  if (search.exporter) add("eco_party_text(c.dataset->'exporter') ILIKE $?", contains(search.exporter));
  if (search.importer) add("eco_party_text(c.dataset->'importer') ILIKE $?", contains(search.importer));
  if (search.party) add(`${columns.party} = $?`, search.party);
  if (search.hsCode) add('c.hs_codes @> ARRAY[$?::text]', search.hsCode);
  if (search.status) add('c.status = $?', search.status);
  if (search.from) add(`${columns.date} >= $?::date`, search.from);
  if (search.to) add(`${columns.date} < $?::date + 1`, search.to);
  return { sql: clauses.join(' AND '), params };
}

const orderBy = (search: CertificateSearch, date: string, tie: string) =>
  search.sort === 'number' ? `c.number, ${tie}` : search.sort === 'oldest' ? `${date}, c.number, ${tie}` : `${date} DESC, c.number, ${tie}`;

async function page<T extends QueryResultRow>(
  db: Queryable,
  table: string,
  search: CertificateSearch,
  filter: { sql: string; params: unknown[] },
  select: (limitAt: number) => string,
): Promise<SearchPage<T>> {
  const { pageSize, countCap } = SEARCH_LIMITS;
  const counted = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM (SELECT 1 FROM ${table} c WHERE ${filter.sql} LIMIT ${countCap + 1}) AS found`, filter.params);
  const total = Math.min(counted.rows[0]!.n, countCap);
  const pages = Math.max(1, Math.ceil(total / pageSize));
  const current = Math.min(search.page ?? 1, pages);
  const { rows } = await db.query<T>(select(filter.params.length), [...filter.params, pageSize, (current - 1) * pageSize]);
  return { rows, total, more: counted.rows[0]!.n > countCap, page: current, pages };
}

/** Exporting side: certificates issued here, with their last delivery. */
export async function searchIssued(db: Queryable, search: CertificateSearch): Promise<SearchPage<IssuedSummary>> {
  const filter = where(search, { date: 'c.created_at', party: 'c.importing_party' });
  type Row = Omit<IssuedSummary, 'delivery'> & { d_type: string | null; d_status: string | null; d_receipt_at: Date | null; d_errors: NonNullable<IssuedSummary['delivery']>['errors'] | null };
  const found = await page<Row>(
    db,
    'certificates',
    search,
    filter,
    (n) => `SELECT c.number, c.version, c.kind, c.status, c.importing_party AS recipient, c.agreement, c.created_at AS "issuedAt",
                   c.dataset->'exporter'->>'name' AS exporter, c.dataset->'importer'->>'name' AS importer,
                   o.type AS d_type, o.status AS d_status, o.receipt_at AS d_receipt_at, o.receipt_errors AS d_errors
              FROM certificates c
              LEFT JOIN LATERAL (SELECT type, status, receipt_at, receipt_errors FROM outbox
                                  WHERE certificate_number = c.number AND type IN ('certificate.issued', 'certificate.replaced', 'certificate.cancelled')
                                  ORDER BY created_at DESC LIMIT 1) o ON true
             WHERE ${filter.sql}
             ORDER BY ${orderBy(search, 'c.created_at', 'c.version')} LIMIT $${n + 1} OFFSET $${n + 2}`,
  );
  return {
    ...found,
    rows: found.rows.map(({ d_type, d_status, d_receipt_at, d_errors, ...r }) => ({
      ...r,
      delivery: d_type && d_status ? { type: d_type, status: d_status, receiptAt: d_receipt_at, errors: d_errors ?? [] } : null,
    })),
  };
}

/** Importing side: certificates received from issuing parties. */
export async function searchReceived(db: Queryable, search: CertificateSearch): Promise<SearchPage<ReceivedSummary>> {
  const filter = where(search, { date: 'c.received_at', party: 'c.issuer_party' });
  return page<ReceivedSummary>(
    db,
    'received_certificates',
    search,
    filter,
    (n) => `SELECT c.issuer_party AS issuer, c.number, c.version, c.kind, c.status, c.agreement, c.received_at AS "receivedAt",
                   c.dataset->'exporter'->>'name' AS exporter, c.dataset->'importer'->>'name' AS importer, jsonb_array_length(c.dataset->'items') AS items
              FROM received_certificates c
             WHERE ${filter.sql}
             ORDER BY ${orderBy(search, 'c.received_at', 'c.issuer_party')} LIMIT $${n + 1} OFFSET $${n + 2}`,
  );
}
