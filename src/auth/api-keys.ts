// API keys and roles. A key is 32 random bytes; only its SHA-256 is stored (a slow hash buys
// nothing against guessing 256 random bits, and every request checks one). Shown once at creation.
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { actors, audited } from '../audit/index.ts';
import type { Db, Queryable } from '../db/index.ts';
import { EcoError } from '../errors.ts';
import type { RateLimit } from '../http/index.ts';

export const roles = ['issuer', 'customs', 'admin'] as const;
export type Role = (typeof roles)[number];
export const roleSchema = z.enum(roles);

export type ApiClient = {
  id: string;
  name: string;
  keyPrefix: string;
  roles: Role[];
  status: 'active' | 'revoked';
  createdAt: string;
  /** Its own REST requests a minute; null: RATE_LIMIT_PER_MINUTE. */
  rateLimitPerMinute: number | null;
};

const hash = (key: string) => createHash('sha256').update(key).digest('hex');

export async function createApiKey(
  db: Db,
  name: string,
  clientRoles: Role[],
  actor: string = actors.system,
  options: { rateLimitPerMinute?: number } = {},
): Promise<{ client: ApiClient; key: string }> {
  const rateLimitPerMinute = options.rateLimitPerMinute ?? null;
  const prefix = randomBytes(4).toString('hex');
  const key = `eco_${prefix}_${randomBytes(32).toString('base64url')}`;
  const id = randomUUID();
  const { rows } = await audited(
    db,
    (client) =>
      client.query<{ created_at: Date }>('INSERT INTO api_clients (id, name, key_hash, key_prefix, roles, rate_limit_per_minute) VALUES ($1, $2, $3, $4, $5, $6) RETURNING created_at', [
        id,
        name,
        hash(key),
        prefix,
        clientRoles,
        rateLimitPerMinute,
      ]),
    () => ({ actor, action: 'api-key.created', subject: id, data: { name, roles: clientRoles, keyPrefix: prefix, ...(rateLimitPerMinute ? { rateLimitPerMinute } : {}) } }),
  );
  return { client: { id, name, keyPrefix: prefix, roles: clientRoles, status: 'active', createdAt: rows[0]!.created_at.toISOString(), rateLimitPerMinute }, key };
}

type Row = { id: string; name: string; key_prefix: string; roles: Role[]; status: ApiClient['status']; created_at: Date; rate_limit_per_minute: number | null };
const toClient = (r: Row): ApiClient => ({
  id: r.id,
  name: r.name,
  keyPrefix: r.key_prefix,
  roles: r.roles,
  status: r.status,
  createdAt: r.created_at.toISOString(),
  rateLimitPerMinute: r.rate_limit_per_minute,
});

export async function listApiClients(db: Queryable): Promise<ApiClient[]> {
  const { rows } = await db.query<Row>('SELECT * FROM api_clients ORDER BY created_at');
  return rows.map(toClient);
}

export async function revokeApiKey(db: Db, id: string, actor: string): Promise<boolean> {
  const { rowCount } = await audited(
    db,
    (client) => client.query("UPDATE api_clients SET status = 'revoked', revoked_at = now() WHERE id = $1 AND status = 'active'", [id]),
    ({ rowCount: changed }) => (changed ? { actor, action: 'api-key.revoked', subject: id } : undefined),
  );
  return (rowCount ?? 0) > 0;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Roles allowed to call the route; 'public' needs no credential. No entry: admin only. */
    roles?: readonly Role[] | 'public';
  }
  interface FastifyRequest {
    client?: ApiClient;
  }
}

const KEY_FORMAT = /^eco_[0-9a-f]{8}_[A-Za-z0-9_-]{43}$/;

/**
 * The key of `Authorization: Bearer <key>`: the scheme (case-insensitive, RFC 9110), one space and
 * a key of the form createApiKey makes. Anything else is no key at all, so it costs no lookup and
 * cannot pass for a known key spelled another way.
 */
export function bearerKey(header: string | undefined): string | undefined {
  if (header?.slice(0, 7).toLowerCase() !== 'bearer ') return undefined;
  const key = header.slice(7);
  return KEY_FORMAT.test(key) ? key : undefined;
}

/**
 * API keys looked up lately, known or unknown, for ttlMs (so revocation takes effect within it).
 * A bounded LRU (a Map iterates in insertion order): a flood of made-up keys cannot grow it.
 */
export class KeyLookup {
  private readonly entries = new Map<string, { client: ApiClient | undefined; at: number }>();
  private readonly ttlMs: number;
  private readonly maxEntries: number;

  constructor(
    private readonly db: Queryable,
    options: { ttlMs?: number; maxEntries?: number } = {},
  ) {
    this.ttlMs = options.ttlMs ?? 5000;
    this.maxEntries = options.maxEntries ?? 10_000;
  }

  get size(): number {
    return this.entries.size;
  }

  async find(key: string): Promise<ApiClient | undefined> {
    const h = hash(key);
    const cached = this.entries.get(h);
    this.entries.delete(h);
    if (cached && Date.now() - cached.at < this.ttlMs) {
      this.entries.set(h, cached);
      return cached.client;
    }
    const { rows } = await this.db.query<Row>("SELECT * FROM api_clients WHERE key_hash = $1 AND status = 'active'", [h]);
    const client = rows[0] && toClient(rows[0]);
    this.entries.set(h, { client, at: Date.now() });
    for (const oldest of this.entries.keys()) {
      if (this.entries.size <= this.maxEntries) break;
      this.entries.delete(oldest);
    }
    return client;
  }
}

/** Counts the request against `limit`; past it, 429 with Retry-After. */
export async function withinLimit(limit: RateLimit, request: FastifyRequest, reply: FastifyReply, per: string): Promise<void> {
  const result = await limit(request);
  if (result.isAllowed || !result.isExceeded) return;
  reply.header('retry-after', String(result.ttlInSeconds));
  throw new EcoError('RATE_LIMITED', `at most ${result.max} requests a minute ${per}; retry in ${result.ttlInSeconds} s`);
}

/**
 * Every route needs a credential unless marked public: a missing, malformed or unknown key is 401,
 * a key without one of the route's roles 403, both problem+json, all before the body is read.
 * Requests are counted per client address first, so that made-up keys are limited before they
 * cost a lookup, then per API key.
 */
export function installAuth(app: FastifyInstance, keys: KeyLookup, limits: { perAddress: RateLimit; perKey: RateLimit }): void {
  app.addHook('onRequest', async (request: FastifyRequest, reply: FastifyReply) => {
    await withinLimit(limits.perAddress, request, reply, 'from one address');
    const allowed = request.routeOptions.config.roles ?? ['admin'];
    if (allowed === 'public') return;
    const key = bearerKey(request.headers.authorization);
    const client = key ? await keys.find(key) : undefined;
    if (!client) throw new EcoError('UNAUTHENTICATED', 'send an API key as Authorization: Bearer <key>');
    request.client = client;
    await withinLimit(limits.perKey, request, reply, 'per API key');
    if (!client.roles.some((r) => allowed.includes(r))) {
      throw new EcoError('FORBIDDEN', `this route needs the role ${allowed.join(' or ')}`);
    }
  });
}
