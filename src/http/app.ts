// The fastify app factory: zod validation, problem+json errors, OpenAPI (served with its reference
// page). Routes come from modules.

import { randomUUID } from 'node:crypto';
import { type IncomingMessage, STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import rateLimit from '@fastify/rate-limit';
import swagger from '@fastify/swagger';
import Fastify, { type ConnectionError, type FastifyBaseLogger, type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest, LogController } from 'fastify';
import { hasZodFastifySchemaValidationErrors, serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod';
import type { Logger } from 'pino';
import { findUnsafeText, toPointer } from '../dataset/index.ts';
import { isDatabaseUnavailable, isDatabaseUnwritable } from '../db/index.ts';
import { EcoError, type ErrorCode, type FieldError, invalid } from '../errors.ts';
import type { Metrics } from '../metrics/index.ts';
import { documentOptions, UNLIMITED_ROUTES } from './document.ts';
import { toProblem } from './problem.ts';
import { referenceRoutes } from './reference.ts';

const READS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** What a 503 asks callers to wait before trying again. */
const RETRY_AFTER_SECONDS = 5;

/** An X-Request-Id a caller (or its proxy) sent is kept if it is this: bounded, and safe in logs and headers. */
const REQUEST_ID = /^[A-Za-z0-9][A-Za-z0-9._:+/=-]{0,127}$/;

/** The caller's X-Request-Id when well-formed, else a new UUID. */
export function requestId(request: IncomingMessage): string {
  const sent = request.headers['x-request-id'];
  return typeof sent === 'string' && REQUEST_ID.test(sent) ? sent : randomUUID();
}

export type RoutePlugin = (app: FastifyInstance) => Promise<void>;

/** A rate limit as @fastify/rate-limit's createRateLimit() makes it: counts the request, says whether it is over. */
export type RateLimit = (request: FastifyRequest) => Promise<{ isAllowed: true } | { isAllowed: false; isExceeded: boolean; max: number; ttlInSeconds: number }>;

/** Installs authentication (auth/ does: API keys and roles), given the rate limits to apply in its order. */
export type AuthInstaller = (app: FastifyInstance, limits: { perAddress: RateLimit; perKey: RateLimit }) => void;

export type AppOptions = {
  logger: Logger;
  partyId: string;
  /** Every request passes it before its route: credentials, roles, rate limits. */
  auth: AuthInstaller;
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
  /**
   * Why the API cannot take writes now (our broker in an alarm), if it cannot: POST, PUT, PATCH
   * and DELETE outside /admin and /portal are then answered 503 with Retry-After.
   */
  refuseWrites?: () => string | undefined;
  routes: RoutePlugin[];
};

export async function buildApp(options: AppOptions): Promise<FastifyInstance> {
  const requestTimeout = options.requestTimeoutMs ?? 30_000;
  const app = Fastify({
    loggerInstance: options.logger as FastifyBaseLogger,
    bodyLimit: options.bodyLimitBytes ?? 1024 * 1024,
    trustProxy: options.trustProxy ?? false,
    // Every request log line carries it as reqId; it is echoed in X-Request-Id and in problem bodies.
    genReqId: requestId,
    requestIdHeader: false,
    // One access line per request (onResponse below) instead of fastify's two.
    logController: new LogController({ disableRequestLogging: true }),
    requestTimeout,
    // Node looks for overdue requests every 30 s by default: a short timeout would be up to 30 s late.
    http: { connectionsCheckingInterval: Math.min(1000, Math.ceil(requestTimeout / 2)), headersTimeout: Math.min(60_000, requestTimeout) },
    clientErrorHandler,
    // What the router refuses before any hook runs (a malformed URL, a path parameter over
    // maxParamLength) is answered like every other error: problem+json, with the request's id.
    frameworkErrors: (error, request, reply) => answerError(error, request, reply.header('x-request-id', request.id)),
  });
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  // The API reads JSON only (the portal adds forms in its own scope): fastify's built-in text/plain
  // parser would hand a route a string, refused as 400 validation instead of the documented 415.
  app.removeContentTypeParser('text/plain');

  // Registered before the routes, or they would be missing from the document.
  await app.register(swagger, documentOptions);

  // A client that stops reading its answer: once the answer is being written, a socket with
  // nothing written for this long is closed, so that it no longer holds the answer in memory.
  // Not before: a handler may take its time (an audit chain check) with the socket quiet.
  // (app.inject's requests have a socket without timeouts.)
  app.addHook('onRequest', async (request) => {
    const socket = request.raw.socket;
    if (typeof socket?.setTimeout === 'function') socket.setTimeout(0);
  });
  // One listener per socket: setTimeout(ms, callback) would add one per answer on a kept-alive socket.
  const guarded = new WeakSet<object>();
  app.addHook('onSend', async (request) => {
    const socket = request.raw.socket;
    if (typeof socket?.setTimeout !== 'function') return;
    if (!guarded.has(socket)) {
      guarded.add(socket);
      socket.on('timeout', () => socket.destroy());
    }
    socket.setTimeout(requestTimeout);
  });
  app.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', request.id);
    // Every answer is what its Content-Type says: a browser must not sniff JSON or text into HTML.
    reply.header('x-content-type-options', 'nosniff');
    // Operators keep their hands during an incident (suspend a peer, replay later); readers keep reading.
    if (options.refuseWrites && !READS.has(request.method) && !/^\/(admin|portal)(\/|$|\?)/.test(request.url)) {
      const reason = options.refuseWrites();
      if (reason) throw new EcoError('UNAVAILABLE', `${reason}; retry in ${RETRY_AFTER_SECONDS} s`);
    }
  });

  app.setErrorHandler(answerError);
  app.setNotFoundHandler((request, reply) => {
    const { status, body } = toProblem(new EcoError('NOT_FOUND', `no route ${request.method} ${request.url.split('?')[0]}`), request.id);
    return reply.code(status).type('application/problem+json').send(body);
  });

  // Limits are applied by the auth installer, in its order: per address, then per key.
  await app.register(rateLimit, { global: false, timeWindow: 60_000 });
  const unlessUnlimited =
    (limit: RateLimit): RateLimit =>
    async (request) =>
      UNLIMITED_ROUTES.has(request.routeOptions.url ?? '') ? { isAllowed: true } : limit(request);
  const limits = {
    perAddress: unlessUnlimited(app.createRateLimit({ max: options.rateLimitPerAddressPerMinute ?? 6000 })),
    // A key created with its own limit (api_clients.rate_limit_per_minute) has it; others the default.
    perKey: unlessUnlimited(
      app.createRateLimit({
        max: (request) => (request as { client?: { rateLimitPerMinute: number | null } }).client?.rateLimitPerMinute ?? options.rateLimitPerMinute ?? 6000,
        keyGenerator: (request) => request.client?.id ?? request.ip,
      }),
    ),
  };
  // The access log: one line per request once answered. Probes and scrapes, which come every few
  // seconds from the orchestrator and Prometheus, at debug.
  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url;
    const fields = { method: request.method, url: request.url, statusCode: reply.statusCode, ms: Math.round(reply.elapsedTime * 10) / 10 };
    if (route === '/health' || route === '/ready' || route === '/metrics') request.log.debug(fields, 'request');
    else request.log.info(fields, 'request');
  });
  const metrics = options.metrics;
  if (metrics) {
    // Labelled by route pattern, not URL: numbers and ids in paths would make every series unique.
    app.addHook('onResponse', async (request, reply) => {
      const route = request.routeOptions.url ?? 'unmatched';
      metrics.httpDuration.observe({ method: request.method, route, status: String(reply.statusCode) }, reply.elapsedTime / 1000);
    });
  }
  options.auth(app, limits);
  // Text Postgres cannot keep (U+0000, unpaired surrogates) is refused wherever it appears in a
  // request, before any route sees it: every field of every route, present and future.
  app.addHook('preValidation', async (request) => {
    for (const [where, value] of [
      ['body', request.body],
      ['query', request.query],
      ['params', request.params],
    ] as const) {
      const unsafe = findUnsafeText(value);
      if (!unsafe) continue;
      const pointer = (where === 'body' ? '' : `/${where}`) + toPointer(unsafe.path);
      throw invalid(`the request ${where} holds text that cannot be accepted`, [{ pointer, detail: unsafe.message }]);
    }
  });
  for (const routes of options.routes) await app.register(routes);
  await app.register(referenceRoutes);
  return app;
}

