-- PROFILE 1.1: a party issues only for its own country, or the countries its registration names.
-- NULL: the country of the peer's party id.
ALTER TABLE peers ADD COLUMN countries text[];
