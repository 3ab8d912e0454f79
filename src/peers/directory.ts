// Other gateways we exchange with: who they are, where their broker is, which keys they sign with.
import { z } from 'zod';
import { audited } from '../audit/index.ts';
import { countriesOf, countrySchema, isPartyId, partyIdSchema } from '../dataset/index.ts';
import { type Db, type DbClient, withTransaction } from '../db/index.ts';
import { EcoError } from '../errors.ts';
import { encryptionKeyOf, importJwks, JWE_ALGS, type Jwks, type PeerKeys, readAtMost } from '../exchange/index.ts';
import type { Vault } from '../keys/index.ts';

/** JWK members that only the key's owner may hold (RFC 7518 6.2.2, 6.3.2, 6.4). */
export const PRIVATE_JWK_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k', 'oth'] as const;

const MAX_JWK_MEMBERS = 32;
// Other members are strings, string lists (key_ops, x5c) or flags, bounded like all the API takes.
const jwkMember = z.union([z.string().max(16_384), z.array(z.string().max(16_384)).max(20), z.boolean(), z.number()]);
export const publicJwkSchema = z
  .object({ kty: z.string().min(1).max(16), kid: z.string().min(1).max(256) })
  .catchall(jwkMember)
  .superRefine((jwk, context) => {
    if (Object.keys(jwk).length > MAX_JWK_MEMBERS) context.addIssue({ code: 'custom', message: `has more than ${MAX_JWK_MEMBERS} members` });
    // A peer's private key pasted here would be stored and shown again: refuse it, naming the member.
    for (const member of PRIVATE_JWK_MEMBERS) {
      if (member in jwk) context.addIssue({ code: 'custom', path: [member], message: "is a private key member: register the peer's public keys only" });
    }
  })
  .meta({ maxProperties: MAX_JWK_MEMBERS, description: `a public JWK (RFC 7517): ${PRIVATE_JWK_MEMBERS.join(', ')} are refused` });
/** A peer's public keys as we take them, from the API or its JWKS URL. */
export const jwksSchema = z.object({ keys: z.array(publicJwkSchema).min(1).max(20) });

export const peerInputSchema = z
  .object({
    name: z.string().trim().min(1).max(256),
    // One URL, or the comma-separated URLs of a cluster's nodes (tried in turn).
    amqpUrl: z
      .string()
      .max(2048)
      .regex(/^amqps?:\/\/[^,]+(,\s*amqps?:\/\/[^,]+)*$/, 'must be an amqp:// or amqps:// URL, or a comma-separated list of them'),
    jwks: jwksSchema.optional(),
    jwksUrl: z
      .url({ protocol: /^https?$/ })
      .max(2048)
      .optional(),
    encrypt: z.boolean().default(false),
    agreements: z.array(z.string().trim().min(1).max(35)).max(100).default([]),
    countries: z.array(countrySchema).min(1).max(60).optional().describe('the countries the peer issues for and imports into (PROFILE 1.1); default: the country of its party id'),
    status: z.enum(['active', 'suspended']).default('active'),
  })
  .refine((p) => p.jwks || p.jwksUrl, { message: "give the peer's keys as jwks (inline) or jwksUrl", path: ['jwks'] });
export type PeerInput = z.infer<typeof peerInputSchema>;

export type Peer = {
  partyId: string;
  name: string;
  /** The broker URL with its password hidden: what operators see. */
  amqpUrl: string;
  jwks: Jwks;
  jwksUrl: string | null;
  encrypt: boolean;
  agreements: string[];
  /** What it issues for (exportCountry) and receives for (importCountry). */
  countries: string[];
  status: 'active' | 'suspended';
};
/** A peer as the relay needs it: its keys, and its broker URL with the password. */
export type KnownPeer = Peer & { keys: PeerKeys; brokerUrl: string };

type PeerRow = {
  party_id: string;
  name: string;
  amqp_url_shown: string;
  amqp_url_sealed: string | null;
  jwks: Jwks;
  jwks_url: string | null;
  encrypt: boolean;
  agreements: string[];
  countries: string[] | null;
  status: Peer['status'];
};

