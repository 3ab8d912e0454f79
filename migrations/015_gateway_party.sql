-- The party a database belongs to, recorded at the first start: a gateway started on it with
-- another PARTY_ID refuses to start rather than issue, sign and receive as the wrong party.
CREATE TABLE gateway_party (
  only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
  party_id text NOT NULL,
  recorded_at timestamptz NOT NULL DEFAULT now()
);
