// Risk flags on received COs, for a risk officer to see before the goods arrive.
import { type CurrentReceived, currentReceived } from '../certificates/index.ts';
import { type Certificate, compare, exact } from '../dataset/index.ts';
import type { Queryable } from '../db/index.ts';

export type RiskFlag = { code: 'CANCELLED_AFTER_SHIPMENT' | 'MANY_REPLACEMENTS' | 'FULLY_USED' | 'ISSUED_RETROACTIVELY' | 'VALUE_OUTLIER'; message: string };
export type FlaggedCertificate = { issuer: string; number: string; version: number; status: string; receivedAt: string; flags: RiskFlag[] };

const MANY_VERSIONS = 3;
const OUTLIER_FACTOR = 3;
const OUTLIER_MIN_SAMPLES = 5;

type Row = CurrentReceived & { used: Record<string, string> | undefined };

/** What confirmed declarations drew down per item of each certificate: item number -> quantity. */
async function usedPerItem(db: Queryable, certificates: { issuer: string; number: string }[]): Promise<Map<string, Record<string, string>>> {
  const { rows } = await db.query<{ issuer: string; number: string; item_number: number; used: string }>(
    `SELECT issuer_party AS issuer, number, item_number, sum(quantity)::text AS used FROM utilizations
      WHERE (issuer_party, number) IN (SELECT * FROM unnest($1::text[], $2::text[])) GROUP BY issuer_party, number, item_number`,
    [certificates.map((c) => c.issuer), certificates.map((c) => c.number)],
  );
  const used = new Map<string, Record<string, string>>();
  for (const r of rows) {
    const key = JSON.stringify([r.issuer, r.number]);
    used.set(key, { ...used.get(key), [String(r.item_number)]: r.used });
  }
  return used;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** The most recently received COs (current versions) that carry at least one flag. */
export async function flaggedCertificates(db: Queryable, limit = 1000): Promise<FlaggedCertificate[]> {
  const current = await currentReceived(db, limit);
  const used = await usedPerItem(db, current);
  const rows: Row[] = current.map((c) => ({ ...c, used: used.get(JSON.stringify([c.issuer, c.number])) }));
  // Unit values per HS heading (6 digits) and currency, to spot items priced far above the usual.
  const unitValues = new Map<string, number[]>();
  const unitValue = (item: Certificate['items'][number]) =>
    item.value && Number(item.quantity.value) > 0 ? { key: `${item.hsCode.slice(0, 6)} ${item.value.currency}`, value: Number(item.value.amount) / Number(item.quantity.value) } : undefined;
  for (const row of rows) {
    for (const item of row.dataset.items) {
      const uv = unitValue(item);
      if (uv) unitValues.set(uv.key, [...(unitValues.get(uv.key) ?? []), uv.value]);
    }
  }
  const medians = new Map([...unitValues].filter(([, v]) => v.length >= OUTLIER_MIN_SAMPLES).map(([k, v]) => [k, median(v)]));

  return rows
    .map((row) => {
      const flags: RiskFlag[] = [];
      const departure = row.dataset.transport?.departureDate;
      if (row.cancelledAt && departure && row.cancelledAt.toISOString().slice(0, 10) > departure) {
        flags.push({ code: 'CANCELLED_AFTER_SHIPMENT', message: `cancelled on ${row.cancelledAt.toISOString().slice(0, 10)}, after the goods left on ${departure}` });
      }
      if (row.versions >= MANY_VERSIONS) flags.push({ code: 'MANY_REPLACEMENTS', message: `${row.versions} versions received` });
      for (const item of row.dataset.items) {
        const used = row.used?.[String(item.itemNumber)];
        if (used && compare(exact(used), exact(item.quantity.value)) >= 0)
          flags.push({ code: 'FULLY_USED', message: `item ${item.itemNumber}: ${used} of ${item.quantity.value} ${item.quantity.unit} used` });
        const uv = unitValue(item);
        const usual = uv && medians.get(uv.key);
        if (uv && usual && uv.value > OUTLIER_FACTOR * usual) {
          flags.push({ code: 'VALUE_OUTLIER', message: `item ${item.itemNumber}: ${uv.value.toFixed(2)} per unit, over ${OUTLIER_FACTOR}x the usual ${usual.toFixed(2)} for ${uv.key}` });
        }
      }
      if (row.dataset.flags?.issuedRetroactively) flags.push({ code: 'ISSUED_RETROACTIVELY', message: `issued ${row.dataset.issuedAt}, after shipment` });
      return { issuer: row.issuer, number: row.number, version: row.version, status: row.status, receivedAt: row.receivedAt.toISOString(), flags };
    })
    .filter((c) => c.flags.length > 0);
}
