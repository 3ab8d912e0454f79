// Messages in a registered peer's name that failed authentication. PROFILE answers them to the
// party they name, so that it learns someone uses its name; anyone can send them, so the answers
// are bounded per named party and hour (the rest dead-lettered), and each is counted for the
// operators (metric, console notice).
import type { Queryable } from '../db/index.ts';

/**
 * Counts one such message for `peer` in the current hour. True when it may still be answered
 * (fewer than `answersPerHour` answered this hour); false when it must go unanswered.
 */
export async function countUnauthenticated(client: Queryable, peer: string, code: string, answersPerHour: number): Promise<boolean> {
  // One statement: concurrent consumers cannot both take the last answer of the hour.
  const { rows } = await client.query<{ answer: boolean }>(
    `INSERT INTO unauthenticated_messages AS u (peer, hour, answered, unanswered, last_at, last_code, last_answered)
     VALUES ($1, date_trunc('hour', now(), 'UTC'), CASE WHEN $3 > 0 THEN 1 ELSE 0 END, CASE WHEN $3 > 0 THEN 0 ELSE 1 END, now(), $2, $3 > 0)
     ON CONFLICT (peer, hour) DO UPDATE SET
       answered = u.answered + CASE WHEN u.answered < $3 THEN 1 ELSE 0 END,
       unanswered = u.unanswered + CASE WHEN u.answered < $3 THEN 0 ELSE 1 END,
       last_at = now(), last_code = $2, last_answered = u.answered < $3
     RETURNING last_answered AS answer`,
    [peer, code, answersPerHour],
  );
  return rows[0]!.answer;
}

export type UnauthenticatedCount = { peer: string; answered: number; unanswered: number; lastAt: string; lastCode: string };

/** Per named peer, such messages within the last `windowSeconds` (whole hours), newest first. */
export async function unauthenticatedCounts(db: Queryable, windowSeconds: number): Promise<UnauthenticatedCount[]> {
  const { rows } = await db.query<UnauthenticatedCount>(
    `SELECT peer, sum(answered)::int AS answered, sum(unanswered)::int AS unanswered,
            to_char(max(last_at) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS "lastAt",
            (array_agg(last_code ORDER BY last_at DESC))[1] AS "lastCode"
       FROM unauthenticated_messages WHERE hour > now() - make_interval(secs => $1) GROUP BY peer ORDER BY max(last_at) DESC`,
    [windowSeconds],
  );
  return rows;
}
