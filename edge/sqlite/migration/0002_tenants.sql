-- 0002: tenancy. Tenants, their users and user credentials and sessions,
-- agent instances, usage and audit events. Every tenant-owned row carries
-- tenant_id NOT NULL and an index leading with tenant_id: tenant-scoped
-- queries always filter by it (see tenant.go).
-- Credentials and sessions are stored as the lowercase hex SHA-256 of the
-- token, never the token. Exposed IDs are random text (never a rowid, which
-- would leak how many rows other tenants have); seq orders rows.

CREATE TABLE tenants (
	id         TEXT PRIMARY KEY,
	name       TEXT NOT NULL,
	created_at TEXT NOT NULL
);

CREATE TABLE users (
	seq        INTEGER PRIMARY KEY,
	id         TEXT NOT NULL UNIQUE,
	tenant_id  TEXT NOT NULL REFERENCES tenants (id),
	email      TEXT NOT NULL,
	created_at TEXT NOT NULL,
	UNIQUE (tenant_id, email),
	UNIQUE (tenant_id, id)
);

CREATE TABLE user_credentials (
	seq         INTEGER PRIMARY KEY,
	tenant_id   TEXT NOT NULL,
	user_id     TEXT NOT NULL,
	secret_hash TEXT NOT NULL UNIQUE,
	created_at  TEXT NOT NULL,
	revoked_at  TEXT,
	FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id)
);
CREATE INDEX user_credentials_tenant_user ON user_credentials (tenant_id, user_id);

CREATE TABLE user_sessions (
	seq        INTEGER PRIMARY KEY,
	tenant_id  TEXT NOT NULL,
	user_id    TEXT NOT NULL,
	token_hash TEXT NOT NULL UNIQUE,
	created_at TEXT NOT NULL,
	expires_at TEXT NOT NULL,
	revoked_at TEXT,
	FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id),
	CHECK (created_at < expires_at)
);
CREATE INDEX user_sessions_tenant_user ON user_sessions (tenant_id, user_id);

CREATE TABLE agent_instances (
	seq        INTEGER PRIMARY KEY,
	id         TEXT NOT NULL UNIQUE,
	tenant_id  TEXT NOT NULL REFERENCES tenants (id),
	name       TEXT NOT NULL,
	config     TEXT NOT NULL DEFAULT '',
	created_by TEXT NOT NULL,
	created_at TEXT NOT NULL,
	updated_at TEXT NOT NULL,
	-- names are unique per tenant only: another tenant's name never conflicts.
	UNIQUE (tenant_id, name)
);
CREATE INDEX agent_instances_tenant_seq ON agent_instances (tenant_id, seq);

CREATE TABLE usage_records (
	seq             INTEGER PRIMARY KEY,
	id              TEXT NOT NULL UNIQUE,
	tenant_id       TEXT NOT NULL REFERENCES tenants (id),
	machine_id      TEXT NOT NULL,
	session_id      TEXT NOT NULL,
	model           TEXT NOT NULL,
	input_tokens    INTEGER NOT NULL CHECK (input_tokens >= 0),
	output_tokens   INTEGER NOT NULL CHECK (output_tokens >= 0),
	idempotency_key TEXT NOT NULL,
	created_at      TEXT NOT NULL,
	-- keys are unique per tenant only: a key another tenant used is not a replay.
	UNIQUE (tenant_id, idempotency_key)
);
CREATE INDEX usage_records_tenant_seq ON usage_records (tenant_id, seq);

CREATE TABLE audit_events (
	seq        INTEGER PRIMARY KEY,
	id         TEXT NOT NULL UNIQUE,
	tenant_id  TEXT NOT NULL REFERENCES tenants (id),
	actor      TEXT NOT NULL,
	action     TEXT NOT NULL,
	target     TEXT NOT NULL DEFAULT '',
	detail     TEXT NOT NULL DEFAULT '',
	created_at TEXT NOT NULL
);
CREATE INDEX audit_events_tenant_seq ON audit_events (tenant_id, seq);

-- machine_tokens (0001) already carries tenant_id. No foreign key is added:
-- SQLite cannot add one without rebuilding the table, and Machine tokens may
-- be issued before their tenant is recorded. A Machine token reaches tenant
-- data only when its tenant exists (Tenancy.Authenticate joins tenants).
CREATE INDEX machine_tokens_tenant_machine ON machine_tokens (tenant_id, machine_id);
