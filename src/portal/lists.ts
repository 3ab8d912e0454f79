// What every list page shares: its filters read from the query string (bounded, and a value that
// cannot be used is said at its field, never silently ignored), and links to its other pages.
import type { z } from 'zod';
import { type CertificateSearch, certificateSearchSchema, type SearchPage } from '../certificates/index.ts';
import { toPointer } from '../dataset/index.ts';
import type { FieldError } from '../errors.ts';

/** The query parameters of the certificate lists' search (certificateSearchSchema). */
export const SEARCH_FIELDS = ['number', 'exporter', 'importer', 'party', 'hsCode', 'status', 'from', 'to', 'sort', 'page'] as const;

/**
 * What a certificate list page shows: its filters read from the query (a refused one said at its
 * field, with a 422 and nothing found), a page of `search`, and links to the other pages.
 */
export async function certificateList<T>(query: unknown, path: string, search: (filters: CertificateSearch) => Promise<SearchPage<T>>) {
  const values = queryValues(query, SEARCH_FIELDS);
  const { filters, errors } = readFilters(certificateSearchSchema, values);
  const found: SearchPage<T> = filters ? await search(filters) : { rows: [], total: 0, more: false, page: 1, pages: 1 };
  return { status: errors.length ? 422 : 200, values, errors, found, links: pageLinks(path, values, found.page, found.pages) };
}

/** The query's values as text (first of repeated ones, each bounded), for the form to show again. */
export function queryValues(query: unknown, names: readonly string[], max = 100): Record<string, string> {
  const q = (query ?? {}) as Record<string, unknown>;
  const values: Record<string, string> = {};
  for (const name of names) {
    const raw = Array.isArray(q[name]) ? q[name][0] : q[name];
    if (typeof raw === 'string' && raw.trim() !== '') values[name] = raw.slice(0, max);
  }
  return values;
}

/** Reads a list's filters with its schema; errors point at the filter fields (`/number`). */
export function readFilters<S extends z.ZodType>(schema: S, values: Record<string, string>): { filters?: z.infer<S>; errors: FieldError[] } {
  const parsed = schema.safeParse(values);
  if (parsed.success) return { filters: parsed.data, errors: [] };
  return { errors: parsed.error.issues.map((issue) => ({ pointer: toPointer(issue.path), detail: issue.message })) };
}

export type PageLinks = { page: number; pages: number; first?: string; prev?: string; next?: string; last?: string };

/** Links to the first, previous, next and last pages, keeping the filters. */
export function pageLinks(path: string, values: Record<string, string>, page: number, pages: number): PageLinks {
  const at = (n: number) => {
    const q = new URLSearchParams({ ...values, page: String(n) });
    return `${path}?${q}`;
  };
  return {
    page,
    pages,
    first: page > 2 ? at(1) : undefined,
    prev: page > 1 ? at(page - 1) : undefined,
    next: page < pages ? at(page + 1) : undefined,
    last: page < pages - 1 ? at(pages) : undefined,
  };
}

/** A CSV file (RFC 4180), with a cell that a spreadsheet would run as a formula quoted as text (OWASP CSV injection). */
export function toCsv(header: readonly string[], rows: readonly (readonly unknown[])[]): string {
  const cell = (value: unknown) => {
    let text = value === null || value === undefined ? '' : value instanceof Date ? value.toISOString() : String(value);
    if (/^[=+\-@\t\r]/.test(text)) text = `'${text}`;
    return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
  };
  return `${[header, ...rows].map((row) => row.map(cell).join(',')).join('\r\n')}\r\n`;
}
