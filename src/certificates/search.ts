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
export const certificateSearchSchema = z
  .object({
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
  })
  .refine((s) => !s.from || !s.to || s.from <= s.to, { path: ['to'], message: 'must not be before the start' });
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

/** What a list reads: its table, the key of a version, its date column, what it shows (over `c`), and joins for that. */
type ListShape = { table: string; key: string[]; date: string; columns: string; joins?: string };

const orderBy = (search: CertificateSearch, shape: ListShape) => {
  const tie = shape.key.filter((k) => k !== 'number').map((k) => `c.${k}`);
  const date = `c.${shape.date}`;
  const keys = search.sort === 'number' ? ['c.number'] : [search.sort === 'oldest' ? date : `${date} DESC`, 'c.number'];
  return [...keys, ...tie].join(', ');
};

/**
 * A count (exact up to countCap), then a page. The page's plan depends on the count: up to
 * countCap matches are taken whole by the filter's best index and sorted (a date-ordered scan
 * that stops at the 50th match would walk a third of the table when the few matches are old:
 * 600 ms over a million rows); more than that, the date index finds a page's worth at once.
 */
async function page<T extends QueryResultRow>(db: Queryable, shape: ListShape, search: CertificateSearch, filter: { sql: string; params: unknown[] }): Promise<SearchPage<T>> {
  const { pageSize, countCap } = SEARCH_LIMITS;
  const counted = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM (SELECT 1 FROM ${shape.table} c WHERE ${filter.sql} LIMIT ${countCap + 1}) AS found`, filter.params);
  const more = counted.rows[0]!.n > countCap;
  const total = Math.min(counted.rows[0]!.n, countCap);
  const pages = Math.max(1, Math.ceil(total / pageSize));
  const current = Math.min(search.page ?? 1, pages);
  const n = filter.params.length;
  const order = orderBy(search, shape);
  const sql = more
    ? `SELECT ${shape.columns} FROM ${shape.table} c ${shape.joins ?? ''} WHERE ${filter.sql} ORDER BY ${order} LIMIT $${n + 1} OFFSET $${n + 2}`
    : `WITH found AS MATERIALIZED (SELECT ${[...shape.key, shape.date].map((k) => `c.${k}`).join(', ')} FROM ${shape.table} c WHERE ${filter.sql}),
            chosen AS (SELECT * FROM found c ORDER BY ${order} LIMIT $${n + 1} OFFSET $${n + 2})
       SELECT ${shape.columns} FROM chosen JOIN ${shape.table} c USING (${shape.key.join(', ')}) ${shape.joins ?? ''} ORDER BY ${order}`;
  const { rows } = await db.query<T>(sql, [...filter.params, pageSize, (current - 1) * pageSize]);
  return { rows, total, more, page: current, pages };
}

/** Exporting side: certificates issued here, with their last delivery. */
export async function searchIssued(db: Queryable, search: CertificateSearch): Promise<SearchPage<IssuedSummary>> {
  const filter = where(search, { date: 'c.created_at', party: 'c.importing_party' });
  type Row = Omit<IssuedSummary, 'delivery'> & { d_type: string | null; d_status: string | null; d_receipt_at: Date | null; d_errors: NonNullable<IssuedSummary['delivery']>['errors'] | null };
  const found = await page<Row>(
    db,
    {
      table: 'certificates',
      key: ['number', 'version'],
      date: 'created_at',
      columns: `c.number, c.version, c.kind, c.status, c.importing_party AS recipient, c.agreement, c.created_at AS "issuedAt",
                c.dataset->'exporter'->>'name' AS exporter, c.dataset->'importer'->>'name' AS importer,
                o.type AS d_type, o.status AS d_status, o.receipt_at AS d_receipt_at, o.receipt_errors AS d_errors`,
      joins: `LEFT JOIN LATERAL (SELECT type, status, receipt_at, receipt_errors FROM outbox
                                  WHERE certificate_number = c.number AND type IN ('certificate.issued', 'certificate.replaced', 'certificate.cancelled')
                                  ORDER BY created_at DESC LIMIT 1) o ON true`,
    },
    search,
    filter,
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
    {
      table: 'received_certificates',
      key: ['issuer_party', 'number', 'version'],
      date: 'received_at',
      columns: `c.issuer_party AS issuer, c.number, c.version, c.kind, c.status, c.agreement, c.received_at AS "receivedAt",
                c.dataset->'exporter'->>'name' AS exporter, c.dataset->'importer'->>'name' AS importer, jsonb_array_length(c.dataset->'items') AS items`,
    },
    search,
    filter,
  );
}
