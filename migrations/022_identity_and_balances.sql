-- Identity is scoped by who said it: a received message is its sender and its id (ids are unique
-- per sender only, so two peers may use the same one), and every row derived from a received
-- message names it by both. Quantities drawn down are kept in the CO item's unit, and a balance
-- per item cannot go below zero.

-- Messages received: (sender, id).
ALTER TABLE received_certificates DROP CONSTRAINT received_certificates_message_id_fkey;
ALTER TABLE received_cancellations DROP CONSTRAINT received_cancellations_message_id_fkey;
ALTER TABLE reported_utilizations DROP CONSTRAINT reported_utilizations_message_id_fkey;
ALTER TABLE reported_utilizations DROP CONSTRAINT reported_utilizations_pkey;
ALTER TABLE inbox DROP CONSTRAINT inbox_pkey;
ALTER TABLE inbox ADD PRIMARY KEY (from_party, message_id);
CREATE INDEX inbox_message ON inbox (message_id);
ALTER TABLE reported_utilizations ADD PRIMARY KEY (from_party, message_id);
-- A certificate or a cancellation comes only from its issuer, so the issuer is the sender.
ALTER TABLE received_certificates ADD CONSTRAINT received_certificates_message_fkey
  FOREIGN KEY (issuer_party, message_id) REFERENCES inbox (from_party, message_id) DEFERRABLE INITIALLY DEFERRED;
ALTER TABLE received_cancellations ADD CONSTRAINT received_cancellations_message_fkey
  FOREIGN KEY (issuer_party, message_id) REFERENCES inbox (from_party, message_id) DEFERRABLE INITIALLY DEFERRED;
ALTER TABLE reported_utilizations ADD CONSTRAINT reported_utilizations_message_fkey
  FOREIGN KEY (from_party, message_id) REFERENCES inbox (from_party, message_id) DEFERRABLE INITIALLY DEFERRED;

-- Verification requests: the requestId on the wire is the requester's, unique per requester only;
-- ours (the row id, in our API) is our own.
ALTER TABLE verifications ADD COLUMN request_id uuid;
UPDATE verifications SET request_id = id;
ALTER TABLE verifications ALTER COLUMN request_id SET NOT NULL;
CREATE UNIQUE INDEX verifications_request ON verifications (role, requester_party, request_id);

-- Drawdowns: the quantity in the CO item's unit (converted exactly), with what was claimed; one per
-- declaration and item of a CO, so that a retried confirmation never draws twice.
ALTER TABLE utilizations
  ADD COLUMN unit            text,
  ADD COLUMN claimed         text,
  ADD COLUMN declaration_ref text;
UPDATE utilizations u SET declaration_ref = c.declaration_ref FROM clearance_checks c WHERE c.id = u.check_id;
UPDATE utilizations u SET unit = item->'quantity'->>'unit'
  FROM received_certificates r, jsonb_array_elements(r.dataset->'items') AS item
 WHERE r.issuer_party = u.issuer_party AND r.number = u.number AND r.status <> 'replaced'
   AND (item->>'itemNumber')::int = u.item_number;
ALTER TABLE utilizations ALTER COLUMN declaration_ref SET NOT NULL;
CREATE UNIQUE INDEX utilizations_declaration ON utilizations (issuer_party, number, item_number, declaration_ref);

-- What remains of each drawn item: issued (the current version's quantity when last drawn) minus
-- drawn, both in `unit`. The CHECK is the invariant: no drawdown takes an item below zero.
CREATE TABLE item_balances (
  issuer_party text NOT NULL,
  number       text NOT NULL,
  item_number  integer NOT NULL,
  unit         text NOT NULL,
  issued       numeric NOT NULL CHECK (issued >= 0),
  drawn        numeric NOT NULL DEFAULT 0 CHECK (drawn >= 0),
  updated_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (issuer_party, number, item_number),
  CONSTRAINT item_balances_never_negative CHECK (drawn <= issued)
);
INSERT INTO item_balances (issuer_party, number, item_number, unit, issued, drawn)
SELECT u.issuer_party, u.number, u.item_number, COALESCE(min(u.unit), 'C62'),
       GREATEST(COALESCE(max((item->'quantity'->>'value')::numeric), 0), sum(u.quantity)), sum(u.quantity)
  FROM utilizations u
  LEFT JOIN received_certificates r ON r.issuer_party = u.issuer_party AND r.number = u.number AND r.status <> 'replaced'
  LEFT JOIN LATERAL jsonb_array_elements(r.dataset->'items') AS item ON (item->>'itemNumber')::int = u.item_number
 GROUP BY u.issuer_party, u.number, u.item_number;

-- Confirmed checks are also idempotent on the caller's Idempotency-Key.
ALTER TABLE clearance_checks ADD COLUMN idempotency_key text UNIQUE;

-- Agreements may carry HS correlation tables, for COs and claims in different HS editions.
ALTER TABLE agreements ADD COLUMN hs_correlations jsonb NOT NULL DEFAULT '[]';
