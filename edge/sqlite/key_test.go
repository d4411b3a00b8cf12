package sqlite_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/openagents/trust/edge/sqlite"
	"github.com/openagents/trust/shared/trust"
)

// NewKeyVersion returns a valid active key version valid for a year from t0.
func NewKeyVersion(tb testing.TB, keyID string, version int) *trust.KeyVersion {
	tb.Helper()
	return &trust.KeyVersion{
		KeyID: keyID, Version: version, Algorithm: trust.AlgorithmEd25519, PublicKey: MustPublicKey(tb),
		NotBefore: t0.Add(-time.Hour), NotAfter: t0.Add(365 * 24 * time.Hour),
	}
}

// MustCreateKeyVersion publishes k or fails the test.
func MustCreateKeyVersion(tb testing.TB, db *sqlite.DB, k *trust.KeyVersion) *trust.KeyVersion {
	tb.Helper()
	if err := sqlite.NewKeyService(db).CreateKeyVersion(context.Background(), k); err != nil {
		tb.Fatal(err)
	}
	return k
}

// MustFindKeyring returns the keyring or fails the test.
func MustFindKeyring(tb testing.TB, db *sqlite.DB) *trust.Keyring {
	tb.Helper()
	kr, err := sqlite.NewKeyService(db).FindKeyring(context.Background())
	if err != nil {
		tb.Fatal(err)
	}
	return kr
}

