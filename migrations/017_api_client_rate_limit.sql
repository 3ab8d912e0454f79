-- A caller's own REST rate limit (requests a minute), for a busy customs system that the default
-- (RATE_LIMIT_PER_MINUTE) would throttle; NULL keeps the default.
ALTER TABLE api_clients ADD COLUMN rate_limit_per_minute integer CHECK (rate_limit_per_minute > 0);
