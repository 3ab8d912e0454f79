// Portal users and their sessions. Passwords are kept as scrypt hashes (memory-hard, node:crypto);
// a session id is 32 random bytes in an httpOnly cookie, and only its SHA-256 is stored, so a copy
// of the database opens no session. Sessions end when idle too long or past their absolute lifetime.
import { createHash, randomBytes, randomUUID, type ScryptOptions, scrypt, timingSafeEqual } from 'node:crypto';
import { actors, audit, audited } from '../audit/index.ts';
import { type Db, type Queryable, withTransaction } from '../db/index.ts';
import { conflict, invalid } from '../errors.ts';
import { throttledAddress } from '../http/index.ts';

export const userRoles = ['issuer', 'customs', 'admin'] as const;
export type UserRole = (typeof userRoles)[number];

export type User = {
  id: string;
  username: string;
  displayName: string;
  roles: UserRole[];
  status: 'active' | 'disabled';
  createdAt: string;
  lastSignInAt: string | null;
  /** Set by an administrator's reset: nothing opens until the user has chosen a password of their own. */
  mustChangePassword: boolean;
};

export const USERNAME = /^[a-z0-9._-]{3,64}$/;
export const PASSWORD_MIN = 12;
export const PASSWORD_MAX = 200;

/** scrypt cost: N = 2^15, r = 8 (32 MiB a hash), about 0.1 s on this machine's cores. */
const SCRYPT = { N: 2 ** 15, r: 8, p: 1, maxmem: 64 * 1024 * 1024 } satisfies ScryptOptions;
const KEY_LENGTH = 32;

function scryptAsync(password: string, salt: Buffer, options: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => scrypt(password.normalize('NFC'), salt, KEY_LENGTH, options, (error, key) => (error ? reject(error) : resolve(key))));
}

/** `scrypt$N$r$p$salt$hash` (base64url): the parameters travel with the hash, so they can be raised later. */
export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await scryptAsync(password, salt, SCRYPT);
  return ['scrypt', SCRYPT.N, SCRYPT.r, SCRYPT.p, salt.toString('base64url'), key.toString('base64url')].join('$');
}

export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const [scheme, n, r, p, salt, hash] = stored.split('$');
  if (scheme !== 'scrypt' || !salt || !hash) return false;
  const expected = Buffer.from(hash, 'base64url');
  const key = await scryptAsync(password, Buffer.from(salt, 'base64url'), { N: Number(n), r: Number(r), p: Number(p), maxmem: SCRYPT.maxmem });
  return key.length === expected.length && timingSafeEqual(key, expected);
}

/** Compared against when the user name is unknown, so that the answer takes as long either way. */
const DUMMY_HASH = hashPassword(randomBytes(16).toString('hex'));

type UserRow = {
  id: string;
  username: string;
  display_name: string;
  roles: UserRole[];
  status: User['status'];
  created_at: Date;
  last_sign_in_at: Date | null;
  must_change_password: boolean;
};
const toUser = (r: UserRow): User => ({
  id: r.id,
  username: r.username,
  displayName: r.display_name,
  roles: r.roles,
  status: r.status,
  createdAt: r.created_at.toISOString(),
  lastSignInAt: r.last_sign_in_at?.toISOString() ?? null,
  mustChangePassword: r.must_change_password,
});

/** Checks a new user's fields; field errors point at the form's fields (and the CLI's options). */
export function userProblems(input: { username: string; displayName: string; roles: string[]; password: string }): { pointer: string; detail: string }[] {
  const problems: { pointer: string; detail: string }[] = [];
  if (!USERNAME.test(input.username)) problems.push({ pointer: '/username', detail: 'must be 3-64 characters of a-z 0-9 . _ -' });
  if (input.displayName.trim().length < 1 || input.displayName.length > 200) problems.push({ pointer: '/displayName', detail: 'must be 1-200 characters' });
  if (input.roles.length === 0 || input.roles.some((r) => !(userRoles as readonly string[]).includes(r)))
    problems.push({ pointer: '/roles', detail: `must be one or more of ${userRoles.join(', ')}` });
  if (input.password.length < PASSWORD_MIN || input.password.length > PASSWORD_MAX) problems.push({ pointer: '/password', detail: `must be ${PASSWORD_MIN}-${PASSWORD_MAX} characters` });
  return problems;
}

