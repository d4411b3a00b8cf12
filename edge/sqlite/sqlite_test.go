package sqlite_test

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/openagents/trust/edge/sqlite"
	"github.com/openagents/trust/shared/digest"
	"github.com/openagents/trust/shared/signing"
	"github.com/openagents/trust/shared/trust"
)

// t0 is the time every test clock starts at.
var t0 = time.Date(2026, 11, 24, 12, 0, 0, 123456789, time.UTC)

// Clock is a settable test clock.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// Now returns the clock's time.
func (c *Clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }

// Add moves the clock forward.
func (c *Clock) Add(d time.Duration) { c.mu.Lock(); defer c.mu.Unlock(); c.now = c.now.Add(d) }

// MustOpenDB returns an open catalog in a temporary directory, with a test
// clock starting at t0. It is closed when the test ends.
func MustOpenDB(tb testing.TB) (*sqlite.DB, *Clock) {
	tb.Helper()
	clock := &Clock{now: t0}
	db := sqlite.NewDB(filepath.Join(tb.TempDir(), "catalog.db"))
	db.Now = clock.Now
	if err := db.Open(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := db.Close(); err != nil {
			tb.Error(err)
		}
	})
	return db, clock
}

// MustPublicKey returns a fresh Ed25519 public key as PKIX PEM.
func MustPublicKey(tb testing.TB) string {
	tb.Helper()
	_, pub, err := signing.GenerateKey(nil)
	if err != nil {
		tb.Fatal(err)
	}
	return string(pub)
}

// Digest returns a well-formed digest made of one repeated hex digit.
func Digest(c byte) string {
	b := make([]byte, 64)
	for i := range b {
		b[i] = c
	}
	return "sha256:" + string(b)
}

// MustPermissionsDigest returns the permissions digest of p, the one a skill
// version recording p must carry.
func MustPermissionsDigest(tb testing.TB, p trust.Permissions) string {
	tb.Helper()
	d, err := digest.Permissions(p)
	if err != nil {
		tb.Fatal(err)
	}
	return d
}

// wantCode fails the test unless err carries code.
func wantCode(tb testing.TB, err error, code string) {
	tb.Helper()
	if got := trust.ErrorCode(err); got != code {
		tb.Fatalf("error code = %q (%v), want %q", got, err, code)
	}
}

func TestDB_Open(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		db, _ := MustOpenDB(t)
		tx, err := db.BeginTx(context.Background(), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()

		var mode string
		if err := tx.QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil {
			t.Fatal(err)
		} else if mode != "wal" {
			t.Fatalf("journal_mode = %q, want wal", mode)
		}
		var fk int
		if err := tx.QueryRow(`PRAGMA foreign_keys`).Scan(&fk); err != nil {
			t.Fatal(err)
		} else if fk != 1 {
			t.Fatalf("foreign_keys = %d, want 1", fk)
		}
		var n int
		if err := tx.QueryRow(`SELECT COUNT(*) FROM migrations`).Scan(&n); err != nil {
			t.Fatal(err)
		} else if n < 1 {
			t.Fatalf("applied migrations = %d, want at least 1", n)
		}
	})

	t.Run("Reopen", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "sub", "catalog.db")
		for i := 0; i < 2; i++ {
			db := sqlite.NewDB(path)
			if err := db.Open(); err != nil {
				t.Fatalf("open #%d: %v", i+1, err)
			}
			if err := sqlite.NewKeyService(db).CreateKeyVersion(context.Background(), &trust.KeyVersion{
				KeyID: "k", Version: i + 1, Algorithm: trust.AlgorithmEd25519, PublicKey: MustPublicKey(t),
				NotBefore: t0, NotAfter: t0.Add(time.Hour),
			}); err != nil {
				t.Fatal(err)
			}
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
		}
	})

	t.Run("NoAutoMigrate", func(t *testing.T) {
		db := sqlite.NewDB(filepath.Join(t.TempDir(), "catalog.db"))
		db.AutoMigrate = false
		if err := db.Open(); err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		ctx := context.Background()
		if _, err := sqlite.NewKeyService(db).FindKeyring(ctx); err == nil {
			t.Fatal("FindKeyring before Migrate: want error")
		}
		if err := db.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		if err := db.Migrate(ctx); err != nil {
			t.Fatalf("second Migrate: %v", err)
		}
		kr, err := sqlite.NewKeyService(db).FindKeyring(ctx)
		if err != nil {
			t.Fatal(err)
		} else if kr.Sequence != 0 || len(kr.Keys) != 0 {
			t.Fatalf("keyring = %+v, want empty", kr)
		}
	})

	t.Run("ErrDSNRequired", func(t *testing.T) {
		if err := sqlite.NewDB("").Open(); err == nil {
			t.Fatal("want error")
		}
	})
}
