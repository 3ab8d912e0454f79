// Certificate numbers the gateway assigns, from the issuer's pattern (`KR-{yyyy}-{seq:6}`): the
// sequence starts at 1 each year of issue and moves in the transaction that issues the
// certificate, so that a year's numbers run without a gap or a repeat whatever runs at once (the
// counter's row is locked until commit; a failed issue rolls its number back). A number typed by
// hand (an authority that numbers certificates elsewhere) is used as it is; the sequence steps
// over one it meets.
import { audited } from '../audit/index.ts';
import { certificateNumberSchema } from '../dataset/index.ts';
import type { Db, Queryable } from '../db/index.ts';
import { conflict, invalid } from '../errors.ts';

/** The pattern's tokens; N of {seq:N} is 1 to 12, written without a leading zero (as the table's CHECK says). */
const TOKEN = /\{(yyyy|yy|seq:([1-9]|1[0-2]))\}/g;
const SEQ = /\{seq:([1-9]|1[0-2])\}/;

/** Why a pattern cannot number certificates, or undefined when it can. */
export function patternProblem(pattern: string): string | undefined {
  if (pattern.length > 60) return 'must be at most 60 characters';
  const seq = [...pattern.matchAll(/\{seq:([1-9]|1[0-2])\}/g)];
  if (seq.length !== 1 || (pattern.match(/\{seq:/g) ?? []).length !== 1) return 'must hold {seq:N} once, N from 1 to 12 digits';
  if (!/\{(yyyy|yy)\}/.test(pattern)) return 'must hold the year, {yyyy} or {yy}: the sequence starts again each year';
  if (pattern.replace(TOKEN, '').match(/[{}]/)) return 'knows {yyyy}, {yy} and {seq:N} only';
  const longest = formatNumber(pattern, 9999, 10 ** Number(seq[0]![1]) - 1);
  if (!certificateNumberSchema.safeParse(longest).success) return `makes numbers such as ${longest.slice(0, 40)}, which are not 1-35 characters of A-Z a-z 0-9 / - .`;
  return undefined;
}

/** The number a pattern gives for a year and sequence (the sequence zero-padded to its width). */
export function formatNumber(pattern: string, year: number, seq: number): string {
  return pattern.replace(TOKEN, (_, token: string, width?: string) =>
    token === 'yyyy' ? String(year).padStart(4, '0') : token === 'yy' ? String(year % 100).padStart(2, '0') : String(seq).padStart(Number(width), '0'),
  );
}

export async function numberingPattern(db: Queryable, issuer: string): Promise<string | undefined> {
  const { rows } = await db.query<{ pattern: string }>('SELECT pattern FROM certificate_numbering WHERE issuer_party = $1', [issuer]);
  return rows[0]?.pattern;
}

/** Sets (or, with null, removes) the issuer's pattern; audited. Numbers given so far stay given. */
export async function setNumberingPattern(db: Db, issuer: string, pattern: string | null, actor: string): Promise<void> {
  if (pattern !== null) {
    const problem = patternProblem(pattern);
    if (problem) throw invalid('the numbering pattern cannot be used', [{ pointer: '/pattern', detail: problem }]);
  }
  await audited(
    db,
    (client) =>
      pattern === null
        ? client.query('DELETE FROM certificate_numbering WHERE issuer_party = $1', [issuer])
        : client.query(
            `INSERT INTO certificate_numbering (issuer_party, pattern, updated_by) VALUES ($1, $2, $3)
             ON CONFLICT (issuer_party) DO UPDATE SET pattern = $2, updated_by = $3, updated_at = now()`,
            [issuer, pattern, actor],
          ),
    () => ({ actor, action: 'numbering.changed', subject: issuer, data: { pattern } }),
  );
}

/** The number the next certificate of that year would get (for the form to show; not reserved). */
export async function nextNumberPreview(db: Queryable, issuer: string, year: number): Promise<string | undefined> {
  const pattern = await numberingPattern(db, issuer);
  if (!pattern) return undefined;
  const { rows } = await db.query<{ last: string }>('SELECT last FROM certificate_number_counters WHERE issuer_party = $1 AND year = $2', [issuer, year]);
  return formatNumber(pattern, year, Number(rows[0]?.last ?? 0) + 1);
}

/**
 * Within the issuing transaction: the next number of the issuer's pattern for the year. The
 * counter's row stays locked until commit, so concurrent issues take numbers one after another,
 * and a rollback gives the number back.
 */
export async function takeNumber(client: Queryable, issuer: string, year: number): Promise<string> {
  if (!Number.isInteger(year) || year < 2000 || year > 9999)
    throw invalid('the date of issue is outside the years numbers are given for', [{ pointer: '/issuedAt', detail: 'a number from the pattern needs a year from 2000' }]);
  const pattern = await numberingPattern(client, issuer);
  if (!pattern) throw invalid('no certificate number was given, and no numbering pattern is set', [{ pointer: '/number', detail: 'required' }]);
  for (;;) {
    const { rows } = await client.query<{ last: string }>(
      `INSERT INTO certificate_number_counters (issuer_party, year, last) VALUES ($1, $2, 1)
       ON CONFLICT (issuer_party, year) DO UPDATE SET last = certificate_number_counters.last + 1 RETURNING last`,
      [issuer, year],
    );
    const seq = Number(rows[0]!.last);
    const width = Number(SEQ.exec(pattern)![1]);
    if (seq >= 10 ** width) throw conflict(`the numbering pattern ${pattern} has no number left for ${year}`);
    const number = formatNumber(pattern, year, seq);
    const taken = await client.query('SELECT 1 FROM certificates WHERE number = $1 LIMIT 1', [number]);
    if (!taken.rowCount) return number;
  }
}
