// Trust lists (PROFILE 1.2): ours, signed with our trust key and served to verifiers without a
// gateway; and our peers', fetched from them and served again as received (their own signature).
import { audit } from '../audit/index.ts';
import { type Db, redactUrl } from '../db/index.ts';
import { EcoError, notFound } from '../errors.ts';
import { readAtMost, signText } from '../exchange/index.ts';
import type { OwnKeys } from '../keys/index.ts';
import { acceptTrustList, hasProfileHeader, MAX_TRUST_LIST_CHARS, pinsAfter, readCompactJws, TRUST_LIST_MAX_LIFETIME_MS, TRUST_TYP, type TrustList } from '../seals/index.ts';

/** A list is signed again after this long even when nothing changed, well within its 24 h. */
const RESIGN_AFTER_MS = 6 * 3600_000;

type KeyRow = { public_jwk: Record<string, unknown>; use: 'sig' | 'trust'; valid_from: Date; retired_at: Date | null; revoked_at: Date | null };
type StatusRow = { n: string; v: number; s: 'replaced' | 'cancelled'; at: Date };

export class OwnTrustList {
  private signed?: { generation: string; jws: string; at: number };
  private signing?: { generation: string; jws: Promise<string> };

  constructor(
    private readonly db: Db,
    private readonly keys: OwnKeys,
    private readonly party: { partyId: string; countries: readonly string[] },
  ) {}

  /** The list as served: signed again on every change (keys, final statuses) and every few hours. */
  async current(): Promise<string> {
    const { rows } = await this.db.query<{ generation: string }>('SELECT generation FROM trust_list_generation');
    const generation = rows[0]!.generation;
    if (this.signed?.generation === generation && Date.now() - this.signed.at < RESIGN_AFTER_MS) return this.signed.jws;
    // Callers who miss at once share one signing, of the generation they saw: one that began
    // before a later change committed does not answer for it.
    if (this.signing?.generation !== generation) {
      const signing = { generation, jws: this.sign(generation) };
      this.signing = signing;
      signing.jws
        .finally(() => {
          if (this.signing === signing) this.signing = undefined;
        })
        .catch(() => {}); // the callers get the error
    }
    return this.signing.jws;
  }

  /** Thumbprints of our trust keys in use or announced: what a verifier pins. */
  async trustKeys(): Promise<string[]> {
    const { rows } = await this.db.query<{ kid: string }>("SELECT kid FROM keys WHERE use = 'trust' AND status IN ('active', 'published') ORDER BY created_at");
    return rows.map((r) => r.kid);
  }

  private async sign(generation: string): Promise<string> {
    const list = await this.build(new Date());
    const jws = await signText(JSON.stringify(list), await this.keys.trustKey(), TRUST_TYP);
    this.signed = { generation, jws, at: Date.now() };
    return jws;
  }

  /**
   * Signing keys ever used (retired ones still verify old seals; revoked ones say so), the trust
   * keys in use or announced, and every version no longer valid, by number and version.
   */
  async build(now: Date): Promise<TrustList> {
    const { rows: keyRows } = await this.db.query<KeyRow>(
      `SELECT public_jwk, use, coalesce(activated_at, created_at) AS valid_from, retired_at, revoked_at FROM keys
        WHERE (use = 'sig' AND activated_at IS NOT NULL) OR (use = 'trust' AND status IN ('active', 'published'))
        ORDER BY use, created_at`,
    );
    const { rows: statusRows } = await this.db.query<StatusRow>(
      `SELECT c.number AS n, c.version AS v, c.status AS s,
              coalesce(c.cancelled_at, (SELECT r.created_at FROM certificates r WHERE r.number = c.number AND r.version = c.version + 1), c.created_at) AS at
         FROM certificates c WHERE c.status <> 'valid' ORDER BY c.number, c.version`,
    );
    return {
      party: this.party.partyId,
      countries: [...this.party.countries],
      issuedAt: now.toISOString(),
      nextUpdate: new Date(now.getTime() + TRUST_LIST_MAX_LIFETIME_MS).toISOString(),
      trustKeys: keyRows.filter((k) => k.use === 'trust').map((k) => String(k.public_jwk.kid)),
      keys: keyRows.map((k) => {
        const { kty, crv, x, y, kid } = k.public_jwk as { kty: string; crv: string; x: string; y: string; kid: string };
        const retired = k.retired_at ? { retiredAt: k.retired_at.toISOString() } : {};
        const revoked = k.revoked_at ? { revokedAt: k.revoked_at.toISOString() } : {};
        return { kty, crv, x, y, kid, use: k.use, validFrom: k.valid_from.toISOString(), ...retired, ...revoked };
      }),
      status: statusRows.map((s) => ({ n: s.n, v: s.v, s: s.s, at: s.at.toISOString() })),
    };
  }
}