export async function createUser(db: Db, input: { username: string; displayName: string; roles: UserRole[]; password: string }, actor: string = actors.cli): Promise<User> {
  const problems = userProblems(input);
  if (problems.length) throw invalid('the user cannot be created', problems);
  const id = randomUUID();
  const passwordHash = await hashPassword(input.password);
  try {
    const { rows } = await audited(
      db,
      (client) =>
        client.query<UserRow>('INSERT INTO portal_users (id, username, display_name, roles, password_hash) VALUES ($1, $2, $3, $4, $5) RETURNING *', [
          id,
          input.username,
          input.displayName.trim(),
          input.roles,
          passwordHash,
        ]),
      () => ({ actor, action: 'portal-user.created', subject: id, data: { username: input.username, roles: input.roles } }),
    );
    return toUser(rows[0]!);
  } catch (error) {
    if ((error as { code?: string }).code === '23505') throw conflict(`a user named ${input.username} exists`);
    throw error;
  }
}

export async function listUsers(db: Queryable): Promise<User[]> {
  const { rows } = await db.query<UserRow>('SELECT * FROM portal_users ORDER BY username');
  return rows.map(toUser);
}

/** Disables or re-enables a user; disabling ends their sessions. */
export async function setUserStatus(db: Db, id: string, status: User['status'], actor: string): Promise<boolean> {
  const { rowCount } = await audited(
    db,
    async (client) => {
      const result = await client.query('UPDATE portal_users SET status = $2 WHERE id = $1 AND status <> $2', [id, status]);
      if (status === 'disabled') await client.query('DELETE FROM portal_sessions WHERE user_id = $1', [id]);
      return result;
    },
    ({ rowCount: changed }) => (changed ? { actor, action: status === 'disabled' ? 'portal-user.disabled' : 'portal-user.enabled', subject: id } : undefined),
  );
  return (rowCount ?? 0) > 0;
}

export type SignInOutcome = { ok: true; user: User } | { ok: false; reason: 'invalid' | 'throttled' };

/**
 * Sign-in throttling (OWASP Authentication Cheat Sheet: a lockout anyone can trigger is a denial
 * of service). Failures are counted per user name and client address (an IPv6 address by its
 * /64), and per client address; past `failures` within `windowMinutes` that key waits, 30 s, then
 * twice as long after each further failure, up to 15 minutes. Guessing one officer's password from
 * one place is slowed to a crawl, guessing many from one place too, and the officer signing in
 * from their own desk is not held back by guesses from anywhere else (only by 20 failures from
 * their own address, a shared NAT's). Nothing is counted per account alone.
 */
export const THROTTLE = {
  pair: { failures: 5 },
  address: { failures: 20 },
  windowMinutes: 15,
  firstWaitSeconds: 30,
  maxWaitSeconds: 900,
};

type ThrottleRow = { key: string; failures: number; recent: boolean; blocked: boolean };

/**
 * Checks a user name and password from `address` (see THROTTLE). Both keys' rows are locked for the
 * attempt, so parallel guesses are checked one after another and none gets past a wait; only a
 * failure counts, and a success clears the user name's count from that address. A wrong name, a
 * wrong password and a throttled attempt answer alike, so that a guesser learns nothing. Audited.
 */
