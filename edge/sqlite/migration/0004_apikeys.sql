-- 0004: API keys (Layer 3). Platform key versions (service role), tenants'
-- own keys, credits, credit grants and per-Machine meters. Keys are stored
-- only sealed (shared/seal: XChaCha20-Poly1305 envelope, bound to the row's
-- context), never in the clear and never hashed.

CREATE TABLE api_key_versions (
	provider     TEXT NOT NULL CHECK (provider IN ('anthropic', 'openai')),
	version      INTEGER NOT NULL CHECK (version > 0),
	state        TEXT NOT NULL CHECK (state IN ('active', 'previous', 'retired')),
	period       TEXT,
	sealed_key   BLOB NOT NULL,
	kek_id       TEXT NOT NULL,
	created_at   TEXT NOT NULL,
	activated_at TEXT NOT NULL,
	retire_after TEXT,
	retired_at   TEXT,
	PRIMARY KEY (provider, version),
	UNIQUE (provider, period)
);
-- At most one active version per provider.
CREATE UNIQUE INDEX api_key_versions_active ON api_key_versions (provider) WHERE state = 'active';

-- A deleted key keeps its row, without the sealed key, so the next key of
-- the provider gets a higher version: a Machine holding version n always
-- sees a different number after any change.
CREATE TABLE user_api_keys (
	tenant_id  TEXT NOT NULL REFERENCES tenants (id),
	provider   TEXT NOT NULL CHECK (provider IN ('anthropic', 'openai')),
	version    INTEGER NOT NULL CHECK (version > 0),
	sealed_key BLOB,
	kek_id     TEXT NOT NULL,
	created_by TEXT NOT NULL,
	updated_at TEXT NOT NULL,
	deleted_at TEXT,
	PRIMARY KEY (tenant_id, provider),
	CHECK ((sealed_key IS NULL) = (deleted_at IS NOT NULL))
);

CREATE TABLE credit_accounts (
	tenant_id  TEXT PRIMARY KEY REFERENCES tenants (id),
	balance    INTEGER NOT NULL,
	updated_at TEXT NOT NULL
);

-- Grants are applied once per idempotency key of the tenant.
CREATE TABLE credit_grants (
	tenant_id       TEXT NOT NULL REFERENCES tenants (id),
	idempotency_key TEXT NOT NULL,
	amount          INTEGER NOT NULL CHECK (amount > 0),
	created_at      TEXT NOT NULL,
	PRIMARY KEY (tenant_id, idempotency_key)
);

-- The charge of a usage record: its primary key makes a second deduction
-- for one record impossible.
CREATE TABLE usage_charges (
	usage_id   TEXT PRIMARY KEY REFERENCES usage_records (id),
	tenant_id  TEXT NOT NULL REFERENCES tenants (id),
	amount     INTEGER NOT NULL CHECK (amount >= 0),
	created_at TEXT NOT NULL
);

CREATE TABLE machine_meters (
	tenant_id      TEXT NOT NULL REFERENCES tenants (id),
	machine_id     TEXT NOT NULL,
	baseline       REAL NOT NULL,
	reports        INTEGER NOT NULL,
	suspended_at   TEXT,
	suspend_reason TEXT NOT NULL DEFAULT '',
	PRIMARY KEY (tenant_id, machine_id)
);

-- The tokens-per-hour window: a Machine's records by time.
CREATE INDEX usage_records_tenant_machine_time ON usage_records (tenant_id, machine_id, created_at);
