// Package sqlite is the edge node's catalog: the trust domain services
// (skill versions, signatures, the signing keyring, Machine tokens, and the
// tenant-owned tables behind Tenancy, see tenant.go) stored in
// SQLite through modernc.org/sqlite, a pure-Go driver.
//
// A DB opens one database file in WAL mode with a busy timeout and foreign keys
// on. Every service method runs in one transaction; write transactions begin
// IMMEDIATE so concurrent writers queue on the busy timeout instead of failing
// on a lock upgrade, while read-only transactions run concurrently.
//
// Schema changes are embedded, numbered migrations (migration/0001_*.sql). They
// run from Open when AutoMigrate is set, or explicitly through Migrate, so a
// LiteFS replica can open the catalog without writing to it.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/openagents/trust/shared/trust"
)

//go:embed migration/*.sql
var migrationFS embed.FS

// DefaultBusyTimeout is how long a connection waits for a lock before it
// reports the database as busy.
const DefaultBusyTimeout = 5 * time.Second

// DB is the catalog database.
type DB struct {
	db     *sql.DB
	ctx    context.Context // canceled by Close
	cancel context.CancelFunc

	// DSN is the path of the database file. A "file:" URI may carry extra
	// driver parameters; Open adds the busy timeout, WAL, foreign keys and
	// immediate write transactions.
	DSN string

	// BusyTimeout is how long a statement waits on a locked database.
	BusyTimeout time.Duration

	// AutoMigrate makes Open apply pending migrations. NewDB sets it; turn it
	// off on a LiteFS replica, where only the primary may write.
	AutoMigrate bool

	// Now returns the current time; every transaction reads it once, at its
	// start. Tests replace it.
	Now func() time.Time

	// VersionPoll, when positive, makes Version cheap: instead of reading
	// data_version on every call, a background poller reads it at this
	// interval, and every write committed through this DB (and every
	// InvalidateVersion) moves the version at once. Changes committed by
	// anyone else — LiteFS applying a replicated transaction — then show up
	// within one interval instead of at the next call. Zero (NewDB's
	// default) reads data_version on every call. See Version.
	VersionPoll time.Duration
}

// NewDB returns a DB for the database at dsn. Call Open before use.
func NewDB(dsn string) *DB {
	db := &DB{
		DSN:         dsn,
		BusyTimeout: DefaultBusyTimeout,
		AutoMigrate: true,
		Now:         time.Now,
	}
	db.ctx, db.cancel = context.WithCancel(context.Background())
	return db
}

// Open opens the database, creating its parent directory (mode 0700) when it is
// a plain path, and applies pending migrations when AutoMigrate is set.
func (db *DB) Open() error {
	if db.DSN == "" {
		return fmt.Errorf("sqlite: dsn required")
	}
	if !strings.HasPrefix(db.DSN, "file:") && db.DSN != ":memory:" {
		if err := os.MkdirAll(filepath.Dir(db.DSN), 0o700); err != nil {
			return fmt.Errorf("sqlite: create data directory: %w", err)
		}
	}
	dsn, err := db.driverDSN()
	if err != nil {
		return err
	}
	if db.db, err = sql.Open("sqlite", dsn); err != nil {
		return fmt.Errorf("sqlite: open: %w", err)
	}
	if db.DSN == ":memory:" {
		db.db.SetMaxOpenConns(1) // every connection would get its own database
	}
	if err := db.db.PingContext(db.ctx); err != nil {
		db.db.Close()
		return fmt.Errorf("sqlite: open %s: %w", db.DSN, err)
	}
	if db.AutoMigrate {
		if err := db.Migrate(db.ctx); err != nil {
			db.db.Close()
			return err
		}
	}
	return nil
}

// driverDSN returns the DSN handed to the driver: the configured one with the
// connection pragmas appended.
func (db *DB) driverDSN() (string, error) {
	base, query, _ := strings.Cut(db.DSN, "?")
	q, err := url.ParseQuery(query)
	if err != nil {
		return "", fmt.Errorf("sqlite: parse dsn parameters: %w", err)
	}
	timeout := db.BusyTimeout
	if timeout <= 0 {
		timeout = DefaultBusyTimeout
	}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", timeout.Milliseconds()))
	q.Add("_pragma", "foreign_keys(1)")
	if db.DSN != ":memory:" {
		q.Add("_pragma", "journal_mode(WAL)")
		q.Add("_pragma", "synchronous(NORMAL)")
	}
	q.Set("_txlock", "immediate")
	if !strings.HasPrefix(base, "file:") {
		base = "file:" + base
	}
	return base + "?" + q.Encode(), nil
}

// Close closes the database. It is safe to call on a DB that never opened.
func (db *DB) Close() error {
	db.cancel()
	if db.db != nil {
		return db.db.Close()
	}
	return nil
}