const toPeer = (r: PeerRow): Peer => ({
  partyId: r.party_id,
  name: r.name,
  // Redacted again: a row from before sealing holds the URL in clear until the next start.
  amqpUrl: redactUrl(r.amqp_url_shown),
  jwks: r.jwks,
  jwksUrl: r.jwks_url,
  encrypt: r.encrypt,
  agreements: r.agreements,
  countries: r.countries ?? countriesOf(r.party_id),
  status: r.status,
});

/**
 * The broker URL without its password, for operators and the audit log. The password runs from
 * the userinfo's first ':' to the last '@' (one pasted unencoded may hold ':', '@' or '/'): no
 * part of it shows, even if that hides a stray '@' of the path as well.
 */
export function redactUrl(url: string): string {
  // A cluster's nodes, comma-separated: each URL on its own.
  if (url.includes(','))
    return url
      .split(',')
      .map((one) => redactUrl(one.trim()))
      .join(',');
  const scheme = /^[a-z][a-z0-9+.-]*:\/\//i.exec(url)?.[0] ?? '';
  const rest = url.slice(scheme.length);
  const at = rest.lastIndexOf('@');
  const colon = rest.indexOf(':');
  if (at < 0 || colon < 0 || colon > at) return url;
  return `${scheme}${rest.slice(0, colon)}:***@${rest.slice(at + 1)}`;
}

/**
 * The peer's keys cannot be had or used; `pointer` names the input they came from. The message
 * says no more than the caller may know; the cause (what a URL answered) is only logged.
 */
function peerKeysError(message: string, pointer: '/jwks' | '/jwksUrl', options?: ErrorOptions): EcoError {
  return new EcoError('PEER_KEYS', message, [{ pointer, detail: message }], undefined, options);
}

/** A JWKS of 20 keys (RSA 4096 included) is well under this: a larger answer is refused unread. */
const MAX_JWKS_BYTES = 256 * 1024;

/**
 * Reads a peer's JWKS. Whatever goes wrong, the error says only that the fetch failed (the cause
 * goes to the log): the URL may point at an internal address, and what that answered, or even
 * its status, is not for the caller.
 */
async function fetchJwks(url: string): Promise<Jwks> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(5000), redirect: 'error' });
    if (!response.ok) throw new Error(`answered ${response.status}`);
    return jwksSchema.parse(JSON.parse(await readAtMost(response, MAX_JWKS_BYTES))) as Jwks;
  } catch (error) {
    throw peerKeysError(`the JWKS could not be fetched from ${url}`, '/jwksUrl', { cause: error });
  }
}

export type PeerDirectoryOptions = {
  /** Our own party id: no peer may be registered under it. */
  ownPartyId?: string;
  /** Seals and opens broker URLs; without it (the CLI) peers can be listed and suspended only. */
  vault?: Vault;
  /** How long a peer read from Postgres is used before reading it again. */
  ttlMs?: number;
  /** A JWKS URL is re-read when its copy is older than this. */
  jwksRefreshSeconds?: number;
  /** ...and on an unknown kid, but not more often than this per peer (forged kids cost nothing to send). */
  jwksMinRefreshSeconds?: number;
};

export class PeerDirectory {
  // Peers are read on every message; a short cache keeps that off Postgres while letting
  // another process's admin changes arrive within the TTL.
  private readonly cache = new Map<string, { peer: KnownPeer | undefined; at: number }>();
  private readonly lastFetch = new Map<string, number>();
  private readonly refreshing = new Map<string, Promise<KnownPeer | undefined>>();
  private readonly ttlMs: number;
  private listed?: { peers: Peer[]; at: number };
  /** Bumped by every change made here: a list read before a change is not kept after it. */
  private generation = 0;

  constructor(
    private readonly db: Db,
    private readonly options: PeerDirectoryOptions = {},
  ) {
    this.ttlMs = options.ttlMs ?? 5000;
  }

