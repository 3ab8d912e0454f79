// The issuing side's pages: issued certificates (searched, paged), a certificate's page with its
// deliveries followed live, download, print, cancel (after confirming), and verification
// answers. The form is in pages-form.ts. Every rule is the services'.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { AgreementBook } from '../agreements/index.ts';
import { actors } from '../audit/index.ts';
import { type CertificateService, searchIssued } from '../certificates/index.ts';
import { certificateNumberSchema } from '../dataset/index.ts';
import type { Db } from '../db/index.ts';
import { EcoError, notFound } from '../errors.ts';
import { sendPdf } from '../http/index.ts';
import { findDelivery } from '../outbound/index.ts';
import type { PeerDirectory } from '../peers/index.ts';
import type { Copies } from '../printing/index.ts';
import { checksOf } from '../trust/index.ts';
import type { VerificationService } from '../verifications/index.ts';
import { certificateList } from './lists.ts';
import { formFields, type Portal, PREFIX } from './plugin.ts';

export type IssuerDeps = { db: Db; partyId: string; certificates: CertificateService; agreements: AgreementBook; peers: PeerDirectory; verifications: VerificationService; copies: Copies };

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export function issuerPages(app: FastifyInstance, portal: Portal, deps: IssuerDeps): void {
  const { page, guard } = portal;
  const issuer = guard('issuer');
  const actorOf = (request: FastifyRequest) => actors.portalUser(request.portal.user!.username);

  app.get(`${PREFIX}/certificates`, { preHandler: issuer }, async (request, reply) => {
    const list = await certificateList(request.query, `${PREFIX}/certificates`, (filters) => searchIssued(deps.db, filters));
    return page(request, reply.code(list.status), 'issued', {
      title: request.portal.t('issued.title'),
      search: { action: `${PREFIX}/certificates`, values: list.values, errors: list.errors, party: 'filter.recipient' },
      found: list.found,
      links: list.links,
      notice: portal.readMessage(request),
    });
  });

  /** The certificate of the route's :number, issued here. */
  async function issuedView(request: FastifyRequest) {
    const number = certificateNumberSchema.safeParse((request.params as { number: string }).number);
    if (!number.success) throw notFound('no such certificate');
    const { view } = await deps.certificates.find(number.data, deps.partyId);
    if (view.direction !== 'issued') throw notFound('not issued here');
    return view;
  }

  app.get(`${PREFIX}/certificates/:number`, { preHandler: issuer }, async (request, reply) => {
    const view = await issuedView(request);
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

  /** Cancelling asks first: the page shows the certificate and takes the reason; only its button cancels. */
  app.get(`${PREFIX}/certificates/:number/cancel`, { preHandler: issuer }, async (request, reply) => {
    const view = await issuedView(request);
    if (view.status !== 'valid') return reply.redirect(`${PREFIX}/certificates/${encodeURIComponent(view.number)}`, 303);
    return page(request, reply, 'cancel', { title: request.portal.t('cancel.title', { number: view.number }), view, reason: '' });
  });

  app.post(`${PREFIX}/certificates/:number/cancel`, { preHandler: issuer }, async (request, reply) => {
    const view = await issuedView(request);
    const body = formFields(request.body);
    const reason = (body.reason ?? '').trim().slice(0, 1000);
    if (!reason || body.confirm !== 'yes') {
      const error = reason ? undefined : request.portal.t('cancel.reasonRequired');
      return page(request, reply.code(error ? 422 : 200), 'cancel', { title: request.portal.t('cancel.title', { number: view.number }), view, reason, error });
    }
    const result = await deps.certificates.cancel(view.number, reason, actorOf(request));
    const notice = request.portal.t('issued.cancelled', { number: result.number });
    return reply.redirect(portal.withMessage(`${PREFIX}/certificates/${encodeURIComponent(result.number)}`, notice), 303);
  });

  /** The certificate's status and latest delivery, for the page to follow without reloading (portal.js). */
  app.get(`${PREFIX}/certificates/:number/status`, { preHandler: issuer }, async (request, reply) => {
    const view = await issuedView(request);
    const t = request.portal.t;
    const latest = (view.deliveries ?? []).at(-1);
    return reply.header('cache-control', 'no-store').send({
      status: view.status,
      statusText: t(`status.${view.status}`),
      delivery: latest ? { messageId: latest.messageId, status: latest.status, text: t(`delivery.${latest.status}`), final: ['accepted', 'rejected', 'dead'].includes(latest.status) } : null,
    });
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
