package sqlite_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"regexp"
	"strings"
	"testing"

	"github.com/openagents/trust/edge/sqlite"
	"github.com/openagents/trust/shared/trust"
)

// MustCreateMachineToken issues a token or fails the test.
func MustCreateMachineToken(tb testing.TB, db *sqlite.DB, machineID, tenantID string) string {
	tb.Helper()
	token, err := sqlite.NewMachineTokenService(db).CreateMachineToken(context.Background(), machineID, tenantID)
	if err != nil {
		tb.Fatal(err)
	}
	return token
}

func TestMachineTokenService(t *testing.T) {
	ctx := context.Background()

	t.Run("OK", func(t *testing.T) {
		db, _ := MustOpenDB(t)
		s := sqlite.NewMachineTokenService(db)
		token := MustCreateMachineToken(t, db, "e784079b449483", "tenant-1")
		if !regexp.MustCompile(`^oamt_[A-Za-z0-9_-]{43}$`).MatchString(token) {
			t.Fatalf("token %q: want oamt_ and 43 base64url characters", token)
		}
		m, err := s.AuthenticateMachine(ctx, token)
		if err != nil {
			t.Fatal(err)
		} else if m.ID != "e784079b449483" || m.TenantID != "tenant-1" || !m.CreatedAt.Equal(t0) {
			t.Fatalf("got %+v", m)
		}
		if other := MustCreateMachineToken(t, db, "e784079b449483", "tenant-1"); other == token {
			t.Fatal("two tokens are equal")
		}
	})

	t.Run("StoredHashed", func(t *testing.T) {
		db, _ := MustOpenDB(t)
		token := MustCreateMachineToken(t, db, "m1", "t1")
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
		var hash string
		if err := tx.QueryRow(`SELECT token_hash FROM machine_tokens`).Scan(&hash); err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256([]byte(token))
		if want := hex.EncodeToString(sum[:]); hash != want {
			t.Fatalf("token_hash = %q, want %q", hash, want)
		}
		var n int
		if err := tx.QueryRow(`SELECT COUNT(*) FROM machine_tokens WHERE instr(machine_id || tenant_id || token_hash, ?) > 0`, token[5:]).Scan(&n); err != nil {
			t.Fatal(err)
		} else if n != 0 {
			t.Fatal("raw token stored")
		}
	})

	t.Run("ErrUnauthorized", func(t *testing.T) {
		db, _ := MustOpenDB(t)
		token := MustCreateMachineToken(t, db, "m1", "t1")
		for name, tok := range map[string]string{
			"Empty":     "",
			"NoPrefix":  strings.TrimPrefix(token, "oamt_"),
			"Truncated": token[:len(token)-1],
			"Unknown":   "oamt_" + strings.Repeat("A", 43),
		} {
			t.Run(name, func(t *testing.T) {
				_, err := sqlite.NewMachineTokenService(db).AuthenticateMachine(ctx, tok)
				wantCode(t, err, trust.EUNAUTHORIZED)
			})
		}
	})

	t.Run("Revoke", func(t *testing.T) {
		db, _ := MustOpenDB(t)
		s := sqlite.NewMachineTokenService(db)
		a := MustCreateMachineToken(t, db, "m1", "t1")
		b := MustCreateMachineToken(t, db, "m1", "t1")
		other := MustCreateMachineToken(t, db, "m2", "t1")
		if err := s.RevokeMachineTokens(ctx, "m1"); err != nil {
			t.Fatal(err)
		}
		for _, tok := range []string{a, b} {
			_, err := s.AuthenticateMachine(ctx, tok)
			wantCode(t, err, trust.EUNAUTHORIZED)
		}
		if _, err := s.AuthenticateMachine(ctx, other); err != nil {
			t.Fatalf("other machine: %v", err)
		}
		if err := s.RevokeMachineTokens(ctx, "m1"); err != nil {
			t.Fatalf("revoke again: %v", err)
		}
	})

	t.Run("ErrRevokeNotFound", func(t *testing.T) {
		db, _ := MustOpenDB(t)
		wantCode(t, sqlite.NewMachineTokenService(db).RevokeMachineTokens(ctx, "m1"), trust.ENOTFOUND)
	})

	t.Run("ErrInvalid", func(t *testing.T) {
		db, _ := MustOpenDB(t)
		s := sqlite.NewMachineTokenService(db)
		for _, ids := range [][2]string{{"", "t"}, {"m", ""}, {"m 1", "t"}, {"m", "t/1"}, {strings.Repeat("m", 129), "t"}} {
			_, err := s.CreateMachineToken(ctx, ids[0], ids[1])
			wantCode(t, err, trust.EINVALID)
		}
	})
}

// TestMachineTokenService_Concurrent checks that concurrent writers queue on
// the busy timeout (IMMEDIATE transactions) instead of failing as busy, while
// readers run alongside.
func TestMachineTokenService_Concurrent(t *testing.T) {
	ctx := context.Background()
	db, _ := MustOpenDB(t)
	s := sqlite.NewMachineTokenService(db)
	errc := make(chan error, 16)
	for g := 0; g < 8; g++ {
		go func() {
			for i := 0; i < 20; i++ {
				token, err := s.CreateMachineToken(ctx, "m1", "t1")
				if err == nil {
					_, err = s.AuthenticateMachine(ctx, token)
				}
				if err != nil {
					errc <- err
					return
				}
			}
			errc <- nil
		}()
	}
	for g := 0; g < 8; g++ {
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
}
