// Delivery status of what we sent: for the back-office (one message, its receipt) and operators;
// not for customs, whose keys read what was received, not what the issuer sent.
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { actors } from '../audit/index.ts';
import type { Db } from '../db/index.ts';
import { notFound } from '../errors.ts';
import { apiSchemas, problems } from '../http/index.ts';
import { resendDead } from './operations.ts';
import { findDelivery, type RelayWaker } from './outbox.ts';

const deliveryStatuses = ['queued', 'sent', 'accepted', 'rejected', 'dead'] as const;

export const deliverySchema = z
  .object({
    messageId: z.uuid(),
    type: z.string(),
    peer: z.string(),
    status: z.enum(deliveryStatuses),
    attempts: z.number().int(),
    lastError: z.string().nullable(),
    createdAt: z.string(),
    sentAt: z.string().nullable().describe("when the peer's broker last confirmed it"),
    receiptAt: z.string().nullable().describe("when the peer's signed receipt arrived"),
    errors: z.array(z.object({ code: z.string(), path: z.string().optional(), message: z.string() })).describe('the rejection errors of the receipt'),
    certificateNumber: z.string().nullable(),
  })
  .register(apiSchemas, { id: 'Delivery' });

export async function outboundRoutes(app: FastifyInstance, options: { db: Db; relays: RelayWaker }): Promise<void> {
  const { db, relays } = options;
  const api = app.withTypeProvider<ZodTypeProvider>();
  const params = z.object({ messageId: z.uuid() });

  api.get(
    '/messages/:messageId',
    {
      config: { roles: ['issuer', 'admin'] },
      schema: { operationId: 'getDelivery', summary: 'Delivery status of one message we sent', tags: ['messages'], params, response: { 200: deliverySchema, ...problems(400, 404) } },
    },
    async (request) => {
      const delivery = await findDelivery(db, request.params.messageId);
      if (!delivery) throw notFound(`no message ${request.params.messageId} was sent from here`);
      const { body: _body, receipt: _receipt, ...view } = delivery;
      return view;
    },
  );

  api.get(
    '/messages/:messageId/receipt',
    {
      config: { roles: ['issuer', 'admin'] },
      schema: {
        operationId: 'getReceipt',
        summary: "The peer's signed receipt for a message (application/jose): the proof of delivery",
        tags: ['messages'],
        params,
        produces: ['application/jose'],
        response: { 200: z.string().describe('the receipt as the peer signed it: a compact JWS (RFC 7515)'), ...problems(400, 404) },
      },
    },
    async (request, reply) => {
      const delivery = await findDelivery(db, request.params.messageId);
      if (!delivery?.receipt) throw notFound(`no receipt has arrived for message ${request.params.messageId}`);
      return reply.type('application/jose').serializer(String).send(delivery.receipt);
    },
  );

  api.post(
    '/admin/messages/:messageId/resend',
    {
      schema: {
        operationId: 'resendMessage',
        summary: 'Send a dead message again: same id, same bytes, attempts counted afresh',
        tags: ['admin'],
        params,
        response: { 200: deliverySchema, ...problems(400, 404, 409) },
      },
    },
    async (request) => resendDead({ db, relays }, request.params.messageId, actors.apiClient(request.client)),
  );
}