func TestKeyService_CreateKeyVersion(t *testing.T) {
	ctx := context.Background()

	t.Run("OK", func(t *testing.T) {
		db, _ := MustOpenDB(t)
		k := MustCreateKeyVersion(t, db, NewKeyVersion(t, "main", 1))
		if k.State != trust.KeyActive || !k.CreatedAt.Equal(t0) {
			t.Fatalf("got state %q created %v, want active at %v", k.State, k.CreatedAt, t0)
		}
		MustCreateKeyVersion(t, db, NewKeyVersion(t, "main", 2))
		MustCreateKeyVersion(t, db, NewKeyVersion(t, "other", 1))

		kr := MustFindKeyring(t, db)
		if kr.Sequence != 3 || !kr.UpdatedAt.Equal(t0) {
			t.Fatalf("sequence %d updated %v, want 3 at %v", kr.Sequence, kr.UpdatedAt, t0)
		}
		var refs []string
		for _, k := range kr.Keys {
			refs = append(refs, k.Ref())
		}
		if got, want := strings.Join(refs, ","), "main:1,main:2,other:1"; got != want {
			t.Fatalf("keys = %s, want %s", got, want)
		}
		got := kr.Find("main", 1)
		if got.PublicKey != k.PublicKey || !got.NotBefore.Equal(k.NotBefore) || !got.NotAfter.Equal(k.NotAfter) || got.RevokedAt != nil {
			t.Fatalf("stored %+v, want %+v", got, k)
		}
	})

	t.Run("Retiring", func(t *testing.T) {
		db, _ := MustOpenDB(t)
		k := NewKeyVersion(t, "main", 1)
		k.State = trust.KeyRetiring
		MustCreateKeyVersion(t, db, k)
		if got := MustFindKeyring(t, db).Find("main", 1); got.State != trust.KeyRetiring {
			t.Fatalf("state = %q, want retiring", got.State)
		}
	})

	t.Run("ErrConflict", func(t *testing.T) {
		db, _ := MustOpenDB(t)
		MustCreateKeyVersion(t, db, NewKeyVersion(t, "main", 1))
		MustCreateKeyVersion(t, db, NewKeyVersion(t, "main", 2))
		for _, v := range []int{1, 2} {
			wantCode(t, sqlite.NewKeyService(db).CreateKeyVersion(ctx, NewKeyVersion(t, "main", v)), trust.ECONFLICT)
		}
		if kr := MustFindKeyring(t, db); kr.Sequence != 2 {
			t.Fatalf("sequence = %d after refused writes, want 2", kr.Sequence)
		}
	})

	t.Run("ErrGap", func(t *testing.T) {
		db, _ := MustOpenDB(t)
		wantCode(t, sqlite.NewKeyService(db).CreateKeyVersion(ctx, NewKeyVersion(t, "main", 2)), trust.EINVALID)
		MustCreateKeyVersion(t, db, NewKeyVersion(t, "main", 1))
		wantCode(t, sqlite.NewKeyService(db).CreateKeyVersion(ctx, NewKeyVersion(t, "main", 3)), trust.EINVALID)
	})

	t.Run("OKNextVersion", func(t *testing.T) {
		db, _ := MustOpenDB(t)
		MustCreateKeyVersion(t, db, NewKeyVersion(t, "main", 1))
		k := NewKeyVersion(t, "main", 0)
		if err := sqlite.NewKeyService(db).CreateKeyVersion(ctx, k); err != nil {
			t.Fatal(err)
		} else if k.Version != 2 {
			t.Fatalf("version=%d, want 2", k.Version)
		}
		fresh := NewKeyVersion(t, "fresh", 0)
		if err := sqlite.NewKeyService(db).CreateKeyVersion(ctx, fresh); err != nil {
			t.Fatal(err)
		} else if fresh.Version != 1 {
			t.Fatalf("first version of a new key ID = %d, want 1", fresh.Version)
		}
		if got := MustFindKeyring(t, db).Find("main", 2); got == nil || got.PublicKey != k.PublicKey {
			t.Fatalf("stored main:2 = %+v, want the published key", got)
		}
	})

	t.Run("ErrKeyPublishedTwice", func(t *testing.T) {
		// A key is published once: once revoked it can never come back,
		// under another version or another key ID.
		db, _ := MustOpenDB(t)
		svc := sqlite.NewKeyService(db)
		first := NewKeyVersion(t, "main", 1)
		MustCreateKeyVersion(t, db, first)
		if _, err := svc.RevokeKeyVersion(ctx, "main", 1, "leaked"); err != nil {
			t.Fatal(err)
		}
		for _, id := range []string{"main", "other"} {
			again := NewKeyVersion(t, id, 0)
			again.PublicKey = first.PublicKey
			wantCode(t, svc.CreateKeyVersion(ctx, again), trust.ECONFLICT)
		}
	})

	t.Run("ErrKeyPublishedTwiceActive", func(t *testing.T) {
		db, _ := MustOpenDB(t)
		svc := sqlite.NewKeyService(db)
		first := MustCreateKeyVersion(t, db, NewKeyVersion(t, "main", 1))
		for _, k := range []*trust.KeyVersion{NewKeyVersion(t, "main", 2), NewKeyVersion(t, "other", 1)} {
			k.PublicKey = first.PublicKey
			wantCode(t, svc.CreateKeyVersion(ctx, k), trust.ECONFLICT)
		}
		if kr := MustFindKeyring(t, db); kr.Sequence != 1 || len(kr.Keys) != 1 {
			t.Fatalf("keyring = %+v after refused writes, want main:1 alone at sequence 1", kr)
		}
	})

	t.Run("ErrInvalid", func(t *testing.T) {
		revoked := t0
		for name, mutate := range map[string]func(*trust.KeyVersion){
			"KeyID":     func(k *trust.KeyVersion) { k.KeyID = "Main Key" },
			"NoKeyID":   func(k *trust.KeyVersion) { k.KeyID = "" },
			"Version":   func(k *trust.KeyVersion) { k.Version = -1 },
			"Algorithm": func(k *trust.KeyVersion) { k.Algorithm = "rsa" },
			"PublicKey": func(k *trust.KeyVersion) {
				k.PublicKey = "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"
			},
			"NoPublicKey":   func(k *trust.KeyVersion) { k.PublicKey = "" },
			"Window":        func(k *trust.KeyVersion) { k.NotAfter = k.NotBefore },
			"NoNotBefore":   func(k *trust.KeyVersion) { k.NotBefore = time.Time{} },
			"StateRevoked":  func(k *trust.KeyVersion) { k.State = trust.KeyRevoked },
			"StateUnknown":  func(k *trust.KeyVersion) { k.State = "paused" },
			"RevokedAt":     func(k *trust.KeyVersion) { k.RevokedAt = &revoked },
			"RevokedReason": func(k *trust.KeyVersion) { k.RevocationReason = "leaked" },
		} {
			t.Run(name, func(t *testing.T) {
				db, _ := MustOpenDB(t)
				k := NewKeyVersion(t, "main", 1)
				mutate(k)
				wantCode(t, sqlite.NewKeyService(db).CreateKeyVersion(ctx, k), trust.EINVALID)
			})
		}
		t.Run("Nil", func(t *testing.T) {
			db, _ := MustOpenDB(t)
			wantCode(t, sqlite.NewKeyService(db).CreateKeyVersion(ctx, nil), trust.EINVALID)
		})
	})
}

