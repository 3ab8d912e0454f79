// The administrator's pages: users (create, roles, temporary password, unlock, disable), the audit
// log (filtered, paged, CSV), certificate numbering; and the monthly reports every role may read.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { actors, listAudit } from '../audit/index.ts';
import { calendarDate, formatNumber, numberingPattern, setNumberingPattern } from '../certificates/index.ts';
import type { Db } from '../db/index.ts';
import { EcoError, type FieldError, notFound } from '../errors.ts';
import { createUser, listUsers, resetPassword, setUserRoles, setUserStatus, type UserRole, unlockUser, userProblems, userRoles } from './accounts.ts';
import { queryValues, readFilters, toCsv } from './lists.ts';
import { formFields, type Portal, PREFIX } from './plugin.ts';
import { MEASURES, monthlyReport, reportPeriodSchema } from './reports.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** An audit page's length, and the most one CSV export holds. */
export const AUDIT_LIMITS = { page: 100, csv: 10_000 };

const auditFilterSchema = z
  .object({
    actor: z.string().trim().max(300).optional(),
    action: z.string().trim().max(100).optional(),
    subject: z.string().trim().max(300).optional(),
    from: calendarDate.optional(),
    to: calendarDate.optional(),
    before: z.coerce.number().int().positive().optional(),
  })
  .refine((s) => !s.from || !s.to || s.from <= s.to, { path: ['to'], message: 'must not be before the start' });

/** The roles a form posted (checkboxes named `roles`): known ones only. */
const postedRoles = (body: unknown): UserRole[] => {
  const raw = (body as Record<string, unknown> | undefined)?.roles;
  const posted = (Array.isArray(raw) ? raw : [raw]).slice(0, 10);
  return userRoles.filter((r) => posted.includes(r));
};

