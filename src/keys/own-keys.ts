// Our own keys: signing (sig) and decryption (enc), kept in Postgres sealed by the Vault and
// published as a JWKS. Lifecycle: published (peers can fetch it ahead of use) -> active (signs, or
// is the key peers should encrypt to) -> retired (still published and still decrypting until its
// grace period ends) -> revoked (gone from the JWKS and from decryption at once). A trust key (use
// `trust`) signs our trust list (PROFILE 1.2) and nothing else: it is never in the JWKS.
import { audit } from '../audit/index.ts';
import { type Db, type DbClient, withTransaction } from '../db/index.ts';
import { conflict, notFound, unprocessable } from '../errors.ts';
import { generateEncryptionKey, generateSigningKey, importJwks, importKey, type Jwk, type Jwks, type PeerKeys, type SigningKey } from '../exchange/index.ts';
import { Vault } from './vault.ts';

export type KeyUse = 'sig' | 'enc' | 'trust';
export type KeyStatus = 'published' | 'active' | 'retired' | 'revoked';
export type KeyInfo = {
  kid: string;
  use: KeyUse;
  alg: string;
  status: KeyStatus;
  createdAt: string;
  activatedAt: string | null;
  retiredAt: string | null;
  /** A retired key is published and decrypts until then. */
  expiresAt: string | null;
  revokedAt: string | null;
  publicJwk: Jwk;
};

type KeyRow = {
  kid: string;
  use: KeyUse;
  alg: string;
  status: KeyStatus;
  public_jwk: Jwk;
  private_jwk: string;
  created_at: Date;
  activated_at: Date | null;
  retired_at: Date | null;
  expires_at: Date | null;
  revoked_at: Date | null;
};

const iso = (d: Date | null) => d?.toISOString() ?? null;
const toInfo = (r: KeyRow): KeyInfo => ({
  kid: r.kid,
  use: r.use,
  alg: r.alg,
  status: r.status,
  createdAt: r.created_at.toISOString(),
  activatedAt: iso(r.activated_at),
  retiredAt: iso(r.retired_at),
  expiresAt: iso(r.expires_at),
  revokedAt: iso(r.revoked_at),
  publicJwk: r.public_jwk,
});

// Keys peers may still use: everything but revoked keys and retired keys past their grace period.
const LIVE = "(status IN ('published', 'active') OR (status = 'retired' AND expires_at > now()))";
const generators = { sig: generateSigningKey, enc: generateEncryptionKey, trust: generateSigningKey };

export type OwnKeysOptions = { retireGraceSeconds: number; cacheMs?: number };

export class OwnKeys {
  // Several processes share the keys table: what each caches is re-read after cacheMs, so a
  // rotation done through any of them reaches all within that time.
  private signing?: { key: SigningKey; at: number };
  private decryption?: { keys: PeerKeys; at: number };
  private readonly cacheMs: number;

  constructor(
    private readonly db: Db,
    private readonly vault: Vault,
    private readonly options: OwnKeysOptions,
  ) {
    this.cacheMs = options.cacheMs ?? 5000;
  }

  /**
   * Seals private keys still stored in plaintext (from before sealing existed) and creates the
   * first signing and encryption keys unless active ones exist; safe when processes start at once.
   */
  async ensureKeys(): Promise<void> {
    await withTransaction(this.db, async (client) => {
      await client.query("SELECT pg_advisory_xact_lock(hashtext('eco.keys'))");
      const { rows } = await client.query<KeyRow>('SELECT * FROM keys');
      for (const row of rows) {
        // Opening proves KEY_ENCRYPTION_KEY is the one the keys were sealed with: refuse to start otherwise.
        if (Vault.isSealed(row.private_jwk)) this.vault.open(row.kid, row.private_jwk);
        else await client.query('UPDATE keys SET private_jwk = $2 WHERE kid = $1', [row.kid, this.vault.seal(row.kid, row.private_jwk)]);
      }
      for (const use of ['sig', 'enc', 'trust'] as const) {
        if (rows.some((r) => r.use === use && r.status === 'active')) continue;
        const info = await this.insert(client, use, 'active');
        await audit(client, { actor: 'system', action: 'key.created', subject: info.kid, data: { use, status: 'active' } });
      }
    });
  }

  async list(): Promise<KeyInfo[]> {
    const { rows } = await this.db.query<KeyRow>('SELECT * FROM keys ORDER BY created_at DESC');
    return rows.map(toInfo);
  }

  /** A new key, published in the JWKS at once but not used until activated. */
  async create(use: KeyUse, actor: string): Promise<KeyInfo> {
    return withTransaction(this.db, async (client) => {
      const info = await this.insert(client, use, 'published');
      await audit(client, { actor, action: 'key.created', subject: info.kid, data: { use, status: 'published' } });
      return info;
    });
  }

  /** Makes a published key the active one of its use; the previous active key is retired. */
  async activate(kid: string, actor: string): Promise<KeyInfo> {
    return this.transition(kid, actor, 'key.activated', async (client, key) => {
      if (key.status !== 'published') throw conflict(`key ${kid} is ${key.status}; only a published key can be activated`);
      const { rows } = await client.query<{ kid: string }>(
        `UPDATE keys SET status = 'retired', retired_at = now(), expires_at = now() + make_interval(secs => $2)
         WHERE use = $1 AND status = 'active' RETURNING kid`,
        [key.use, this.options.retireGraceSeconds],
      );
      await client.query("UPDATE keys SET status = 'active', activated_at = now() WHERE kid = $1", [kid]);
      return { retired: rows[0]?.kid ?? null };
    });
  }

