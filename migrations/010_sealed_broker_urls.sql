-- A broker URL carries the password our relay logs in with: the whole URL is kept sealed by the
-- Vault (AES-256-GCM under KEY_ENCRYPTION_KEY, peers/index.ts), next to the URL with the password
-- hidden for listing. Rows from before are sealed at start (PeerDirectory.sealBrokerUrls), which
-- needs the key this SQL does not have.
ALTER TABLE peers RENAME COLUMN amqp_url TO amqp_url_shown;
ALTER TABLE peers ADD COLUMN amqp_url_sealed text;
