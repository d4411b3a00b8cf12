-- 0006: the platform key an operator staged for the next monthly rotation,
-- one per provider (staging again replaces it). The key is stored only
-- sealed (shared/seal, bound to the provider and "staged"); the fingerprint
-- is a truncated SHA-256 that names the key without revealing it. Rotation
-- moves the key into api_key_versions and deletes the row in the same
-- transaction.

CREATE TABLE api_key_staged (
	provider    TEXT PRIMARY KEY CHECK (provider IN ('anthropic', 'openai')),
	sealed_key  BLOB NOT NULL,
	kek_id      TEXT NOT NULL,
	fingerprint TEXT NOT NULL,
	staged_by   TEXT NOT NULL,
	staged_at   TEXT NOT NULL
);
