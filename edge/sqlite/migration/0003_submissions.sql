-- 0003: the submission pipeline. Publishers with their tokens and Stripe KYC
-- events, submissions with their archive, findings and state, and the
-- notifications sent to publishers. Tokens are stored as the lowercase hex
-- SHA-256 of the token, never the token. Exposed IDs are random text; seq
-- orders rows.

CREATE TABLE publishers (
	seq            INTEGER PRIMARY KEY,
	id             TEXT NOT NULL UNIQUE,
	name           TEXT NOT NULL,
	stripe_account TEXT NOT NULL UNIQUE,
	kyc_state      TEXT NOT NULL CHECK (kyc_state IN ('pending', 'verified', 'rejected')),
	-- the event time of the last KYC event applied; NULL before the first.
	kyc_event_time TEXT,
	webhook_url    TEXT NOT NULL DEFAULT '',
	-- the HMAC key of outbound notifications, stored as is (no sealing yet):
	-- only the service role reads it back.
	webhook_secret TEXT NOT NULL,
	created_at     TEXT NOT NULL,
	updated_at     TEXT NOT NULL
);

CREATE TABLE publisher_tokens (
	seq          INTEGER PRIMARY KEY,
	publisher_id TEXT NOT NULL REFERENCES publishers (id),
	token_hash   TEXT NOT NULL UNIQUE,
	created_at   TEXT NOT NULL,
	revoked_at   TEXT
);
CREATE INDEX publisher_tokens_publisher ON publisher_tokens (publisher_id);

-- Every Stripe event applied, so a replay is recognized; applied = 0 marks
-- an event older than the one that set the state (recorded, not applied).
CREATE TABLE kyc_events (
	event_id       TEXT PRIMARY KEY,
	publisher_id   TEXT NOT NULL REFERENCES publishers (id),
	stripe_account TEXT NOT NULL,
	state          TEXT NOT NULL CHECK (state IN ('pending', 'verified', 'rejected')),
	event_time     TEXT NOT NULL,
	applied        INTEGER NOT NULL CHECK (applied IN (0, 1)),
	created_at     TEXT NOT NULL
);
CREATE INDEX kyc_events_publisher ON kyc_events (publisher_id);

CREATE TABLE submissions (
	seq                INTEGER PRIMARY KEY,
	id                 TEXT NOT NULL UNIQUE,
	publisher_id       TEXT NOT NULL REFERENCES publishers (id),
	archive_digest     TEXT NOT NULL,
	archive_format     TEXT NOT NULL CHECK (archive_format IN ('tar.gz', 'zip')),
	archive_size       INTEGER NOT NULL CHECK (archive_size > 0),
	state              TEXT NOT NULL CHECK (state IN ('received', 'extracted', 'scanned', 'built', 'analyzed',
	                                                  'flagged', 'approved', 'signed', 'rejected', 'failed')),
	name               TEXT NOT NULL DEFAULT '',
	version            TEXT NOT NULL DEFAULT '',
	content_digest     TEXT NOT NULL DEFAULT '',
	permissions_digest TEXT NOT NULL DEFAULT '',
	permissions        TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(permissions)),
	image_digest       TEXT NOT NULL DEFAULT '',
	decision           TEXT NOT NULL DEFAULT '' CHECK (decision IN ('', 'approve', 'flag', 'reject')),
	score              INTEGER NOT NULL DEFAULT 0 CHECK (score >= 0),
	reason             TEXT NOT NULL DEFAULT '',
	reviewer           TEXT NOT NULL DEFAULT '',
	created_at         TEXT NOT NULL,
	updated_at         TEXT NOT NULL,
	-- the same bytes from the same publisher are one submission (idempotent intake).
	UNIQUE (publisher_id, archive_digest)
);
CREATE INDEX submissions_state_seq ON submissions (state, seq);
CREATE INDEX submissions_publisher_seq ON submissions (publisher_id, seq);

-- Archives apart from their submission, so listings never read them.
CREATE TABLE submission_archives (
	submission_id TEXT PRIMARY KEY REFERENCES submissions (id),
	data          BLOB NOT NULL
);

CREATE TABLE submission_findings (
	seq           INTEGER PRIMARY KEY,
	submission_id TEXT NOT NULL REFERENCES submissions (id),
	source        TEXT NOT NULL,
	rule_id       TEXT NOT NULL,
	category      TEXT NOT NULL DEFAULT '',
	severity      TEXT NOT NULL DEFAULT '',
	file          TEXT NOT NULL DEFAULT '',
	line          INTEGER NOT NULL DEFAULT 0 CHECK (line >= 0),
	evidence      TEXT NOT NULL DEFAULT '',
	why           TEXT NOT NULL DEFAULT ''
);
CREATE INDEX submission_findings_submission_source ON submission_findings (submission_id, source);

CREATE TABLE notifications (
	seq           INTEGER PRIMARY KEY,
	id            TEXT NOT NULL UNIQUE,
	publisher_id  TEXT NOT NULL REFERENCES publishers (id),
	submission_id TEXT NOT NULL REFERENCES submissions (id),
	kind          TEXT NOT NULL,
	body          BLOB NOT NULL,
	attempts      INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
	last_error    TEXT NOT NULL DEFAULT '',
	delivered_at  TEXT,
	created_at    TEXT NOT NULL,
	UNIQUE (submission_id, kind)
);
CREATE INDEX notifications_pending ON notifications (seq) WHERE delivered_at IS NULL;