export type PeerTrustListView = {
  partyId: string;
  url: string;
  pins: string[];
  issuedAt: string | null;
  nextUpdate: string | null;
  fetchedAt: string | null;
  lastError: string | null;
};

type PeerListRow = { party_id: string; url: string; pins: string[]; jws: string | null; issued_at: Date | null; next_update: Date | null; fetched_at: Date | null; last_error: string | null };

const toView = (r: PeerListRow): PeerTrustListView => ({
  partyId: r.party_id,
  url: r.url,
  pins: r.pins,
  issuedAt: r.issued_at?.toISOString() ?? null,
  nextUpdate: r.next_update?.toISOString() ?? null,
  fetchedAt: r.fetched_at?.toISOString() ?? null,
  lastError: r.last_error,
});

const FETCH_TIMEOUT_MS = 10_000;

/** How long a peer's list, once read from Postgres, is served from memory (they change hourly at most). */
const SERVED_CACHE_MS = 60_000;

/** Peers' trust lists: registered with a URL and the thumbprints to pin, fetched and kept as received. */
export class PeerTrustLists {
  private readonly servedCache = new Map<string, { jws: string | undefined; at: number }>();

  constructor(private readonly db: Db) {}

  /** Registers (or changes) where a peer's list is read and which trust keys it must be signed by, then reads it. */
  async register(partyId: string, input: { url: string; pins: string[] }, actor: string): Promise<PeerTrustListView> {
    const { rowCount } = await this.db.query('SELECT 1 FROM peers WHERE party_id = $1', [partyId]);
    if (!rowCount) throw notFound(`no peer ${partyId} is registered`);
    await this.db.query(
      `INSERT INTO peer_trust_lists (party_id, url, pins) VALUES ($1, $2, $3)
       ON CONFLICT (party_id) DO UPDATE SET url = $2, pins = $3, jws = NULL, issued_at = NULL, next_update = NULL, fetched_at = NULL, last_error = NULL`,
      [partyId, input.url, input.pins],
    );
    this.servedCache.delete(partyId);
    await audit(this.db, { actor, action: 'peer.trust-list.registered', subject: partyId, data: { ...input, url: redactUrl(input.url) } });
    return this.refresh(partyId);
  }

  async view(partyId: string): Promise<PeerTrustListView | undefined> {
    const { rows } = await this.db.query<PeerListRow>('SELECT * FROM peer_trust_lists WHERE party_id = $1', [partyId]);
    return rows[0] && toView(rows[0]);
  }

  /**
   * The list as the peer signed it, to serve again; undefined when none has been accepted. Kept in
   * memory for a minute: a list may be megabytes, and anyone may ask for it.
   */
  async served(partyId: string): Promise<string | undefined> {
    const cached = this.servedCache.get(partyId);
    if (cached && Date.now() - cached.at < SERVED_CACHE_MS) return cached.jws;
    const { rows } = await this.db.query<{ jws: string | null }>('SELECT jws FROM peer_trust_lists WHERE party_id = $1', [partyId]);
    const jws = rows[0]?.jws ?? undefined;
    // Only registered parties are kept, so that made-up party ids cannot fill the map.
    if (rows[0]) this.servedCache.set(partyId, { jws, at: Date.now() });
    return jws;
  }

