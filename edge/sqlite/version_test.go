package sqlite_test

import (
	"context"
	"database/sql"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/openagents/trust/edge/sqlite"
)

// MustVersion returns db's catalog version or fails the test.
func MustVersion(tb testing.TB, db *sqlite.DB) uint64 {
	tb.Helper()
	v, err := db.Version(context.Background())
	if err != nil {
		tb.Fatal(err)
	}
	return v
}

func TestDB_Version(t *testing.T) {
	t.Run("Stable", func(t *testing.T) {
		db, _ := MustOpenDB(t)
		v := MustVersion(t, db)
		// Reads, including through the services, change nothing.
		if _, err := sqlite.NewSignatureService(db).FindSignatures(context.Background(), nil); err != nil {
			t.Fatal(err)
		}
		for range 3 {
			if got := MustVersion(t, db); got != v {
				t.Fatalf("version = %d after reads only, want %d", got, v)
			}
		}
	})

	t.Run("OwnWrite", func(t *testing.T) {
		db, _ := MustOpenDB(t)
		v := MustVersion(t, db)
		MustCreateMachineToken(t, db, "m1", "t1")
		got := MustVersion(t, db)
		if got <= v {
			t.Fatalf("version = %d after a commit, want > %d", got, v)
		}
		if again := MustVersion(t, db); again != got {
			t.Fatalf("version = %d, then %d without a write", got, again)
		}
	})

	// A second handle on the same file is another writer as far as SQLite
	// knows: LiteFS applying a replicated transaction looks the same.
	t.Run("OtherHandle", func(t *testing.T) {
		db, _ := MustOpenDB(t)
		other := sqlite.NewDB(db.DSN)
		if err := other.Open(); err != nil {
			t.Fatal(err)
		}
		defer other.Close()

		v := MustVersion(t, db)
		MustCreateMachineToken(t, other, "m1", "t1")
		if got := MustVersion(t, db); got <= v {
			t.Fatalf("version = %d after another handle's commit, want > %d", got, v)
		}
		v = MustVersion(t, db)
		if err := sqlite.NewMachineTokenService(other).RevokeMachineTokens(context.Background(), "m1"); err != nil {
			t.Fatal(err)
		}
		if got := MustVersion(t, db); got <= v {
			t.Fatalf("version = %d after another handle's revocation, want > %d", got, v)
		}
	})

	t.Run("OtherProcess", func(t *testing.T) {
		db, _ := MustOpenDB(t)
		MustVersion(t, db) // the version connection exists before the write
		v := MustVersion(t, db)

		cmd := exec.Command(os.Args[0], "-test.run=^TestVersionHelperProcess$")
		cmd.Env = append(os.Environ(), "TRUST_VERSION_HELPER_DB="+db.DSN)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("helper process: %v\n%s", err, out)
		}
		if got := MustVersion(t, db); got <= v {
			t.Fatalf("version = %d after another process's commit, want > %d", got, v)
		}
	})

	t.Run("ErrClosed", func(t *testing.T) {
		db := sqlite.NewDB(filepath.Join(t.TempDir(), "catalog.db"))
		if err := db.Open(); err != nil {
			t.Fatal(err)
		}
		MustVersion(t, db)
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Version(context.Background()); err == nil {
			t.Fatal("no error from a closed database")
		}
	})

	t.Run("ErrMemory", func(t *testing.T) {
		db := sqlite.NewDB(":memory:")
		if err := db.Open(); err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if _, err := db.Version(context.Background()); err == nil {
			t.Fatal("an in-memory database reported a version")
		}
	})

	t.Run("Concurrent", func(t *testing.T) {
		db, _ := MustOpenDB(t)
		var wg sync.WaitGroup
		for i := range 4 {
			wg.Go(func() {
				last := uint64(0)
				for range 50 {
					v, err := db.Version(context.Background())
					if err != nil {
						t.Error(err)
						return
					} else if v < last {
						t.Errorf("version went back from %d to %d", last, v)
						return
					}
					last = v
				}
			})
			if i%2 == 0 {
				MustCreateMachineToken(t, db, "m1", "t1")
			}
		}
		wg.Wait()
	})
}

// TestVersionHelperProcess is not a test: TestDB_Version/OtherProcess runs the
// test binary with TRUST_VERSION_HELPER_DB set to commit one row from a
// separate process, through the plain driver.
func TestVersionHelperProcess(t *testing.T) {
	path := os.Getenv("TRUST_VERSION_HELPER_DB")
	if path == "" {
		t.Skip("helper process only")
	}
	conn, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Exec(`INSERT INTO machine_tokens (machine_id, tenant_id, token_hash, created_at) VALUES ('other', 't1', 'x', '2026-01-01T00:00:00.000000000Z')`); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkDBVersion measures one version read (a PRAGMA on the dedicated
// connection), the price a cache pays per request.
func BenchmarkDBVersion(b *testing.B) {
	db, _ := MustOpenDB(b)
	ctx := context.Background()
	MustVersion(b, db)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := db.Version(ctx); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// MustOpenPolledDB opens a catalog whose version is polled every poll.
func MustOpenPolledDB(tb testing.TB, poll time.Duration) *sqlite.DB {
	tb.Helper()
	db := sqlite.NewDB(filepath.Join(tb.TempDir(), "catalog.db"))
	db.VersionPoll = poll
	if err := db.Open(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

func TestDB_VersionPoll(t *testing.T) {
	// The poller never ticks: only this DB's commits and InvalidateVersion
	// move the version, and reads never do.
	t.Run("OwnWriteAndInvalidate", func(t *testing.T) {
		db := MustOpenPolledDB(t, time.Hour)
		v := MustVersion(t, db)
		if _, err := sqlite.NewSignatureService(db).FindSignatures(context.Background(), nil); err != nil {
			t.Fatal(err)
		}
		if got := MustVersion(t, db); got != v {
			t.Fatalf("version = %d after a read, want %d", got, v)
		}
		MustCreateMachineToken(t, db, "m1", "t1")
		got := MustVersion(t, db)
		if got <= v {
			t.Fatalf("version = %d right after a commit, want > %d", got, v)
		}
		db.InvalidateVersion()
		if again := MustVersion(t, db); again <= got {
			t.Fatalf("version = %d after InvalidateVersion, want > %d", again, got)
		}
	})

	// Another handle's commit (as LiteFS applies a replicated transaction)
	// is not seen at once, but by the next poll.
	t.Run("OtherHandle", func(t *testing.T) {
		db := MustOpenPolledDB(t, 5*time.Millisecond)
		other := sqlite.NewDB(db.DSN)
		other.AutoMigrate = false
		if err := other.Open(); err != nil {
			t.Fatal(err)
		}
		defer other.Close()
		v := MustVersion(t, db)
		MustCreateMachineToken(t, other, "m1", "t1")
		deadline := time.Now().Add(10 * time.Second)
		for MustVersion(t, db) == v {
			if time.Now().After(deadline) {
				t.Fatal("version never moved after another handle's commit")
			}
			time.Sleep(time.Millisecond)
		}
	})

	t.Run("ErrClosed", func(t *testing.T) {
		db := sqlite.NewDB(filepath.Join(t.TempDir(), "catalog.db"))
		db.VersionPoll = time.Millisecond
		if err := db.Open(); err != nil {
			t.Fatal(err)
		}
		MustVersion(t, db)
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Version(context.Background()); err == nil {
			t.Fatal("no error from a closed database")
		}
	})
}
