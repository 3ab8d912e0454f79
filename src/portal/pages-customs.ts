// The importing side's pages: received certificates (filterable), look-up by number with history,
// signature status and risk flags; a declaration check with its findings and the drawdown; a
// verification request to the issuer. The rules are the ClearanceService's and VerificationService's.
import type { FastifyInstance } from 'fastify';
import { actors } from '../audit/index.ts';
import { type CertificateService, listReceived } from '../certificates/index.ts';
import { type ClearanceService, claimSchema, flaggedCertificates } from '../clearance/index.ts';
import { certificateNumberSchema, isPartyId, toPointer } from '../dataset/index.ts';
import type { Db } from '../db/index.ts';
import { EcoError, type FieldError, notFound } from '../errors.ts';
import { sendPdf } from '../http/index.ts';
import type { Copies } from '../printing/index.ts';
import type { VerificationService } from '../verifications/index.ts';
import { countryOptions, unitOptions } from './codes.ts';
import { formFields, type Portal, PREFIX } from './plugin.ts';

export type CustomsDeps = { db: Db; partyId: string; certificates: CertificateService; clearance: ClearanceService; verifications: VerificationService; copies: Copies };

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** YYYY-MM-DD naming a real day: Date.parse rolls 2024-02-31 over to March, Postgres refuses it (a 500). */
const isCalendarDate = (s: string) => /^\d{4}-\d{2}-\d{2}$/.test(s) && !Number.isNaN(Date.parse(s)) && new Date(s).toISOString().slice(0, 10) === s;
const purposes = ['preference', 'quota', 'trade-remedy', 'origin-marking', 'statistics'] as const;

