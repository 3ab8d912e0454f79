// The fastify app factory: zod validation, problem+json errors, OpenAPI. Routes come from modules.
import rateLimit from '@fastify/rate-limit';
import swagger from '@fastify/swagger';
import Fastify, { type ConnectionError, type FastifyBaseLogger, type FastifyError, type FastifyInstance } from 'fastify';
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import {
  createJsonSchemaTransform,
  createJsonSchemaTransformObject,
  hasZodFastifySchemaValidationErrors,
  serializerCompiler,
  validatorCompiler,
} from 'fastify-type-provider-zod';
import type { Logger } from 'pino';
import { installAuth, KeyLookup } from '../auth/index.ts';
import { isDatabaseUnavailable, type Queryable } from '../db/index.ts';
import type { Metrics } from '../metrics/index.ts';
import { HttpProblem, invalid, toPointer, type FieldError } from './problem.ts';
import { findUnsafeText } from '../dataset/index.ts';
import { apiSchemas } from './schemas.ts';

/** What a 503 asks callers to wait before trying again. */
const RETRY_AFTER_SECONDS = 5;

export type RoutePlugin = (app: FastifyInstance) => Promise<void>;

export type AppOptions = {
  logger: Logger;
  partyId: string;
  db: Queryable;
  /** Requests a minute per API key, and per client address (counted before authentication). */
  rateLimitPerMinute?: number;
  rateLimitPerAddressPerMinute?: number;
  /** Fastify's trustProxy: which proxies' X-Forwarded-For gives the client address. */
  trustProxy?: boolean | string[];
  /** Larger request bodies get 413 from their Content-Length, before they are read. */
  bodyLimitBytes?: number;
  /** A request (headers and body) not received within this is answered 408 and its connection closed. */
  requestTimeoutMs?: number;
  metrics?: Metrics;
  routes: RoutePlugin[];
};

export async function buildApp(options: AppOptions): Promise<FastifyInstance> {
  const requestTimeout = options.requestTimeoutMs ?? 30_000;
  const app = Fastify({
    loggerInstance: options.logger as FastifyBaseLogger,
    bodyLimit: options.bodyLimitBytes ?? 1024 * 1024,
    trustProxy: options.trustProxy ?? false,
    requestTimeout,
    // Node looks for overdue requests every 30 s by default: a short timeout would be up to 30 s late.
    http: { connectionsCheckingInterval: Math.min(1000, Math.ceil(requestTimeout / 2)), headersTimeout: Math.min(60_000, requestTimeout) },
    clientErrorHandler,
  });
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);

  // Registered before the routes, or they would be missing from the document.
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'e-CO gateway',
        version: '0.1.0',
        description:
          'Exchange of electronic Certificates of Origin between two customs/issuing authorities (WCO Interconnectivity Framework, Push model). ' +
          'Gateway-to-gateway traffic goes over AMQP as PROFILE.md fixes it; this is the REST API for back-offices, customs systems and operators.',
      },
      tags: [
        { name: 'certificates', description: 'issue and look up certificates of origin' },
        { name: 'clearance', description: 'import clearance: declaration checks and drawdown' },
        { name: 'verifications', description: 'verification requests between importing and issuing parties' },
        { name: 'messages', description: 'delivery status and receipts of what we sent' },
        { name: 'admin', description: 'operators: peers, keys, messages, dead letters, audit, metrics, console' },
        { name: 'keys', description: 'public keys' },
        { name: 'health', description: 'liveness' },
      ],
      components: { securitySchemes: { apiKey: { type: 'http', scheme: 'bearer', description: 'an API key (eco_…) created with the CLI or POST /admin/api-keys' } } },
      security: [{ apiKey: [] }],
    },
    transform: createJsonSchemaTransform({ schemaRegistry: apiSchemas }),
    transformObject: createJsonSchemaTransformObject({ schemaRegistry: apiSchemas }),
  });

  app.setErrorHandler((error: FastifyError, request, reply) => {
    const problem = toProblem(error);
    if (problem.status === 503) {
      request.log.warn({ err: error, url: request.url }, 'request refused: a dependency is unavailable');
      reply.header('retry-after', String(RETRY_AFTER_SECONDS));
    } else if (problem.status >= 500) request.log.error({ err: error, url: request.url }, 'request failed');
    return reply.code(problem.status).type('application/problem+json').send(problem.toBody());
  });
  app.setNotFoundHandler((request, reply) => {
    const problem = new HttpProblem(404, 'not-found', 'Not found', `no route ${request.method} ${request.url.split('?')[0]}`);
    return reply.code(404).type('application/problem+json').send(problem.toBody());
  });

  // Limits are applied by installAuth, in its order: per address, then per key.
  await app.register(rateLimit, { global: false, timeWindow: 60_000 });
  const limits = {
    perAddress: app.createRateLimit({ max: options.rateLimitPerAddressPerMinute ?? 6000 }),
    perKey: app.createRateLimit({ max: options.rateLimitPerMinute ?? 6000, keyGenerator: (request) => request.client?.id ?? request.ip }),
  };
  const metrics = options.metrics;
  if (metrics) {
    // Labelled by route pattern, not URL: numbers and ids in paths would make every series unique.
    app.addHook('onResponse', async (request, reply) => {
      const route = request.routeOptions.url ?? 'unmatched';
      metrics.httpDuration.observe({ method: request.method, route, status: String(reply.statusCode) }, reply.elapsedTime / 1000);
    });
  }
  installAuth(app, new KeyLookup(options.db), limits);
  // Text Postgres cannot keep (U+0000, unpaired surrogates) is refused wherever it appears in a
  // request, before any route sees it: every field of every route, present and future.
  app.addHook('preValidation', async (request) => {
    for (const [where, value] of [['body', request.body], ['query', request.query], ['params', request.params]] as const) {
      const unsafe = findUnsafeText(value);
      if (!unsafe) continue;
      const pointer = (where === 'body' ? '' : `/${where}`) + toPointer(unsafe.path);
      throw invalid(`the request ${where} holds text that cannot be accepted`, [{ pointer, detail: unsafe.message }]);
    }
  });
  for (const routes of options.routes) await app.register(routes);
  return app;
}

