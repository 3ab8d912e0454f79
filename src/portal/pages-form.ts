// The certificate form, from the first field to the signature: new, from a draft, or replacing a
// certificate. Every button saves the draft (nothing typed is lost); "Review" checks everything
// and shows what will be signed, to whom, under which agreement; only "Sign and send" on that
// review issues, and only if the draft is still what was reviewed. A form posted after its
// session ended is kept as a draft and opened again after signing in.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { actors, audit } from '../audit/index.ts';
import { nextNumberPreview } from '../certificates/index.ts';
import { type Certificate, certificateNumberSchema } from '../dataset/index.ts';
import { EcoError, type FieldError, notFound } from '../errors.ts';
import type { KnownPeer } from '../peers/index.ts';
import { countryOptions, currencyOptions, modeOptions, packageOptions, unitOptions } from './codes.ts';
import { type Draft, deleteDraft, draftDigest, findDraft, listDrafts, saveDraft, stateOf } from './drafts.ts';
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
import type { Translate } from './messages.ts';
import type { IssuerDeps } from './pages-issuer.ts';
import { formFields, type Portal, PREFIX } from './plugin.ts';

const isKind = (k: unknown): k is Kind => typeof k === 'string' && (kinds as readonly string[]).includes(k);
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

type Mode = { replace?: { number: string; version: number; recipient: string }; draft?: string };

/** What the error summary calls a field: its section or item, and its label (never a JSON pointer). */
function fieldLabel(pointer: string, t: Translate): string {
  if (pointer === '/recipient') return t('form.recipient');
  const field = fieldAt(pointer);
  const item = /^\/items\/(\d+)\//.exec(pointer);
  if (!field) return t('form.general');
  const colon = t('punct.colon');
  if (item) return `${t('form.item', { n: Number(item[1]) + 1 })}${colon}${t(field.label)}`;
  const section = sections.find((s) => s.fields.includes(field));
  return section ? `${section.legend === 'section.certificate' ? '' : `${t(section.legend)}${colon}`}${t(field.label)}` : t(field.label);
}

/** A ready certificate: checked by the schema and the service, with its recipient. */
type Prepared = { certificate: Certificate; peer: KnownPeer; assignNumber: boolean; errors?: undefined } | { errors: FieldError[]; certificate?: undefined };

