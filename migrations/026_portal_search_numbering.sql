-- The portal as officers use it all day: searching a million certificates, numbers the gateway
-- assigns, passwords an administrator resets.

-- Partial, case-insensitive matching (number, exporter, importer) by trigram indexes.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

-- What "exporter" and "importer" search in: the party's name and identifier, as one text.
CREATE FUNCTION eco_party_text(party jsonb) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE
  RETURN coalesce(party->>'name', '') || ' ' || coalesce(party->>'id', '');

-- Every HS code of a certificate's items with its chapter, heading, subheading and 8 digits, so
-- that a search for 85, 8504, 850440 or 85044011 is one lookup in a GIN index. Kept as a stored column (hs_codes):
-- its statistics tell the planner how common a heading is, and a row is checked by reading an
-- array, not by walking its JSON again (a heading on most certificates is then counted from the
-- newest down and stops at the count's cap).
CREATE FUNCTION eco_hs_prefixes(dataset jsonb) RETURNS text[] LANGUAGE sql IMMUTABLE PARALLEL SAFE
BEGIN ATOMIC
  SELECT coalesce(array_agg(DISTINCT p), '{}')
    FROM jsonb_array_elements(CASE WHEN jsonb_typeof(dataset->'items') = 'array' THEN dataset->'items' ELSE '[]' END) AS item,
         LATERAL (VALUES (left(item->>'hsCode', 2)), (left(item->>'hsCode', 4)), (left(item->>'hsCode', 6)), (left(item->>'hsCode', 8)), (item->>'hsCode')) AS v(p)
   WHERE p IS NOT NULL;
END;

-- The lists show a certificate's current version (every other one is 'replaced'): the indexes
-- hold those rows only.
CREATE INDEX certificates_current_by_date ON certificates (created_at DESC) WHERE status <> 'replaced';
CREATE INDEX certificates_current_number ON certificates USING gin (number gin_trgm_ops) WHERE status <> 'replaced';
CREATE INDEX certificates_current_exporter ON certificates USING gin (eco_party_text(dataset->'exporter') gin_trgm_ops) WHERE status <> 'replaced';
CREATE INDEX certificates_current_importer ON certificates USING gin (eco_party_text(dataset->'importer') gin_trgm_ops) WHERE status <> 'replaced';
ALTER TABLE certificates ADD COLUMN hs_codes text[] GENERATED ALWAYS AS (eco_hs_prefixes(dataset)) STORED;
CREATE INDEX certificates_current_hs ON certificates USING gin (hs_codes) WHERE status <> 'replaced';

CREATE INDEX received_current_by_date ON received_certificates (received_at DESC) WHERE status <> 'replaced';
CREATE INDEX received_current_number ON received_certificates USING gin (number gin_trgm_ops) WHERE status <> 'replaced';
CREATE INDEX received_current_exporter ON received_certificates USING gin (eco_party_text(dataset->'exporter') gin_trgm_ops) WHERE status <> 'replaced';
CREATE INDEX received_current_importer ON received_certificates USING gin (eco_party_text(dataset->'importer') gin_trgm_ops) WHERE status <> 'replaced';
ALTER TABLE received_certificates ADD COLUMN hs_codes text[] GENERATED ALWAYS AS (eco_hs_prefixes(dataset)) STORED;
CREATE INDEX received_current_hs ON received_certificates USING gin (hs_codes) WHERE status <> 'replaced';
-- A customs look-up by number whatever its case.
CREATE INDEX received_number_folded ON received_certificates (lower(number));

-- Certificate numbers the gateway assigns: the issuer's pattern (e.g. KR-{yyyy}-{seq:6}), and the
-- last number given per issuer and year. The counter moves in the transaction that issues the
-- certificate, so a number is used exactly when a certificate is issued with it: no gaps, no
-- duplicates, whatever runs at once.
CREATE TABLE certificate_numbering (
  issuer_party text PRIMARY KEY,
  pattern      text NOT NULL CHECK (length(pattern) <= 60 AND pattern ~ '\{seq:([1-9]|1[0-2])\}' AND pattern ~ '\{(yyyy|yy)\}'),
  updated_at   timestamptz NOT NULL DEFAULT now(),
  updated_by   text NOT NULL
);
CREATE TABLE certificate_number_counters (
  issuer_party text NOT NULL,
  year         integer NOT NULL CHECK (year BETWEEN 2000 AND 9999),
  last         bigint NOT NULL CHECK (last >= 1),
  PRIMARY KEY (issuer_party, year)
);

-- A password an administrator set is the user's to change at the next sign-in.
ALTER TABLE portal_users ADD COLUMN must_change_password boolean NOT NULL DEFAULT false;

-- Audit filters by actor and action over a long log; reports by month.
CREATE INDEX audit_log_by_actor ON audit_log (actor, id);
CREATE INDEX audit_log_by_action ON audit_log (action, id);
CREATE INDEX clearance_checks_by_date ON clearance_checks (created_at);
