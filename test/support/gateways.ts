// Two real gateways (KR-KCS exporting, VN-MOIT importing) on the Postgres and RabbitMQ that
// `npm test` started: each test file gets its own databases and vhosts.

import { randomBytes } from 'node:crypto';
import http from 'node:http';
import amqp from 'amqplib';
import pg from 'pg';
import { type Logger, pino } from 'pino';
import { type PostgresServer, type RabbitServer, servicesFromEnv } from '../../scripts/lib/services.ts';
import { exampleAgreements } from '../../scripts/lib/wiring.ts';
import { createApiKey } from '../../src/auth/index.ts';
import { loadConfig } from '../../src/config.ts';
import type { Certificate } from '../../src/dataset/index.ts';
import { buildEnvelope, type Envelope, type MessageType } from '../../src/exchange/envelope.ts';
import { sign } from '../../src/exchange/jose.ts';
import { type Gateway, startGateway } from '../../src/gateway.ts';
import type { Handled } from '../../src/inbound/index.ts';

export const A = 'KR-KCS';
export const B = 'VN-MOIT';

export const services = servicesFromEnv();

import { daysAfter, exampleCertificate } from './fixtures.ts';

export { daysAfter, exampleCertificate };

/** A fresh database and vhost; the names are unique to this call. */
/** On the services `npm test` started, or on a Postgres and broker a test runs (and may stop) itself. */
export async function freshPlace(
  label: string,
  on: { postgres: Pick<PostgresServer, 'url'>; rabbit: Pick<RabbitServer, 'url' | 'addVhost'> } = services,
): Promise<{ databaseUrl: string; amqpUrl: string; vhost: string }> {
  const name = `eco_${label}_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: on.postgres.url() });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  await on.rabbit.addVhost(name);
  return { databaseUrl: on.postgres.url(name), amqpUrl: on.rabbit.url(name), vhost: name };
}

/** One per test process, so that a gateway restarted on the same database opens its keys again. */
/**
 * Relay settings for fault scenarios: short delays so that recovery fits in a test (the defaults
 * are minutes). With delays this short the default 25 attempts would last only about 40 s, less
 * than a busy machine can take to bring a peer back: giving up is not what those scenarios test
 * (the relay and console tests do).
 */
export const FAST_RECOVERY = {
  RELAY_BACKOFF_BASE_MS: '200',
  RELAY_BACKOFF_MAX_MS: '2000',
  RELAY_LEASE_SECONDS: '5',
  RECEIPT_TIMEOUT_SECONDS: '15',
  CONFIRM_TIMEOUT_MS: '3000',
  RELAY_POLL_MS: '250',
  RELAY_MAX_ATTEMPTS: '1000',
};

export const TEST_KEY_ENCRYPTION_KEY = randomBytes(32).toString('base64');

/** `log` replaces the test logger (to read what the gateway logs). */
export async function startTestGateway(partyId: string, place: { databaseUrl: string; amqpUrl: string }, env: Record<string, string> = {}, log?: Logger): Promise<Gateway> {
  const config = loadConfig({
    PARTY_ID: partyId,
    DATABASE_URL: place.databaseUrl,
    AMQP_URL: place.amqpUrl,
    HTTP_PORT: '0',
    RELAY_POLL_MS: '200',
    LOG_LEVEL: process.env.ECO_TEST_LOG_LEVEL ?? 'silent',
    KEY_ENCRYPTION_KEY: TEST_KEY_ENCRYPTION_KEY,
    ...env,
  });
  const gateway = await startGateway(config, log ?? pino({ level: config.logLevel, base: { party: partyId } }));
  keys.set(gateway, (await createApiKey(gateway.db, 'tests', ['issuer', 'customs', 'admin'])).key);
  return gateway;
}

/** Each test gateway's API key with every role; api() sends it unless told otherwise. */
const keys = new WeakMap<Gateway, string>();

export type Pair = { a: Gateway; b: Gateway; placeA: { databaseUrl: string; amqpUrl: string }; placeB: { databaseUrl: string; amqpUrl: string }; stop: () => Promise<void> };

export { exampleAgreements };

/** Starts A and B, registers the example agreements at both and each as the other's peer, through the admin API. */
export async function startPair(env: Record<string, string> = {}, options: { encrypt?: boolean; logs?: { a?: Logger; b?: Logger } } = {}): Promise<Pair> {
  const [placeA, placeB] = await Promise.all([freshPlace('a'), freshPlace('b')]);
  const [a, b] = await Promise.all([startTestGateway(A, placeA, env, options.logs?.a), startTestGateway(B, placeB, env, options.logs?.b)]);
  await Promise.all([registerAgreements(a), registerAgreements(b)]);
  await registerPeer(a, b, placeB.amqpUrl, options.encrypt);
  await registerPeer(b, a, placeA.amqpUrl, options.encrypt);
  return { a, b, placeA, placeB, stop: async () => void (await Promise.all([a.stop(), b.stop()])) };
}

export async function registerAgreements(gateway: Gateway): Promise<void> {
  for (const [code, agreement] of Object.entries(exampleAgreements)) {
    const response = await api(gateway, 'PUT', `/admin/agreements/${code}`, agreement);
    if (response.status !== 200) throw new Error(`agreement ${code}: ${response.status} ${JSON.stringify(response.body)}`);
  }
}

export async function registerPeer(at: Gateway, peer: Gateway, peerAmqpUrl: string, encrypt = false): Promise<void> {
  const response = await api(at, 'PUT', `/admin/peers/${peer.config.partyId}`, {
    encrypt,
    name: `gateway ${peer.config.partyId}`,
    amqpUrl: peerAmqpUrl,
    jwks: await peer.keys.jwks(),
    agreements: Object.keys(exampleAgreements),
  });
  if (response.status !== 200) throw new Error(`peer registration failed: ${response.status} ${JSON.stringify(response.body)}`);
}

/** Calls a gateway's API with its all-roles key, unless `headers` bring their own authorization ('' for none). */
export async function api(
  gateway: Gateway,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: any; contentType: string; headers: Headers }> {
  const { authorization = `Bearer ${keys.get(gateway)}`, ...rest } = headers;
  const response = await fetch(gateway.url + path, {
    method,
    headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...(authorization ? { authorization } : {}), ...rest },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await response.text();
  const contentType = response.headers.get('content-type') ?? '';
  return { status: response.status, contentType, headers: response.headers, body: contentType.includes('json') && text ? JSON.parse(text) : text };
}

/**
 * api() without a socket: the same request through fastify's `app.inject`, the same answer's shape.
 * For integration tests, which need one gateway's behaviour but not its HTTP server's.
 */
export async function inject(gateway: Gateway, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: any; contentType: string }> {
  if (!gateway.app) throw new Error(`gateway ${gateway.config.partyId} serves no API (ROLE ${gateway.config.roles.join(',')})`);
  const { authorization = `Bearer ${keys.get(gateway)}`, ...rest } = headers;
  const response = await gateway.app.inject({
    method: method as 'GET',
    url: path,
    headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...(authorization ? { authorization } : {}), ...rest },
    payload: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const contentType = String(response.headers['content-type'] ?? '');
  const text = response.body;
  return { status: response.statusCode, contentType, body: contentType.includes('json') && text ? JSON.parse(text) : text };
}

export async function eventually<T>(probe: () => Promise<T | undefined>, what: string, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Publishes raw bytes into a gateway's inbox as a peer's relay would. */
export async function publishRaw(amqpUrl: string, routingKey: string, body: string, properties: { appId?: string; messageId?: string; type?: string } = {}): Promise<void> {
  const connection = await amqp.connect(amqpUrl, { noDelay: true });
  try {
    const channel = await connection.createConfirmChannel();
    channel.publish('eco.inbound', routingKey, Buffer.from(body), { persistent: true, contentType: 'application/jose', ...properties });
    await channel.waitForConfirms();
  } finally {
    await connection.close();
  }
}

/** Reads what sits in a queue of a vhost without consuming it for good. */
export async function peekQueue(amqpUrl: string, queue: string): Promise<amqp.GetMessage[]> {
  const connection = await amqp.connect(amqpUrl);
  try {
    const channel = await connection.createChannel();
    const messages: amqp.GetMessage[] = [];
    for (;;) {
      const message = await channel.get(queue, { noAck: false });
      if (!message) break;
      messages.push(message);
    }
    await channel.close(); // unacked messages go back to the queue
    return messages;
  } finally {
    await connection.close();
  }
}

/** A dead letter as operators see it (code, properties, body), once the consumer has drained it from eco.dead. */
export async function deadLetterAt(gateway: Gateway, messageId: string): Promise<{ id: string; code: string; status: string; body: string; properties: { headers?: Record<string, unknown> } }> {
  const listed = await eventually(async () => {
    const { body } = await api(gateway, 'GET', '/admin/dead-letters?limit=500');
    return (body.deadLetters as { id: string; messageId: string | null }[]).find((d) => d.messageId === messageId);
  }, `dead letter ${messageId}`);
  return (await api(gateway, 'GET', `/admin/dead-letters/${listed.id}`)).body;
}

export async function count(gateway: Gateway, sql: string, params: unknown[] = []): Promise<number> {
  const { rows } = await gateway.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${sql}`, params);
  return rows[0]!.n;
}

