-- A certificate issued here keeps the bytes it was sent as (the signed envelope, or the JWE it went
-- in for a peer that requires encryption), instead of reading them back through the outbox.
ALTER TABLE certificates ADD COLUMN jws text;
UPDATE certificates c SET jws = o.body FROM outbox o WHERE o.id = c.message_id;
ALTER TABLE certificates ALTER COLUMN jws SET NOT NULL;
