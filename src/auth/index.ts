// API keys and roles. A key is 32 random bytes; only its SHA-256 is stored (a slow hash buys
// nothing against guessing 256 random bits, and every request checks one). Shown once at creation.
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { actors, audited } from '../audit/index.ts';
import type { Db, Queryable } from '../db/index.ts';
import { HttpProblem } from '../http/problem.ts';

export const roles = ['issuer', 'customs', 'admin'] as const;
export type Role = (typeof roles)[number];
export const roleSchema = z.enum(roles);

export type ApiClient = { id: string; name: string; keyPrefix: string; roles: Role[]; status: 'active' | 'revoked'; createdAt: string };

const hash = (key: string) => createHash('sha256').update(key).digest('hex');

export async function createApiKey(db: Db, name: string, clientRoles: Role[], actor: string = actors.system): Promise<{ client: ApiClient; key: string }> {
  const prefix = randomBytes(4).toString('hex');
  const key = `eco_${prefix}_${randomBytes(32).toString('base64url')}`;
  const id = randomUUID();
  const { rows } = await audited(
    db,
    (client) => client.query<{ created_at: Date }>('INSERT INTO api_clients (id, name, key_hash, key_prefix, roles) VALUES ($1, $2, $3, $4, $5) RETURNING created_at', [id, name, hash(key), prefix, clientRoles]),
    () => ({ actor, action: 'api-key.created', subject: id, data: { name, roles: clientRoles, keyPrefix: prefix } }),
  );
  return { client: { id, name, keyPrefix: prefix, roles: clientRoles, status: 'active', createdAt: rows[0]!.created_at.toISOString() }, key };
}

type Row = { id: string; name: string; key_prefix: string; roles: Role[]; status: ApiClient['status']; created_at: Date };
const toClient = (r: Row): ApiClient => ({ id: r.id, name: r.name, keyPrefix: r.key_prefix, roles: r.roles, status: r.status, createdAt: r.created_at.toISOString() });

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

/**
 * Every route needs a credential unless marked public: a missing or unknown key is 401, a key
 * without one of the route's roles 403, both problem+json. Revocation takes effect within the
 * cache's lifetime.
 */
export function installAuth(app: FastifyInstance, db: Queryable, cacheMs = 5000): void {
  const cache = new Map<string, { client: ApiClient | undefined; at: number }>();
  const lookup = async (key: string): Promise<ApiClient | undefined> => {
    const h = hash(key);
    const cached = cache.get(h);
    if (cached && Date.now() - cached.at < cacheMs) return cached.client;
    const { rows } = await db.query<Row>("SELECT * FROM api_clients WHERE key_hash = $1 AND status = 'active'", [h]);
    const client = rows[0] && toClient(rows[0]);
    cache.set(h, { client, at: Date.now() });
    return client;
  };

  app.addHook('onRequest', async (request: FastifyRequest) => {
    const allowed = request.routeOptions.config.roles ?? ['admin'];
    if (allowed === 'public') return;
    const header = request.headers.authorization ?? '';
    const key = header.startsWith('Bearer ') ? header.slice(7).trim() : '';
    const client = key ? await lookup(key) : undefined;
    if (!client) throw new HttpProblem(401, 'unauthenticated', 'Unauthenticated', 'send an API key as Authorization: Bearer <key>');
    if (!client.roles.some((r) => allowed.includes(r))) {
      throw new HttpProblem(403, 'forbidden', 'Forbidden', `this route needs the role ${allowed.join(' or ')}`);
    }
    request.client = client;
  });
}
