-- When a message's last delivery error happened, so that the console can say since when a peer
-- fails (last_error alone has no time). Set with last_error, cleared with it; NULL on rows that
-- carried an error before this migration.
ALTER TABLE outbox ADD COLUMN last_error_at timestamptz;
-- Each peer's latest error, read by the console's overview: only rows still carrying one (queued
-- or sent and retrying, or dead), never the delivered bulk.
CREATE INDEX outbox_last_error ON outbox (peer, last_error_at DESC NULLS LAST) WHERE last_error IS NOT NULL;