/**
 * B's inbox as a test instrument: `deliver` publishes raw bytes as A's relay would and returns how
 * B's consumer handled that very message; `fromA` signs an envelope with A's real key.
 */
export function inboxOfB(pair: Pair) {
  const handled: Handled[] = [];
  pair.b.consumer!.onHandled = (h) => handled.push(h);
  return {
    handled,
    /** With a messageId, waits for that message (other traffic may reach B meanwhile); else for the next one. */
    async deliver(body: string, properties: { appId?: string; messageId?: string; type?: string } = {}): Promise<Handled> {
      const seen = handled.length;
      await publishRaw(pair.placeB.amqpUrl, B, body, { appId: A, type: 'certificate.issued', ...properties });
      const ours = (h: Handled) => !properties.messageId || h.messageId === properties.messageId;
      return eventually(async () => handled.slice(seen).find(ours), 'the consumer to handle the message');
    },
    async fromA(type: MessageType, body: object, overrides: Partial<Envelope> = {}): Promise<{ envelope: Envelope; jws: string }> {
      const envelope = { ...buildEnvelope({ type, from: A, to: B, body: body as Record<string, unknown> }), ...overrides };
      return { envelope, jws: await sign(envelope, await pair.a.keys.signingKey()) };
    },
  };
}

/** Issues a CO at A and waits until B's lookup finds it, as customs would. */
export async function issueAndWait(pair: Pair, overrides: Partial<Certificate> = {}): Promise<Certificate> {
  const co = exampleCertificate(overrides);
  const response = await api(pair.a, 'POST', '/certificates', co);
  if (response.status !== 201) throw new Error(`issue failed: ${response.status} ${JSON.stringify(response.body)}`);
  await eventually(async () => ((await api(pair.b, 'GET', `/certificates/${co.number}`)).status === 200 ? true : undefined), 'the CO at B');
  return co;
}

