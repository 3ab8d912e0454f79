// The portal's plumbing, for every page under /portal: templates (@fastify/view + eta), cookies,
// form bodies, the stylesheet, security headers, language, sessions, CSRF tokens and role checks,
// and error pages. The pages themselves are in pages-*.ts.
import { createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import cookie from '@fastify/cookie';
import formbody from '@fastify/formbody';
import fastifyStatic from '@fastify/static';
import view from '@fastify/view';
import { Eta } from 'eta';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { isDatabaseUnavailable, isDatabaseUnwritable } from '../db/index.ts';
import { EcoError } from '../errors.ts';
import { defaultSessionLimits, endedSessionUser, type SessionLimits, sessionUser, type User, type UserRole } from './accounts.ts';
import { formatDate, formatDecimal, formatTime, isLang, type Lang, langs, localizeMessage, preferredLang, type Translate, translator } from './messages.ts';

export const PREFIX = '/portal';
const SESSION_COOKIE = 'eco_session';
const PRESESSION_COOKIE = 'eco_presession';
const LANG_COOKIE = 'eco_lang';
const COOKIE_ID = /^[A-Za-z0-9_-]{43}$/;

/**
 * Scripts, styles and images from the gateway only (one small script, portal.js, that the pages
 * work without), requests and forms back here only, never framed.
 */
export const CONTENT_SECURITY_POLICY = "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/** Bounds of a posted form: fields, and characters per field (the form's own fields are shorter still). */
export const FORM_LIMITS = { fields: 3000, chars: 4000, bodyBytes: 512 * 1024 };

export type PortalContext = { lang: Lang; t: Translate; user?: User; sessionId?: string; csrf: string };

declare module 'fastify' {
  interface FastifyRequest {
    portal: PortalContext;
  }
}

export type PortalOptions = { secret: Buffer; sessionLimits?: SessionLimits };

export class CsrfError extends Error {}
export class SignInRequired extends Error {}
export class PasswordChangeRequired extends Error {}

/** Adds the plumbing to the (encapsulated) portal context; returns the helpers pages use. */
export async function installPortal(app: FastifyInstance, db: import('../db/index.ts').Queryable, options: PortalOptions) {
  const limits = options.sessionLimits ?? defaultSessionLimits;
  // One key for CSRF tokens, derived from KEY_ENCRYPTION_KEY: the same in every process of the gateway.
  const csrfKey = Buffer.from(hkdfSync('sha256', options.secret, 'eco-portal', 'csrf tokens', 32));
  const csrfToken = (id: string) => createHmac('sha256', csrfKey).update(id).digest('base64url');

  // Every portal route is public to the API's key check (the portal checks its own sessions), and
  // no part of the REST contract: pages for people are left out of the OpenAPI document.
  app.addHook('onRoute', (route) => {
    route.config = { ...(route.config ?? {}), roles: 'public' } as typeof route.config;
    route.schema = { ...(route.schema ?? {}), hide: true };
  });
  await app.register(cookie);
  await app.register(formbody, { bodyLimit: FORM_LIMITS.bodyBytes });
  await app.register(fastifyStatic, { root: fileURLToPath(new URL('./static/', import.meta.url)), prefix: `${PREFIX}/static/`, decorateReply: false, maxAge: '1h' });
  const views = fileURLToPath(new URL('./views/', import.meta.url));
  await app.register(view, { engine: { eta: new Eta({ views, cache: true, autoEscape: true }) }, templates: views });

  app.decorateRequest('portal', null as unknown as PortalContext);
  app.addHook('onRequest', async (request, reply) => {
    reply.header('content-security-policy', CONTENT_SECURITY_POLICY);
    reply.header('x-content-type-options', 'nosniff');
    reply.header('referrer-policy', 'same-origin');
    reply.header('x-frame-options', 'DENY');
    const asked = (request.query as Record<string, unknown> | undefined)?.lang;
    let lang: Lang;
    if (isLang(asked)) {
      lang = asked;
      reply.setCookie(LANG_COOKIE, lang, cookieOptions(request, { maxAge: 365 * 24 * 3600 }));
    } else if (isLang(request.cookies[LANG_COOKIE])) lang = request.cookies[LANG_COOKIE] as Lang;
    else lang = preferredLang(request.headers['accept-language']);
    request.portal = { lang, t: translator(lang), csrf: '' };
  });
  app.addHook('preHandler', async (request, reply) => {
    // The stylesheet needs no session: no database round trip for it.
    if (request.url.startsWith(`${PREFIX}/static/`)) return;
    const id = request.cookies[SESSION_COOKIE];
    if (id && COOKIE_ID.test(id)) {
      const user = await sessionUser(db, id, limits);
      if (user) {
        request.portal.user = user;
        request.portal.sessionId = id;
        request.portal.csrf = csrfToken(`session:${id}`);
        return;
      }
      reply.clearCookie(SESSION_COOKIE, cookieOptions(request));
    }
    // Not signed in: a pre-session cookie binds the sign-in form's token (no login CSRF).
    let pre = request.cookies[PRESESSION_COOKIE];
    if (!pre || !COOKIE_ID.test(pre)) {
      pre = randomBytes(32).toString('base64url');
      reply.setCookie(PRESESSION_COOKIE, pre, cookieOptions(request));
    }
    request.portal.csrf = csrfToken(`pre:${pre}`);
  });

  app.setErrorHandler(async (error: FastifyError, request, reply) => {
    const t = request.portal?.t ?? translator('en');
    if (error instanceof SignInRequired) {
      if (request.method === 'GET') return reply.redirect(`${PREFIX}/sign-in?next=${encodeURIComponent(request.url)}`, 303);
      return renderError(reply.code(401), t('signIn.ended'));
    }
    if (error instanceof CsrfError) return renderError(reply.code(403), t('error.csrf'));
    if (error instanceof PasswordChangeRequired) {
      if (request.method === 'GET') return reply.redirect(`${PREFIX}/password`, 303);
      return renderError(reply.code(403), t('password.required'));
    }
    const code = error instanceof EcoError ? error.code : undefined;
    if (code === 'FORBIDDEN') return renderError(reply.code(403), t('error.forbidden'));
    if (code === 'NOT_FOUND' || error.statusCode === 404) return renderError(reply.code(404), error instanceof EcoError && error.detail ? error.detail : t('error.notFound'));
    if (code === 'RATE_LIMITED' || error.statusCode === 429) return renderError(reply.code(429), t('error.rateLimited'));
    if (code === 'VALIDATION' || (error.statusCode && error.statusCode >= 400 && error.statusCode < 500)) {
      request.log.info({ err: error, url: request.url }, 'portal request refused');
      return renderError(reply.code(error.statusCode === 413 ? 413 : 400), t('error.badInput'));
    }
    if (error instanceof EcoError && error.code !== 'INTERNAL' && error.code !== 'UNAVAILABLE') return renderError(reply.code(422), error.detail ?? error.message);
    if (isDatabaseUnavailable(error) || isDatabaseUnwritable(error) || code === 'UNAVAILABLE') return renderError(reply.code(503), t('error.unavailable'));
    request.log.error({ err: error, url: request.url }, 'portal request failed');
    return renderError(reply.code(500), t('error.internal'));

    function renderError(r: FastifyReply, message: string) {
      return page(request, r, 'error', { title: t('error.title'), message });
    }
  });

  /** A page: the template with the common context (translator, user, CSRF token, language links). */
  function page(request: FastifyRequest, reply: FastifyReply, template: string, data: Record<string, unknown>) {
    const portal = request.portal ?? { lang: 'en', t: translator('en'), csrf: '' };
    const path = request.url.split('?')[0]!;
    const query = new URLSearchParams(request.url.split('?')[1] ?? '');
    query.delete('lang');
    const langLink = (lang: Lang) => {
      const q = new URLSearchParams(query);
      q.set('lang', lang);
      return `${path}?${q}`;
    };
    reply.header('cache-control', 'no-store').type('text/html; charset=utf-8');
    return reply.viewAsync(template, {
      ...data,
      prefix: PREFIX,
      t: portal.t,
      lang: portal.lang,
      user: portal.user,
      csrf: portal.csrf,
      path,
      langLink,
      langs,
      langName: (l: Lang) => translator(l)('lang.name'),
      // Numbers, dates and instants in the reader's conventions; `msg` says a service's English message in their language.
      num: (value: string | number) => formatDecimal(portal.lang, value),
      date: (value: string | Date | null | undefined) => formatDate(portal.lang, value),
      time: (value: string | Date | null | undefined) => formatTime(portal.lang, value),
      msg: (message: string) => localizeMessage(portal.lang, message),
      colon: portal.t('punct.colon'),
      has: (role: UserRole) => portal.user?.roles.includes(role) ?? false,
    });
  }

  // A message for the page a redirect leads to (?notice=, ?error=) carries a MAC of its text, so
  // that a link cannot make the portal show words of the link's author as its own.
  const messageTag = (name: string, text: string) => createHmac('sha256', csrfKey).update(`message:${name}:${text}`).digest('base64url').slice(0, 22);
  /** `path` with a message for its page, signed. */
  function withMessage(path: string, text: string, name: 'notice' | 'error' = 'notice'): string {
    return `${path}${path.includes('?') ? '&' : '?'}${name}=${encodeURIComponent(text)}&sig=${messageTag(name, text)}`;
  }
  /** The message withMessage() put in this request's query, if its MAC holds. */
  function readMessage(request: FastifyRequest, name: 'notice' | 'error' = 'notice', max = 300): string | undefined {
    const q = request.query as Record<string, unknown>;
    const text = q[name];
    if (typeof text !== 'string' || typeof q.sig !== 'string') return undefined;
    const sent = Buffer.from(q.sig);
    const expected = Buffer.from(messageTag(name, text));
    return sent.length === expected.length && timingSafeEqual(sent, expected) ? text.slice(0, max) : undefined;
  }

  /** Signed in with one of the roles, else SignInRequired / FORBIDDEN; for POSTs, the CSRF token too. */
  const guard =
    (...roles: UserRole[]) =>
    async (request: FastifyRequest) => {
      if (request.method === 'POST') checkCsrf(request);
      const user = request.portal.user;
      if (!user) throw new SignInRequired();
      // A password an administrator set opens nothing but the page to change it.
      if (user.mustChangePassword) throw new PasswordChangeRequired();
      if (roles.length && !user.roles.some((r) => roles.includes(r))) throw new EcoError('FORBIDDEN', `needs the role ${roles.join(' or ')}`);
    };

  /** Whether the posted `_csrf` is `expected`, compared in constant time. */
  function postedToken(request: FastifyRequest, expected: string): boolean {
    const sent = (request.body as Record<string, unknown> | undefined)?._csrf;
    // Bytes, not characters: a token of the right length with a non-ASCII character would make
    // timingSafeEqual throw (a 500) instead of being refused.
    const given = typeof sent === 'string' ? Buffer.from(sent) : undefined;
    const wanted = Buffer.from(expected);
    return Boolean(given && expected && given.length === wanted.length && timingSafeEqual(given, wanted));
  }

  function checkCsrf(request: FastifyRequest): void {
    if (!postedToken(request, request.portal.csrf)) throw new CsrfError('bad CSRF token');
  }

  /**
   * The user whose session ended (idle, or past its lifetime) if this POST comes from their browser:
   * it still holds that session's cookie, and the form carries the CSRF token made for it. Used to
   * keep what they had typed; `role` is one the user must hold.
   */
  async function endedSessionOwner(request: FastifyRequest, role: UserRole): Promise<User | undefined> {
    const id = request.cookies[SESSION_COOKIE];
    if (request.portal.user || !id || !COOKIE_ID.test(id)) return undefined;
    if (!postedToken(request, csrfToken(`session:${id}`))) return undefined;
    const user = await endedSessionUser(db, id);
    return user?.roles.includes(role) ? user : undefined;
  }

  /** Starts a session after sign-in: a new id (never one the browser had before). */
  function setSession(request: FastifyRequest, reply: FastifyReply, id: string): void {
    reply.setCookie(SESSION_COOKIE, id, cookieOptions(request, { maxAge: limits.absoluteHours * 3600 }));
    reply.clearCookie(PRESESSION_COOKIE, cookieOptions(request));
  }
  function clearSession(request: FastifyRequest, reply: FastifyReply): void {
    reply.clearCookie(SESSION_COOKIE, cookieOptions(request));
  }

  return { page, guard, checkCsrf, setSession, clearSession, limits, withMessage, readMessage, endedSessionOwner };
}

export type Portal = Awaited<ReturnType<typeof installPortal>>;

/** httpOnly, SameSite=Lax (Strict would drop the session when a link from mail opens the portal), Secure over TLS, scoped to /portal. */
function cookieOptions(request: FastifyRequest, more: { maxAge?: number } = {}) {
  return { path: PREFIX, httpOnly: true, sameSite: 'lax' as const, secure: request.protocol === 'https', ...more };
}

/** A posted form's fields: strings only, bounded in number and length; anything else is refused. */
export function formFields(body: unknown): Record<string, string> {
  if (!body || typeof body !== 'object') return {};
  const entries = Object.entries(body as Record<string, unknown>);
  if (entries.length > FORM_LIMITS.fields) throw new EcoError('VALIDATION', 'too many fields');
  for (const [name, value] of entries) {
    if (typeof value !== 'string' || value.length > FORM_LIMITS.chars || name.length > 100) throw new EcoError('VALIDATION', `field ${name.slice(0, 100)} is not one bounded value`);
  }
  return body as Record<string, string>;
}
