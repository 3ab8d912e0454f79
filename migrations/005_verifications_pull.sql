-- Verification requests (both sides): the importing side asks, the exporting side answers.
CREATE TABLE verifications (
  id                 uuid PRIMARY KEY,              -- the requestId of the messages
  role               text NOT NULL CHECK (role IN ('requester', 'verifier')),
  issuer_party       text NOT NULL,                 -- the exporting party that issued the CO
  requester_party    text NOT NULL,                 -- the importing party that asked
  certificate_number text NOT NULL,
  reasons            jsonb NOT NULL,
  questions          text NOT NULL,
  status             text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'answered')),
  result             text CHECK (result IN ('confirmed', 'not-confirmed', 'partially-confirmed')),
  findings           text,
  requested_at       timestamptz NOT NULL DEFAULT now(),
  answered_at        timestamptz
);
CREATE INDEX verifications_certificate ON verifications (certificate_number);
CREATE INDEX verifications_open ON verifications (role, status);

-- Pull model (the framework's semi-automated annex): may the importing side ask for a CO?
ALTER TABLE agreements ADD COLUMN pull_allowed boolean NOT NULL DEFAULT false;
