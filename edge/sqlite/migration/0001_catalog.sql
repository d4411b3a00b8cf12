-- 0001: the signing catalog: skill versions, their signatures, the signing
-- keyring and Machine tokens. Times are fixed-width RFC 3339 UTC text with
-- nanoseconds ("2006-01-02T15:04:05.000000000Z"), so they sort as text.

CREATE TABLE skill_versions (
	name               TEXT NOT NULL,
	version            TEXT NOT NULL,
	publisher          TEXT NOT NULL,
	content_digest     TEXT NOT NULL,
	permissions_digest TEXT NOT NULL,
	image_digest       TEXT NOT NULL DEFAULT '',
	permissions        TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(permissions)),
	state              TEXT NOT NULL CHECK (state IN ('pending', 'approved', 'rejected')),
	created_at         TEXT NOT NULL,
	updated_at         TEXT NOT NULL,
	PRIMARY KEY (name, version)
);

CREATE TABLE signatures (
	id                 INTEGER PRIMARY KEY,
	skill              TEXT NOT NULL,
	version            TEXT NOT NULL,
	key_id             TEXT NOT NULL,
	key_version        INTEGER NOT NULL CHECK (key_version > 0),
	publisher          TEXT NOT NULL,
	content_digest     TEXT NOT NULL,
	permissions_digest TEXT NOT NULL,
	image_digest       TEXT NOT NULL DEFAULT '',
	issued_at          TEXT NOT NULL,
	envelope           BLOB NOT NULL,
	created_at         TEXT NOT NULL,
	UNIQUE (skill, version, key_id, key_version),
	FOREIGN KEY (skill, version) REFERENCES skill_versions (name, version)
);

CREATE TABLE key_versions (
	key_id            TEXT NOT NULL,
	version           INTEGER NOT NULL CHECK (version > 0),
	algorithm         TEXT NOT NULL CHECK (algorithm = 'ed25519'),
	public_key        TEXT NOT NULL,
	-- lowercase hex SHA-256 of the raw public key: a key is published once,
	-- so a revoked key can never come back under another version or ID.
	fingerprint       TEXT NOT NULL UNIQUE,
	not_before        TEXT NOT NULL,
	not_after         TEXT NOT NULL,
	state             TEXT NOT NULL CHECK (state IN ('active', 'retiring', 'revoked')),
	revoked_at        TEXT,
	revocation_reason TEXT NOT NULL DEFAULT '',
	created_at        TEXT NOT NULL,
	PRIMARY KEY (key_id, version),
	CHECK (not_before < not_after),
	CHECK ((state = 'revoked') = (revoked_at IS NOT NULL))
);

-- keyring_meta has exactly one row; its sequence grows with every key change,
-- in the same transaction as the change.
CREATE TABLE keyring_meta (
	id         INTEGER PRIMARY KEY CHECK (id = 1),
	sequence   INTEGER NOT NULL,
	updated_at TEXT NOT NULL
);
INSERT INTO keyring_meta (id, sequence, updated_at) VALUES (1, 0, '0001-01-01T00:00:00.000000000Z');

-- machine_tokens never holds a raw token: token_hash is the lowercase hex
-- SHA-256 of the token string.
CREATE TABLE machine_tokens (
	id         INTEGER PRIMARY KEY,
	machine_id TEXT NOT NULL,
	tenant_id  TEXT NOT NULL,
	token_hash TEXT NOT NULL UNIQUE,
	created_at TEXT NOT NULL,
	revoked_at TEXT
);
CREATE INDEX machine_tokens_machine_id ON machine_tokens (machine_id);
