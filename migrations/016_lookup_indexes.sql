-- A lookup by number (GET /certificates/{number}) also reads the cancellations received under
-- that number, from any issuer: the primary key (issuer_party, number) cannot serve it.
CREATE INDEX received_cancellations_number ON received_cancellations (number);