func TestKeyService_RetireKeyVersion(t *testing.T) {
	ctx := context.Background()

	t.Run("OK", func(t *testing.T) {
		db, _ := MustOpenDB(t)
		MustCreateKeyVersion(t, db, NewKeyVersion(t, "main", 1))
		k, err := sqlite.NewKeyService(db).RetireKeyVersion(ctx, "main", 1)
		if err != nil {
			t.Fatal(err)
		} else if k.State != trust.KeyRetiring {
			t.Fatalf("state = %q, want retiring", k.State)
		}
		if kr := MustFindKeyring(t, db); kr.Sequence != 2 || kr.Keys[0].State != trust.KeyRetiring {
			t.Fatalf("keyring = %+v, want sequence 2 with main:1 retiring", kr)
		}
		// Retiring again changes nothing, not even the sequence.
		if _, err := sqlite.NewKeyService(db).RetireKeyVersion(ctx, "main", 1); err != nil {
			t.Fatal(err)
		} else if kr := MustFindKeyring(t, db); kr.Sequence != 2 {
			t.Fatalf("sequence = %d after a second retire, want 2", kr.Sequence)
		}
	})

	t.Run("ErrNotFound", func(t *testing.T) {
		db, _ := MustOpenDB(t)
		_, err := sqlite.NewKeyService(db).RetireKeyVersion(ctx, "main", 1)
		wantCode(t, err, trust.ENOTFOUND)
	})

	t.Run("ErrRevoked", func(t *testing.T) {
		db, _ := MustOpenDB(t)
		s := sqlite.NewKeyService(db)
		MustCreateKeyVersion(t, db, NewKeyVersion(t, "main", 1))
		if _, err := s.RevokeKeyVersion(ctx, "main", 1, "leaked"); err != nil {
			t.Fatal(err)
		}
		_, err := s.RetireKeyVersion(ctx, "main", 1)
		wantCode(t, err, trust.ECONFLICT)
	})
}

