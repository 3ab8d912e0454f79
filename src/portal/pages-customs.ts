// The importing side's pages: received certificates (filterable), look-up by number with history,
// signature status and risk flags; a declaration check with its findings and the drawdown; a
// verification request to the issuer. The rules are the ClearanceService's and VerificationService's.
import type { FastifyInstance } from 'fastify';
import { actors } from '../audit/index.ts';
import { type CertificateService, searchReceived } from '../certificates/index.ts';
import { type ClearanceService, claimSchema, flaggedCertificates } from '../clearance/index.ts';
import { certificateNumberSchema, isPartyId, toPointer } from '../dataset/index.ts';
import type { Db } from '../db/index.ts';
import { EcoError, type FieldError, notFound } from '../errors.ts';
import { sendPdf } from '../http/index.ts';
import type { Copies } from '../printing/index.ts';
import type { VerificationService } from '../verifications/index.ts';
import { countryCode, countryOptions, unitOptions } from './codes.ts';
import { certificateList } from './lists.ts';
import { localizeMessage, readDecimal, type Translate } from './messages.ts';
import { formFields, type Portal, PREFIX } from './plugin.ts';

export type CustomsDeps = { db: Db; partyId: string; certificates: CertificateService; clearance: ClearanceService; verifications: VerificationService; copies: Copies };

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const purposes = ['preference', 'quota', 'trade-remedy', 'origin-marking', 'statistics'] as const;

/** What an error summary calls a field of the check or verification forms (never a JSON pointer). */
function claimFieldLabel(pointer: string, t: Translate): string {
  const item = /^\/items\/(\d+)(\/.*)?$/.exec(pointer);
  if (item) {
    const field = [
      ['/hsCode', 'field.hsCode'],
      ['/originCountry', 'field.originCountry'],
      ['/quantity/unit', 'field.unit'],
      ['/quantity', 'check.quantity'],
    ].find(([p]) => item[2] === p || item[2]?.startsWith(`${p}/`))?.[1];
    return `${t('check.itemN', { n: Number(item[1]) + 1 })}${field ? `${t('punct.colon')}${t(field)}` : ''}`;
  }
  const labels: Record<string, string> = {
    '/declarationRef': 'check.declarationRef',
    '/exportCountry': 'check.exportCountry',
    '/importer': 'check.importerId',
    '/purpose': 'check.purpose',
    '/reasons': 'ver.reasons',
  };
  const key = Object.entries(labels).find(([p]) => pointer === p || pointer.startsWith(`${p}/`))?.[1];
  return key ? t(key) : t('form.general');
}

export function customsPages(app: FastifyInstance, portal: Portal, deps: CustomsDeps): void {
  const { page, guard } = portal;
  const customs = guard('customs');
  const actorOf = (request: { portal: { user?: { username: string } } }) => actors.portalUser(request.portal.user!.username);

  app.get(`${PREFIX}/received`, { preHandler: customs }, async (request, reply) => {
    const list = await certificateList(request.query, `${PREFIX}/received`, (filters) => searchReceived(deps.db, filters));
    return page(request, reply.code(list.status), 'received', {
      title: request.portal.t('received.title'),
      search: { action: `${PREFIX}/received`, values: list.values, errors: list.errors, party: 'filter.issuer' },
      found: list.found,
      links: list.links,
    });
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
    const { rows: balances } = await deps.db.query<{ item_number: number; unit: string; remaining: string }>(
      'SELECT item_number, unit, (issued - drawn)::text AS remaining FROM item_balances WHERE issuer_party = $1 AND number = $2',
      [view.issuer, view.number],
    );
    const remaining = new Map(balances.map((b) => [b.item_number, { remaining: b.remaining, unit: b.unit }]));
    return page(request, reply.code(outcome.errors?.length ? 422 : 200), 'received-certificate', {
      title: request.portal.t('cert.title', { number: view.number }),
      view,
      flags,
      checks,
      errors: outcome.errors ?? [],
      values: outcome.values ?? {},
      purposes,
      remaining,
      errorLabel: (pointer: string) => claimFieldLabel(pointer, request.portal.t),
      lists: { countries: countryOptions(lang), units: unitOptions(request.portal.t) },
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
        error: number.success ? request.portal.t('lookup.badIssuer') : localizeMessage(request.portal.lang, number.error.issues[0]!.message),
      });
    }
    // A number as the declarant wrote it: the same certificate whatever the case of its letters.
    const { rows: matches } = await deps.db.query<{ issuer: string; number: string }>(
      'SELECT DISTINCT issuer_party AS issuer, number FROM received_certificates WHERE lower(number) = lower($1) AND ($2::text IS NULL OR issuer_party = $2) ORDER BY 1, 2 LIMIT 20',
      [number.data, issuer ?? null],
    );
    const exact = matches.filter((m) => m.number === number.data);
    const only = exact.length === 1 ? exact[0] : matches.length === 1 ? matches[0] : undefined;
    if (matches.length > 1 && !only) {
      return page(request, reply.code(409), 'lookup', { title: request.portal.t('lookup.title'), number: number.data, issuer: issuer ?? '', matches, error: request.portal.t('lookup.several') });
    }
    try {
      return await renderCertificate(request, reply, only?.number ?? number.data, only?.issuer ?? issuer);
    } catch (error) {
      if (!(error instanceof EcoError) || (error.code !== 'NOT_FOUND' && error.code !== 'CONFLICT')) throw error;
      return page(request, reply.code(error.code === 'NOT_FOUND' ? 404 : 409), 'lookup', {
        title: request.portal.t('lookup.title'),
        number: number.data,
        issuer: issuer ?? '',
        error: error.code === 'NOT_FOUND' ? request.portal.t('lookup.notFound', { number: number.data }) : error.detail,
      });
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
        originCountry: countryCode(body[`items.${i}.originCountry`] ?? '', request.portal.lang),
        quantity: { value: readDecimal(request.portal.lang, body[`items.${i}.quantity`] ?? ''), unit: (body[`items.${i}.unit`] ?? '').trim().toUpperCase() },
      });
    }
    const claim = {
      declarationRef: body.declarationRef ?? '',
      certificateNumber: number.data,
      issuer: body.issuer,
      exportCountry: countryCode(body.exportCountry ?? '', request.portal.lang),
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
    if (reasons.length === 0) return renderCertificate(request, reply, number.data, body.issuer, { errors: [{ pointer: '/reasons', detail: request.portal.t('ver.reasonRequired') }], values: body });
    const verification = await deps.verifications.request({ certificateNumber: number.data, issuer: body.issuer!, reasons, questions: (body.questions ?? '').slice(0, 4000) }, actorOf(request));
    const notice = request.portal.t('ver.sent', { issuer: verification.issuer });
    return reply.redirect(portal.withMessage(`${PREFIX}/verifications`, notice), 303);
  });
}
