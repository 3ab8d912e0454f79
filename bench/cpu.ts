// CPU time by component (gateway A, gateway B, Postgres, RabbitMQ, this load generator) over a
// phase, from /proc. Unlike wall-clock rates it barely moves when the shared machine is busy, so
// "core-ms per CO" says where the work goes even on a noisy run. Linux only; elsewhere it is empty.
import { readdirSync, readFileSync } from 'node:fs';

const TICKS_PER_SECOND = 100; // USER_HZ, 100 on every Linux this runs on

/** utime + stime + cutime + cstime of one process, in seconds (0 if it is gone). */
function ownSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name, which may hold spaces: state is field 3, utime field 14.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14])) / TICKS_PER_SECOND;
  } catch {
    return 0;
  }
}

function parentsByPid(): Map<number, number> {
  const parents = new Map<number, number>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      parents.set(Number(name), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // exited while listing
    }
  }
  return parents;
}

/**
 * CPU seconds of each component: its root processes and their live descendants. Children that
 * exited and were reaped are in their parent's cutime/cstime, so nothing is counted twice or lost
 * (Postgres backends).
 */
export function cpuSeconds(components: Record<string, (number | undefined)[]>): Record<string, number> {
  const result: Record<string, number> = {};
  let parents: Map<number, number>;
  try {
    parents = parentsByPid();
  } catch {
    return result; // no /proc
  }
  for (const [name, pids] of Object.entries(components)) {
    const roots = new Set(pids.filter((pid): pid is number => pid !== undefined));
    let total = 0;
    for (const pid of parents.keys()) {
      for (let p: number | undefined = pid; p && p > 1; p = parents.get(p)) {
        if (roots.has(p)) {
          total += ownSeconds(pid);
          break;
        }
      }
    }
    result[name] = total;
  }
  return result;
}

/** Core-milliseconds per item of each component between two cpuSeconds() readings. */
export function coreMsPer(before: Record<string, number>, after: Record<string, number>, items: number): Record<string, number> {
  return Object.fromEntries(Object.keys(after).map((name) => [name, Math.round(((after[name]! - (before[name] ?? 0)) * 1000 * 100) / items) / 100]));
}