/** Every error a request ends with, as problem+json: catalogue errors as they are, anything else mapped to one. */
function answerError(error: FastifyError, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const caught = toEcoError(error);
  const { status, body } = toProblem(caught, request.id);
  if (status === 503) {
    // An outage is logged once per change by the part that lost its dependency; each refused
    // request (a probe every few seconds) only at debug, without a stack.
    request.log.debug({ url: request.url, reason: caught.detail }, 'request refused: a dependency is unavailable');
    reply.header('retry-after', String(RETRY_AFTER_SECONDS));
  } else if (status >= 500) request.log.error({ err: error, url: request.url }, 'request failed');
  // The cause of a refusal may say more than the caller may know (what a peer's JWKS URL answered): the log keeps it.
  else if (caught.cause) request.log.warn({ err: caught.cause, url: request.url }, caught.message);
  return reply.code(status).type('application/problem+json').send(body);
}

/**
 * What Node refuses before fastify sees a request (headers too large, a request too slow, bytes
 * that are not HTTP) is answered as problem+json too, and the connection closed.
 */
function clientErrorHandler(error: ConnectionError, socket: Socket): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  const { status, body: problem } = toProblem(
    error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
      ? new EcoError('REQUEST_TIMEOUT', 'the request was not received in time')
      : error.code === 'HPE_HEADER_OVERFLOW'
        ? new EcoError('HEADERS_TOO_LARGE', 'the request headers exceed the size the gateway reads')
        : new EcoError('BAD_REQUEST', 'the request is not valid HTTP/1.1'),
  );
  const body = JSON.stringify(problem);
  if (socket.writable) {
    socket.write(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/problem+json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
  }
  socket.destroy(error);
}

