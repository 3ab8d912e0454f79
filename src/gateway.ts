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
import { createPool, type Db, migrate } from './db/index.ts';
import { countHeld, DeadLetters } from './deadletters/index.ts';
import { connectWithin } from './exchange/index.ts';
import { buildApp, type Readiness } from './http/index.ts';
import { Consumer } from './inbound/index.ts';
import { OwnKeys, Vault } from './keys/index.ts';
import { Metrics } from './metrics/index.ts';
import { Outbound, outboxBacklog, Relay, RelayWaker } from './outbound/index.ts';
import { PeerDirectory } from './peers/index.ts';
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

/** Whether Postgres and our own broker answer within 2 s. */
async function readiness(db: Db, amqpUrl: string, log: Logger): Promise<Readiness> {
  const within = <T>(work: Promise<T>) => Promise.race([work, new Promise<never>((_, reject) => setTimeout(() => reject(new Error('timeout')), 2000))]);
  const [postgres, broker] = await Promise.all([
    within(db.query('SELECT 1')).then(
      () => true,
      () => false,
    ),
    connectWithin(amqpUrl, 'eco-readiness', 2000, log).then(
      async (connection) => {
        // It answered: that is all readiness asks; a failing close changes nothing.
        await connection.close().catch(() => {});
        return true;
      },
      () => false,
    ),
  ]);
  return { postgres, broker };
}

/** Migrates, makes the first signing key if needed, and starts the configured roles. */
export async function startGateway(config: Config, log: Logger = createLogger(config)): Promise<Gateway> {
  const db = createPool(config.databaseUrl, config.databasePoolSize, log);
  const vault = new Vault(config.keyEncryptionKey);
  const keys = new OwnKeys(db, vault, config.keys);
  const peers = new PeerDirectory(db, { vault, jwksRefreshSeconds: config.jwks.refreshSeconds, jwksMinRefreshSeconds: config.jwks.minRefreshSeconds });
  try {
    await migrate(db);
    await keys.ensureKeys();
    await peers.sealBrokerUrls();
  } catch (error) {
    await db.end();
    throw error;
  }
  const metrics = new Metrics({ backlog: () => outboxBacklog(db), deadLettersHeld: () => countHeld(db) });
  const sealer = new AuditSealer(db, log.child({ role: 'audit' }));
  sealer.start();
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
  const relayWaker = new RelayWaker(db);
  const agreements = new AgreementBook(db);
  const outbound = new Outbound(db, config.partyId, keys, relayWaker);
  const certificates = new CertificateService(db, config.partyId, config.countries, peers, agreements, outbound);
  const clearance = new ClearanceService(db, peers, agreements, outbound);
  const verifications = new VerificationService(db, config.partyId, peers, outbound);
  const gateway: Gateway = { config, db, log, peers, agreements, keys, certificates, metrics, stop: async () => {} };

  if (config.roles.includes('consumer')) {
    const options = {
      partyId: config.partyId,
      countries: config.countries,
      amqpUrl: config.amqpUrl,
      sentAtWindowSeconds: config.sentAtWindowSeconds,
      maxMessageBytes: config.maxMessageBytes,
      ...config.consumer,
    };
    gateway.consumer = new Consumer(db, peers, () => keys.decryptionKeys(), outbound, agreements, options, log.child({ role: 'consumer' }), metrics);
    await gateway.consumer.start();
  }
  if (config.roles.includes('relay')) {
    gateway.relay = new Relay(peers, { partyId: config.partyId, databaseUrl: config.databaseUrl, ...config.relay }, log.child({ role: 'relay' }), metrics);
    await gateway.relay.start();
  }
  if (config.roles.includes('api')) {
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
      routes: apiRoutes({
        partyId: config.partyId,
        db,
        certificates,
        clearance,
        verifications,
        peers,
        keys,
        agreements,
        relays: relayWaker,
        readiness: () => readiness(db, config.amqpUrl, log),
        deadLetters: new DeadLetters(db, config.partyId, config.amqpUrl, log.child({ role: 'api' })),
        metrics,
      }),
    });
    const address = await app.listen({ host: config.http.host, port: config.http.port });
    gateway.app = app;
    gateway.url = address.replace('0.0.0.0', '127.0.0.1');
  }

  gateway.stop = async () => {
    await gateway.app?.close();
    await gateway.relay?.stop();
    await gateway.consumer?.stop();
    clearInterval(jwksTimer);
    await sealer.stop();
    await db.end();
  };
  log.info({ roles: config.roles, url: gateway.url }, 'gateway started');
  return gateway;
}
