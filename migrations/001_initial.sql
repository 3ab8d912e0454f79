-- Keys this gateway signs (and later decrypts) with. private_jwk never leaves the database.
CREATE TABLE keys (
  kid         text PRIMARY KEY,
  use         text NOT NULL CHECK (use IN ('sig', 'enc')),
  alg         text NOT NULL,
  public_jwk  jsonb NOT NULL,
  private_jwk text NOT NULL,
  status      text NOT NULL CHECK (status IN ('published', 'active', 'retired', 'revoked')),
  created_at  timestamptz NOT NULL DEFAULT now()
);

-- Other gateways we exchange with, registered by an operator.
CREATE TABLE peers (
  party_id   text PRIMARY KEY,
  name       text NOT NULL,
  amqp_url   text NOT NULL,
  jwks       jsonb NOT NULL,
  jwks_url   text,
  encrypt    boolean NOT NULL DEFAULT false,
  agreements text[] NOT NULL DEFAULT '{}',
  status     text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended')),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);

-- One row per message to send; body holds the exact bytes, so a retry sends the same bytes.
CREATE TABLE outbox (
  id                 uuid PRIMARY KEY,
  peer               text NOT NULL,
  type               text NOT NULL,
  certificate_number text,
  body               text NOT NULL,
  status             text NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'sent', 'accepted', 'rejected', 'dead')),
  attempts           integer NOT NULL DEFAULT 0,
  next_attempt_at    timestamptz NOT NULL DEFAULT now(),
  last_error         text,
  created_at         timestamptz NOT NULL DEFAULT now(),
  sent_at            timestamptz
);
CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE status = 'queued';
CREATE INDEX outbox_certificate ON outbox (certificate_number) WHERE certificate_number IS NOT NULL;

-- Certificates issued here (exporting side).
CREATE TABLE certificates (
  number          text NOT NULL,
  version         integer NOT NULL CHECK (version >= 1),
  kind            text NOT NULL,
  agreement       text,
  importing_party text NOT NULL,
  status          text NOT NULL DEFAULT 'valid' CHECK (status IN ('valid', 'replaced', 'cancelled')),
  dataset         jsonb NOT NULL,
  message_id      uuid NOT NULL REFERENCES outbox (id),
  idempotency_key text UNIQUE,
  created_at      timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (number, version)
);

-- One row per authenticated message received (signature verified, so its id can be trusted):
-- message_id is the dedupe key; status and errors are the verdict it was answered with.
CREATE TABLE inbox (
  message_id  uuid PRIMARY KEY,
  from_party  text NOT NULL,
  type        text NOT NULL,
  digest      text NOT NULL,
  body        text NOT NULL,
  status      text NOT NULL CHECK (status IN ('accepted', 'rejected')),
  errors      jsonb NOT NULL DEFAULT '[]',
  received_at timestamptz NOT NULL DEFAULT now()
);

-- Certificates received from issuing parties (importing side); jws is the original, byte for byte.
CREATE TABLE received_certificates (
  issuer_party text NOT NULL,
  number       text NOT NULL,
  version      integer NOT NULL CHECK (version >= 1),
  kind         text NOT NULL,
  agreement    text,
  status       text NOT NULL DEFAULT 'valid' CHECK (status IN ('valid', 'replaced', 'cancelled')),
  dataset      jsonb NOT NULL,
  jws          text NOT NULL,
  message_id   uuid NOT NULL REFERENCES inbox (message_id),
  received_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (issuer_party, number, version)
);
CREATE INDEX received_certificates_number ON received_certificates (number);
