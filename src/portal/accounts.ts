// Portal users and their sessions. Passwords are kept as scrypt hashes (memory-hard, node:crypto);
// a session id is 32 random bytes in an httpOnly cookie, and only its SHA-256 is stored, so a copy
// of the database opens no session. Sessions end when idle too long or past their absolute lifetime.
import { createHash, randomBytes, randomUUID, type ScryptOptions, scrypt, timingSafeEqual } from 'node:crypto';
import { actors, audit, audited } from '../audit/index.ts';
import type { Db, Queryable } from '../db/index.ts';
import { conflict, invalid } from '../errors.ts';

export const userRoles = ['issuer', 'customs', 'admin'] as const;
export type UserRole = (typeof userRoles)[number];

export type User = { id: string; username: string; displayName: string; roles: UserRole[]; status: 'active' | 'disabled'; createdAt: string; lastSignInAt: string | null };

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
};
const toUser = (r: UserRow): User => ({
  id: r.id,
  username: r.username,
  displayName: r.display_name,
  roles: r.roles,
  status: r.status,
  createdAt: r.created_at.toISOString(),
  lastSignInAt: r.last_sign_in_at?.toISOString() ?? null,
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
      const result = await client.query('UPDATE portal_users SET status = $2, failed_attempts = 0, locked_until = NULL WHERE id = $1 AND status <> $2', [id, status]);
      if (status === 'disabled') await client.query('DELETE FROM portal_sessions WHERE user_id = $1', [id]);
      return result;
    },
    ({ rowCount: changed }) => (changed ? { actor, action: status === 'disabled' ? 'portal-user.disabled' : 'portal-user.enabled', subject: id } : undefined),
  );
  return (rowCount ?? 0) > 0;
}

export type SignInOutcome = { ok: true; user: User } | { ok: false; reason: 'invalid' | 'locked' };

/** Failed sign-ins in a row that lock an account, and for how long. */
export const LOCKOUT = { attempts: 5, minutes: 15 };

/**
 * Checks a user name and password. Each failure counts; the LOCKOUT.attempts-th locks the account
 * for LOCKOUT.minutes (answered like a wrong password, so a guesser learns nothing). Audited.
 */
export async function signIn(db: Db, username: string, password: string, address: string): Promise<SignInOutcome> {
  const { rows } = await db.query<UserRow & { password_hash: string }>("SELECT * FROM portal_users WHERE username = $1 AND status = 'active'", [username]);
  const row = rows[0];
  if (!row) {
    await verifyPassword(password, await DUMMY_HASH);
    await audit(db, { actor: actors.portalUser(username.slice(0, 64)), action: 'portal.sign-in-failed', data: { address, reason: 'unknown user' } });
    return { ok: false, reason: 'invalid' };
  }
  // The attempt is counted before the password is checked, in one statement that a lock stops:
  // guesses sent in parallel each take one of the LOCKOUT.attempts (checking first and counting
  // after let every guess in flight through), and none is checked once the account is locked.
  const { rows: claimed } = await db.query<{ failed_attempts: number }>(
    `UPDATE portal_users SET failed_attempts = failed_attempts + 1,
            locked_until = CASE WHEN failed_attempts + 1 >= $2 THEN now() + make_interval(mins => $3) ELSE locked_until END
      WHERE id = $1 AND (locked_until IS NULL OR locked_until <= now()) RETURNING failed_attempts`,
    [row.id, LOCKOUT.attempts, LOCKOUT.minutes],
  );
  if (!claimed[0]) {
    await verifyPassword(password, await DUMMY_HASH); // as long as any other answer
    await audit(db, { actor: actors.portalUser(row.username), action: 'portal.sign-in-failed', subject: row.id, data: { address, reason: 'locked' } });
    return { ok: false, reason: 'locked' };
  }
  if (!(await verifyPassword(password, row.password_hash))) {
    const locked = claimed[0].failed_attempts >= LOCKOUT.attempts;
    await audit(db, { actor: actors.portalUser(row.username), action: locked ? 'portal.locked-out' : 'portal.sign-in-failed', subject: row.id, data: { address, reason: 'wrong password' } });
    return { ok: false, reason: locked ? 'locked' : 'invalid' };
  }
  await audited(
    db,
    (client) => client.query('UPDATE portal_users SET failed_attempts = 0, locked_until = NULL, last_sign_in_at = now() WHERE id = $1', [row.id]),
    () => ({ actor: actors.portalUser(row.username), action: 'portal.signed-in', subject: row.id, data: { address } }),
  );
  return { ok: true, user: toUser(row) };
}

export type SessionLimits = { idleMinutes: number; absoluteHours: number };
export const defaultSessionLimits: SessionLimits = { idleMinutes: 30, absoluteHours: 12 };

const sessionHash = (id: string) => createHash('sha256').update(id).digest('hex');

/** A new session for the user; returns the id for the cookie (shown nowhere else). */
export async function openSession(db: Queryable, userId: string, limits: SessionLimits): Promise<string> {
  const id = randomBytes(32).toString('base64url');
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
