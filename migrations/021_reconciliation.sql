-- PROFILE 1.1 reconciliation. Periods are cut on each message's envelope sentAt, as the peer cuts
-- them; rows from before this migration have none, and the time they were queued or received
-- stands in for it.
ALTER TABLE outbox ADD COLUMN envelope_sent_at timestamptz;
ALTER TABLE inbox ADD COLUMN envelope_sent_at timestamptz;
-- The digest of the bytes sent, kept when queued: a statement lists it for a whole period.
ALTER TABLE outbox ADD COLUMN digest text;
-- A message sent again (Pull, reconciliation) is given up on RELAY_MAX_AGE_SECONDS after that, not
-- after it was first queued: an older message would otherwise be marked dead unsent.
ALTER TABLE outbox ADD COLUMN resent_at timestamptz;
-- The verdict of the peer's receipt, apart from the delivery status a resend moves: a message
-- sent again that holds its receipt returns to it (and is never given up on as dead).
ALTER TABLE outbox ADD COLUMN receipt_status text CHECK (receipt_status IN ('accepted', 'rejected'));
UPDATE outbox SET receipt_status = status WHERE receipt_at IS NOT NULL AND status IN ('accepted', 'rejected');
CREATE INDEX outbox_reconciliation ON outbox (peer, (COALESCE(envelope_sent_at, created_at)));
CREATE INDEX inbox_reconciliation ON inbox (from_party, (COALESCE(envelope_sent_at, received_at)));

-- A verification answer names the request's message in inReplyTo.
ALTER TABLE verifications ADD COLUMN request_message_id uuid;

-- Statements we sent (with the peer's answer once it comes) and statements we answered.
CREATE TABLE reconciliations (
  peer            text NOT NULL,
  direction       text NOT NULL CHECK (direction IN ('sent', 'received')),
  statement_id    uuid NOT NULL,
  message_id      uuid NOT NULL,                 -- the statement's message
  period_start    timestamptz NOT NULL,
  period_end      timestamptz NOT NULL,
  scheduled       boolean NOT NULL DEFAULT false, -- sent by the daily schedule, not by an operator
  result          text CHECK (result IN ('match', 'mismatch')),
  missing_here    jsonb NOT NULL DEFAULT '[]',
  missing_there   jsonb NOT NULL DEFAULT '[]',
  digest_mismatch jsonb NOT NULL DEFAULT '[]',
  created_at      timestamptz NOT NULL DEFAULT now(),
  answered_at     timestamptz,
  PRIMARY KEY (peer, direction, statement_id)
);
-- One scheduled statement per peer and period, however many processes run the schedule.
CREATE UNIQUE INDEX reconciliations_scheduled ON reconciliations (peer, period_start) WHERE direction = 'sent' AND scheduled;
CREATE INDEX reconciliations_created ON reconciliations (created_at DESC);