  /**
   * Reads the peer's list and keeps it when it is signed by a pinned trust key, is the peer's and
   * newer than the one held; its trustKeys become the pins (PROFILE: rotation needs no new
   * out-of-band step). A failure keeps the list held and is recorded in last_error.
   */
  async refresh(partyId: string): Promise<PeerTrustListView> {
    const { rows } = await this.db.query<PeerListRow>('SELECT * FROM peer_trust_lists WHERE party_id = $1', [partyId]);
    const row = rows[0];
    if (!row) throw notFound(`no trust list is registered for peer ${partyId}`);
    let error: string | undefined;
    try {
      // What the URL answered, or how it failed, is not told (an address an operator gave may be
      // an internal one): only that it gave no list.
      const text = await fetch(row.url, { signal: AbortSignal.timeout(FETCH_TIMEOUT_MS), redirect: 'error', headers: { accept: 'application/jose' } })
        .then((response) => (response.ok ? readAtMost(response, MAX_TRUST_LIST_CHARS) : Promise.reject(new Error())))
        .then(
          (body) => body.trim(),
          () => Promise.reject(new Error('no trust list could be fetched')),
        );
      // Whatever is not even a signed trust list is told as nothing fetched: what else an address
      // answers is not for the caller (an operator probing internal services).
      const signed = readCompactJws(text);
      if (!signed || !hasProfileHeader(signed, TRUST_TYP)) throw new Error('no trust list could be fetched');
      const checked = await acceptTrustList(text, row.pins);
      if (!checked.ok) throw new Error(`${checked.reason}: ${checked.detail}`);
      const { list } = checked.accepted;
      if (list.party !== partyId) throw new Error(`the list is ${list.party}'s`);
      if (row.issued_at && Date.parse(list.issuedAt) < row.issued_at.getTime()) throw new Error(`the list of ${list.issuedAt} is older than the one held`);
      // A list dated ahead would hold every later one off as older.
      if (Date.parse(list.issuedAt) > Date.now() + 5 * 60_000) throw new Error(`the list is dated ${list.issuedAt}, ahead of our clock`);
      const pins = pinsAfter(checked.accepted);
      await this.db.query(
        `UPDATE peer_trust_lists SET jws = $2, issued_at = $3, next_update = $4, pins = $5, fetched_at = now(), last_error = NULL
          WHERE party_id = $1 AND (issued_at IS NULL OR issued_at <= $3)`,
        [partyId, text, list.issuedAt, list.nextUpdate, pins],
      );
      this.servedCache.delete(partyId);
    } catch (failure) {
      error = `could not use the trust list at ${redactUrl(row.url)}: ${(failure as Error).message}`.slice(0, 500);
      await this.db.query('UPDATE peer_trust_lists SET fetched_at = now(), last_error = $2 WHERE party_id = $1', [partyId, error]);
    }
    const after = await this.view(partyId);
    if (error && !after?.issuedAt) throw new EcoError('PEER_KEYS', error);
    return after!;
  }

  /** Reads again every list fetched longer ago than `seconds`; returns the failures. */
  async refreshDue(seconds: number): Promise<{ partyId: string; error: string }[]> {
    const { rows } = await this.db.query<{ party_id: string }>('SELECT party_id FROM peer_trust_lists WHERE fetched_at IS NULL OR fetched_at < now() - make_interval(secs => $1)', [seconds]);
    const failed: { partyId: string; error: string }[] = [];
    for (const { party_id } of rows) {
      const view = await this.refresh(party_id).catch((e: unknown) => ({ lastError: (e as Error).message }));
      if (view.lastError) failed.push({ partyId: party_id, error: view.lastError });
    }
    return failed;
  }
}