  /** Withdraws a published key, keeping it usable by peers who already fetched it for the grace period. */
  async retire(kid: string, actor: string): Promise<KeyInfo> {
    return this.transition(kid, actor, 'key.retired', async (client, key) => {
      if (key.status === 'active') throw conflict(`key ${kid} is active: activate its successor, which retires it`);
      if (key.status !== 'published') throw conflict(`key ${kid} is ${key.status}; only a published key can be retired`);
      await client.query("UPDATE keys SET status = 'retired', retired_at = now(), expires_at = now() + make_interval(secs => $2) WHERE kid = $1", [kid, this.options.retireGraceSeconds]);
    });
  }

  /**
   * Withdraws a key at once (compromise): no longer published, no longer decrypting, and every seal
   * it signed fails verification. `at` is the instant of the compromise (default now), never later.
   */
  async revoke(kid: string, actor: string, at?: Date): Promise<KeyInfo> {
    return this.transition(kid, actor, 'key.revoked', async (client, key) => {
      if (key.status === 'active') throw conflict(`key ${kid} is active: activate a successor first`);
      if (key.status === 'revoked') throw conflict(`key ${kid} is already revoked`);
      const { rowCount } = await client.query("UPDATE keys SET status = 'revoked', revoked_at = coalesce($2, now()) WHERE kid = $1 AND coalesce($2, now()) <= now()", [kid, at ?? null]);
      if (!rowCount) throw unprocessable('a key is revoked as of now or an instant already past', [{ pointer: '/at', detail: 'is in the future' }]);
      return { revokedAt: (at ?? new Date()).toISOString() };
    });
  }

  /** The key new messages are signed with. */
  async signingKey(): Promise<SigningKey> {
    if (this.signing && Date.now() - this.signing.at < this.cacheMs) return this.signing.key;
    const { rows } = await this.db.query<KeyRow>("SELECT * FROM keys WHERE use = 'sig' AND status = 'active'");
    if (!rows[0]) throw new Error('no active signing key: the gateway has not been initialised');
    const key = this.signing?.key.kid === rows[0].kid ? this.signing.key : await this.open(rows[0]);
    this.signing = { key, at: Date.now() };
    return key;
  }

  /** The key our trust list is signed with. */
  async trustKey(): Promise<SigningKey> {
    const { rows } = await this.db.query<KeyRow>("SELECT * FROM keys WHERE use = 'trust' AND status = 'active'");
    if (!rows[0]) throw new Error('no active trust key: the gateway has not been initialised');
    return this.open(rows[0]);
  }

  /** Our private encryption keys that peers may still encrypt to. */
  async decryptionKeys(): Promise<PeerKeys> {
    if (this.decryption && Date.now() - this.decryption.at < this.cacheMs) return this.decryption.keys;
    const { rows } = await this.db.query<KeyRow>(`SELECT * FROM keys WHERE use = 'enc' AND ${LIVE}`);
    const keys = await importJwks({ keys: rows.map((r) => JSON.parse(this.vault.open(r.kid, r.private_jwk)) as Jwk) });
    this.decryption = { keys, at: Date.now() };
    return keys;
  }

  /** Public keys for peers (never the private parts); the active ones first, as peers pick the first fit. */
  async jwks(): Promise<Jwks> {
    const { rows } = await this.db.query<{ public_jwk: Jwk }>(
      `SELECT public_jwk FROM keys WHERE use <> 'trust' AND ${LIVE} ORDER BY CASE status WHEN 'active' THEN 0 WHEN 'published' THEN 1 ELSE 2 END, created_at DESC`,
    );
    return { keys: rows.map((r) => r.public_jwk) };
  }

  private async open(row: KeyRow): Promise<SigningKey> {
    return importKey(JSON.parse(this.vault.open(row.kid, row.private_jwk)) as Jwk);
  }

  private async insert(client: DbClient, use: KeyUse, status: KeyStatus): Promise<KeyInfo> {
    const key = await generators[use]();
    const { rows } = await client.query<KeyRow>(
      `INSERT INTO keys (kid, use, alg, public_jwk, private_jwk, status, activated_at)
       VALUES ($1, $2, $3, $4, $5, $6, CASE WHEN $6 = 'active' THEN now() END) RETURNING *`,
      [key.kid, use, key.alg, JSON.stringify(key.toJSON()), this.vault.seal(key.kid, JSON.stringify(key.toJSON(true))), status],
    );
    return toInfo(rows[0]!);
  }

  /** One lifecycle step under the keys lock, audited with what `change` reports. */
  private async transition(
    kid: string,
    actor: string,
    action: string,
    // biome-ignore lint/suspicious/noConfusingVoidType: most steps report nothing, and say so by returning nothing
    change: (client: DbClient, key: KeyRow) => Promise<Record<string, unknown> | void>,
  ): Promise<KeyInfo> {
    const info = await withTransaction(this.db, async (client) => {
      await client.query("SELECT pg_advisory_xact_lock(hashtext('eco.keys'))");
      const { rows } = await client.query<KeyRow>('SELECT * FROM keys WHERE kid = $1', [kid]);
      if (!rows[0]) return undefined;
      const reported = await change(client, rows[0]);
      await audit(client, { actor, action, subject: kid, data: { use: rows[0].use, from: rows[0].status, ...reported } });
      const { rows: after } = await client.query<KeyRow>('SELECT * FROM keys WHERE kid = $1', [kid]);
      return toInfo(after[0]!);
    });
    this.signing = undefined;
    this.decryption = undefined;
    if (!info) throw notFound(`no key ${kid}`);
    return info;
  }
}