export async function signIn(db: Db, username: string, password: string, address: string): Promise<SignInOutcome> {
  // Counts that have not moved for a day are spent: they go, so that the table stays small.
  await db.query("DELETE FROM portal_sign_in_throttle WHERE last_failure_at < now() - interval '1 day'");
  const place = throttledAddress(address);
  const keys = [
    { key: `address:${place}`, limit: THROTTLE.address },
    { key: `pair:${username} ${place}`, limit: THROTTLE.pair },
  ];
  const { rows: users } = await db.query<UserRow & { password_hash: string }>('SELECT * FROM portal_users WHERE username = $1', [username]);
  // A disabled user's attempt fails like any other (after the same scrypt), and is audited as theirs.
  const known = users[0];
  const row = known?.status === 'active' ? known : undefined;
  const outcome = await withTransaction(db, async (client): Promise<SignInOutcome> => {
    await client.query("INSERT INTO portal_sign_in_throttle (key, failures, last_failure_at) SELECT unnest($1::text[]), 0, '-infinity' ON CONFLICT (key) DO NOTHING", [keys.map((k) => k.key)]);
    const { rows } = await client.query<ThrottleRow>(
      `SELECT key, failures, last_failure_at >= now() - make_interval(mins => $2) AS recent, coalesce(blocked_until > now(), false) AS blocked
         FROM portal_sign_in_throttle WHERE key = ANY($1) ORDER BY key FOR UPDATE`,
      [keys.map((k) => k.key), THROTTLE.windowMinutes],
    );
    if (rows.some((r) => r.blocked)) {
      await verifyPassword(password, await DUMMY_HASH); // as long as any other answer
      await audit(client, { actor: actors.portalUser(username.slice(0, 64)), action: 'portal.sign-in-throttled', subject: row?.id, data: { address } });
      return { ok: false, reason: 'throttled' };
    }
    if (!row || !(await verifyPassword(password, row.password_hash))) {
      if (!row) await verifyPassword(password, await DUMMY_HASH);
      for (const { key, limit } of keys) {
        const current = rows.find((r) => r.key === key)!;
        const failures = current.recent ? current.failures + 1 : 1;
        const waitSeconds = failures >= limit.failures ? Math.min(THROTTLE.maxWaitSeconds, THROTTLE.firstWaitSeconds * 2 ** (failures - limit.failures)) : 0;
        await client.query('UPDATE portal_sign_in_throttle SET failures = $2, last_failure_at = now(), blocked_until = CASE WHEN $3 > 0 THEN now() + make_interval(secs => $3) END WHERE key = $1', [
          key,
          failures,
          waitSeconds,
        ]);
      }
      const reason = row ? 'wrong password' : known ? 'disabled user' : 'unknown user';
      await audit(client, { actor: actors.portalUser(username.slice(0, 64)), action: 'portal.sign-in-failed', subject: known?.id, data: { address, reason } });
      return { ok: false, reason: 'invalid' };
    }
    await client.query('DELETE FROM portal_sign_in_throttle WHERE key = $1', [keys[1]!.key]);
    await client.query('UPDATE portal_users SET last_sign_in_at = now() WHERE id = $1', [row.id]);
    await audit(client, { actor: actors.portalUser(row.username), action: 'portal.signed-in', subject: row.id, data: { address } });
    return { ok: true, user: toUser(row) };
  });
  return outcome;
}

export type SessionLimits = { idleMinutes: number; absoluteHours: number };
export const defaultSessionLimits: SessionLimits = { idleMinutes: 30, absoluteHours: 12 };

const sessionHash = (id: string) => createHash('sha256').update(id).digest('hex');

/** A new session for the user; returns the id for the cookie (shown nowhere else). */
export async function openSession(db: Queryable, userId: string, limits: SessionLimits): Promise<string> {
  const id = randomBytes(32).toString('base64url');
  // Sessions nobody can use any more go, so that the table stays small and an old cookie keeps nothing.
  await db.query("DELETE FROM portal_sessions WHERE expires_at < now() - interval '1 day' OR last_seen_at < now() - interval '2 days'");
  await db.query('INSERT INTO portal_sessions (id_hash, user_id, expires_at) VALUES ($1, $2, now() + make_interval(hours => $3))', [sessionHash(id), userId, limits.absoluteHours]);
  return id;
}

/** The signed-in user of a session id, if the session is neither idle too long nor past its lifetime; touches it. */
export async function sessionUser(db: Queryable, id: string, limits: SessionLimits): Promise<User | undefined> {
  const { rows } = await db.query<UserRow>(
    `UPDATE portal_sessions s SET last_seen_at = now() FROM portal_users u
      WHERE s.id_hash = $1 AND u.id = s.user_id AND u.status = 'active'
        AND s.expires_at > now() AND s.last_seen_at > now() - make_interval(mins => $2)
      RETURNING u.*`,
    [sessionHash(id), limits.idleMinutes],
  );
  return rows[0] && toUser(rows[0]);
}

export async function closeSession(db: Queryable, id: string): Promise<void> {
  // Expired sessions of anyone go too: nobody can use them, and the table stays small.
  await db.query("DELETE FROM portal_sessions WHERE id_hash = $1 OR expires_at < now() OR last_seen_at < now() - interval '7 days'", [sessionHash(id)]);
}

/** The active user of a session that is no longer open (idle or past its lifetime), seen within the last day. */
export async function endedSessionUser(db: Queryable, id: string): Promise<User | undefined> {
  const { rows } = await db.query<UserRow>(
    `SELECT u.* FROM portal_sessions s JOIN portal_users u ON u.id = s.user_id
      WHERE s.id_hash = $1 AND u.status = 'active' AND NOT u.must_change_password AND s.last_seen_at > now() - interval '1 day'`,
    [sessionHash(id)],
  );
  return rows[0] && toUser(rows[0]);
}

