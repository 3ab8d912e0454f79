// One gateway: the roles named by config (api, relay, consumer) over one pool, one peer directory.
import type { FastifyInstance } from 'fastify';
import { type Logger, pino } from 'pino';
import { AgreementBook } from './agreements/index.ts';
import { apiRoutes } from './api.ts';
import { AuditSealer } from './audit/index.ts';
import { installAuth, KeyLookup } from './auth/index.ts';
import { CertificateService } from './certificates/index.ts';
import { ClearanceService } from './clearance/index.ts';
import type { Config } from './config.ts';
import { claimDatabase, createPool, type Db, isDatabaseUnavailable, migrate, redactUrl } from './db/index.ts';
import { countHeld, DeadLetters } from './deadletters/index.ts';
import { brokerUrls, isBrokerRefusal } from './exchange/index.ts';
import { buildApp } from './http/index.ts';
import { Consumer, receivedLines } from './inbound/index.ts';
import { OwnKeys, Vault, WrongKeyError } from './keys/index.ts';
import { Metrics } from './metrics/index.ts';
import { Outbound, outboxBacklog, Relay, RelayWaker } from './outbound/index.ts';
import { PeerDirectory } from './peers/index.ts';
import { portalRoutes } from './portal/index.ts';
import { Copies } from './printing/index.ts';
import { ReadinessMonitor } from './readiness.ts';
import { Reconciliations } from './reconciliation/index.ts';
import { fillCanonicalHashes, isStatusUrl, verifyPage } from './seals/index.ts';
import { CheckRecorder, OwnTrustList, PeerTrustLists, StatusService } from './trust/index.ts';
import { VerificationService } from './verifications/index.ts';

export type Gateway = {
  config: Config;
  db: Db;
  log: Logger;
  app?: FastifyInstance;
  relay?: Relay;
  consumer?: Consumer;
  peers: PeerDirectory;
  agreements: AgreementBook;
  keys: OwnKeys;
  certificates: CertificateService;
  reconciliations: Reconciliations;
  metrics: Metrics;
  /** Base URL of the HTTP API once listening. */
  url?: string;
  stop: () => Promise<void>;
};

/**
 * A promise rejected with nobody listening is logged, not fatal: every background loop handles its
 * own errors, and one that slipped through must not take the API, relay and consumer down with it.
 */
export function guardProcess(log: Logger): void {
  process.on('unhandledRejection', (reason) => log.error({ err: reason }, 'unhandled rejection; the gateway keeps running'));
}

export function createLogger(config: Pick<Config, 'logLevel' | 'partyId'>): Logger {
  return pino({ level: config.logLevel, base: { party: config.partyId } });
}

/** The operators' own pool: a few connections, and no statement longer than this. */
const ADMIN_POOL_SIZE = 4;
const ADMIN_STATEMENT_TIMEOUT_MS = 15_000;

/**
 * A start that cannot succeed as configured: the message names the cause and what to do, and is
 * all an operator needs (no stack trace).
 */
export class StartupError extends Error {}

/** The broker addresses of AMQP_URL without their credentials. */
const brokerAddress = (amqpUrl: string) => brokerUrls(amqpUrl).map(redactUrl).join(', ');

const brokerRefused = (amqpUrl: string, error: unknown) =>
  new StartupError(
    `the broker at ${brokerAddress(amqpUrl)} refused the connection (${(error as Error).message.replace(/\s+/g, ' ').slice(0, 200)}): ` +
      "check AMQP_URL's user, password and vhost, and that the user has permissions on that vhost",
  );

/** What went wrong at start, as a StartupError when it is one an operator can fix; anything else as it is. */
function explainStartFailure(config: Config, error: unknown): unknown {
  if (error instanceof StartupError) return error;
  const code = (error as { code?: unknown }).code;
  const where = redactUrl(config.databaseUrl);
  if (isDatabaseUnavailable(error)) {
    return new StartupError(
      `the database at ${where} cannot be reached (${typeof code === 'string' ? code : (error as Error).message}): check DATABASE_URL and that Postgres is running and accepts connections`,
    );
  }
  if (code === '28P01' || code === '28000') return new StartupError(`the database at ${where} refused the login (${(error as Error).message}): check the user and password in DATABASE_URL`);
  if (code === '3D000') return new StartupError(`the database at ${where} does not exist: create it (CREATE DATABASE) or correct DATABASE_URL`);
  if (error instanceof WrongKeyError) {
    return new StartupError(
      'KEY_ENCRYPTION_KEY does not open the secrets sealed in this database: start with the key this database was first started with ' +
        '(it is never stored in the database; restore it from where it is kept)',
    );
  }
  return error;
}

export type StartOptions = {
  /**
   * Called when the gateway cannot go on (the broker refuses our credentials on a reconnect);
   * main.ts logs it and exits. By default it is logged and the gateway stays up.
   */
  onFatal?: (error: StartupError) => void;
};

