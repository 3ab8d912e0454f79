// Our own signing keys: made on first start, kept in Postgres, published as a JWKS.
import { type Db, withTransaction } from '../db/index.ts';
import { generateSigningKey, importKey, type Jwk, type Jwks, type SigningKey } from '../exchange/jose.ts';

export class OwnKeys {
  private active?: SigningKey;

  constructor(private readonly db: Db) {}

  /** Creates the first signing key unless one is active; safe when several processes start at once. */
  async ensureSigningKey(): Promise<void> {
    await withTransaction(this.db, async (client) => {
      await client.query("SELECT pg_advisory_xact_lock(hashtext('eco.keys'))");
      const { rowCount } = await client.query("SELECT 1 FROM keys WHERE use = 'sig' AND status = 'active'");
      if (rowCount) return;
      const key = await generateSigningKey();
      await client.query("INSERT INTO keys (kid, use, alg, public_jwk, private_jwk, status) VALUES ($1, 'sig', $2, $3, $4, 'active')", [
        key.kid,
        key.alg,
        JSON.stringify(key.toJSON()),
        JSON.stringify(key.toJSON(true)),
      ]);
    });
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
