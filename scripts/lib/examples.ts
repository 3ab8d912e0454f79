// The example documents in examples/, with their dates moved so that each CO is issued today:
// the files carry fixed dates, and an agreement's validity window would otherwise let every test
// and demo run expire a year after they were written.
import { readFileSync } from 'node:fs';

/** Parses examples/<file>; every YYYY-MM-DD in it is shifted by the same number of days, so that `issuedAt` is today (UTC). */
export function readExample<T = Record<string, unknown>>(file: string, today = new Date()): T {
  const text = readFileSync(new URL(`../../examples/${file}`, import.meta.url), 'utf8');
  const issuedAt = (JSON.parse(text) as { issuedAt?: unknown }).issuedAt;
  if (typeof issuedAt !== 'string') return JSON.parse(text) as T;
  const shift = Date.parse(today.toISOString().slice(0, 10)) - Date.parse(issuedAt);
  const moved = text.replace(/"(\d{4}-\d{2}-\d{2})"/g, (_, date: string) => `"${new Date(Date.parse(date) + shift).toISOString().slice(0, 10)}"`);
  return JSON.parse(moved) as T;
}