/** A reconciliation as GET /admin/reconciliations shows it. */
export type ReconciliationRow = {
  statementId: string;
  messageId: string;
  periodStart: string;
  scheduled: boolean;
  result: string | null;
  missingHere: unknown[];
  missingThere: { id: string; digest: string }[];
  digestMismatch: unknown[];
};

/** An operator's reconciliation statement from `from` to `peer`, and the answer once it is in. */
export async function reconcile(from: Gateway, peer: string, period: { start: string; end: string }): Promise<ReconciliationRow> {
  const sent = await api(from, 'POST', '/admin/reconciliations', { peer, periodStart: period.start, periodEnd: period.end });
  if (sent.status !== 202 || sent.body.result !== null) throw new Error(`statement not queued unanswered: ${sent.status} ${JSON.stringify(sent.body)}`);
  return eventually(async () => {
    const list = await api(from, 'GET', `/admin/reconciliations?peer=${peer}&direction=sent`);
    const row = (list.body as ReconciliationRow[]).find((r) => r.statementId === sent.body.statementId);
    return row?.result ? row : undefined;
  }, 'the answer to the statement');
}

/** fetch() from another loopback address (127.0.0.2, …; fetch cannot choose one): another client to per-address limits. */
export function requestFrom(localAddress: string, url: string, init: { method: string; headers: Record<string, string>; body?: string }): Promise<Response> {
  return new Promise((resolve, reject) => {
    const request = http.request(url, { method: init.method, headers: init.headers, localAddress }, (answer) => {
      const chunks: Buffer[] = [];
      answer.on('data', (chunk: Buffer) => chunks.push(chunk));
      answer.on('end', () => {
        const headers = new Headers();
        for (const [name, value] of Object.entries(answer.headers)) for (const v of [value ?? []].flat()) headers.append(name, v);
        resolve(new Response(Buffer.concat(chunks), { status: answer.statusCode, headers }));
      });
      answer.on('error', reject);
    });
    request.on('error', reject);
    request.end(init.body);
  });
}
