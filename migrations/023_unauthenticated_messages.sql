-- Messages in a registered peer's name that failed authentication (wrong key, bad signature,
-- appId not matching from, a JWE we cannot open), counted per named peer and hour: PROFILE has
-- them answered to that peer, and this bounds how many are (the rest are dead-lettered unanswered)
-- and tells operators that someone is using the peer's name.
CREATE TABLE unauthenticated_messages (
  peer text NOT NULL REFERENCES peers (party_id) ON DELETE CASCADE,
  hour timestamptz NOT NULL CHECK (extract(epoch FROM hour) % 3600 = 0),
  answered integer NOT NULL DEFAULT 0 CHECK (answered >= 0),
  unanswered integer NOT NULL DEFAULT 0 CHECK (unanswered >= 0),
  last_at timestamptz NOT NULL,
  last_code text NOT NULL,
  -- Whether the latest one was answered: what the counting statement returns to its caller.
  last_answered boolean NOT NULL,
  PRIMARY KEY (peer, hour)
);
