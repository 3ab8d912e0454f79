-- Portal sign-in throttling that no third party can turn into a lockout of a named user: failures
-- are counted per (user name, client address) and per client address, each with its own backoff;
-- nothing is counted per account alone. Replaces the per-account lockout (failed_attempts,
-- locked_until), which let anyone lock any named officer out with five guesses.
CREATE TABLE portal_sign_in_throttle (
  -- 'pair:' || user name || ' ' || address, or 'address:' || address.
  key             text PRIMARY KEY CHECK (length(key) <= 400),
  failures        integer NOT NULL CHECK (failures >= 0),
  last_failure_at timestamptz NOT NULL,
  blocked_until   timestamptz
);
CREATE INDEX portal_sign_in_throttle_stale ON portal_sign_in_throttle (last_failure_at);

ALTER TABLE portal_users DROP COLUMN failed_attempts, DROP COLUMN locked_until;
