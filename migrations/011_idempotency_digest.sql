-- An Idempotency-Key stands for one request: the digest of its canonical body is kept with the
-- certificate, so that the key reused with another body is refused (422) instead of answered with
-- the first result. Rows from before have none and are compared by certificate number only.
ALTER TABLE certificates ADD COLUMN idempotency_digest text;