  async find(partyId: string): Promise<KnownPeer | undefined> {
    // Anything may be asked for (a message's `from`): what is no party id is no peer, and not cached.
    if (!isPartyId(partyId)) return undefined;
    const cached = this.cache.get(partyId);
    if (cached && Date.now() - cached.at < this.ttlMs) return cached.peer;
    // Callers that miss at once share one read: a burst of messages from one peer when its entry
    // has just expired would otherwise read the row and import its keys once each.
    // A read the peer's change overtook (forget()) is neither kept nor shared any more.
    let loading = this.loading.get(partyId);
    if (!loading) {
      const current = () => this.loading.get(partyId) === made;
      const made: Promise<KnownPeer | undefined> = this.load(partyId).then(
        (peer) => {
          // Misses are not kept: made-up senders would grow the cache without bound.
          if (current() && peer) this.cache.set(partyId, { peer, at: Date.now() });
          if (current()) this.loading.delete(partyId);
          return peer;
        },
        (error: unknown) => {
          if (current()) this.loading.delete(partyId);
          throw error;
        },
      );
      this.loading.set(partyId, made);
      loading = made;
    }
    return loading;
  }

  private readonly loading = new Map<string, Promise<KnownPeer | undefined>>();

  /** After a change of this peer: neither the cached entry nor a read begun before it is used again. */
  private forget(partyId: string): void {
    this.cache.delete(partyId);
    this.loading.delete(partyId);
  }

  private async load(partyId: string): Promise<KnownPeer | undefined> {
    const { rows } = await this.db.query<PeerRow>('SELECT * FROM peers WHERE party_id = $1', [partyId]);
    const row = rows[0];
    const peer = row
      ? { ...toPeer(row), keys: await importJwks(row.jwks), brokerUrl: row.amqp_url_sealed ? this.vault.open(brokerOwner(partyId), row.amqp_url_sealed) : row.amqp_url_shown }
      : undefined;
    return peer;
  }

  async list(): Promise<Peer[]> {
    const { rows } = await this.db.query<PeerRow>('SELECT * FROM peers ORDER BY party_id');
    return rows.map(toPeer);
  }

  /**
   * Every peer, as read within the cache's TTL: for choosing a CO's recipient on every issue (it
   * was a query per CO, the costliest to plan of the issue path). Changes made through this
   * directory are seen at once; another process's within the TTL, as with find().
   */
  private forgetList(): void {
    this.listed = undefined;
    this.generation++;
  }

  async cachedList(): Promise<Peer[]> {
    if (this.listed && Date.now() - this.listed.at < this.ttlMs) return this.listed.peers;
    const generation = this.generation;
    const peers = await this.list();
    if (generation === this.generation) this.listed = { peers, at: Date.now() };
    return peers;
  }

  /** Creates or updates a peer; a JWKS URL is fetched now so that a bad one is refused at once. */
  /**
   * A key (by kid or by its public material) another peer registered cannot be this one's: with it,
   * one partner could sign as another.
   */
  private async refuseKeysOfOthers(partyId: string, jwks: Jwks, pointer: '/jwks' | '/jwksUrl'): Promise<void> {
    const { rows } = await this.db.query<{ party_id: string; jwks: Jwks }>('SELECT party_id, jwks FROM peers WHERE party_id <> $1', [partyId]);
    const ours = new Map(
      jwks.keys.flatMap((k) => [
        [`kid ${k.kid}`, k.kid],
        [`key ${keyMaterial(k)}`, k.kid],
      ]),
    );
    for (const other of rows) {
      for (const key of other.jwks.keys ?? []) {
        const clash = ours.get(`kid ${key.kid}`) ?? ours.get(`key ${keyMaterial(key)}`);
        if (clash !== undefined) throw peerKeysError(`key ${clash} is already a key of ${other.party_id}: each peer signs with keys of its own`, pointer);
      }
    }
  }

