-- Key lifecycle: published (in the JWKS, not used yet) -> active -> retired (still in the JWKS and
-- still decrypting until expires_at) -> revoked. private_jwk now holds the key sealed with
-- AES-256-GCM under KEY_ENCRYPTION_KEY (keys/vault.ts); plaintext rows are sealed at start.
ALTER TABLE keys
  ADD COLUMN activated_at timestamptz,
  ADD COLUMN retired_at   timestamptz,
  ADD COLUMN expires_at   timestamptz,
  ADD COLUMN revoked_at   timestamptz;
UPDATE keys SET activated_at = created_at WHERE status = 'active';
CREATE UNIQUE INDEX keys_one_active ON keys (use) WHERE status = 'active';

-- When a peer's JWKS was last fetched from its URL.
ALTER TABLE peers ADD COLUMN jwks_fetched_at timestamptz;

-- Append-only audit trail. Writers only insert (inside their own transaction, so a rolled-back
-- change leaves no entry); the sealer then gives each row its place in the chain and
-- hash = SHA-256(prev_hash | canonical row). Sealing apart from the writers keeps one global
-- lock out of every business transaction.
CREATE TABLE audit_log (
  id        bigserial PRIMARY KEY,
  at        timestamptz NOT NULL DEFAULT clock_timestamp(),
  actor     text NOT NULL,
  action    text NOT NULL,
  subject   text,
  data      jsonb NOT NULL DEFAULT '{}',
  position  bigint UNIQUE,
  prev_hash text,
  hash      text
);
CREATE INDEX audit_log_unsealed ON audit_log (id) WHERE position IS NULL;

-- Messages our consumer could not answer (PROFILE: dead-lettered to eco.dead), drained from the
-- queue so that operators can list, inspect, replay or discard them.
CREATE TABLE dead_letters (
  id          uuid PRIMARY KEY,
  received_at timestamptz NOT NULL DEFAULT now(),
  code        text NOT NULL,
  reason      text,
  app_id      text,
  message_id  text,
  properties  jsonb NOT NULL,
  body        bytea NOT NULL,
  status      text NOT NULL DEFAULT 'held' CHECK (status IN ('held', 'replayed', 'discarded')),
  handled_at  timestamptz,
  handled_by  text
);
CREATE INDEX dead_letters_status ON dead_letters (status, received_at);
CREATE INDEX inbox_received ON inbox (received_at);

-- Operators search messages by certificate number in both directions.
ALTER TABLE inbox ADD COLUMN certificate_number text;
CREATE INDEX inbox_certificate ON inbox (certificate_number) WHERE certificate_number IS NOT NULL;

-- The backlog (metrics, console): messages not yet published or still awaiting a receipt. Receipts
-- we sent stay `sent` for good, so without this the count would walk every receipt ever sent.
CREATE INDEX outbox_pending ON outbox (created_at) WHERE status = 'queued' OR (status = 'sent' AND expects_receipt);
-- The console's latest messages and per-peer traffic read the outbox by time.
CREATE INDEX outbox_created ON outbox (created_at);
