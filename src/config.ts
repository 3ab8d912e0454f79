// Environment -> typed configuration, validated once at start. Every variable is listed in
// docs/operations.md (configuration reference) and in .env.example.
import { z } from 'zod';
import { countriesOf, countrySchema, partyIdSchema } from './dataset/index.ts';
import { isStatusUrl } from './seals/index.ts';

const roles = ['api', 'relay', 'consumer'] as const;
export type Role = (typeof roles)[number];

const int = (fallback: number) => z.coerce.number().int().positive().default(fallback);
/** `NAME=` in an env file means unset. */
const unsetWhenEmpty = (value: unknown) => (value === '' ? undefined : value);

const envSchema = z.object({
  PARTY_ID: partyIdSchema,
  DATABASE_URL: z.string().regex(/^postgres(ql)?:\/\//, 'must be a postgres:// URL'),
  // One URL, or the comma-separated URLs of a cluster's nodes (tried in turn).
  AMQP_URL: z.string().regex(/^amqps?:\/\/[^,]+(,\s*amqps?:\/\/[^,]+)*$/, 'must be an amqp:// or amqps:// URL, or a comma-separated list of them'),
  PARTY_COUNTRIES: z
    .string()
    .optional()
    .transform((value) =>
      value
        ?.split(',')
        .map((c) => c.trim())
        .filter(Boolean),
    )
    .pipe(z.array(countrySchema).min(1).optional()),
  ROLE: z
    .string()
    .default('all')
    .transform((value) => (value === 'all' ? [...roles] : value.split(',').map((r) => r.trim())))
    .pipe(z.array(z.enum(roles)).min(1)),
  HTTP_HOST: z.string().default('127.0.0.1'),
  HTTP_PORT: z.coerce.number().int().min(0).max(65535).default(8080),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  SENT_AT_WINDOW_SECONDS: int(24 * 3600),
  UNAUTHENTICATED_ANSWERS_PER_HOUR: int(60),
  RELAY_BATCH_SIZE: int(200),
  RELAY_POLL_MS: int(1000),
  RELAY_LEASE_SECONDS: int(30),
  RELAY_BACKOFF_BASE_MS: int(1000),
  RELAY_BACKOFF_MAX_MS: int(300_000),
  RELAY_MAX_ATTEMPTS: int(25),
  RELAY_MAX_AGE_SECONDS: int(24 * 3600),
  RECEIPT_TIMEOUT_SECONDS: int(300),
  CONFIRM_TIMEOUT_MS: int(10_000),
  CONSUMER_PREFETCH: int(100),
  CONSUMER_MAX_DELIVERIES: int(20),
  DATABASE_POOL_SIZE: int(10),
  RATE_LIMIT_PER_MINUTE: int(6000),
  RATE_LIMIT_PER_ADDRESS_PER_MINUTE: int(6000),
  TRUST_PROXY: z
    .string()
    .default('')
    .transform((value): boolean | string[] => {
      if (value === 'true') return true;
      const addresses = value
        .split(',')
        .map((a) => a.trim())
        .filter(Boolean);
      return addresses.length > 0 && addresses;
    }),
  KEY_ENCRYPTION_KEY: z
    .string({ error: 'is required: 32 random bytes, base64 (openssl rand -base64 32)' })
    .transform((text) => Buffer.from(text, 'base64'))
    .refine((key) => key.length === 32, 'must be 32 bytes, base64-encoded (openssl rand -base64 32)'),
  KEY_RETIRE_GRACE_SECONDS: int(7 * 24 * 3600),
  JWKS_REFRESH_SECONDS: int(3600),
  JWKS_MIN_REFRESH_SECONDS: int(30),
  MAX_MESSAGE_BYTES: int(4 * 1024 * 1024),
  HTTP_BODY_LIMIT_BYTES: int(1024 * 1024),
  HTTP_REQUEST_TIMEOUT_MS: int(30_000),
  STOP_TIMEOUT_SECONDS: int(30),
  // Where verifiers reach this gateway: the seal's status URL is PUBLIC_URL/status, at most 100
  // characters (PROFILE 1.2). Default: the address the API listens on.
  PUBLIC_URL: z.preprocess(
    unsetWhenEmpty,
    z
      .url({ protocol: /^https?$/, error: 'must be an http(s) URL' })
      .max(93, 'must be at most 93 characters (the status URL, PUBLIC_URL/status, is at most 100)')
      .refine((u) => !/[?#]/.test(u), 'must have no query and no fragment')
      .refine((u) => isStatusUrl(`${u.replace(/\/+$/, '')}/status`), 'must be https (plain http only on a loopback address)')
      .transform((u) => u.replace(/\/+$/, ''))
      .optional(),
  ),
  STATUS_CHECKS_PER_ADDRESS_PER_MINUTE: int(60),
  STATUS_COUNTRY_HEADER: z.preprocess(
    unsetWhenEmpty,
    z
      .string()
      .regex(/^[A-Za-z0-9-]{1,64}$/, 'must be a header name')
      .optional(),
  ),
  TRUST_LIST_REFRESH_SECONDS: int(3600),
});

/** Every variable the gateway reads (docs/operations.md and .env.example list each). */
export const configVariables = Object.keys(envSchema.shape);

export type Config = {
  partyId: string;
  /** The countries this party issues for (exportCountry) and receives for (importCountry). */
  countries: string[];
  databaseUrl: string;
  amqpUrl: string;
  roles: Role[];
  http: { host: string; port: number };
  logLevel: z.infer<typeof envSchema>['LOG_LEVEL'];
  sentAtWindowSeconds: number;
  /** Rejections answered per hour to a peer in whose name messages fail authentication; the rest are dead-lettered. */
  unauthenticatedAnswersPerHour: number;
  relay: {
    batchSize: number;
    pollMs: number;
    /** How long a claimed row stays with its relay before another may retry it. */
    leaseSeconds: number;
    confirmTimeoutMs: number;
    backoffBaseMs: number;
    backoffMaxMs: number;
    /** Past either limit a message is given up as dead (operators can resend it). */
    maxAttempts: number;
    maxAgeSeconds: number;
    /** A sent message with no receipt after this long is sent again, same id and bytes. */
    receiptTimeoutSeconds: number;
  };
  consumer: { prefetch: number; maxDeliveries: number };
  databasePoolSize: number;
  /** Requests per minute per API key, and per client address (counted before authentication). */
  rateLimitPerMinute: number;
  rateLimitPerAddressPerMinute: number;
  /** Proxies whose X-Forwarded-For names the client address (true: any; false: none). */
  trustProxy: boolean | string[];
  /** Seals our private keys at rest; never stored, never logged. */
  keyEncryptionKey: Buffer;
  keys: { retireGraceSeconds: number };
  /** Peers' JWKS URLs are re-read this often, and on an unknown kid at most every minRefreshSeconds. */
  jwks: { refreshSeconds: number; minRefreshSeconds: number };
  /** Larger AMQP bodies are dead-lettered unread, larger HTTP bodies refused with 413. */
  maxMessageBytes: number;
  httpBodyLimitBytes: number;
  /** A request whose headers and body have not all arrived after this is answered 408. */
  httpRequestTimeoutMs: number;
  /** A stop (SIGTERM, SIGINT) that has not finished by then exits non-zero anyway. */
  stopTimeoutSeconds: number;
  /** Seals, the status service and trust lists (PROFILE 1.2). */
  verification: {
    /** Where verifiers reach us; undefined: the address the API listens on. */
    publicUrl?: string;
    statusChecksPerAddressPerMinute: number;
    countryHeader?: string;
    peerTrustListRefreshSeconds: number;
  };
};

export class ConfigError extends Error {}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((issue) => `  ${issue.path.join('.') || '(env)'}: ${issue.message}`);
    throw new ConfigError(`Invalid configuration:\n${lines.join('\n')}`);
  }
  const e = parsed.data;
  const countries = e.PARTY_COUNTRIES ?? countriesOf(e.PARTY_ID);
  if (countries.length === 0) throw new ConfigError(`Invalid configuration:\n  PARTY_COUNTRIES: is required: ${e.PARTY_ID.slice(0, 2)} is not an ISO 3166-1 country`);
  return {
    partyId: e.PARTY_ID,
    countries,
    databaseUrl: e.DATABASE_URL,
    amqpUrl: e.AMQP_URL,
    roles: e.ROLE,
    http: { host: e.HTTP_HOST, port: e.HTTP_PORT },
    logLevel: e.LOG_LEVEL,
    sentAtWindowSeconds: e.SENT_AT_WINDOW_SECONDS,
    unauthenticatedAnswersPerHour: e.UNAUTHENTICATED_ANSWERS_PER_HOUR,
    relay: {
      batchSize: e.RELAY_BATCH_SIZE,
      pollMs: e.RELAY_POLL_MS,
      leaseSeconds: e.RELAY_LEASE_SECONDS,
      confirmTimeoutMs: e.CONFIRM_TIMEOUT_MS,
      backoffBaseMs: e.RELAY_BACKOFF_BASE_MS,
      backoffMaxMs: e.RELAY_BACKOFF_MAX_MS,
      maxAttempts: e.RELAY_MAX_ATTEMPTS,
      maxAgeSeconds: e.RELAY_MAX_AGE_SECONDS,
      receiptTimeoutSeconds: e.RECEIPT_TIMEOUT_SECONDS,
    },
    consumer: { prefetch: e.CONSUMER_PREFETCH, maxDeliveries: e.CONSUMER_MAX_DELIVERIES },
    databasePoolSize: e.DATABASE_POOL_SIZE,
    rateLimitPerMinute: e.RATE_LIMIT_PER_MINUTE,
    rateLimitPerAddressPerMinute: e.RATE_LIMIT_PER_ADDRESS_PER_MINUTE,
    trustProxy: e.TRUST_PROXY,
    keyEncryptionKey: e.KEY_ENCRYPTION_KEY,
    keys: { retireGraceSeconds: e.KEY_RETIRE_GRACE_SECONDS },
    jwks: { refreshSeconds: e.JWKS_REFRESH_SECONDS, minRefreshSeconds: e.JWKS_MIN_REFRESH_SECONDS },
    maxMessageBytes: e.MAX_MESSAGE_BYTES,
    httpBodyLimitBytes: e.HTTP_BODY_LIMIT_BYTES,
    httpRequestTimeoutMs: e.HTTP_REQUEST_TIMEOUT_MS,
    stopTimeoutSeconds: e.STOP_TIMEOUT_SECONDS,
    verification: {
      publicUrl: e.PUBLIC_URL,
      statusChecksPerAddressPerMinute: e.STATUS_CHECKS_PER_ADDRESS_PER_MINUTE,
      countryHeader: e.STATUS_COUNTRY_HEADER,
      peerTrustListRefreshSeconds: e.TRUST_LIST_REFRESH_SECONDS,
    },
  };
}
