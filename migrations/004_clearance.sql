-- Import clearance: per agreement, how many HS digits must match and how severe each finding is.
ALTER TABLE agreements
  ADD COLUMN hs_match_digits    integer NOT NULL DEFAULT 6 CHECK (hs_match_digits BETWEEN 2 AND 10),
  ADD COLUMN finding_severities jsonb NOT NULL DEFAULT '{}';

-- A declaration's claim checked against the CO it cites, with the decision and its findings.
CREATE TABLE clearance_checks (
  id                 uuid PRIMARY KEY,
  declaration_ref    text NOT NULL,
  certificate_number text NOT NULL,
  issuer_party       text,
  certificate_version integer,
  claim              jsonb NOT NULL,
  decision           text NOT NULL CHECK (decision IN ('accept', 'refer', 'reject')),
  findings           jsonb NOT NULL,
  status             text NOT NULL DEFAULT 'checked' CHECK (status IN ('checked', 'confirmed')),
  created_at         timestamptz NOT NULL DEFAULT now(),
  confirmed_at       timestamptz
);
CREATE INDEX clearance_checks_certificate ON clearance_checks (certificate_number);

-- Quantities drawn down per goods item of a received CO, one row per confirmed check and item.
CREATE TABLE utilizations (
  check_id     uuid NOT NULL REFERENCES clearance_checks (id),
  issuer_party text NOT NULL,
  number       text NOT NULL,
  item_number  integer NOT NULL,
  quantity     numeric NOT NULL CHECK (quantity > 0),
  created_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (check_id, item_number)
);
CREATE INDEX utilizations_certificate ON utilizations (issuer_party, number, item_number);

-- Exporting side: what importing parties reported drawing down (certificate.utilized).
CREATE TABLE reported_utilizations (
  message_id      uuid PRIMARY KEY REFERENCES inbox (message_id) DEFERRABLE INITIALLY DEFERRED,
  from_party      text NOT NULL,
  number          text NOT NULL,
  declaration_ref text NOT NULL,
  items           jsonb NOT NULL,
  cleared_at      timestamptz NOT NULL,
  received_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX reported_utilizations_number ON reported_utilizations (number);
