-- Agreements are data: who is party, which CO kinds and origin criteria they accept, how long a
-- CO stays valid, whether it may be issued after the goods left and how long after.
CREATE TABLE agreements (
  code             text PRIMARY KEY,
  name             text NOT NULL,
  parties          text[] NOT NULL,
  kinds            text[] NOT NULL,
  origin_criteria  text[] NOT NULL DEFAULT '{}',
  validity_days    integer NOT NULL CHECK (validity_days > 0),
  retroactive_days integer CHECK (retroactive_days >= 0),
  example          boolean NOT NULL DEFAULT false,
  created_at       timestamptz NOT NULL DEFAULT now(),
  updated_at       timestamptz NOT NULL DEFAULT now()
);

-- A cancellation received from an issuer, kept even when it arrives before the certificate.
CREATE TABLE received_cancellations (
  issuer_party text NOT NULL,
  number       text NOT NULL,
  reason       text NOT NULL,
  cancelled_at timestamptz NOT NULL,
  message_id   uuid NOT NULL REFERENCES inbox (message_id) DEFERRABLE INITIALLY DEFERRED,
  received_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (issuer_party, number)
);

-- Issued here: why a certificate was cancelled.
ALTER TABLE certificates ADD COLUMN cancel_reason text, ADD COLUMN cancelled_at timestamptz;
