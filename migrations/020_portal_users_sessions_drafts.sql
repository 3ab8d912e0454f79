-- The web portal (/portal): people, not shared keys. Users sign in with a password (scrypt hash,
-- never the password), sessions are kept here (only a SHA-256 of the cookie's id, as for API keys),
-- and issuers keep drafts of certificates they have not issued yet.
CREATE TABLE portal_users (
  id              uuid PRIMARY KEY,
  username        text NOT NULL UNIQUE CHECK (username ~ '^[a-z0-9._-]{3,64}$'),
  display_name    text NOT NULL,
  roles           text[] NOT NULL,
  password_hash   text NOT NULL,
  status          text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled')),
  failed_attempts integer NOT NULL DEFAULT 0,
  locked_until    timestamptz,
  created_at      timestamptz NOT NULL DEFAULT now(),
  last_sign_in_at timestamptz
);

CREATE TABLE portal_sessions (
  id_hash      text PRIMARY KEY,
  user_id      uuid NOT NULL REFERENCES portal_users (id) ON DELETE CASCADE,
  created_at   timestamptz NOT NULL DEFAULT now(),
  last_seen_at timestamptz NOT NULL DEFAULT now(),
  expires_at   timestamptz NOT NULL
);
CREATE INDEX portal_sessions_user ON portal_sessions (user_id);

CREATE TABLE portal_drafts (
  id         uuid PRIMARY KEY,
  owner      uuid NOT NULL REFERENCES portal_users (id) ON DELETE CASCADE,
  kind       text NOT NULL,
  number     text,
  fields     jsonb NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX portal_drafts_owner ON portal_drafts (owner, updated_at DESC);
