-- 0005: SSH to the user's machine (docs/ssh.md). A credential's private key
-- is stored only sealed (shared/seal, bound to tenant, agent and credential)
-- and is set to NULL the moment the credential is revoked; the row stays so
-- its attempts keep their credential. Grants are stored hashed and spent
-- once. Attempts are the audit trail, kept 90 days.

CREATE TABLE ssh_credentials (
	seq        INTEGER PRIMARY KEY,
	id         TEXT NOT NULL UNIQUE,
	tenant_id  TEXT NOT NULL REFERENCES tenants (id),
	agent_id   TEXT NOT NULL,
	host       TEXT NOT NULL,
	port       INTEGER NOT NULL CHECK (port BETWEEN 1 AND 65535),
	username   TEXT NOT NULL,
	host_key   TEXT NOT NULL,
	public_key TEXT NOT NULL,
	allow_list TEXT NOT NULL, -- JSON array
	deny_list  TEXT NOT NULL, -- JSON array
	sealed_key BLOB,          -- NULL once revoked
	kek_id     TEXT,
	created_by TEXT NOT NULL,
	created_at TEXT NOT NULL,
	revoked_at TEXT,
	CHECK ((revoked_at IS NULL) = (sealed_key IS NOT NULL))
);
CREATE INDEX ssh_credentials_tenant_seq ON ssh_credentials (tenant_id, seq);

CREATE TABLE ssh_grants (
	token_hash    TEXT PRIMARY KEY,
	tenant_id     TEXT NOT NULL REFERENCES tenants (id),
	credential_id TEXT NOT NULL,
	agent_id      TEXT NOT NULL,
	created_by    TEXT NOT NULL,
	expires_at    TEXT NOT NULL,
	used_at       TEXT
);
CREATE INDEX ssh_grants_tenant_credential ON ssh_grants (tenant_id, credential_id);

CREATE TABLE ssh_attempts (
	seq           INTEGER PRIMARY KEY,
	id            TEXT NOT NULL UNIQUE,
	tenant_id     TEXT NOT NULL REFERENCES tenants (id),
	credential_id TEXT NOT NULL,
	actor         TEXT NOT NULL,
	at            TEXT NOT NULL,
	command       TEXT NOT NULL,
	decision      TEXT NOT NULL CHECK (decision IN ('allowed', 'refused')),
	reason        TEXT NOT NULL,
	exit_code     INTEGER,
	output        TEXT NOT NULL,
	truncated     INTEGER NOT NULL
);
CREATE INDEX ssh_attempts_tenant_seq ON ssh_attempts (tenant_id, seq);
CREATE INDEX ssh_attempts_at ON ssh_attempts (at);
