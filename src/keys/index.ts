// Our own signing keys: made on first start, kept in Postgres, published as a JWKS.
import { type Db, withTransaction } from '../db/index.ts';
import { generateEncryptionKey, generateSigningKey, importJwks, importKey, type Jwk, type Jwks, type PeerKeys, type SigningKey } from '../exchange/jose.ts';

export class OwnKeys {
  private active?: SigningKey;
  private decryption?: PeerKeys;

  constructor(private readonly db: Db) {}

  /** Creates the first signing and encryption keys unless active ones exist; safe when several processes start at once. */
  async ensureKeys(): Promise<void> {
    await withTransaction(this.db, async (client) => {
      await client.query("SELECT pg_advisory_xact_lock(hashtext('eco.keys'))");
      for (const [use, generate] of [['sig', generateSigningKey], ['enc', generateEncryptionKey]] as const) {
        const { rowCount } = await client.query("SELECT 1 FROM keys WHERE use = $1 AND status = 'active'", [use]);
        if (rowCount) continue;
        const key = await generate();
        await client.query("INSERT INTO keys (kid, use, alg, public_jwk, private_jwk, status) VALUES ($1, $2, $3, $4, $5, 'active')", [
          key.kid,
          use,
          key.alg,
          JSON.stringify(key.toJSON()),
          JSON.stringify(key.toJSON(true)),
        ]);
      }
    });
  }

  /** Our private encryption keys, to open what peers encrypted to us (loaded once). */
  async decryptionKeys(): Promise<PeerKeys> {
    if (this.decryption) return this.decryption;
    const { rows } = await this.db.query<{ private_jwk: string }>("SELECT private_jwk FROM keys WHERE use = 'enc' AND status IN ('active', 'retired')");
    this.decryption = await importJwks({ keys: rows.map((r) => JSON.parse(r.private_jwk) as Jwk) });
    return this.decryption;
  }

  /** The key new messages are signed with (loaded once, then kept in memory). */
  async signingKey(): Promise<SigningKey> {
    if (this.active) return this.active;
    const { rows } = await this.db.query<{ private_jwk: string }>(
      "SELECT private_jwk FROM keys WHERE use = 'sig' AND status = 'active' ORDER BY created_at DESC LIMIT 1",
    );
    if (!rows[0]) throw new Error('no active signing key: the gateway has not been initialised');
    this.active = await importKey(JSON.parse(rows[0].private_jwk) as Jwk);
    return this.active;
  }

  /** Public keys peers verify our messages with (never the private parts). */
  async jwks(): Promise<Jwks> {
    const { rows } = await this.db.query<{ public_jwk: Jwk }>("SELECT public_jwk FROM keys WHERE status IN ('active', 'published', 'retired') ORDER BY created_at");
    return { keys: rows.map((r) => r.public_jwk) };
  }
}
