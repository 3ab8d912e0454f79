// Signing in and out, one's own password, the home page, and verification requests (both sides).
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Db } from '../db/index.ts';
import { notFound } from '../errors.ts';
import type { VerificationService } from '../verifications/index.ts';
import { changeOwnPassword, closeSession, openSession, PASSWORD_MAX, PASSWORD_MIN, signIn, THROTTLE, type UserRole } from './accounts.ts';
import { pageLinks, queryValues } from './lists.ts';
import { formFields, type Portal, PREFIX, SignInRequired } from './plugin.ts';

/** Verification requests a page, on each side. */
const VERIFICATIONS_PAGE = 50;

/** Sign-in attempts a minute from one client address. */
export const SIGN_IN_PER_MINUTE = 30;

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
  /** Signed in, whatever the roles, even with a password to change (sign-out, the password page). */
  const signedIn = async (request: FastifyRequest) => {
    if (request.method === 'POST') checkCsrf(request);
    if (!request.portal.user) throw new SignInRequired();
  };

  app.get(PREFIX, async (request, reply) => reply.redirect(request.portal.user ? home(request.portal.user.roles) : `${PREFIX}/sign-in`, 303));
  app.get(`${PREFIX}/`, async (request, reply) => reply.redirect(request.portal.user ? home(request.portal.user.roles) : `${PREFIX}/sign-in`, 303));

  app.get(`${PREFIX}/sign-in`, async (request, reply) => {
    const q = request.query as Record<string, unknown>;
    if (request.portal.user) return reply.redirect(home(request.portal.user.roles), 303);
    return page(request, reply, 'sign-in', { title: request.portal.t('signIn.title'), next: safeNext(q.next) ?? '', username: '', signedOut: q.signedOut === '1', ended: q.ended === '1' });
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
    if (outcome.user.mustChangePassword) return reply.redirect(`${PREFIX}/password`, 303);
    return reply.redirect(safeNext(body.next) ?? home(outcome.user.roles), 303);
  });

  /** Changing one's own password; the only page open after an administrator's reset. */
  const passwordPage = (request: FastifyRequest, reply: FastifyReply, outcome: { errors?: { pointer: string; detail: string }[] } = {}) =>
    page(request, reply.code(outcome.errors?.length ? 422 : 200), 'password', {
      title: request.portal.t('password.title'),
      errors: outcome.errors ?? [],
      min: PASSWORD_MIN,
      forced: request.portal.user!.mustChangePassword,
    });
  app.get(`${PREFIX}/password`, { preHandler: signedIn }, async (request, reply) => passwordPage(request, reply));
  // Guessing the current password from a stolen session is bounded like signing in.
  app.post(`${PREFIX}/password`, { preHandler: signedIn, config: { rateLimit: { max: 10, timeWindow: 60_000 } } }, async (request, reply) => {
    const body = formFields(request.body);
    const t = request.portal.t;
    const next = (body.password ?? '').slice(0, PASSWORD_MAX + 1);
    if (next !== (body.confirm ?? '').slice(0, PASSWORD_MAX + 1)) return passwordPage(request, reply, { errors: [{ pointer: '/confirm', detail: t('password.mismatch') }] });
    const problems = await changeOwnPassword(deps.db, request.portal.user!, (body.current ?? '').slice(0, PASSWORD_MAX), next, request.portal.sessionId!);
    if (problems.length) return passwordPage(request, reply, { errors: problems.map((p) => ({ pointer: p.pointer, detail: t(`password.${p.detail}`, { min: PASSWORD_MIN, max: PASSWORD_MAX }) })) });
    return reply.redirect(portal.withMessage(home(request.portal.user!.roles), t('password.changed')), 303);
  });

  app.post(`${PREFIX}/sign-out`, { preHandler: signedIn }, async (request, reply) => {
    await closeSession(deps.db, request.portal.sessionId!);
    portal.clearSession(request, reply);
    return reply.redirect(`${PREFIX}/sign-in?signedOut=1`, 303);
  });

  /** Both sides' requests, open ones first, each list paged (`apage`: to answer, `opage`: ours) with its count. */
  app.get(`${PREFIX}/verifications`, { preHandler: guard('issuer', 'customs') }, async (request, reply) => {
    const user = request.portal.user!;
    const values = queryValues(request.query, ['apage', 'opage'], 10);
    const section = async (role: 'verifier' | 'requester', name: 'apage' | 'opage', shown: boolean) => {
      if (!shown) return undefined;
      const wanted = Math.max(1, Math.min(1000, Number.parseInt(values[name] ?? '1', 10) || 1));
      const first = await deps.verifications.page({ role, limit: VERIFICATIONS_PAGE, offset: (wanted - 1) * VERIFICATIONS_PAGE });
      const pages = Math.max(1, Math.ceil(first.total / VERIFICATIONS_PAGE));
      const current = Math.min(wanted, pages);
      const { rows } = current === wanted ? first : await deps.verifications.page({ role, limit: VERIFICATIONS_PAGE, offset: (current - 1) * VERIFICATIONS_PAGE });
      const others = Object.fromEntries(Object.entries(values).filter(([k]) => k !== name));
      const links = pageLinks(`${PREFIX}/verifications`, others, current, pages);
      // pageLinks names the parameter `page`: this list's is its own.
      for (const k of ['first', 'prev', 'next', 'last'] as const) links[k] = links[k]?.replace(/([?&])page=/, `$1${name}=`);
      return { found: { rows, total: first.total, more: false, page: current, pages }, links };
    };
    const toAnswer = await section('verifier', 'apage', user.roles.includes('issuer'));
    const ours = await section('requester', 'opage', user.roles.includes('customs'));
    return page(request, reply, 'verifications', { title: request.portal.t('ver.title'), toAnswer, ours, notice: portal.readMessage(request) });
  });

  // Any other path under /portal: a page saying so, not the API's problem+json.
  app.get(`${PREFIX}/*`, async () => {
    throw notFound('');
  });
}
