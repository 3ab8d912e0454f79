// Signing in and out, the home page, verification requests (both sides), and users (admin).
import type { FastifyInstance } from 'fastify';
import { actors } from '../audit/index.ts';
import type { Db } from '../db/index.ts';
import { EcoError, notFound } from '../errors.ts';
import type { VerificationService } from '../verifications/index.ts';
import { closeSession, createUser, listUsers, openSession, setUserStatus, signIn, THROTTLE, type UserRole, userProblems, userRoles } from './accounts.ts';
import { formFields, type Portal, PREFIX } from './plugin.ts';

/** Sign-in attempts a minute from one client address. */
export const SIGN_IN_PER_MINUTE = 30;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Where a signed-in user starts: their role's main list. */
function home(roles: readonly UserRole[]): string {
  if (roles.includes('issuer')) return `${PREFIX}/certificates`;
  if (roles.includes('customs')) return `${PREFIX}/received`;
  return `${PREFIX}/users`;
}

/** A `next` after sign-in: a portal path only (no open redirect). */
const safeNext = (next: unknown) => (typeof next === 'string' && /^\/portal(\/[A-Za-z0-9/_.%?=&-]*)?$/.test(next) && !next.includes('//') ? next : undefined);

export function accountPages(app: FastifyInstance, portal: Portal, deps: { db: Db; verifications: VerificationService }): void {
  const { page, guard, checkCsrf } = portal;

  app.get(PREFIX, async (request, reply) => reply.redirect(request.portal.user ? home(request.portal.user.roles) : `${PREFIX}/sign-in`, 303));
  app.get(`${PREFIX}/`, async (request, reply) => reply.redirect(request.portal.user ? home(request.portal.user.roles) : `${PREFIX}/sign-in`, 303));

  app.get(`${PREFIX}/sign-in`, async (request, reply) => {
    const q = request.query as Record<string, unknown>;
    if (request.portal.user) return reply.redirect(home(request.portal.user.roles), 303);
    return page(request, reply, 'sign-in', { title: request.portal.t('signIn.title'), next: safeNext(q.next) ?? '', username: '', signedOut: q.signedOut === '1' });
  });

  // At most 30 tries a minute from one address (an office behind one NAT address signs in at 9:00),
  // on top of the sign-in throttling (accounts.ts THROTTLE) that stops guessing passwords.
  app.post(`${PREFIX}/sign-in`, { config: { rateLimit: { max: SIGN_IN_PER_MINUTE, timeWindow: 60_000 } } }, async (request, reply) => {
    checkCsrf(request);
    const body = formFields(request.body);
    const username = (body.username ?? '').trim().toLowerCase().slice(0, 64);
    const password = (body.password ?? '').slice(0, 200);
    const outcome = await signIn(deps.db, username, password, request.ip);
    if (!outcome.ok) {
      // One answer for a wrong name, a wrong password and a throttled attempt: which names exist is not told.
      const message = request.portal.t('signIn.invalid', { minutes: THROTTLE.maxWaitSeconds / 60 });
      return page(request, reply.code(401), 'sign-in', { title: request.portal.t('signIn.title'), next: safeNext(body.next) ?? '', username, error: message });
    }
    const id = await openSession(deps.db, outcome.user.id, portal.limits);
    portal.setSession(request, reply, id);
    return reply.redirect(safeNext(body.next) ?? home(outcome.user.roles), 303);
  });

  app.post(`${PREFIX}/sign-out`, { preHandler: guard() }, async (request, reply) => {
    await closeSession(deps.db, request.portal.sessionId!);
    portal.clearSession(request, reply);
    return reply.redirect(`${PREFIX}/sign-in?signedOut=1`, 303);
  });

  app.get(`${PREFIX}/verifications`, { preHandler: guard('issuer', 'customs') }, async (request, reply) => {
    const user = request.portal.user!;
    const toAnswer = user.roles.includes('issuer') ? await deps.verifications.list({ role: 'verifier' }) : [];
    const ours = user.roles.includes('customs') ? await deps.verifications.list({ role: 'requester' }) : [];
    return page(request, reply, 'verifications', { title: request.portal.t('ver.title'), toAnswer, ours, notice: portal.readMessage(request) });
  });

  // Any other path under /portal: a page saying so, not the API's problem+json.
  app.get(`${PREFIX}/*`, async () => {
    throw notFound('');
  });

  const admin = guard('admin');
  async function usersPage(
    request: Parameters<Portal['page']>[0],
    reply: Parameters<Portal['page']>[1],
    outcome: { errors?: { pointer: string; detail: string }[]; values?: Record<string, string>; notice?: string } = {},
  ) {
    return page(request, reply.code(outcome.errors?.length ? 422 : 200), 'users', {
      title: request.portal.t('users.title'),
      users: await listUsers(deps.db),
      roles: userRoles,
      errors: outcome.errors ?? [],
      values: outcome.values ?? {},
      notice: outcome.notice,
    });
  }
  app.get(`${PREFIX}/users`, { preHandler: admin }, async (request, reply) => usersPage(request, reply));
  app.post(`${PREFIX}/users`, { preHandler: admin }, async (request, reply) => {
    const raw = request.body as Record<string, unknown>;
    const roles = (Array.isArray(raw.roles) ? raw.roles : [raw.roles]).filter((r): r is string => typeof r === 'string').slice(0, 3);
    const body = formFields({ ...raw, roles: roles.join(',') });
    const input = { username: (body.username ?? '').trim(), displayName: (body.displayName ?? '').trim(), roles, password: body.password ?? '' };
    const errors = userProblems(input);
    const values = { username: input.username, displayName: input.displayName, roles: roles.join(',') };
    if (errors.length) return usersPage(request, reply, { errors, values });
    try {
      const user = await createUser(deps.db, { ...input, roles: roles as UserRole[] }, actors.portalUser(request.portal.user!.username));
      return usersPage(request, reply, { notice: request.portal.t('users.created', { username: user.username }) });
    } catch (error) {
      if (error instanceof EcoError && error.code === 'CONFLICT') return usersPage(request, reply, { errors: [{ pointer: '/username', detail: error.detail ?? 'taken' }], values });
      throw error;
    }
  });
  app.post(`${PREFIX}/users/:id/status`, { preHandler: admin }, async (request, reply) => {
    const { id } = request.params as { id: string };
    if (!UUID.test(id)) throw notFound('no such user');
    const status = formFields(request.body).status === 'disabled' ? 'disabled' : 'active';
    if (id === request.portal.user!.id && status === 'disabled') throw new EcoError('UNPROCESSABLE', 'you cannot disable yourself');
    await setUserStatus(deps.db, id, status, actors.portalUser(request.portal.user!.username));
    return reply.redirect(`${PREFIX}/users`, 303);
  });
}