  async upsert(partyId: string, input: PeerInput, actor: string): Promise<Peer> {
    partyIdSchema.parse(partyId);
    if (partyId === this.options.ownPartyId) throw new EcoError('UNPROCESSABLE', `${partyId} is this gateway's own party id: a peer cannot be registered under it`);
    const jwks = input.jwks ? (input.jwks as Jwks) : await fetchJwks(input.jwksUrl!);
    const pointer = input.jwks ? '/jwks' : '/jwksUrl';
    await usableKeys(jwks, input.encrypt, pointer);
    await this.refuseKeysOfOthers(partyId, jwks, pointer);
    const sealed = this.vault.seal(brokerOwner(partyId), input.amqpUrl);
    const save = (client: DbClient) =>
      client.query<PeerRow>(
        `INSERT INTO peers (party_id, name, amqp_url_shown, amqp_url_sealed, jwks, jwks_url, encrypt, agreements, status, countries, jwks_fetched_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, CASE WHEN $6::text IS NOT NULL THEN now() END)
         ON CONFLICT (party_id) DO UPDATE SET name = $2, amqp_url_shown = $3, amqp_url_sealed = $4, jwks = $5, jwks_url = $6, encrypt = $7,
           agreements = $8, status = $9, countries = $10, jwks_fetched_at = EXCLUDED.jwks_fetched_at, updated_at = now()
         RETURNING *`,
        [partyId, input.name, redactUrl(input.amqpUrl), sealed, JSON.stringify(jwks), input.jwksUrl ?? null, input.encrypt, input.agreements, input.status, input.countries ?? null],
      );
    const kids = jwks.keys.map((k) => k.kid);
    const { rows } = await audited(this.db, save, () => ({
      actor,
      action: 'peer.registered',
      subject: partyId,
      data: { ...input, jwks: undefined, amqpUrl: redactUrl(input.amqpUrl), kids },
    }));
    this.forget(partyId);
    this.forgetList();
    return toPeer(rows[0]!);
  }

  /**
   * Seals broker URLs still stored in clear (from before sealing existed), keeping only the
   * redacted form readable; safe when processes start at once.
   */
  async sealBrokerUrls(): Promise<void> {
    await withTransaction(this.db, async (client) => {
      await client.query("SELECT pg_advisory_xact_lock(hashtext('eco.peers.seal'))");
      const { rows } = await client.query<PeerRow>('SELECT * FROM peers WHERE amqp_url_sealed IS NULL');
      for (const row of rows) {
        await client.query('UPDATE peers SET amqp_url_shown = $2, amqp_url_sealed = $3 WHERE party_id = $1', [
          row.party_id,
          redactUrl(row.amqp_url_shown),
          this.vault.seal(brokerOwner(row.party_id), row.amqp_url_shown),
        ]);
      }
    });
  }

  private get vault(): Vault {
    if (!this.options.vault) throw new Error('broker URLs are sealed: this needs KEY_ENCRYPTION_KEY');
    return this.options.vault;
  }

  /** Suspended peers' messages are refused (UNKNOWN_SENDER) and nothing is sent to them until resumed. */
  async setStatus(partyId: string, status: Peer['status'], actor: string): Promise<Peer | undefined> {
    const { rows } = await audited(
      this.db,
      (client) => client.query<PeerRow>('UPDATE peers SET status = $2, updated_at = now() WHERE party_id = $1 RETURNING *', [partyId, status]),
      ({ rows: changed }) => (changed[0] ? { actor, action: status === 'suspended' ? 'peer.suspended' : 'peer.resumed', subject: partyId } : undefined),
    );
    this.forget(partyId);
    this.forgetList();
    return rows[0] && toPeer(rows[0]);
  }

  /**
   * Re-reads the peer's JWKS from its URL (a peer rotating its keys publishes the new one there
   * first). At most once per jwksMinRefreshSeconds per peer and process; a JWKS that fails to load
   * or lacks a required encryption key leaves the stored one in place. Returns the peer as it is now.
   */
  async refreshKeys(partyId: string): Promise<KnownPeer | undefined> {
    // Messages signed with a new kid arrive together: they all wait for one fetch.
    let refresh = this.refreshing.get(partyId);
    if (!refresh) {
      refresh = this.fetchKeys(partyId).finally(() => this.refreshing.delete(partyId));
      this.refreshing.set(partyId, refresh);
    }
    return refresh;
  }