/** Fastify's own refusals by its error code; their problem types come from the catalogue, not from these codes. */
const fastifyErrors: Record<string, ErrorCode> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'BODY_TOO_LARGE',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'INVALID_CONTENT_LENGTH',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'EMPTY_JSON_BODY',
  FST_ERR_CTP_INVALID_JSON_BODY: 'INVALID_JSON_BODY',
  FST_ERR_BAD_URL: 'BAD_URL',
  FST_ERR_INVALID_URL: 'INVALID_URL',
  FST_ERR_MAX_PARAM_LENGTH: 'URL_PARAMETER_TOO_LONG',
};

/** Whatever a request failed with, as a catalogue error: anything unforeseen is INTERNAL. */
function toEcoError(error: FastifyError): EcoError {
  if (error instanceof EcoError) return error;
  if (hasZodFastifySchemaValidationErrors(error)) {
    const where = error.validationContext ?? 'body';
    const at = (path: string) => (where === 'body' ? path : `/${where}${path}`);
    const errors: FieldError[] = error.validation.flatMap((v) => {
      // A member the schema does not know: one error at each such member's own path.
      const keys = (v.params as { keys?: unknown } | undefined)?.keys;
      if (v.keyword === 'unrecognized_keys' && Array.isArray(keys) && keys.length > 0) {
        const parent = v.instancePath === '/' ? '' : v.instancePath;
        return keys.slice(0, 20).map((key) => ({ pointer: at(`${parent}/${String(key).replaceAll('~', '~0').replaceAll('/', '~1')}`), detail: 'is not a member this gateway knows' }));
      }
      return [{ pointer: at(v.instancePath), detail: v.message ?? 'is invalid' }];
    });
    return invalid(`the request ${where} is not valid (${errors.length} error${errors.length === 1 ? '' : 's'})`, errors);
  }
  if (isDatabaseUnavailable(error)) return new EcoError('UNAVAILABLE', `the database is unreachable or too busy to answer in time; retry in ${RETRY_AFTER_SECONDS} s`);
  // 57014: a statement timeout (the operators' pool has one): the query asked too much at once.
  if ((error as { code?: unknown }).code === '57014')
    return new EcoError('UNAVAILABLE', `the query ran longer than the gateway allows: narrow it (a shorter period, a smaller limit) or retry in ${RETRY_AFTER_SECONDS} s`);
  if (isDatabaseUnwritable(error)) return new EcoError('UNAVAILABLE', `the database cannot write now (disk full or read-only); retry in ${RETRY_AFTER_SECONDS} s`);
  const status = error.statusCode ?? 500;
  if (status >= 400 && status < 500) return new EcoError(fastifyErrors[error.code] ?? 'BAD_REQUEST', error.message);
  return new EcoError('INTERNAL', 'the gateway could not complete the request; it has been logged');
}
