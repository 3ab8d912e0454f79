-- The consumer now writes the inbox row first (its primary key is what deduplicates, in one
-- statement), naming the receipt it will queue later in the same transaction: the reference to
-- that receipt is checked at commit.
ALTER TABLE inbox
  ALTER CONSTRAINT inbox_receipt_id_fkey DEFERRABLE INITIALLY DEFERRED;
