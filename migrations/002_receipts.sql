-- Signed receipts (PROFILE "Receipts"): the sender keeps the peer's receipt as proof of delivery;
-- the receiver remembers which receipt answered each message, to send the same one again.
ALTER TABLE outbox
  ADD COLUMN expects_receipt boolean NOT NULL DEFAULT true,
  ADD COLUMN receipt         text,
  ADD COLUMN receipt_errors  jsonb,
  ADD COLUMN receipt_at      timestamptz;

-- Due work for the relays: queued rows, and sent rows whose receipt is overdue (resent, same id).
DROP INDEX outbox_due;
CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE status IN ('queued', 'sent');
CREATE INDEX outbox_status ON outbox (status, created_at);

ALTER TABLE inbox
  ADD COLUMN in_reply_to uuid,
  ADD COLUMN receipt_id  uuid REFERENCES outbox (id);

-- The consumer writes the inbox row last, once it knows the verdict and the receipt.
ALTER TABLE received_certificates
  ALTER CONSTRAINT received_certificates_message_id_fkey DEFERRABLE INITIALLY DEFERRED;