export function formPages(app: FastifyInstance, portal: Portal, deps: IssuerDeps): void {
  const { page, guard } = portal;
  const issuer = guard('issuer');
  const actorOf = (request: FastifyRequest) => actors.portalUser(request.portal.user!.username);

  async function renderForm(request: FastifyRequest, reply: FastifyReply, state: FormState, mode: Mode, outcome: { errors?: FieldError[]; notice?: string } = {}) {
    const { t, lang } = request.portal;
    const errors = (outcome.errors ?? []).map((e) => ({ ...e, detail: e.detail === 'required' ? t('form.required') : e.detail }));
    const placed = placeErrors(errors, { ...state, recipient: mode.replace ? '' : state.recipient });
    const peers = (await deps.peers.cachedList()).filter((p) => p.status === 'active');
    const title = mode.replace ? t('form.replace', { number: mode.replace.number, version: mode.replace.version + 1 }) : t('form.new', { kind: t(`kind.${state.kind}`) });
    const numbering = mode.replace ? undefined : await nextNumberPreview(deps.db, deps.partyId, yearOf(state));
    return page(request, reply.code(errors.length ? 422 : 200), 'form', {
      title,
      state,
      mode,
      numbering,
      sections: sections.map((s) => ({ legend: s.legend, fields: s.fields.filter((f) => forKind(f, state.kind)) })).filter((s) => s.fields.length),
      itemFields: itemFields.filter((f) => forKind(f, state.kind)),
      byField: placed.byField,
      general: placed.general,
      errorCount: errors.length,
      errorLinks: [...placed.byField.entries()].map(([pointer, messages]) => ({ id: fieldId(pointer), label: fieldLabel(pointer, t), messages })),
      notice: outcome.notice,
      fieldId,
      maxItems: MAX_ITEMS,
      lists: { countries: countryOptions(lang), currencies: currencyOptions, units: unitOptions(t), packages: packageOptions(t), modes: modeOptions(t) },
      agreements: (await deps.agreements.list()).filter((a) => a.kinds.includes(state.kind) || state.kind === 'non-preferential'),
      peers,
    });
  }

  /** The year a new certificate's number is drawn for: that of its date of issue. */
  const yearOf = (state: FormState) => {
    const typed = /^(\d{4})-\d{2}-\d{2}$/.exec(state.values['/issuedAt'] ?? '');
    return typed ? Number(typed[1]) : new Date().getUTCFullYear();
  };

  /** The form as a certificate, through every check an issue makes; a missing number is the pattern's next. */
  /** `lang` is the language the form was typed in: decimals and country names are read in it. */
  async function prepare(request: FastifyRequest, state: FormState, mode: Mode, lang: string): Promise<Prepared> {
    const version = mode.replace ? mode.replace.version + 1 : 1;
    const typedNumber = state.values['/number']?.trim();
    const stand = !mode.replace && !typedNumber ? await nextNumberPreview(deps.db, deps.partyId, yearOf(state)) : undefined;
    const input = toCertificate(stand ? { ...state, values: { ...state.values, '/number': stand } } : state, { partyId: deps.partyId }, version, lang);
    const { certificate, errors } = schemaErrors(input);
    if (!certificate) return { errors };
    try {
      const checked = mode.replace ? { ...certificate, replaces: { number: mode.replace.number, version: mode.replace.version } } : certificate;
      const peer = await deps.certificates.check(checked, mode.replace ? mode.replace.recipient : state.recipient || undefined);
      if (!mode.replace && !stand) {
        const { view } = await deps.certificates.find(certificate.number, deps.partyId).catch(() => ({ view: undefined }));
        if (view?.direction === 'issued') return { errors: [{ pointer: '/number', detail: request.portal.t('form.numberTaken', { number: certificate.number }) }] };
      }
      return { certificate, peer, assignNumber: Boolean(stand) };
    } catch (error) {
      const refused = serviceErrors(error);
      if (!refused) throw error;
      return { errors: refused };
    }
  }

  /** The replacement a draft or a form names, as it stands now. */
  async function replaceMode(number: string | undefined): Promise<Mode['replace']> {
    if (!number) return undefined;
    const parsed = certificateNumberSchema.safeParse(number);
    if (!parsed.success) throw new EcoError('VALIDATION', 'bad number');
    const { view } = await deps.certificates.find(parsed.data, deps.partyId);
    if (view.direction !== 'issued' || view.version === null) throw notFound('not issued here');
    return { number: parsed.data, version: view.version, recipient: view.counterparty };
  }

  async function renderReview(request: FastifyRequest, reply: FastifyReply, draft: Draft, mode: Mode, ready: { certificate: Certificate; peer: KnownPeer; assignNumber: boolean }, notice?: string) {
    const agreement = ready.certificate.agreement ? await deps.agreements.find(ready.certificate.agreement) : undefined;
    return page(request, reply, 'review', {
      title: request.portal.t('review.title'),
      certificate: ready.certificate,
      peer: ready.peer,
      assignNumber: ready.assignNumber,
      agreement,
      mode,
      draft: draft.id,
      digest: draftDigest(draft.kind, draft.fields),
      notice,
    });
  }

  app.get(`${PREFIX}/certificates/new`, { preHandler: issuer }, async (request, reply) => {
    const kind = (request.query as Record<string, unknown>).kind;
    if (!isKind(kind)) return page(request, reply, 'choose-kind', { title: request.portal.t('nav.new'), kinds });
    const state: FormState = { kind, items: 1, values: { '/issuedAt': new Date().toISOString().slice(0, 10), '/exportCountry': deps.partyId.slice(0, 2) }, recipient: '' };
    return renderForm(request, reply, state, {});
  });

  app.get(`${PREFIX}/drafts`, { preHandler: issuer }, async (request, reply) =>
    page(request, reply, 'drafts', { title: request.portal.t('drafts.title'), drafts: await listDrafts(deps.db, request.portal.user!.id), notice: portal.readMessage(request) }),
  );

  app.get(`${PREFIX}/drafts/:id`, { preHandler: issuer }, async (request, reply) => {
    const { id } = request.params as { id: string };
    const draft = UUID.test(id) ? await findDraft(deps.db, request.portal.user!.id, id) : undefined;
    if (!draft) throw notFound(request.portal.t('drafts.gone'));
    const replace = await replaceMode(draft.fields.replace);
    const kept = (request.query as Record<string, unknown>).kept === '1';
    return renderForm(request, reply, stateOf(draft), { draft: id, replace }, { notice: kept ? request.portal.t('form.kept') : undefined });
  });

  app.post(`${PREFIX}/drafts/:id/delete`, { preHandler: issuer }, async (request, reply) => {
    const { id } = request.params as { id: string };
    if (UUID.test(id) && (await deleteDraft(deps.db, request.portal.user!.id, id))) await audit(deps.db, { actor: actorOf(request), action: 'portal.draft-deleted', subject: id });
    return reply.redirect(`${PREFIX}/drafts`, 303);
  });

  app.get(`${PREFIX}/certificates/:number/replace`, { preHandler: issuer }, async (request, reply) => {
    const replace = await replaceMode((request.params as { number: string }).number);
    const { view } = await deps.certificates.find(replace!.number, deps.partyId);
    if (!view.certificate) throw notFound('not issued here');
    return renderForm(request, reply, fromCertificate(view.certificate), { replace });
  });

  /**
   * A form posted after its session ended (idle or past its lifetime) is not thrown away: if the
   * browser still holds that session's cookie and the form carries its CSRF token, what was typed
   * becomes a draft of that session's user, opened again once they have signed in.
   */
  async function keepIfSessionEnded(request: FastifyRequest, reply: FastifyReply) {
    if (request.portal.user) return issuer(request);
    const owner = await portal.endedSessionOwner(request, 'issuer');
    const body = formFields(request.body);
    if (!owner || !isKind(body.kind)) return issuer(request);
    const state = readForm(body, body.kind);
    const replace = typeof body.replace === 'string' && certificateNumberSchema.safeParse(body.replace).success ? body.replace : undefined;
    const id = await saveDraft(deps.db, owner.id, state, { id: body.draft && UUID.test(body.draft) ? body.draft : undefined, replace, lang: request.portal.lang });
    await audit(deps.db, { actor: actors.portalUser(owner.username), action: 'portal.draft-kept', subject: id, data: { kind: state.kind } });
    return reply.redirect(`${PREFIX}/sign-in?next=${encodeURIComponent(`${PREFIX}/drafts/${id}?kept=1`)}&ended=1`, 303);
  }

  /** One POST for every button of the form: add or remove an item, check, save, autosave, review. */
  app.post(`${PREFIX}/certificates/form`, { preHandler: keepIfSessionEnded }, async (request, reply) => {
    const body = formFields(request.body);
    if (!isKind(body.kind)) throw new EcoError('VALIDATION', 'no kind');
    const t = request.portal.t;
    let state = readForm(body, body.kind);
    const replace = await replaceMode(body.replace || undefined);
    const mode: Mode = { replace };
    const action = body.action ?? 'check';
    const remove = /^remove:(\d{1,2})$/.exec(action);
    const full = action === 'add' && state.items >= MAX_ITEMS;
    if (action === 'add' && !full) state = { ...state, items: state.items + 1 };
    if (remove) state = removeItem(state, Number(remove[1]));
    // Every button saves what was typed.
    mode.draft = await saveDraft(deps.db, request.portal.user!.id, state, {
      id: body.draft && UUID.test(body.draft) ? body.draft : undefined,
      replace: replace?.number,
      lang: request.portal.lang,
    });
    if (action === 'autosave') return reply.code(200).header('cache-control', 'no-store').send({ draft: mode.draft, savedAt: new Date().toISOString() });
    if (full) return renderForm(request, reply, state, mode, { errors: [{ pointer: '/items', detail: t('form.tooManyItems', { max: MAX_ITEMS }) }] });
    if (action === 'add' || remove) return renderForm(request, reply, state, mode);
    if (action === 'save') {
      await audit(deps.db, { actor: actorOf(request), action: 'portal.draft-saved', subject: mode.draft, data: { kind: state.kind, number: state.values['/number']?.slice(0, 35) ?? null } });
      return renderForm(request, reply, state, mode, { notice: t('form.saved') });
    }
    const ready = await prepare(request, state, mode, request.portal.lang);
    if (ready.errors) return renderForm(request, reply, state, mode, { errors: ready.errors });
    if (action === 'check') return renderForm(request, reply, state, mode, { notice: t('form.valid', { recipient: ready.peer.partyId }) });
    const draft = await findDraft(deps.db, request.portal.user!.id, mode.draft);
    return renderReview(request, reply, draft!, mode, ready);
  });

  /** Signs and sends what was reviewed: the draft is claimed (a second click finds nothing to send), and given back if the issue is refused. */
  app.post(`${PREFIX}/certificates/confirm`, { preHandler: issuer }, async (request, reply) => {
    const body = formFields(request.body);
    const owner = request.portal.user!.id;
    const draft = body.draft && UUID.test(body.draft) ? await findDraft(deps.db, owner, body.draft) : undefined;
    if (!draft) return reply.redirect(portal.withMessage(`${PREFIX}/certificates`, request.portal.t('review.gone')), 303);
    const mode: Mode = { draft: draft.id, replace: await replaceMode(draft.fields.replace) };
    const state = stateOf(draft);
    // Read in the language it was typed and reviewed in, whatever the language of this request.
    const ready = await prepare(request, state, mode, draft.fields.lang ?? 'en');
    if (ready.errors) return renderForm(request, reply, state, mode, { errors: ready.errors });
    if (draftDigest(draft.kind, draft.fields) !== body.digest) return renderReview(request, reply, draft, mode, ready, request.portal.t('review.changed'));
    if (!(await deleteDraft(deps.db, owner, draft.id))) return reply.redirect(portal.withMessage(`${PREFIX}/certificates`, request.portal.t('review.gone')), 303);
    try {
      const result = mode.replace
        ? await deps.certificates.replace(mode.replace.number, ready.certificate, actorOf(request))
        : (await deps.certificates.issue(ready.certificate, { recipient: state.recipient || undefined, actor: actorOf(request), assignNumber: ready.assignNumber })).result;
      request.log.info({ certificateNumber: result.number, version: result.version, messageId: result.messageId, peer: result.recipient }, 'certificate issued from the portal');
      const notice = request.portal.t('issued.done', { number: result.number, version: result.version, recipient: result.recipient });
      return reply.redirect(portal.withMessage(`${PREFIX}/certificates/${encodeURIComponent(result.number)}`, notice), 303);
    } catch (error) {
      mode.draft = await saveDraft(deps.db, owner, state, { replace: draft.fields.replace, lang: draft.fields.lang ?? 'en' });
      let refused = serviceErrors(error);
      if (!refused) throw error;
      if (error instanceof EcoError && error.code === 'CONFLICT' && !mode.replace) refused = [{ pointer: '/number', detail: error.detail ?? error.message }];
      return renderForm(request, reply, state, mode, { errors: refused });
    }
  });
}
