-- Credentials of the REST API's callers: back-offices (issuer), declaration systems (customs),
-- operators (admin). Only a SHA-256 of each key is kept; the key itself is shown once.
CREATE TABLE api_clients (
  id           uuid PRIMARY KEY,
  name         text NOT NULL,
  key_hash     text NOT NULL UNIQUE,
  key_prefix   text NOT NULL,
  roles        text[] NOT NULL,
  status       text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'revoked')),
  created_at   timestamptz NOT NULL DEFAULT now(),
  revoked_at   timestamptz
);
