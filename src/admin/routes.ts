// Operator routes: message search and view, the audit chain, the console's overview, metrics, and
// the console page itself.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { listAudit, sealPending, verifyChain } from '../audit/index.ts';
import { partyIdSchema } from '../dataset/index.ts';
import type { Db } from '../db/index.ts';
import { type DeadLetters, deadLetterSchema } from '../deadletters/index.ts';
import { EcoError } from '../errors.ts';
import { messageTypes } from '../exchange/index.ts';
import { Admission, apiSchemas, problems } from '../http/index.ts';
import type { Metrics } from '../metrics/index.ts';
import { outboxSummary } from '../outbound/index.ts';
import type { PeerDirectory } from '../peers/index.ts';
import { searchMessages, viewMessage } from './messages.ts';
import { overview } from './overview.ts';

const consolePage = readFileSync(new URL('./console.html', import.meta.url), 'utf8');
// Only the page's own inline script may run (by its hash): an injected one would not, and the
// admin key the page holds could not be sent anywhere but here.
const consoleScript = /<script>([\s\S]*?)<\/script>/.exec(consolePage)![1]!;
const consolePolicy = [
  "default-src 'none'",
  `script-src 'sha256-${createHash('sha256').update(consoleScript).digest('base64')}'`,
  "style-src 'unsafe-inline'",
  "connect-src 'self'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const errorSchema = z.object({ code: z.string(), path: z.string().optional(), message: z.string() });
const messageRecordSchema = z
  .object({
    direction: z.enum(['outbound', 'inbound']),
    messageId: z.uuid(),
    type: z.string(),
    peer: z.string(),
    status: z.string().describe('outbound: queued, sent, accepted, rejected, dead; inbound: accepted, rejected'),
    certificateNumber: z.string().nullable(),
    at: z.string().describe('queued (outbound) or received (inbound)'),
    attempts: z.number().int().nullable(),
    lastError: z.string().nullable(),
    sentAt: z.string().nullable(),
    receiptAt: z.string().nullable(),
    errors: z.array(errorSchema).describe("outbound: the peer's rejection errors; inbound: the errors we answered with"),
  })
  .register(apiSchemas, { id: 'MessageRecord' });

const openedSchema = z
  .object({ compact: z.string(), encrypted: z.boolean(), header: z.unknown(), payload: z.unknown().describe('the envelope, decoded; null when encrypted to the peer') })
  .register(apiSchemas, { id: 'OpenedJose' });

const dateTime = z.iso.datetime({ offset: true }).max(40);

const auditRecordSchema = z
  .object({
    id: z.number().int(),
    at: z.string(),
    actor: z.string(),
    action: z.string(),
    subject: z.string().optional(),
    data: z.record(z.string(), z.unknown()).optional(),
    position: z.number().int().nullable(),
    hash: z.string().nullable(),
  })
  .register(apiSchemas, { id: 'AuditRecord' });

const chainReportSchema = z
  .object({
    valid: z.boolean(),
    entries: z.number().int().describe('entries verified, in chain order'),
    pending: z.number().int().describe('appended but not yet chained'),
    head: z.object({ position: z.number().int(), hash: z.string() }).nullable().describe('compare with an earlier copy to detect a rewritten chain'),
    firstBroken: z.object({ position: z.number().int(), id: z.number().int().nullable(), reason: z.string() }).nullable(),
  })
  .register(apiSchemas, { id: 'AuditChainReport' });

const deliveryCounts = z.object({ queued: z.number(), sent: z.number(), accepted: z.number(), rejected: z.number(), dead: z.number() });
const overviewSchema = z
  .object({
    partyId: z.string(),
    notices: z
      .array(
        z.discriminatedUnion('kind', [
          z.object({
            kind: z.literal('unauthenticated'),
            peer: z.string(),
            text: z.string(),
            answered: z.number().int(),
            unanswered: z.number().int(),
            lastAt: z.string(),
            lastCode: z.string(),
          }),
          z.object({
            kind: z.literal('final-status-checked'),
            number: z.string(),
            version: z.number().int(),
            answered: z.string(),
            checks: z.number().int(),
            origins: z.number().int(),
            lastAt: z.string(),
            text: z.string(),
          }),
        ]),
      )
      .describe(
        'what an operator should look into: messages in a peer’s name that failed authentication in the last 24 hours; certificates checked at their status URL since yesterday although cancelled or replaced',
      ),
    windowSeconds: z.number(),
    peers: z.array(
      z.object({
        partyId: z.string(),
        name: z.string(),
        status: z.enum(['active', 'suspended']),
        health: z.enum(['ok', 'retrying', 'failing', 'suspended']),
        lastSentAt: z.string().nullable(),
        lastReceivedAt: z.string().nullable(),
        sent: deliveryCounts,
        received: z.object({ accepted: z.number(), rejected: z.number() }),
        lastError: z
          .object({
            message: z.string(),
            at: z.string().nullable().describe('when it happened (ISO 8601, UTC); null if recorded before the gateway kept the time'),
            messageId: z.uuid(),
            status: z.enum(['queued', 'sent', 'accepted', 'rejected', 'dead']),
            attempts: z.number().int(),
          })
          .nullable()
          .describe('the latest delivery error of a message to this peer still retrying or dead'),
      }),
    ),
    backlog: z.object({ queued: z.number(), awaitingReceipt: z.number(), dead: z.number(), oldestPendingSeconds: z.number() }),
    deadLetters: z.array(deadLetterSchema),
    recentMessages: z.array(messageRecordSchema),
    recentRejections: z.array(messageRecordSchema),
  })
  .register(apiSchemas, { id: 'Overview' });

export type AdminDeps = { partyId: string; db: Db; peers: PeerDirectory; deadLetters: DeadLetters; metrics: Metrics };

export async function adminRoutes(app: FastifyInstance, options: AdminDeps): Promise<void> {
  const { db, peers, deadLetters, metrics, partyId } = options;
  const api = app.withTypeProvider<ZodTypeProvider>();

  // Operators' reads are the heavy ones (a thousand rows, a day's aggregates): one at a time per
  // process, then a rest three times as long as it ran, 20 waiting, the rest 503: whatever the
  // demand, they get at most a quarter of one core and customs keeps its latency (bench phase f).
  // After authentication, so that strangers cannot fill the queue.
  const admission = new Admission({ inFlight: 1, queue: 20, restRatio: 3, what: 'operator reads' });
  // A turn ends when its answer is made (onSend), or at the latest when its connection ends
  // (onResponse runs then too, even for a caller that hung up): never twice, never not at all.
  const turns = new WeakMap<object, () => void>();
  const endTurn = async (request: FastifyRequest) => {
    const release = turns.get(request);
    turns.delete(request);
    release?.();
  };
  app.addHook('preHandler', async (request, reply) => {
    if (!request.url.startsWith('/admin/')) return; // /metrics and /console are light
    if (reply.raw.destroyed) throw new EcoError('UNAVAILABLE', 'the caller is gone');
    const release = await admission.enter();
    // Hung up while waiting: the turn goes to the next one, and this read is not run.
    if (reply.raw.destroyed) {
      release();
      throw new EcoError('UNAVAILABLE', 'the caller is gone');
    }
    turns.set(request, release);
  });
  app.addHook('onSend', endTurn);
  app.addHook('onResponse', endTurn);

  api.get(
    '/admin/messages',
    {
      schema: {
        operationId: 'searchMessages',
        summary: 'Search messages in both directions, newest first; every filter given must match',
        tags: ['admin'],
        querystring: z.object({
          direction: z.enum(['outbound', 'inbound']).optional(),
          id: z.uuid().optional(),
          number: z.string().min(1).max(64).optional().describe('certificate number'),
          peer: partyIdSchema.optional(),
          status: z.enum(['queued', 'sent', 'accepted', 'rejected', 'dead']).optional(),
          type: z.enum(messageTypes).optional(),
          since: dateTime.optional(),
          until: dateTime.optional(),
          limit: z.coerce.number().int().min(1).max(1000).default(100),
        }),
        response: {
          200: z.object({
            counts: deliveryCounts.describe('all outgoing messages by status'),
            oldestQueuedSeconds: z.number().nullable(),
            messages: z.array(messageRecordSchema),
          }),
          ...problems(400),
        },
      },
    },
    async (request) => {
      const [summary, messages] = await Promise.all([outboxSummary(db), searchMessages(db, request.query)]);
      return { counts: summary.byStatus, oldestQueuedSeconds: summary.oldestQueuedSeconds, messages };
    },
  );

  api.get(
    '/admin/messages/:messageId',
    {
      schema: {
        operationId: 'getMessage',
        summary: "One message, sent or received, with its envelope and receipt (the peer's, or the one we answered with)",
        tags: ['admin'],
        description: 'Message ids are unique per sender only: when two peers used the id, name the sender with ?peer=.',
        params: z.object({ messageId: z.uuid() }),
        querystring: z.object({ peer: partyIdSchema.optional().describe('the sender, for a received message whose id two peers used') }),
        response: { 200: z.object({ message: messageRecordSchema, envelope: openedSchema, receipt: openedSchema.nullable() }), ...problems(400, 404, 409) },
      },
    },
    async (request) => viewMessage(db, request.params.messageId, request.query.peer),
  );

  api.get(
    '/admin/audit',
    {
      schema: {
        operationId: 'listAuditEntries',
        summary: 'Audit entries, newest first',
        tags: ['admin'],
        querystring: z.object({
          actor: z.string().max(300).optional(),
          action: z.string().max(100).optional(),
          subject: z.string().max(300).optional(),
          before: z.coerce.number().int().positive().optional().describe('entries with a smaller id (paging)'),
          limit: z.coerce.number().int().min(1).max(1000).default(100),
        }),
        response: { 200: z.object({ entries: z.array(auditRecordSchema) }), ...problems(400) },
      },
    },
    async (request) => ({ entries: await listAudit(db, request.query) }),
  );

  api.get(
    '/admin/audit/verify',
    {
      schema: {
        operationId: 'verifyAuditChain',
        summary: 'Seal what is pending, then recompute the hash chain and report the first broken link',
        tags: ['admin'],
        response: { 200: chainReportSchema },
      },
    },
    async () => {
      await sealPending(db);
      return verifyChain(db);
    },
  );

  api.get(
    '/admin/overview',
    {
      schema: {
        operationId: 'getOverview',
        summary: 'Peers and their health, traffic per peer (24 h), backlog, dead letters, recent messages and rejections',
        tags: ['admin'],
        response: { 200: overviewSchema },
      },
    },
    async () => overview(db, partyId, peers, deadLetters),
  );

  api.get(
    '/metrics',
    {
      schema: {
        operationId: 'getMetrics',
        summary: 'Prometheus metrics (text exposition format); scrape with an admin key as bearer token',
        tags: ['admin'],
        produces: ['text/plain'],
        response: { 200: z.string().describe('Prometheus text exposition format (version 0.0.4)') },
      },
    },
    async (_request, reply) =>
      reply
        .type(metrics.registry.contentType)
        .serializer(String)
        .send(await metrics.registry.metrics()),
  );

  api.get(
    '/console',
    {
      config: { roles: 'public' },
      schema: {
        security: [],
        operationId: 'getConsole',
        summary: 'The operator console (HTML); it asks for an admin API key and calls the admin API with it',
        tags: ['admin'],
        produces: ['text/html'],
        response: { 200: z.string().describe('the console page') },
      },
    },
    async (_request, reply) => reply.type('text/html; charset=utf-8').header('content-security-policy', consolePolicy).serializer(String).send(consolePage),
  );
}
