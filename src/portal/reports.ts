// Monthly counts per partner and agreement, as exchange networks publish them: certificates issued
// and received, accepted and rejected by the importing party, cancelled, checked against
// declarations and drawn down. Months are UTC calendar months; each event counts in the month it
// happened (a certificate issued in March and accepted in April counts in both). Accepted and
// rejected count the importing party's answers to certificates issued, as issued counts them
// (not to their replacements), so that they never exceed it.
import { z } from 'zod';
import type { Queryable } from '../db/index.ts';

export const MEASURES = ['issued', 'accepted', 'rejected', 'cancelled', 'received', 'checked', 'drawn-down'] as const;
export type Measure = (typeof MEASURES)[number];

/** At most three years on one report. */
const MAX_MONTHS = 36;
const month = z.string().regex(/^(19|[2-9]\d)\d{2}-(0[1-9]|1[0-2])$/, 'must be a month YYYY-MM');

export const reportPeriodSchema = z.object({ from: month.optional(), to: month.optional() }).transform((p, ctx) => {
  const now = new Date();
  const to = p.to ?? now.toISOString().slice(0, 7);
  const from = p.from ?? monthsBefore(to, 11);
  if (from > to) ctx.addIssue({ code: 'custom', path: ['from'], message: 'must not be after the end' });
  else if (monthsBetween(from, to) >= MAX_MONTHS) ctx.addIssue({ code: 'custom', path: ['from'], message: `a report covers at most ${MAX_MONTHS} months` });
  return { from, to };
});

function monthsBefore(month: string, n: number): string {
  const d = new Date(`${month}-01T00:00:00Z`);
  d.setUTCMonth(d.getUTCMonth() - n);
  return d.toISOString().slice(0, 7);
}
const monthsBetween = (from: string, to: string) => (Number(to.slice(0, 4)) - Number(from.slice(0, 4))) * 12 + Number(to.slice(5)) - Number(from.slice(5));

export type ReportRow = { month: string; partner: string; agreement: string; counts: Record<Measure, number> };
export type Report = { from: string; to: string; rows: ReportRow[]; totals: Record<Measure, number> };

export async function monthlyReport(db: Queryable, period: { from: string; to: string }): Promise<Report> {
  const { rows } = await db.query<{ month: string; partner: string; agreement: string; measure: Measure; n: number }>(
    `WITH bounds AS (SELECT ($1 || '-01')::timestamp AT TIME ZONE 'UTC' AS lo, (($2 || '-01')::date + interval '1 month')::timestamp AT TIME ZONE 'UTC' AS hi),
     events AS (
       SELECT c.created_at AS at, c.importing_party AS partner, c.agreement, 'issued' AS measure FROM certificates c, bounds WHERE c.version = 1 AND c.created_at >= lo AND c.created_at < hi
       UNION ALL
       SELECT o.receipt_at, o.peer, c.agreement, o.status FROM outbox o JOIN certificates c ON c.message_id = o.id, bounds
        WHERE o.type = 'certificate.issued' AND o.status IN ('accepted', 'rejected') AND o.receipt_at >= lo AND o.receipt_at < hi
       UNION ALL
       SELECT c.cancelled_at, c.importing_party, c.agreement, 'cancelled' FROM certificates c, bounds WHERE c.cancelled_at >= lo AND c.cancelled_at < hi
       UNION ALL
       SELECT r.received_at, r.issuer_party, r.agreement, 'received' FROM received_certificates r, bounds WHERE r.version = 1 AND r.received_at >= lo AND r.received_at < hi
       UNION ALL
       SELECT k.created_at, coalesce(k.issuer_party, '?'), r.agreement, 'checked' FROM clearance_checks k CROSS JOIN bounds
         LEFT JOIN LATERAL (SELECT agreement FROM received_certificates WHERE issuer_party = k.issuer_party AND number = k.certificate_number ORDER BY version DESC LIMIT 1) r ON true
        WHERE k.created_at >= lo AND k.created_at < hi
       UNION ALL
       SELECT k.confirmed_at, coalesce(k.issuer_party, '?'), r.agreement, 'drawn-down' FROM clearance_checks k CROSS JOIN bounds
         LEFT JOIN LATERAL (SELECT agreement FROM received_certificates WHERE issuer_party = k.issuer_party AND number = k.certificate_number ORDER BY version DESC LIMIT 1) r ON true
        WHERE k.status = 'confirmed' AND k.confirmed_at >= lo AND k.confirmed_at < hi
     )
     SELECT to_char(at AT TIME ZONE 'UTC', 'YYYY-MM') AS month, partner, coalesce(agreement, '') AS agreement, measure, count(*)::int AS n
       FROM events GROUP BY 1, 2, 3, 4 ORDER BY 1 DESC, 2, 3`,
    [period.from, period.to],
  );
  const zero = () => Object.fromEntries(MEASURES.map((m) => [m, 0])) as Record<Measure, number>;
  const byKey = new Map<string, ReportRow>();
  const totals = zero();
  for (const r of rows) {
    const key = `${r.month}\u0000${r.partner}\u0000${r.agreement}`;
    const row = byKey.get(key) ?? { month: r.month, partner: r.partner, agreement: r.agreement, counts: zero() };
    byKey.set(key, row);
    row.counts[r.measure] += r.n;
    totals[r.measure] += r.n;
  }
  return { ...period, rows: [...byKey.values()], totals };
}