export function customsPages(app: FastifyInstance, portal: Portal, deps: CustomsDeps): void {
  const { page, guard } = portal;
  const customs = guard('customs');
  const actorOf = (request: { portal: { user?: { username: string } } }) => actors.portalUser(request.portal.user!.username);

  app.get(`${PREFIX}/received`, { preHandler: customs }, async (request, reply) => {
    const q = request.query as Record<string, unknown>;
    const text = (v: unknown, max: number) => (typeof v === 'string' ? v.trim().slice(0, max) : '');
    const filter = { number: text(q.number, 35), issuer: text(q.issuer, 20), status: text(q.status, 10), since: text(q.since, 10) };
    const certificates = await listReceived(deps.db, {
      number: filter.number || undefined,
      issuer: isPartyId(filter.issuer) ? filter.issuer : undefined,
      status: ['valid', 'replaced', 'cancelled'].includes(filter.status) ? (filter.status as 'valid') : undefined,
      since: isCalendarDate(filter.since) ? filter.since : undefined,
      limit: 200,
    });
    return page(request, reply, 'received', { title: request.portal.t('received.title'), certificates, filter });
  });

  /** The CO as customs sees it, with the check and verification forms; `check` re-shows a refused claim. */
  async function renderCertificate(
    request: Parameters<Portal['page']>[0],
    reply: Parameters<Portal['page']>[1],
    number: string,
    issuer: string | undefined,
    outcome: { errors?: FieldError[]; values?: Record<string, string> } = {},
  ) {
    const { view } = await deps.certificates.find(number, issuer);
    if (view.direction !== 'received') throw notFound(`no certificate ${number} has been received`);
    const flags = (await flaggedCertificates(deps.db)).find((c) => c.issuer === view.issuer && c.number === view.number)?.flags ?? [];
    const { rows: checks } = await deps.db.query<{ id: string; declaration_ref: string; decision: string; status: string; created_at: Date }>(
      'SELECT id, declaration_ref, decision, status, created_at FROM clearance_checks WHERE certificate_number = $1 AND issuer_party = $2 ORDER BY created_at DESC LIMIT 50',
      [view.number, view.issuer],
    );
    const lang = request.portal.lang;
    return page(request, reply.code(outcome.errors?.length ? 422 : 200), 'received-certificate', {
      title: request.portal.t('cert.title', { number: view.number }),
      view,
      flags,
      checks,
      errors: outcome.errors ?? [],
      values: outcome.values ?? {},
      purposes,
      lists: { countries: countryOptions(lang), units: unitOptions[lang] },
    });
  }

  /** The printable copy of a received certificate (not sealed: only its issuer can seal). */
  app.get(`${PREFIX}/received/:issuer/:number/pdf`, { preHandler: customs }, async (request, reply) => {
    const params = request.params as { issuer: string; number: string };
    const number = certificateNumberSchema.safeParse(params.number);
    if (!number.success || !isPartyId(params.issuer)) throw notFound('no such certificate');
    return sendPdf(reply, number.data, await deps.copies.pdf(number.data, { issuer: params.issuer }, false));
  });

  app.get(`${PREFIX}/lookup`, { preHandler: customs }, async (request, reply) => {
    const q = request.query as Record<string, unknown>;
    if (typeof q.number !== 'string' || q.number.trim() === '') return page(request, reply, 'lookup', { title: request.portal.t('lookup.title'), number: '', issuer: '' });
    const number = certificateNumberSchema.safeParse(q.number.trim());
    const issuer = typeof q.issuer === 'string' && q.issuer.trim() ? q.issuer.trim().slice(0, 20) : undefined;
    if (!number.success || (issuer && !isPartyId(issuer))) {
      return page(request, reply.code(422), 'lookup', {
        title: request.portal.t('lookup.title'),
        number: q.number.slice(0, 35),
        issuer: issuer ?? '',
        error: number.success ? 'issuer' : number.error.issues[0]!.message,
      });
    }
    try {
      return await renderCertificate(request, reply, number.data, issuer);
    } catch (error) {
      if (!(error instanceof EcoError) || (error.code !== 'NOT_FOUND' && error.code !== 'CONFLICT')) throw error;
      return page(request, reply.code(error.code === 'NOT_FOUND' ? 404 : 409), 'lookup', { title: request.portal.t('lookup.title'), number: number.data, issuer: issuer ?? '', error: error.detail });
    }
  });

  /** Runs a declaration check (clearance.check, as POST /clearance/checks), then shows its findings. */
  app.post(`${PREFIX}/checks`, { preHandler: customs }, async (request, reply) => {
    const body = formFields(request.body);
    const number = certificateNumberSchema.safeParse(body.certificateNumber);
    if (!number.success || !isPartyId(body.issuer ?? '')) throw new EcoError('VALIDATION', 'bad certificate');
    const items: unknown[] = [];
    const rows: number[] = [];
    for (let i = 0; i < 999 && body[`items.${i}.itemNumber`] !== undefined; i++) {
      if (!(body[`items.${i}.quantity`] ?? '').trim()) continue;
      rows.push(i);
      items.push({
        itemNumber: Number(body[`items.${i}.itemNumber`]),
        hsCode: (body[`items.${i}.hsCode`] ?? '').trim(),
        originCountry: (body[`items.${i}.originCountry`] ?? '').trim().toUpperCase(),
        quantity: { value: (body[`items.${i}.quantity`] ?? '').trim(), unit: (body[`items.${i}.unit`] ?? '').trim().toUpperCase() },
      });
    }
    const claim = {
      declarationRef: body.declarationRef ?? '',
      certificateNumber: number.data,
      issuer: body.issuer,
      exportCountry: (body.exportCountry ?? '').trim().toUpperCase(),
      importer: body.importerId?.trim() ? { id: body.importerId.trim() } : {},
      purpose: body.purpose,
      items,
    };
    const parsed = claimSchema.safeParse(claim);
    if (!parsed.success) {
      // Pointers into the claim's items name the form's rows.
      const errors = parsed.error.issues.map((issue) => {
        const pointer = toPointer(issue.path).replace(/^\/items\/(\d+)/, (_, i: string) => `/items/${rows[Number(i)] ?? i}`);
        return { pointer, detail: issue.message };
      });
      return renderCertificate(request, reply, number.data, body.issuer, { errors, values: body });
    }
    const check = await deps.clearance.check(parsed.data, actorOf(request));
    return reply.redirect(`${PREFIX}/checks/${check.id}`, 303);
  });

  app.get(`${PREFIX}/checks/:id`, { preHandler: customs }, async (request, reply) => {
    const { id } = request.params as { id: string };
    if (!UUID.test(id)) throw notFound('no such check');
    const check = await deps.clearance.find(id);
    return page(request, reply, 'check', { title: request.portal.t('check.result', { ref: check.declarationRef }), check, error: portal.readMessage(request, 'error', 500) });
  });

  app.post(`${PREFIX}/checks/:id/confirm`, { preHandler: customs }, async (request, reply) => {
    const { id } = request.params as { id: string };
    if (!UUID.test(id)) throw notFound('no such check');
    try {
      await deps.clearance.confirm(id, actorOf(request));
      return reply.redirect(`${PREFIX}/checks/${id}`, 303);
    } catch (error) {
      if (!(error instanceof EcoError) || (error.code !== 'CLAIM_REJECTED' && error.code !== 'CONFLICT')) throw error;
      return reply.redirect(portal.withMessage(`${PREFIX}/checks/${id}`, error.detail ?? error.message, 'error'), 303);
    }
  });

  app.post(`${PREFIX}/verifications`, { preHandler: customs }, async (request, reply) => {
    const body = formFields(request.body);
    const number = certificateNumberSchema.safeParse(body.certificateNumber);
    if (!number.success || !isPartyId(body.issuer ?? '')) throw new EcoError('VALIDATION', 'bad certificate');
    const reasons = (body.reasons ?? '')
      .split(/\r?\n/)
      .map((r) => r.trim().slice(0, 200))
      .filter(Boolean)
      .slice(0, 20);
    if (reasons.length === 0) return renderCertificate(request, reply, number.data, body.issuer, { errors: [{ pointer: '/reasons', detail: 'at least one reason is required' }], values: body });
    const verification = await deps.verifications.request({ certificateNumber: number.data, issuer: body.issuer!, reasons, questions: (body.questions ?? '').slice(0, 4000) }, actorOf(request));
    const notice = request.portal.t('ver.sent', { issuer: verification.issuer });
    return reply.redirect(portal.withMessage(`${PREFIX}/verifications`, notice), 303);
  });
}