  private async fetchKeys(partyId: string): Promise<KnownPeer | undefined> {
    const peer = await this.find(partyId);
    if (!peer?.jwksUrl) return peer;
    const last = this.lastFetch.get(partyId) ?? 0;
    if (Date.now() - last < (this.options.jwksMinRefreshSeconds ?? 30) * 1000) return peer;
    this.lastFetch.set(partyId, Date.now());
    const jwks = await fetchJwks(peer.jwksUrl);
    await usableKeys(jwks, peer.encrypt, '/jwksUrl');
    const before = new Set(peer.jwks.keys.map((k) => k.kid));
    const after = jwks.keys.map((k) => k.kid);
    const changed = after.length !== before.size || after.some((kid) => !before.has(kid));
    await audited(
      this.db,
      (client) => client.query('UPDATE peers SET jwks = $2, jwks_fetched_at = now() WHERE party_id = $1', [partyId, JSON.stringify(jwks)]),
      () => (changed ? { actor: 'system', action: 'peer.keys-refreshed', subject: partyId, data: { before: [...before], after } } : undefined),
    );
    this.forget(partyId);
    this.forgetList();
    return this.find(partyId);
  }

  /** Lets the next refreshKeys fetch at once (an operator asked for it). */
  allowRefresh(partyId: string): void {
    this.lastFetch.delete(partyId);
  }

  /** Refreshes every JWKS URL copy older than jwksRefreshSeconds; returns the peers that failed. */
  async refreshStaleKeys(): Promise<{ partyId: string; error: string }[]> {
    const { rows } = await this.db.query<{ party_id: string }>(
      'SELECT party_id FROM peers WHERE jwks_url IS NOT NULL AND (jwks_fetched_at IS NULL OR jwks_fetched_at < now() - make_interval(secs => $1))',
      [this.options.jwksRefreshSeconds ?? 3600],
    );
    const failed: { partyId: string; error: string }[] = [];
    for (const { party_id: partyId } of rows) {
      // For the log only: there the cause (what the URL answered) may be told.
      await this.refreshKeys(partyId).catch((error: Error) => failed.push({ partyId, error: error.cause instanceof Error ? `${error.message}: ${error.cause.message}` : error.message }));
    }
    return failed;
  }
}

/** Associated data of a sealed broker URL: it opens for its own peer only. */
const brokerOwner = (partyId: string) => `peer ${partyId} broker`;

/** A key's public material, whatever its kid says (two kids for one key are one key). */
function keyMaterial(jwk: Record<string, unknown>): string {
  return [jwk.kty, jwk.crv, jwk.n, jwk.e, jwk.x, jwk.y].map((v) => String(v ?? '')).join('|');
}

/** Curves and sizes of today's strength (the profile's ES256, PS256, EdDSA and ECDH-ES). */
const ALLOWED_CURVES = ['P-256', 'P-384', 'P-521', 'Ed25519', 'X25519'];
const MIN_RSA_BITS = 2048;

function weakness(jwk: Record<string, unknown>): string | undefined {
  if (jwk.kty === 'RSA') {
    const bits = typeof jwk.n === 'string' ? Buffer.from(jwk.n, 'base64url').length * 8 : 0;
    return bits < MIN_RSA_BITS ? `RSA key ${String(jwk.kid)} has ${bits} bits, under ${MIN_RSA_BITS}` : undefined;
  }
  if (jwk.kty === 'EC' || jwk.kty === 'OKP')
    return ALLOWED_CURVES.includes(String(jwk.crv)) ? undefined : `curve ${String(jwk.crv)} of key ${String(jwk.kid)} is not one of ${ALLOWED_CURVES.join(', ')}`;
  return `key type ${String(jwk.kty)} of key ${String(jwk.kid)} is not used by the profile (RSA, EC, OKP)`;
}

/** Throws PEER_KEYS unless the JWKS imports, its keys are of today's strength and, where encryption is required, it has a key for it. */
async function usableKeys(jwks: Jwks, encrypt: boolean, pointer: '/jwks' | '/jwksUrl'): Promise<PeerKeys> {
  const weak = jwks.keys.map(weakness).find((w) => w !== undefined);
  if (weak) throw peerKeysError(`the JWKS cannot be used: ${weak}`, pointer);
  let keys: PeerKeys;
  try {
    keys = await importJwks(jwks);
  } catch (error) {
    throw peerKeysError(`the JWKS cannot be used: ${(error as Error).message}`, pointer);
  }
  if (encrypt && !encryptionKeyOf(keys)) {
    throw peerKeysError(`encryption is required but the JWKS has no encryption key (use: enc, alg ${JWE_ALGS.join(' or ')})`, pointer);
  }
  return keys;
}
