// Delivery status of what we sent: for the back-office (one message, its receipt) and operators.
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Db } from '../db/index.ts';
import { conflict, notFound } from '../http/problem.ts';
import { apiSchemas, problems } from '../http/schemas.ts';
import { findDelivery, listDeliveries, outboxSummary, resurrect, type RelayWaker } from './outbox.ts';

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
    sentAt: z.string().nullable().describe('when the peer\'s broker last confirmed it'),
    receiptAt: z.string().nullable().describe('when the peer\'s signed receipt arrived'),
    errors: z.array(z.object({ code: z.string(), path: z.string().optional(), message: z.string() })).describe('the rejection errors of the receipt'),
  })
  .register(apiSchemas, { id: 'Delivery' });

export async function outboundRoutes(app: FastifyInstance, options: { db: Db; relays: RelayWaker }): Promise<void> {
  const { db, relays } = options;
  const api = app.withTypeProvider<ZodTypeProvider>();
  const params = z.object({ messageId: z.uuid() });

  api.get(
    '/messages/:messageId',
    { config: { roles: ['issuer', 'customs'] }, schema: { summary: 'Delivery status of one message we sent', tags: ['messages'], params, response: { 200: deliverySchema, ...problems(400, 404) } } },
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
      config: { roles: ['issuer', 'customs'] },
      schema: {
        summary: 'The peer\'s signed receipt for a message (application/jose): the proof of delivery',
        tags: ['messages'],
        params,
        response: { 200: z.string().describe('compact JWS'), ...problems(400, 404) },
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
        summary: 'Send a dead message again: same id, same bytes, attempts counted afresh',
        tags: ['admin'],
        params,
        response: { 200: deliverySchema, ...problems(400, 404, 409) },
      },
    },
    async (request) => {
      const delivery = await findDelivery(db, request.params.messageId);
      if (!delivery) throw notFound(`no message ${request.params.messageId} was sent from here`);
      if (delivery.status !== 'dead') throw conflict(`message ${request.params.messageId} is ${delivery.status}; only dead messages are resent by hand`);
      await resurrect(db, request.params.messageId);
      relays.wake();
      const { body: _body, receipt: _receipt, ...view } = (await findDelivery(db, request.params.messageId))!;
      return view;
    },
  );

  api.get(
    '/admin/messages',
    {
      schema: {
        summary: 'Messages sent or waiting to be sent, newest first, with counts by status',
        tags: ['admin'],
        querystring: z.object({
          status: z.enum(deliveryStatuses).optional(),
          peer: z.string().optional(),
          limit: z.coerce.number().int().min(1).max(1000).default(100),
        }),
        response: {
          200: z.object({
            counts: z.record(z.enum(deliveryStatuses), z.number().int()),
            oldestQueuedSeconds: z.number().nullable(),
            messages: z.array(deliverySchema),
          }),
          ...problems(400),
        },
      },
    },
    async (request) => {
      const [summary, messages] = await Promise.all([outboxSummary(db), listDeliveries(db, request.query)]);
      return { counts: summary.byStatus, oldestQueuedSeconds: summary.oldestQueuedSeconds, messages };
    },
  );
}