/**
 * What Node refuses before fastify sees a request (headers too large, a request too slow, bytes
 * that are not HTTP) is answered as problem+json too, and the connection closed.
 */
function clientErrorHandler(error: ConnectionError, socket: Socket): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  const problem =
    error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
      ? new HttpProblem(408, 'request-timeout', 'Request timeout', 'the request was not received in time')
      : error.code === 'HPE_HEADER_OVERFLOW'
        ? new HttpProblem(431, 'headers-too-large', 'Request headers too large', 'the request headers exceed the size the gateway reads')
        : new HttpProblem(400, 'bad-request', 'Bad request', 'the request is not valid HTTP/1.1');
  const body = JSON.stringify(problem.toBody());
  if (socket.writable) {
    socket.write(`HTTP/1.1 ${problem.status} ${STATUS_CODES[problem.status]}\r\nContent-Type: application/problem+json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
  }
  socket.destroy(error);
}

function toProblem(error: FastifyError): HttpProblem {
  if (error instanceof HttpProblem) return error;
  if (hasZodFastifySchemaValidationErrors(error)) {
    const where = error.validationContext ?? 'body';
    const errors: FieldError[] = error.validation.map((v) => ({
      pointer: where === 'body' ? v.instancePath : `/${where}${v.instancePath}`,
      detail: v.message ?? 'is invalid',
    }));
    return new HttpProblem(400, 'validation', 'Invalid request', `the request ${where} is not valid (${errors.length} error${errors.length === 1 ? '' : 's'})`, errors);
  }
  if (isDatabaseUnavailable(error)) return new HttpProblem(503, 'unavailable', 'Service unavailable', `the database is unreachable or too busy to answer in time; retry in ${RETRY_AFTER_SECONDS} s`);
  const status = error.statusCode ?? 500;
  if (status >= 400 && status < 500) return new HttpProblem(status, error.code?.toLowerCase().replace(/_/g, '-') ?? 'bad-request', 'Bad request', error.message);
  return new HttpProblem(500, 'internal', 'Internal error', 'the gateway could not complete the request; it has been logged');
}

