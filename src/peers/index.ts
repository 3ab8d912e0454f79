// Other gateways we exchange with: who they are, where their broker is, which keys they sign with.
import { z } from 'zod';
import type { Db } from '../db/index.ts';
import { encryptionKeyOf, importJwks, JWE_ALGS, type Jwks, type PeerKeys } from '../exchange/jose.ts';
import { partyIdSchema } from '../exchange/party.ts';

const jwkSchema = z.looseObject({ kty: z.string(), kid: z.string().min(1) });
export const jwksSchema = z.object({ keys: z.array(jwkSchema).min(1) });

export const peerInputSchema = z
  .object({
    name: z.string().trim().min(1).max(256),
    amqpUrl: z.string().regex(/^amqps?:\/\/.+/, 'must be an amqp:// or amqps:// URL'),
    jwks: jwksSchema.optional(),
    jwksUrl: z.url({ protocol: /^https?$/ }).optional(),
    encrypt: z.boolean().default(false),
    agreements: z.array(z.string().trim().min(1).max(35)).default([]),
    status: z.enum(['active', 'suspended']).default('active'),
  })
  .refine((p) => p.jwks || p.jwksUrl, { message: 'give the peer\'s keys as jwks (inline) or jwksUrl', path: ['jwks'] });
export type PeerInput = z.infer<typeof peerInputSchema>;

export type Peer = {
  partyId: string;
  name: string;
  amqpUrl: string;
  jwks: Jwks;
  jwksUrl: string | null;
  encrypt: boolean;
  agreements: string[];
  status: 'active' | 'suspended';
};
export type KnownPeer = Peer & { keys: PeerKeys };

type PeerRow = { party_id: string; name: string; amqp_url: string; jwks: Jwks; jwks_url: string | null; encrypt: boolean; agreements: string[]; status: Peer['status'] };

const toPeer = (r: PeerRow): Peer => ({
  partyId: r.party_id,
  name: r.name,
  amqpUrl: r.amqp_url,
  jwks: r.jwks,
  jwksUrl: r.jwks_url,
  encrypt: r.encrypt,
  agreements: r.agreements,
  status: r.status,
});

/** The broker URL without its password, for showing to operators. */
export function redactUrl(url: string): string {
  return url.replace(/^(amqps?:\/\/[^:/@]+):[^@]*@/, '$1:***@');
}

export class PeerError extends Error {}

async function fetchJwks(url: string): Promise<Jwks> {
  const response = await fetch(url, { signal: AbortSignal.timeout(5000) });
  if (!response.ok) throw new PeerError(`JWKS at ${url} answered ${response.status}`);
  const parsed = jwksSchema.safeParse(await response.json());
  if (!parsed.success) throw new PeerError(`JWKS at ${url} is not a JWKS with at least one key`);
  return parsed.data as Jwks;
}

export class PeerDirectory {
  // Peers are read on every message; a short cache keeps that off Postgres while letting
  // another process's admin changes arrive within the TTL.
  private readonly cache = new Map<string, { peer: KnownPeer | undefined; at: number }>();

  constructor(
    private readonly db: Db,
    private readonly ttlMs = 5000,
  ) {}

  async find(partyId: string): Promise<KnownPeer | undefined> {
    const cached = this.cache.get(partyId);
    if (cached && Date.now() - cached.at < this.ttlMs) return cached.peer;
    const { rows } = await this.db.query<PeerRow>('SELECT * FROM peers WHERE party_id = $1', [partyId]);
    const peer = rows[0] ? { ...toPeer(rows[0]), keys: await importJwks(rows[0].jwks) } : undefined;
    this.cache.set(partyId, { peer, at: Date.now() });
    return peer;
  }

  async list(): Promise<Peer[]> {
    const { rows } = await this.db.query<PeerRow>('SELECT * FROM peers ORDER BY party_id');
    return rows.map(toPeer);
  }

  /** Creates or updates a peer; a JWKS URL is fetched now so that a bad one is refused at once. */
  async upsert(partyId: string, input: PeerInput): Promise<Peer> {
    partyIdSchema.parse(partyId);
    const jwks = input.jwks ? (input.jwks as Jwks) : await fetchJwks(input.jwksUrl!);
    let keys;
    try {
      keys = await importJwks(jwks);
    } catch (error) {
      throw new PeerError(`the JWKS cannot be used: ${(error as Error).message}`);
    }
    if (input.encrypt && !encryptionKeyOf(keys)) {
      throw new PeerError(`encryption is required but the JWKS has no encryption key (use: enc, alg ${JWE_ALGS.join(' or ')})`);
    }
    const { rows } = await this.db.query<PeerRow>(
      `INSERT INTO peers (party_id, name, amqp_url, jwks, jwks_url, encrypt, agreements, status)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
       ON CONFLICT (party_id) DO UPDATE SET name = $2, amqp_url = $3, jwks = $4, jwks_url = $5, encrypt = $6,
         agreements = $7, status = $8, updated_at = now()
       RETURNING *`,
      [partyId, input.name, input.amqpUrl, JSON.stringify(jwks), input.jwksUrl ?? null, input.encrypt, input.agreements, input.status],
    );
    this.cache.delete(partyId);
    return toPeer(rows[0]!);
  }
}
