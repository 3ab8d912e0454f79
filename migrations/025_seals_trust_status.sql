-- Printed seals, the public status service and the trust list (PROFILE 1.2 additions).

-- A trust key signs our trust list and nothing else; it never enters the exchange JWKS.
ALTER TABLE keys DROP CONSTRAINT keys_use_check;
ALTER TABLE keys ADD CONSTRAINT keys_use_check CHECK (use IN ('sig', 'enc', 'trust'));
-- A revocation names the instant of the compromise, which may be before it was recorded.
ALTER TABLE keys ADD CONSTRAINT keys_revoked_when_revoked CHECK ((status = 'revoked') = (revoked_at IS NOT NULL));

-- h of the seal: base64url SHA-256 of the certificate's canonical bytes (RFC 8785), fixed at issue.
-- A status request names its first 22 characters; nothing else finds a certificate there.
ALTER TABLE certificates ADD COLUMN canonical_hash text CHECK (canonical_hash ~ '^[A-Za-z0-9_-]{43}$');
CREATE UNIQUE INDEX certificates_by_seal_hash ON certificates (left(canonical_hash, 22));
-- The trust list's `status`: every version no longer valid.
CREATE INDEX certificates_not_valid ON certificates (number, version) WHERE status <> 'valid';

-- Bumped by every change the trust list shows (keys, final statuses): a process serving a list
-- signed under an older generation signs a new one. The triggers are deferred to the commit, so
-- that the one row is locked for an instant, not for the whole of a cancellation's transaction.
CREATE TABLE trust_list_generation (
  singleton  boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  generation bigint NOT NULL DEFAULT 1
);
INSERT INTO trust_list_generation DEFAULT VALUES;

CREATE FUNCTION trust_list_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE trust_list_generation SET generation = generation + 1;
  RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER certificates_status_for_trust_list AFTER UPDATE OF status ON certificates
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION trust_list_changed();
CREATE CONSTRAINT TRIGGER keys_for_trust_list AFTER INSERT OR UPDATE OF status, retired_at, revoked_at, activated_at ON keys
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION trust_list_changed();

-- Peers' trust lists, kept as received (their own signature) to be served again to verifiers.
CREATE TABLE peer_trust_lists (
  party_id   text PRIMARY KEY REFERENCES peers (party_id) ON DELETE CASCADE,
  url        text NOT NULL CHECK (length(url) <= 500),
  -- Thumbprints of the peer's trust keys we accept lists from: given by the operator, then the
  -- trustKeys of each list accepted.
  pins       text[] NOT NULL CHECK (cardinality(pins) BETWEEN 1 AND 100),
  jws        text,
  issued_at  timestamptz,
  next_update timestamptz,
  fetched_at timestamptz,
  last_error text CHECK (length(last_error) <= 500),
  CHECK ((jws IS NULL) = (issued_at IS NULL) AND (jws IS NULL) = (next_update IS NULL))
);

-- Who checked a certificate issued here, per day and origin (a country when a trusted proxy tells
-- it, else the client address): counted, not one row per check, so that a flood cannot fill the disk.
CREATE TABLE status_checks (
  number    text NOT NULL,
  version   integer NOT NULL,
  day       date NOT NULL,
  origin    text NOT NULL CHECK (length(origin) BETWEEN 1 AND 64),
  country   text CHECK (country ~ '^[A-Z]{2}$'),
  -- The status the check was answered with.
  answered  text NOT NULL CHECK (answered IN ('valid', 'replaced', 'cancelled')),
  checks    integer NOT NULL CHECK (checks > 0),
  first_at  timestamptz NOT NULL,
  last_at   timestamptz NOT NULL CHECK (last_at >= first_at),
  PRIMARY KEY (number, version, day, origin, answered),
  FOREIGN KEY (number, version) REFERENCES certificates (number, version)
);
CREATE INDEX status_checks_recent ON status_checks (day, answered);

-- Checks answered `unknown` (no certificate has that h): what enumeration looks like.
CREATE TABLE status_unknown_checks (
  day      date NOT NULL,
  origin   text NOT NULL CHECK (length(origin) BETWEEN 1 AND 64),
  checks   integer NOT NULL CHECK (checks > 0),
  last_at  timestamptz NOT NULL,
  PRIMARY KEY (day, origin)
);