/**
 * Migrates, makes the first signing key if needed, and starts the configured roles. A start that
 * cannot succeed as configured rejects with a StartupError. A broker that is down is waited for in
 * the background (the API listens meanwhile, and /ready says so); one that refuses us is fatal.
 */
export async function startGateway(config: Config, log: Logger = createLogger(config), options: StartOptions = {}): Promise<Gateway> {
  const db = createPool(config.databaseUrl, config.databasePoolSize, log);
  const vault = new Vault(config.keyEncryptionKey);
  const keys = new OwnKeys(db, vault, config.keys);
  const peers = new PeerDirectory(db, { vault, ownPartyId: config.partyId, jwksRefreshSeconds: config.jwks.refreshSeconds, jwksMinRefreshSeconds: config.jwks.minRefreshSeconds });
  try {
    await migrate(db);
    const owner = await claimDatabase(db, config.partyId);
    if (owner !== config.partyId) {
      throw new StartupError(
        `the database at ${redactUrl(config.databaseUrl)} belongs to party ${owner}, not to PARTY_ID ${config.partyId}: point DATABASE_URL at ${config.partyId}'s own database, or correct PARTY_ID`,
      );
    }
    await keys.ensureKeys();
    await peers.sealBrokerUrls();
    await fillCanonicalHashes(db);
  } catch (error) {
    await db.end();
    throw explainStartFailure(config, error);
  }
  const onFatal = options.onFatal ?? ((error: StartupError) => log.error(error.message));
  const metrics = new Metrics({ backlog: () => outboxBacklog(db), deadLettersHeld: () => countHeld(db) });
  // Started once the roles are up: a start that fails says one thing, its cause.
  const sealer = new AuditSealer(db, log.child({ role: 'audit' }));
  // Peers' JWKS URLs are re-read in the background too, so that a key they revoke stops verifying here.
  const jwksTimer = setInterval(() => {
    peers.refreshStaleKeys().then(
      (failed) => {
        for (const f of failed) log.warn(f, 'peer JWKS refresh failed; the stored keys stay in use');
      },
      (error: unknown) => log.warn({ err: error }, 'peer JWKS refresh skipped; tried again at the next interval'),
    );
  }, Math.min(config.jwks.refreshSeconds, 60) * 1000);
  jwksTimer.unref();
  // Peers' trust lists are read again in the background by the API processes (which serve them),
  // one round at a time.
  const peerTrustLists = new PeerTrustLists(db);
  let refreshingTrustLists = false;
  const trustListTimer = setInterval(() => {
    if (refreshingTrustLists || !config.roles.includes('api')) return;
    refreshingTrustLists = true;
    peerTrustLists
      .refreshDue(config.verification.peerTrustListRefreshSeconds)
      .then(
        (failed) => {
          for (const f of failed) log.warn(f, "a peer's trust list could not be read again; the one held is still served");
        },
        (error: unknown) => log.warn({ err: error }, 'peer trust lists not refreshed; tried again at the next interval'),
      )
      .finally(() => {
        refreshingTrustLists = false;
      });
  }, Math.min(config.verification.peerTrustListRefreshSeconds, 300) * 1000);
  trustListTimer.unref();
  const relayWaker = new RelayWaker(db);
  const agreements = new AgreementBook(db);
  const outbound = new Outbound(db, config.partyId, keys, relayWaker);
  const certificates = new CertificateService(db, config.partyId, config.countries, peers, agreements, outbound);
  const clearance = new ClearanceService(db, peers, agreements, outbound);
  const verifications = new VerificationService(db, config.partyId, peers, outbound);
  const reconciliations = new Reconciliations(db, peers, outbound, receivedLines, log.child({ role: 'reconciliation' }));
  const gateway: Gateway = { config, db, log, peers, agreements, keys, certificates, reconciliations, metrics, stop: async () => {} };
  const checkRecorder = new CheckRecorder(db, log.child({ role: 'api' }));
  const trustList = new OwnTrustList(db, keys, { partyId: config.partyId, countries: config.countries });
  const statusUrl = () => `${config.verification.publicUrl ?? gateway.url}/status`;
  const copies = new Copies(db, keys, certificates, config.partyId, statusUrl);
  // Set before the roles start: a start that fails halfway stops what it started.
  let stopReadiness = () => {};
  let adminDb: Db | undefined;
  gateway.stop = async () => {
    stopReadiness();
    await gateway.app?.close();
    await adminDb?.end();
    await gateway.relay?.stop();
    reconciliations.stop();
    await gateway.consumer?.stop();
    clearInterval(jwksTimer);
    clearInterval(trustListTimer);
    await checkRecorder.stop();
    await sealer.stop();
    await db.end();
  };

  if (config.roles.includes('consumer')) {
    const options = {
      partyId: config.partyId,
      countries: config.countries,
      amqpUrl: config.amqpUrl,
      sentAtWindowSeconds: config.sentAtWindowSeconds,
      unauthenticatedAnswersPerHour: config.unauthenticatedAnswersPerHour,
      maxMessageBytes: config.maxMessageBytes,
      ...config.consumer,
    };
    const consumer = new Consumer(db, peers, () => keys.decryptionKeys(), outbound, agreements, options, log.child({ role: 'consumer' }), metrics);
    consumer.onFatal = (error) => onFatal(brokerRefused(config.amqpUrl, error));
    gateway.consumer = consumer;
    try {
      await consumer.connectOnce();
    } catch (error) {
      if (isBrokerRefusal(error)) {
        await gateway.stop();
        throw brokerRefused(config.amqpUrl, error);
      }
      log.warn({ broker: brokerAddress(config.amqpUrl), reason: (error as Error).message }, 'the broker cannot be reached; the consumer waits for it (the API serves meanwhile and /ready says so)');
      consumer.start().then(
        () => log.info('consumer connected to the broker'),
        (refused: unknown) => onFatal(brokerRefused(config.amqpUrl, refused)),
      );
    }
  }
  try {
    if (config.roles.includes('relay')) {
      gateway.relay = new Relay(peers, { partyId: config.partyId, databaseUrl: config.databaseUrl, ...config.relay }, log.child({ role: 'relay' }), metrics);
      await gateway.relay.start();
      // The daily statements to each peer (PROFILE 1.1) are sent by the processes that send.
      reconciliations.start();
    }
    if (config.roles.includes('api')) {
      // Operators' heavy reads (search, audit, overview) queue on a pool of their own and give up
      // after ADMIN_STATEMENT_TIMEOUT_MS: customs lookups, issuing and receipts keep the main pool.
      adminDb = createPool(config.databaseUrl, ADMIN_POOL_SIZE, log, `-c statement_timeout=${ADMIN_STATEMENT_TIMEOUT_MS}`);
      const readiness = new ReadinessMonitor(db, config.amqpUrl, log.child({ role: 'api' }));
      readiness.start();
      stopReadiness = () => readiness.stop();
      const app = await buildApp({
        logger: log.child({ role: 'api' }),
        partyId: config.partyId,
        auth: (app, limits) => installAuth(app, new KeyLookup(db), limits),
        rateLimitPerMinute: config.rateLimitPerMinute,
        rateLimitPerAddressPerMinute: config.rateLimitPerAddressPerMinute,
        trustProxy: config.trustProxy,
        bodyLimitBytes: config.httpBodyLimitBytes,
        requestTimeoutMs: config.httpRequestTimeoutMs,
        metrics,
        refuseWrites: () => (readiness.latest()?.broker === 'alarm' ? 'our broker is in a memory or disk alarm: peers cannot deliver to us' : undefined),
        routes: [
          ...apiRoutes({
            partyId: config.partyId,
            db,
            adminDb,
            certificates,
            clearance,
            verifications,
            peers,
            keys,
            agreements,
            relays: relayWaker,
            readiness,
            deadLetters: new DeadLetters(db, config.partyId, config.amqpUrl, log.child({ role: 'api' })),
            reconciliations,
            metrics,
            copies,
            trust: {
              trustList,
              peerTrustLists,
              status: new StatusService(db, keys, config.partyId, checkRecorder),
              verifyPage: async () => verifyPage(await trustList.trustKeys()),
              statusChecksPerMinute: config.verification.statusChecksPerAddressPerMinute,
              countryHeader: config.verification.countryHeader,
            },
          }),
          // The web portal (/portal) for authorities without a back-office: the same services, its own sessions.
          (app) => portalRoutes(app, { db, partyId: config.partyId, certificates, clearance, verifications, peers, agreements, copies, secret: config.keyEncryptionKey }),
        ],
      });
      const address = await app.listen({ host: config.http.host, port: config.http.port });
      gateway.app = app;
      gateway.url = address.replace('0.0.0.0', '127.0.0.1');
      checkRecorder.start();
      if (!isStatusUrl(statusUrl())) {
        log.warn({ statusUrl: statusUrl() }, 'seals name a status URL verifiers refuse (not https, or over 100 characters): set PUBLIC_URL to the https address verifiers reach');
      }
    }
  } catch (error) {
    // Whatever started before is stopped, so that a failed start leaves no connection or loop behind.
    await gateway.stop().catch(() => {}); // the start's own error is the one to report
    if ((error as { code?: unknown }).code === 'EADDRINUSE') {
      throw new StartupError(`${config.http.host}:${config.http.port} is already in use: stop what listens there or set HTTP_HOST/HTTP_PORT`);
    }
    throw error;
  }

  sealer.start();
  log.info({ roles: config.roles, url: gateway.url }, 'gateway started');
  return gateway;
}
