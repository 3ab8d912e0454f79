-- Import clearance: the agreements whose COs an agreement also accepts for its preference.
ALTER TABLE agreements ADD COLUMN accepts_certificates_of text[] NOT NULL DEFAULT '{}';