/** An administrator changes a user's roles; audited with the roles before and after. */
export async function setUserRoles(db: Db, id: string, posted: UserRole[], actor: string): Promise<boolean> {
  // Each role once, in one order: the same set is no change (and no audit entry).
  const roles = userRoles.filter((r) => posted.includes(r));
  if (!roles.length || roles.some((r) => !userRoles.includes(r))) throw invalid('the roles cannot be set', [{ pointer: '/roles', detail: `choose one or more of ${userRoles.join(', ')}` }]);
  const { rows } = await audited(
    db,
    (client) =>
      client.query<{ before: UserRole[] }>('UPDATE portal_users u SET roles = $2 FROM portal_users o WHERE u.id = $1 AND o.id = u.id AND u.roles <> $2 RETURNING o.roles AS before', [id, roles]),
    ({ rows: changed }) => (changed[0] ? { actor, action: 'portal-user.roles-changed', subject: id, data: { before: changed[0].before, after: roles } } : undefined),
  );
  return rows.length > 0;
}

/**
 * An administrator sets a temporary password: the user's sessions end, and at the next sign-in
 * nothing opens until they choose their own. Their sign-in waits (THROTTLE) are lifted too.
 */
export async function resetPassword(db: Db, id: string, password: string, actor: string): Promise<boolean> {
  if (password.length < PASSWORD_MIN || password.length > PASSWORD_MAX)
    throw invalid('the password cannot be set', [{ pointer: '/password', detail: `must be ${PASSWORD_MIN}-${PASSWORD_MAX} characters` }]);
  const hash = await hashPassword(password);
  const { rows } = await audited(
    db,
    async (client) => {
      const result = await client.query<{ username: string }>('UPDATE portal_users SET password_hash = $2, must_change_password = true WHERE id = $1 RETURNING username', [id, hash]);
      if (result.rows[0]) {
        await client.query('DELETE FROM portal_sessions WHERE user_id = $1', [id]);
        await clearThrottle(client, result.rows[0].username);
      }
      return result;
    },
    ({ rows: changed }) => (changed[0] ? { actor, action: 'portal-user.password-reset', subject: id } : undefined),
  );
  return rows.length > 0;
}

/** The user's own new password, after the current one; clears a reset's "must change" and ends the user's other sessions. */
export async function changeOwnPassword(db: Db, user: User, current: string, next: string, sessionId: string): Promise<{ pointer: string; detail: string }[]> {
  const { rows } = await db.query<{ password_hash: string }>('SELECT password_hash FROM portal_users WHERE id = $1', [user.id]);
  if (!rows[0] || !(await verifyPassword(current, rows[0].password_hash))) return [{ pointer: '/current', detail: 'wrong' }];
  if (next.length < PASSWORD_MIN || next.length > PASSWORD_MAX) return [{ pointer: '/password', detail: 'length' }];
  if (next === current) return [{ pointer: '/password', detail: 'same' }];
  const hash = await hashPassword(next);
  await audited(
    db,
    async (client) => {
      await client.query('UPDATE portal_users SET password_hash = $2, must_change_password = false WHERE id = $1', [user.id, hash]);
      // A password changed because it may be known signs out every other session holding it.
      await client.query('DELETE FROM portal_sessions WHERE user_id = $1 AND id_hash <> $2', [user.id, sessionHash(sessionId)]);
    },
    () => ({ actor: actors.portalUser(user.username), action: 'portal-user.password-changed', subject: user.id }),
  );
  return [];
}

/** Lifts the sign-in waits of a user name, from every address (an administrator's unlock); audited. */
export async function unlockUser(db: Db, id: string, actor: string): Promise<boolean> {
  const { rows } = await audited(
    db,
    async (client) => {
      const found = await client.query<{ username: string; cleared: number }>('SELECT username, 0 AS cleared FROM portal_users WHERE id = $1', [id]);
      if (found.rows[0]) found.rows[0].cleared = await clearThrottle(client, found.rows[0].username);
      return found;
    },
    ({ rows: user }) => (user[0] ? { actor, action: 'portal-user.unlocked', subject: id, data: { waitsLifted: user[0].cleared } } : undefined),
  );
  return rows.length > 0;
}

/** Removes the per-(name, address) counts of a user name: `pair:<name> <address>`. */
async function clearThrottle(client: Queryable, username: string): Promise<number> {
  const prefix = `pair:${username} `;
  const { rowCount } = await client.query('DELETE FROM portal_sign_in_throttle WHERE left(key, length($1)) = $1', [prefix]);
  return rowCount ?? 0;
}