export function adminPages(app: FastifyInstance, portal: Portal, deps: { db: Db; partyId: string }): void {
  const { page, guard } = portal;
  const admin = guard('admin');
  const actorOf = (request: FastifyRequest) => actors.portalUser(request.portal.user!.username);

  async function usersPage(request: FastifyRequest, reply: FastifyReply, outcome: { errors?: FieldError[]; values?: Record<string, string>; notice?: string; form?: string } = {}) {
    return page(request, reply.code(outcome.errors?.length ? 422 : 200), 'users', {
      title: request.portal.t('users.title'),
      users: await listUsers(deps.db),
      roles: userRoles,
      errors: outcome.errors ?? [],
      values: outcome.values ?? {},
      form: outcome.form ?? 'create',
      notice: outcome.notice ?? portal.readMessage(request),
    });
  }
  const userId = (request: FastifyRequest) => {
    const { id } = request.params as { id: string };
    if (!UUID.test(id)) throw notFound('no such user');
    return id;
  };
  const done = (request: FastifyRequest, reply: FastifyReply, key: string, username: string) => reply.redirect(portal.withMessage(`${PREFIX}/users`, request.portal.t(key, { username })), 303);
  const usernameOf = async (id: string) => (await deps.db.query<{ username: string }>('SELECT username FROM portal_users WHERE id = $1', [id])).rows[0]?.username ?? '';

  app.get(`${PREFIX}/users`, { preHandler: admin }, async (request, reply) => usersPage(request, reply));
  app.post(`${PREFIX}/users`, { preHandler: admin }, async (request, reply) => {
    const roles = postedRoles(request.body);
    const body = formFields({ ...(request.body as object), roles: roles.join(',') });
    const input = { username: (body.username ?? '').trim(), displayName: (body.displayName ?? '').trim(), roles, password: body.password ?? '' };
    const errors = userProblems(input);
    const values = { username: input.username, displayName: input.displayName, roles: roles.join(',') };
    if (errors.length) return usersPage(request, reply, { errors, values });
    try {
      const user = await createUser(deps.db, input, actorOf(request));
      return usersPage(request, reply, { notice: request.portal.t('users.created', { username: user.username }) });
    } catch (error) {
      if (error instanceof EcoError && error.code === 'CONFLICT') return usersPage(request, reply, { errors: [{ pointer: '/username', detail: error.detail ?? 'taken' }], values });
      throw error;
    }
  });
  app.post(`${PREFIX}/users/:id/status`, { preHandler: admin }, async (request, reply) => {
    const id = userId(request);
    const status = formFields(request.body).status === 'disabled' ? 'disabled' : 'active';
    if (id === request.portal.user!.id && status === 'disabled') throw new EcoError('UNPROCESSABLE', request.portal.t('users.notYourself'));
    await setUserStatus(deps.db, id, status, actorOf(request));
    return done(request, reply, status === 'disabled' ? 'users.disabled' : 'users.enabled', await usernameOf(id));
  });
  app.post(`${PREFIX}/users/:id/roles`, { preHandler: admin }, async (request, reply) => {
    const id = userId(request);
    formFields({ ...(request.body as object), roles: '' });
    const roles = postedRoles(request.body);
    // Nobody takes the last administrator's role away from themselves by a slip of the mouse.
    if (id === request.portal.user!.id && !roles.includes('admin')) throw new EcoError('UNPROCESSABLE', request.portal.t('users.keepAdmin'));
    if (!roles.length) return usersPage(request, reply, { errors: [{ pointer: `/users/${id}/roles`, detail: request.portal.t('users.rolesRequired') }], form: id });
    await setUserRoles(deps.db, id, roles, actorOf(request));
    return done(request, reply, 'users.rolesChanged', await usernameOf(id));
  });
  app.post(`${PREFIX}/users/:id/password`, { preHandler: admin }, async (request, reply) => {
    const id = userId(request);
    const password = formFields(request.body).password ?? '';
    try {
      await resetPassword(deps.db, id, password, actorOf(request));
    } catch (error) {
      if (error instanceof EcoError && error.code === 'VALIDATION')
        return usersPage(request, reply, { errors: [{ pointer: `/users/${id}/password`, detail: request.portal.t('users.passwordLength') }], form: id });
      throw error;
    }
    return done(request, reply, 'users.passwordReset', await usernameOf(id));
  });
  app.post(`${PREFIX}/users/:id/unlock`, { preHandler: admin }, async (request, reply) => {
    const id = userId(request);
    await unlockUser(deps.db, id, actorOf(request));
    return done(request, reply, 'users.unlocked', await usernameOf(id));
  });

  /** The audit log: filtered by actor, action, subject and period, newest first, a page at a time; or all of it that matches, as CSV. */
  app.get(`${PREFIX}/audit`, { preHandler: admin }, async (request, reply) => {
    const values = queryValues(request.query, ['actor', 'action', 'subject', 'from', 'to', 'before', 'format'], 300);
    const { filters, errors } = readFilters(auditFilterSchema, values);
    const csv = values.format === 'csv';
    const entries = filters ? await listAudit(deps.db, { ...filters, limit: csv ? AUDIT_LIMITS.csv : AUDIT_LIMITS.page + 1 }) : [];
    if (csv && filters) {
      return reply
        .type('text/csv; charset=utf-8')
        .header('cache-control', 'no-store')
        .header('content-disposition', 'attachment; filename="audit.csv"')
        .send(
          toCsv(
            ['id', 'at', 'actor', 'action', 'subject', 'data', 'position', 'hash'],
            entries.map((e) => [e.id, e.at, e.actor, e.action, e.subject, JSON.stringify(e.data), e.position, e.hash]),
          ),
        );
    }
    const shown = entries.slice(0, AUDIT_LIMITS.page);
    const { before: _, format: __, ...kept } = values;
    const older = entries.length > AUDIT_LIMITS.page ? `${PREFIX}/audit?${new URLSearchParams({ ...kept, before: String(shown.at(-1)!.id) })}` : undefined;
    return page(request, reply.code(errors.length ? 422 : 200), 'audit', {
      title: request.portal.t('audit.title'),
      values,
      errors,
      entries: shown,
      older,
      csv: `${PREFIX}/audit?${new URLSearchParams({ ...kept, format: 'csv' })}`,
    });
  });

  /** Monthly counts per partner and agreement, on screen or as CSV; for every role. */
  app.get(`${PREFIX}/reports`, { preHandler: guard('admin', 'issuer', 'customs') }, async (request, reply) => {
    const values = queryValues(request.query, ['from', 'to', 'format'], 20);
    const { filters, errors } = readFilters(reportPeriodSchema, values);
    const report = filters ? await monthlyReport(deps.db, filters) : undefined;
    if (values.format === 'csv' && report) {
      return reply
        .type('text/csv; charset=utf-8')
        .header('cache-control', 'no-store')
        .header('content-disposition', `attachment; filename="eco-report-${report.from}-${report.to}.csv"`)
        .send(
          toCsv(
            ['month', 'partner', 'agreement', ...MEASURES],
            report.rows.map((r) => [r.month, r.partner, r.agreement, ...MEASURES.map((m) => r.counts[m])]),
          ),
        );
    }
    const { format: _, ...kept } = values;
    return page(request, reply.code(errors.length ? 422 : 200), 'reports', {
      title: request.portal.t('reports.title'),
      values: { from: report?.from ?? values.from ?? '', to: report?.to ?? values.to ?? '' },
      errors,
      report,
      measures: MEASURES,
      csv: `${PREFIX}/reports?${new URLSearchParams({ ...kept, ...(report ? { from: report.from, to: report.to } : {}), format: 'csv' })}`,
    });
  });

  async function numberingPage(request: FastifyRequest, reply: FastifyReply, outcome: { pattern?: string; error?: string; notice?: string } = {}) {
    const current = await numberingPattern(deps.db, deps.partyId);
    const pattern = outcome.pattern ?? current ?? '';
    const year = new Date().getUTCFullYear();
    return page(request, reply.code(outcome.error ? 422 : 200), 'numbering', {
      title: request.portal.t('numbering.title'),
      current,
      pattern,
      example: current ? formatNumber(current, year, 1) : undefined,
      error: outcome.error,
      notice: outcome.notice,
    });
  }
  app.get(`${PREFIX}/numbering`, { preHandler: admin }, async (request, reply) => numberingPage(request, reply));
  app.post(`${PREFIX}/numbering`, { preHandler: admin }, async (request, reply) => {
    const pattern = (formFields(request.body).pattern ?? '').trim().slice(0, 61);
    try {
      await setNumberingPattern(deps.db, deps.partyId, pattern || null, actorOf(request));
    } catch (error) {
      if (error instanceof EcoError && error.code === 'VALIDATION') return numberingPage(request, reply, { pattern, error: error.errors?.[0]?.detail ?? error.message });
      throw error;
    }
    return numberingPage(request, reply, { notice: request.portal.t(pattern ? 'numbering.saved' : 'numbering.removed') });
  });
}
