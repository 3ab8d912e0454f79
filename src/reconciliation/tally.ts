// PROFILE 1.1 reconciliation's arithmetic: lines, buckets and their roots. Nothing here reads or writes.
import { createHash } from 'node:crypto';
import { BUCKETS, type Tally } from '../exchange/index.ts';

/** One message: its id and the base64url SHA-256 of its bytes. */
export type Line = { id: string; digest: string };
type Bucket = (typeof BUCKETS)[number];

const bucketOf = (id: string) => id.charAt(0).toLowerCase() as Bucket;

function byBucket(lines: Line[]): Map<Bucket, Line[]> {
  const buckets = new Map<Bucket, Line[]>();
  for (const line of lines) {
    const bucket = bucketOf(line.id);
    if (!BUCKETS.includes(bucket)) continue;
    const list = buckets.get(bucket);
    if (list) list.push(line);
    else buckets.set(bucket, [line]);
  }
  for (const list of buckets.values()) list.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return buckets;
}

/** The tally of a set of lines: a count, and per non-empty bucket its count and root. */
export function tallyOf(lines: Line[]): Tally {
  const buckets: Tally['buckets'] = {};
  for (const [bucket, list] of byBucket(lines)) {
    const root = createHash('sha256')
      .update(list.map((l) => `${l.id} ${l.digest}\n`).join(''))
      .digest('base64url');
    buckets[bucket] = { count: list.length, root };
  }
  return { count: lines.length, buckets };
}

/** The buckets in which a peer's tally and ours differ (an absent bucket counts as empty). */
export function differingBuckets(theirs: Tally, ours: Tally): Set<Bucket> {
  const differing = new Set<Bucket>();
  for (const bucket of BUCKETS) {
    const a = theirs.buckets[bucket];
    const b = ours.buckets[bucket];
    if ((a?.count ?? 0) !== (b?.count ?? 0) || ((a?.count ?? 0) > 0 && a?.root !== b?.root)) differing.add(bucket);
  }
  return differing;
}

/**
 * Buckets whose root is ours but whose count is not: the same lines cannot be counted otherwise,
 * so the statement misstates them (profile 1.2: SCHEMA_INVALID at the count).
 */
export function miscountedBuckets(theirs: Tally, ours: Tally): Bucket[] {
  return BUCKETS.filter((bucket) => {
    const a = theirs.buckets[bucket];
    const b = ours.buckets[bucket];
    return a && b && a.root === b.root && a.count !== b.count;
  });
}

/** Our lines in those buckets, sorted by id. */
export function linesIn(lines: Line[], buckets: Set<Bucket>): Line[] {
  return [...byBucket(lines)].filter(([bucket]) => buckets.has(bucket)).flatMap(([, list]) => list);
}