// Migrate applies, in order and each in its own transaction, the embedded
// migrations not yet recorded in the migrations table. Run it on the primary.
func (db *DB) Migrate(ctx context.Context) error {
	if db.db == nil {
		return fmt.Errorf("sqlite: migrate: database not open")
	}
	if _, err := db.db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)`); err != nil {
		return fmt.Errorf("sqlite: create migrations table: %w", err)
	}
	names, err := fs.Glob(migrationFS, "migration/*.sql")
	if err != nil {
		return fmt.Errorf("sqlite: list migrations: %w", err)
	}
	sort.Strings(names)
	for _, name := range names {
		if err := db.migrateFile(ctx, name); err != nil {
			return fmt.Errorf("sqlite: migration %s: %w", name, err)
		}
	}
	return nil
}

// migrateFile applies one migration unless it is already recorded.
func (db *DB) migrateFile(ctx context.Context, name string) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()

	var n int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM migrations WHERE name = ?`, name).Scan(&n); err != nil {
		return fmt.Errorf("check applied: %w", err)
	} else if n > 0 {
		return nil
	}
	buf, err := fs.ReadFile(migrationFS, name)
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, string(buf)); err != nil {
		return fmt.Errorf("apply: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO migrations (name, applied_at) VALUES (?, ?)`, name, formatTime(tx.now)); err != nil {
		return fmt.Errorf("record: %w", err)
	}
	return tx.Commit()
}

// Tx is a catalog transaction. It carries the time it started, which every
// write in it records.
type Tx struct {
	*sql.Tx
	db    *DB
	now   time.Time
	write bool // not begun read-only: commit moves the catalog version
}

// BeginTx starts a transaction. A read-only transaction (opts.ReadOnly) begins
// DEFERRED and runs alongside others; any other begins IMMEDIATE.
func (db *DB) BeginTx(ctx context.Context, opts *sql.TxOptions) (*Tx, error) {
	if db.db == nil {
		return nil, fmt.Errorf("sqlite: database not open")
	}
	tx, err := db.db.BeginTx(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("begin transaction: %w", err)
	}
	return &Tx{Tx: tx, db: db, now: db.Now().UTC(), write: opts == nil || !opts.ReadOnly}, nil
}

// Commit commits the transaction; a committed write moves the catalog
// version (see DB.VersionPoll).
func (tx *Tx) Commit() error {
	if err := tx.Tx.Commit(); err != nil {
		return err
	}
	if tx.write {
		tx.db.InvalidateVersion()
	}
	return nil
}

// readOnly is the option for transactions that only read.
var readOnly = &sql.TxOptions{ReadOnly: true}

// timeFormat is RFC 3339 in UTC with a fixed nine-digit fraction, so stored
// times compare correctly as text.
const timeFormat = "2006-01-02T15:04:05.000000000Z07:00"

// formatTime returns t as stored in the database.
func formatTime(t time.Time) string { return t.UTC().Format(timeFormat) }

// formatNullTime returns t as stored, or NULL for nil.
func formatNullTime(t *time.Time) any {
	if t == nil {
		return nil
	}
	return formatTime(*t)
}

// timeScanner scans a stored time into *dst.
type timeScanner struct{ dst *time.Time }

// Scan implements sql.Scanner.
func (s timeScanner) Scan(src any) error {
	t, err := scanTime(src)
	if err != nil {
		return err
	} else if t == nil {
		return fmt.Errorf("unexpected NULL time")
	}
	*s.dst = *t
	return nil
}

// nullTimeScanner scans a stored time, or NULL as nil, into *dst.
type nullTimeScanner struct{ dst **time.Time }

// Scan implements sql.Scanner.
func (s nullTimeScanner) Scan(src any) error {
	t, err := scanTime(src)
	if err != nil {
		return err
	}
	*s.dst = t
	return nil
}

// scanTime parses a stored time.
func scanTime(src any) (*time.Time, error) {
	var text string
	switch v := src.(type) {
	case nil:
		return nil, nil
	case string:
		text = v
	case []byte:
		text = string(v)
	case time.Time:
		t := v.UTC()
		return &t, nil
	default:
		return nil, fmt.Errorf("cannot scan %T as a time", src)
	}
	t, err := time.Parse(time.RFC3339Nano, text)
	if err != nil {
		return nil, fmt.Errorf("parse stored time: %w", err)
	}
	t = t.UTC()
	return &t, nil
}

// isNotFound reports whether err is sql.ErrNoRows.
func isNotFound(err error) bool { return errors.Is(err, sql.ErrNoRows) }

// errNotFound returns an ENOTFOUND error for what was looked up.
func errNotFound(format string, args ...any) error {
	return trust.Errorf(trust.ENOTFOUND, format, args...)
}