func TestKeyService_RevokeKeyVersion(t *testing.T) {
	ctx := context.Background()

	t.Run("OK", func(t *testing.T) {
		db, clock := MustOpenDB(t)
		s := sqlite.NewKeyService(db)
		MustCreateKeyVersion(t, db, NewKeyVersion(t, "main", 1))
		clock.Add(time.Minute)
		k, err := s.RevokeKeyVersion(ctx, "main", 1, "private key leaked")
		if err != nil {
			t.Fatal(err)
		} else if k.State != trust.KeyRevoked || k.RevokedAt == nil || !k.RevokedAt.Equal(t0.Add(time.Minute)) || k.RevocationReason != "private key leaked" {
			t.Fatalf("got %+v, want revoked at %v", k, t0.Add(time.Minute))
		}
		kr := MustFindKeyring(t, db)
		if got := kr.Find("main", 1); got.State != trust.KeyRevoked || !got.RevokedAt.Equal(*k.RevokedAt) {
			t.Fatalf("stored %+v", got)
		} else if kr.Sequence != 2 || !kr.UpdatedAt.Equal(t0.Add(time.Minute)) {
			t.Fatalf("sequence %d at %v, want 2 at %v", kr.Sequence, kr.UpdatedAt, t0.Add(time.Minute))
		}
	})

	t.Run("Retiring", func(t *testing.T) {
		db, _ := MustOpenDB(t)
		s := sqlite.NewKeyService(db)
		MustCreateKeyVersion(t, db, NewKeyVersion(t, "main", 1))
		if _, err := s.RetireKeyVersion(ctx, "main", 1); err != nil {
			t.Fatal(err)
		}
		if k, err := s.RevokeKeyVersion(ctx, "main", 1, "done"); err != nil {
			t.Fatal(err)
		} else if k.State != trust.KeyRevoked {
			t.Fatalf("state = %q, want revoked", k.State)
		}
	})

	t.Run("Twice", func(t *testing.T) {
		db, clock := MustOpenDB(t)
		s := sqlite.NewKeyService(db)
		MustCreateKeyVersion(t, db, NewKeyVersion(t, "main", 1))
		if _, err := s.RevokeKeyVersion(ctx, "main", 1, "first"); err != nil {
			t.Fatal(err)
		}
		clock.Add(time.Hour)
		k, err := s.RevokeKeyVersion(ctx, "main", 1, "second")
		if err != nil {
			t.Fatal(err)
		} else if k.RevocationReason != "first" || !k.RevokedAt.Equal(t0) {
			t.Fatalf("got reason %q at %v, want the first revocation", k.RevocationReason, k.RevokedAt)
		} else if kr := MustFindKeyring(t, db); kr.Sequence != 2 {
			t.Fatalf("sequence = %d, want 2", kr.Sequence)
		}
	})

	t.Run("ErrNotFound", func(t *testing.T) {
		db, _ := MustOpenDB(t)
		_, err := sqlite.NewKeyService(db).RevokeKeyVersion(ctx, "main", 1, "leaked")
		wantCode(t, err, trust.ENOTFOUND)
	})

	t.Run("ErrInvalidReason", func(t *testing.T) {
		db, _ := MustOpenDB(t)
		MustCreateKeyVersion(t, db, NewKeyVersion(t, "main", 1))
		for _, reason := range []string{"", strings.Repeat("x", sqlite.MaxRevocationReason+1), "\xff"} {
			_, err := sqlite.NewKeyService(db).RevokeKeyVersion(ctx, "main", 1, reason)
			wantCode(t, err, trust.EINVALID)
		}
	})
}

// TestKeyService_Sequence checks that every change to the keyring, and only a
// change, moves its sequence forward by one.
func TestKeyService_Sequence(t *testing.T) {
	ctx := context.Background()
	db, clock := MustOpenDB(t)
	s := sqlite.NewKeyService(db)
	steps := []struct {
		name   string
		do     func() error
		change bool
	}{
		{"create main:1", func() error { return s.CreateKeyVersion(ctx, NewKeyVersion(t, "main", 1)) }, true},
		{"create main:2", func() error { return s.CreateKeyVersion(ctx, NewKeyVersion(t, "main", 2)) }, true},
		{"conflict main:2", func() error { return s.CreateKeyVersion(ctx, NewKeyVersion(t, "main", 2)) }, false},
		{"retire main:1", func() error { _, err := s.RetireKeyVersion(ctx, "main", 1); return err }, true},
		{"retire main:1 again", func() error { _, err := s.RetireKeyVersion(ctx, "main", 1); return err }, false},
		{"revoke main:1", func() error { _, err := s.RevokeKeyVersion(ctx, "main", 1, "rotated"); return err }, true},
		{"revoke main:1 again", func() error { _, err := s.RevokeKeyVersion(ctx, "main", 1, "again"); return err }, false},
		{"revoke main:2", func() error { _, err := s.RevokeKeyVersion(ctx, "main", 2, "leaked"); return err }, true},
	}
	want := int64(0)
	for _, step := range steps {
		clock.Add(time.Second)
		_ = step.do()
		if step.change {
			want++
		}
		if kr := MustFindKeyring(t, db); kr.Sequence != want {
			t.Fatalf("after %s: sequence = %d, want %d", step.name, kr.Sequence, want)
		}
	}
}
