// The issuing side's pages: the certificate form (new, draft, replacement), issued certificates
// with their delivery, a certificate's page (download, replace, cancel), verification answers.
// Every rule is the services': the form becomes the same dataset the REST API takes.
import { randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { Agreement, AgreementBook } from '../agreements/index.ts';
import { actors, audit } from '../audit/index.ts';
import { type CertificateService, listIssued } from '../certificates/index.ts';
import { certificateNumberSchema } from '../dataset/index.ts';
import type { Db } from '../db/index.ts';
import { EcoError, type FieldError, notFound } from '../errors.ts';
import { sendPdf } from '../http/index.ts';
import { findDelivery } from '../outbound/index.ts';
import type { PeerDirectory } from '../peers/index.ts';
import type { Copies } from '../printing/index.ts';
import { checksOf } from '../trust/index.ts';
import type { VerificationService } from '../verifications/index.ts';
import { countryOptions, currencyOptions, modeOptions, packageOptions, unitOptions } from './codes.ts';
import {
  type FormState,
  fieldAt,
  fieldId,
  forKind,
  fromCertificate,
  itemFields,
  type Kind,
  kinds,
  MAX_ITEMS,
  placeErrors,
  readForm,
  removeItem,
  schemaErrors,
  sections,
  serviceErrors,
  toCertificate,
} from './form.ts';
import { formFields, type Portal, PREFIX } from './plugin.ts';

export type IssuerDeps = { db: Db; partyId: string; certificates: CertificateService; agreements: AgreementBook; peers: PeerDirectory; verifications: VerificationService; copies: Copies };

const isKind = (k: unknown): k is Kind => typeof k === 'string' && (kinds as readonly string[]).includes(k);
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** What the error summary calls a field: its section or item, and its label. */
function fieldLabel(pointer: string, t: (key: string, vars?: Record<string, string | number>) => string): string {
  const field = fieldAt(pointer);
  const item = /^\/items\/(\d+)\//.exec(pointer);
  if (!field) return pointer;
  if (item) return `${t('form.item', { n: Number(item[1]) + 1 })}: ${t(field.label)}`;
  const section = sections.find((s) => s.fields.includes(field));
  return section ? `${t(section.legend)}: ${t(field.label)}` : t(field.label);
}

type Mode = { replace?: { number: string; version: number; recipient: string }; draft?: string };

export function issuerPages(app: FastifyInstance, portal: Portal, deps: IssuerDeps): void {
  const { page, guard } = portal;
  const issuer = guard('issuer');
  const actorOf = (request: { portal: { user?: { username: string } } }) => actors.portalUser(request.portal.user!.username);

  /** Renders the form with its state, errors placed at their fields, and a notice. */
  async function renderForm(
    request: Parameters<Portal['page']>[0],
    reply: Parameters<Portal['page']>[1],
    state: FormState,
    mode: Mode,
    outcome: { errors?: FieldError[]; notice?: string; focus?: string } = {},
  ) {
    const lang = request.portal.lang;
    // The schema's "required" in the user's language; other details as the services word them.
    const errors = (outcome.errors ?? []).map((e) => (e.detail === 'required' ? { ...e, detail: request.portal.t('form.required') } : e));
    const placed = placeErrors(errors, state);
    const agreements: Agreement[] = await deps.agreements.list();
    const peers = (await deps.peers.cachedList()).filter((p) => p.status === 'active');
    const title = mode.replace
      ? request.portal.t('form.replace', { number: mode.replace.number, version: mode.replace.version + 1 })
      : request.portal.t('form.new', { kind: request.portal.t(`kind.${state.kind}`) });
    return page(request, reply.code(outcome.errors?.length ? 422 : 200), 'form', {
      title,
      state,
      mode,
      sections: sections.map((s) => ({ legend: s.legend, fields: s.fields.filter((f) => forKind(f, state.kind)) })).filter((s) => s.fields.length),
      itemFields: itemFields.filter((f) => forKind(f, state.kind)),
      byField: placed.byField,
      general: placed.general,
      errorCount: (outcome.errors ?? []).length,
      errorLinks: [...placed.byField.entries()].map(([pointer, messages]) => ({ id: fieldId(pointer), label: fieldLabel(pointer, request.portal.t), messages })),
      notice: outcome.notice,
      fieldId,
      maxItems: MAX_ITEMS,
      lists: { countries: countryOptions(lang), currencies: currencyOptions, units: unitOptions[lang], packages: packageOptions[lang], modes: modeOptions[lang] },
      agreements: agreements.filter((a) => a.kinds.includes(state.kind) || state.kind === 'non-preferential'),
      peers,
    });
  }

  app.get(`${PREFIX}/certificates`, { preHandler: issuer }, async (request, reply) => {
    const q = request.query as Record<string, unknown>;
    const number = typeof q.number === 'string' ? q.number.trim().slice(0, 35) : '';
    const status = ['valid', 'replaced', 'cancelled'].includes(String(q.status)) ? (q.status as 'valid') : undefined;
    const certificates = await listIssued(deps.db, { number: number || undefined, status, limit: 200 });
    return page(request, reply, 'issued', {
      title: request.portal.t('issued.title'),
      certificates,
      filter: { number, status: status ?? '' },
      notice: portal.readMessage(request),
    });
  });

  app.get(`${PREFIX}/certificates/new`, { preHandler: issuer }, async (request, reply) => {
    const kind = (request.query as Record<string, unknown>).kind;
    if (!isKind(kind)) return page(request, reply, 'choose-kind', { title: request.portal.t('nav.new'), kinds });
    const state: FormState = { kind, items: 1, values: { '/issuedAt': new Date().toISOString().slice(0, 10), '/exportCountry': deps.partyId.slice(0, 2) }, recipient: '' };
    return renderForm(request, reply, state, {});
  });

  app.get(`${PREFIX}/drafts`, { preHandler: issuer }, async (request, reply) => {
    const { rows } = await deps.db.query<{ id: string; kind: Kind; number: string | null; updated_at: Date }>(
      'SELECT id, kind, number, updated_at FROM portal_drafts WHERE owner = $1 ORDER BY updated_at DESC LIMIT 200',
      [request.portal.user!.id],
    );
    return page(request, reply, 'drafts', { title: request.portal.t('drafts.title'), drafts: rows });
  });

  app.get(`${PREFIX}/drafts/:id`, { preHandler: issuer }, async (request, reply) => {
    const { id } = request.params as { id: string };
    if (!UUID.test(id)) throw notFound('no such draft');
    const { rows } = await deps.db.query<{ kind: Kind; fields: { items: number; values: Record<string, string>; recipient: string } }>(
      'SELECT kind, fields FROM portal_drafts WHERE id = $1 AND owner = $2',
      [id, request.portal.user!.id],
    );
    if (!rows[0]) throw notFound('no such draft');
    const saved = rows[0].fields;
    return renderForm(request, reply, { kind: rows[0].kind, items: saved.items, values: saved.values, recipient: saved.recipient }, { draft: id });
  });

  app.post(`${PREFIX}/drafts/:id/delete`, { preHandler: issuer }, async (request, reply) => {
    const { id } = request.params as { id: string };
    if (UUID.test(id)) {
      const { rowCount } = await deps.db.query('DELETE FROM portal_drafts WHERE id = $1 AND owner = $2', [id, request.portal.user!.id]);
      if (rowCount) await audit(deps.db, { actor: actorOf(request), action: 'portal.draft-deleted', subject: id });
    }
    return reply.redirect(`${PREFIX}/drafts`, 303);
  });

  /** One POST for every button of the form: add or remove an item, check, save the draft, issue. */
  app.post(`${PREFIX}/certificates/form`, { preHandler: issuer }, async (request, reply) => {
    const body = formFields(request.body);
    if (!isKind(body.kind)) throw new EcoError('VALIDATION', 'no kind');
    let state = readForm(body, body.kind);
    const mode: Mode = {};
    if (body.draft && UUID.test(body.draft)) mode.draft = body.draft;
    if (body.replace) {
      const number = certificateNumberSchema.safeParse(body.replace);
      if (!number.success) throw new EcoError('VALIDATION', 'bad number');
      const { view } = await deps.certificates.find(number.data, deps.partyId);
      if (view.direction !== 'issued' || view.version === null) throw notFound('not issued here');
      mode.replace = { number: number.data, version: view.version, recipient: view.counterparty };
    }
    const action = body.action ?? 'check';
    const t = request.portal.t;
    if (action === 'add') {
      if (state.items >= MAX_ITEMS) return renderForm(request, reply, state, mode, { errors: [{ pointer: '/items', detail: t('form.tooManyItems', { max: MAX_ITEMS }) }] });
      state = { ...state, items: state.items + 1 };
      return renderForm(request, reply, state, mode);
    }
    const remove = /^remove:(\d{1,2})$/.exec(action);
    if (remove) return renderForm(request, reply, removeItem(state, Number(remove[1])), mode);
    if (action === 'save') {
      const fields = { items: state.items, values: state.values, recipient: state.recipient };
      const number = state.values['/number']?.trim().slice(0, 35) || null;
      const save = (id: string) =>
        deps.db.query(
          `INSERT INTO portal_drafts (id, owner, kind, number, fields) VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (id) DO UPDATE SET kind = $3, number = $4, fields = $5, updated_at = now() WHERE portal_drafts.owner = $2`,
          [id, request.portal.user!.id, state.kind, number, JSON.stringify(fields)],
        );
      let id = mode.draft ?? randomUUID();
      // A draft id that is someone else's (posted by hand) changes nothing of theirs: what was typed
      // is saved as a new draft of this user's, not lost behind "Draft saved." and a false audit entry.
      if (!(await save(id)).rowCount) {
        id = randomUUID();
        await save(id);
      }
      await audit(deps.db, { actor: actorOf(request), action: 'portal.draft-saved', subject: id, data: { kind: state.kind, number } });
      return renderForm(request, reply, state, { ...mode, draft: id }, { notice: t('form.saved') });
    }
    // Check or issue: the same validation as POST /certificates/validate (schema, then the service's rules).
    const version = mode.replace ? mode.replace.version + 1 : 1;
    const input = toCertificate(state, { partyId: deps.partyId }, version);
    const { certificate, errors } = schemaErrors(input);
    if (!certificate) return renderForm(request, reply, state, mode, { errors });
    const recipient = state.recipient || undefined;
    try {
      if (action !== 'issue') {
        // A replacement goes where the current version went; CertificateService.replace checks it the same way.
        const checked = mode.replace ? { ...certificate, replaces: { number: mode.replace.number, version: mode.replace.version } } : certificate;
        const peer = await deps.certificates.check(checked, mode.replace ? mode.replace.recipient : recipient);
        return renderForm(request, reply, state, mode, { notice: t('form.valid', { recipient: peer.partyId }) });
      }
      const result = mode.replace
        ? await deps.certificates.replace(mode.replace.number, certificate, actorOf(request))
        : (await deps.certificates.issue(certificate, { recipient, actor: actorOf(request) })).result;
      if (mode.draft) await deps.db.query('DELETE FROM portal_drafts WHERE id = $1 AND owner = $2', [mode.draft, request.portal.user!.id]);
      request.log.info({ certificateNumber: result.number, version: result.version, messageId: result.messageId, peer: result.recipient }, 'certificate issued from the portal');
      const notice = t('issued.done', { number: result.number, version: result.version, recipient: result.recipient });
      return reply.redirect(portal.withMessage(`${PREFIX}/certificates/${encodeURIComponent(result.number)}`, notice), 303);
    } catch (error) {
      const refused = serviceErrors(error);
      if (!refused) throw error;
      return renderForm(request, reply, state, mode, { errors: refused });
    }
  });

  app.get(`${PREFIX}/certificates/:number`, { preHandler: issuer }, async (request, reply) => {
    const number = certificateNumberSchema.safeParse((request.params as { number: string }).number);
    if (!number.success) throw notFound('no such certificate');
    const { view } = await deps.certificates.find(number.data, deps.partyId);
    const checks = await checksOf(deps.db, view.number, 50);
    return page(request, reply, 'issued-certificate', { title: request.portal.t('cert.title', { number: view.number }), view, checks, notice: portal.readMessage(request) });
  });

  /** The printable copy, sealed. */
  app.get(`${PREFIX}/certificates/:number/pdf`, { preHandler: issuer }, async (request, reply) => {
    const number = certificateNumberSchema.safeParse((request.params as { number: string }).number);
    if (!number.success) throw notFound('no such certificate');
    return sendPdf(reply, number.data, await deps.copies.pdf(number.data, { issuer: deps.partyId }, true));
  });

  app.get(`${PREFIX}/certificates/:number/jws`, { preHandler: issuer }, async (request, reply) => {
    const number = certificateNumberSchema.safeParse((request.params as { number: string }).number);
    if (!number.success) throw notFound('no such certificate');
    const { jws } = await deps.certificates.find(number.data, deps.partyId);
    if (!jws) throw notFound('no signed certificate');
    return reply
      .type('application/jose')
      .header('cache-control', 'no-store')
      .header('content-disposition', `attachment; filename="${number.data.replace(/[^A-Za-z0-9.-]/g, '_')}.jws"`)
      .send(jws);
  });

  /** The peer's signed receipt of a message about one of our certificates, as it was received. */
  app.get(`${PREFIX}/messages/:id/receipt`, { preHandler: issuer }, async (request, reply) => {
    const { id } = request.params as { id: string };
    const delivery = UUID.test(id) ? await findDelivery(deps.db, id) : undefined;
    if (!delivery?.receipt || !delivery.certificateNumber) throw notFound('no receipt for that message');
    return reply.type('application/jose').header('cache-control', 'no-store').header('content-disposition', `attachment; filename="receipt-${id}.jws"`).send(delivery.receipt);
  });

  app.get(`${PREFIX}/certificates/:number/replace`, { preHandler: issuer }, async (request, reply) => {
    const number = certificateNumberSchema.safeParse((request.params as { number: string }).number);
    if (!number.success) throw notFound('no such certificate');
    const { view } = await deps.certificates.find(number.data, deps.partyId);
    if (view.direction !== 'issued' || !view.certificate || view.version === null) throw notFound('not issued here');
    return renderForm(request, reply, fromCertificate(view.certificate), { replace: { number: view.number, version: view.version, recipient: view.counterparty } });
  });

  app.post(`${PREFIX}/certificates/:number/cancel`, { preHandler: issuer }, async (request, reply) => {
    const number = certificateNumberSchema.safeParse((request.params as { number: string }).number);
    if (!number.success) throw notFound('no such certificate');
    const reason = (formFields(request.body).reason ?? '').trim().slice(0, 1000);
    if (!reason) throw new EcoError('UNPROCESSABLE', 'a reason is required to cancel');
    const result = await deps.certificates.cancel(number.data, reason, actorOf(request));
    const notice = request.portal.t('issued.cancelled', { number: result.number });
    return reply.redirect(portal.withMessage(`${PREFIX}/certificates/${encodeURIComponent(result.number)}`, notice), 303);
  });

  app.post(`${PREFIX}/verifications/:id/answer`, { preHandler: issuer }, async (request, reply) => {
    const { id } = request.params as { id: string };
    if (!UUID.test(id)) throw notFound('no such request');
    const body = formFields(request.body);
    const result = body.result;
    if (result !== 'confirmed' && result !== 'not-confirmed' && result !== 'partially-confirmed') throw new EcoError('UNPROCESSABLE', 'choose a result');
    const answered = await deps.verifications.answer(id, { result, findings: (body.findings ?? '').slice(0, 4000) }, actorOf(request));
    const notice = request.portal.t('ver.answered', { requester: answered.requester });
    return reply.redirect(portal.withMessage(`${PREFIX}/verifications`, notice), 303);
  });
}
