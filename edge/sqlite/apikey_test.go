package sqlite_test

import (
	"bytes"
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/openagents/trust/edge/sqlite"
	"github.com/openagents/trust/shared/seal"
	"github.com/openagents/trust/shared/trust"
)

// Canary keys: they must never appear in an error, a row's clear text or a
// listing.
const (
	canaryAnthropic = "sk-ant-api03-CANARY-sqlite-7d1e4f0a9b2c"
	canaryOpenAI    = "sk-proj-CANARY-sqlite-3c5e7a9b1d2f"
	canaryUser      = "sk-ant-CANARY-user-key-b8a6c4e2f0d1"
)

// MustSealer returns a sealer with a KEK of fixed bytes.
func MustSealer(tb testing.TB, fill byte) *seal.Sealer {
	tb.Helper()
	k, err := seal.NewFileKEK(bytes.Repeat([]byte{fill}, seal.KeySize))
	if err != nil {
		tb.Fatal(err)
	}
	return seal.New(k)
}

// wantNoCanary fails if err mentions a canary.
func wantNoCanary(tb testing.TB, err error) {
	tb.Helper()
	if err != nil && strings.Contains(err.Error(), "CANARY") {
		tb.Fatalf("canary key in error: %v", err)
	}
}

func TestAPIKeyService_Versions(t *testing.T) {
	ctx := context.Background()
	db, clock := MustOpenDB(t)
	s := sqlite.NewAPIKeyService(db, MustSealer(t, 1))

	if _, err := s.FindCurrentAPIKeyVersion(ctx, trust.ProviderAnthropic); trust.ErrorCode(err) != trust.ENOTFOUND {
		t.Fatalf("current before any = %v, want ENOTFOUND", err)
	}
	v1, created, err := s.CreateAPIKeyVersion(ctx, &trust.APIKeyVersionCreate{Provider: trust.ProviderAnthropic, Key: canaryAnthropic, Period: "2026-10"})
	if err != nil || !created || v1.Version != 1 || v1.State != trust.APIKeyActive {
		t.Fatalf("v1 = %+v, %v, %v", v1, created, err)
	}
	t.Run("IdempotentPerPeriod", func(t *testing.T) {
		again, created, err := s.CreateAPIKeyVersion(ctx, &trust.APIKeyVersionCreate{Provider: trust.ProviderAnthropic, Key: "sk-other", Period: "2026-10"})
		if err != nil || created || again.Version != 1 {
			t.Fatalf("again = %+v, %v, %v", again, created, err)
		}
		_, key, err := s.UnsealCurrentKey(ctx, trust.ProviderAnthropic)
		if err != nil || key != canaryAnthropic {
			t.Fatalf("key changed by a repeated period: %v", err)
		}
	})

	clock.Add(24 * time.Hour)
	v2, created, err := s.CreateAPIKeyVersion(ctx, &trust.APIKeyVersionCreate{Provider: trust.ProviderAnthropic, Key: canaryAnthropic + "-2", Period: "2026-11", Overlap: 72 * time.Hour})
	if err != nil || !created || v2.Version != 2 {
		t.Fatalf("v2 = %+v, %v, %v", v2, created, err)
	}
	vs, err := s.FindAPIKeyVersions(ctx, trust.ProviderAnthropic)
	if err != nil || len(vs) != 2 || vs[0].Version != 2 || vs[1].State != trust.APIKeyPrevious || vs[1].RetireAfter == nil ||
		!vs[1].RetireAfter.Equal(clock.Now().Add(72*time.Hour)) {
		t.Fatalf("versions = %+v, %v", vs, err)
	}
	if cur, err := s.FindCurrentAPIKeyVersion(ctx, trust.ProviderAnthropic); err != nil || cur.Version != 2 {
		t.Fatalf("current = %+v, %v", cur, err)
	}
	if v, key, err := s.UnsealCurrentKey(ctx, trust.ProviderAnthropic); err != nil || v != 2 || key != canaryAnthropic+"-2" {
		t.Fatalf("unseal = %d, %v", v, err)
	}
	// OpenAI is a separate series.
	if v, _, err := s.CreateAPIKeyVersion(ctx, &trust.APIKeyVersionCreate{Provider: trust.ProviderOpenAI, Key: canaryOpenAI}); err != nil || v.Version != 1 {
		t.Fatalf("openai v1 = %+v, %v", v, err)
	}

	t.Run("Retire", func(t *testing.T) {
		clock.Add(71 * time.Hour)
		if got, err := s.RetireAPIKeyVersions(ctx, trust.ProviderAnthropic); err != nil || len(got) != 0 {
			t.Fatalf("retired inside the window: %+v, %v", got, err)
		}
		clock.Add(time.Hour)
		got, err := s.RetireAPIKeyVersions(ctx, trust.ProviderAnthropic)
		if err != nil || len(got) != 1 || got[0].Version != 1 || got[0].State != trust.APIKeyRetired {
			t.Fatalf("retired = %+v, %v", got, err)
		}
		if cur, err := s.FindCurrentAPIKeyVersion(ctx, trust.ProviderAnthropic); err != nil || cur.Version != 2 {
			t.Fatalf("current = %+v, %v", cur, err)
		}
	})

	t.Run("Invalid", func(t *testing.T) {
		for name, c := range map[string]*trust.APIKeyVersionCreate{
			"Provider":  {Provider: "gemini", Key: canaryAnthropic},
			"EmptyKey":  {Provider: trust.ProviderOpenAI},
			"SpaceKey":  {Provider: trust.ProviderOpenAI, Key: canaryOpenAI + " x"},
			"LongKey":   {Provider: trust.ProviderOpenAI, Key: strings.Repeat("k", trust.MaxAPIKeySize+1)},
			"Period":    {Provider: trust.ProviderOpenAI, Key: canaryOpenAI, Period: "2026-13"},
			"Overlap":   {Provider: trust.ProviderOpenAI, Key: canaryOpenAI, Overlap: -time.Hour},
			"NilCreate": nil,
		} {
			t.Run(name, func(t *testing.T) {
				_, _, err := s.CreateAPIKeyVersion(ctx, c)
				WantCode(t, err, trust.EINVALID)
				wantNoCanary(t, err)
			})
		}
	})
	t.Run("ErrUnavailableWithoutKEK", func(t *testing.T) {
		bare := sqlite.NewAPIKeyService(db, nil)
		_, _, err := bare.CreateAPIKeyVersion(ctx, &trust.APIKeyVersionCreate{Provider: trust.ProviderOpenAI, Key: canaryOpenAI})
		WantCode(t, err, trust.EUNAVAILABLE)
		_, _, err = bare.UnsealCurrentKey(ctx, trust.ProviderOpenAI)
		WantCode(t, err, trust.EUNAVAILABLE)
	})
	t.Run("ErrWrongKEK", func(t *testing.T) {
		other := sqlite.NewAPIKeyService(db, MustSealer(t, 2))
		_, _, err := other.UnsealCurrentKey(ctx, trust.ProviderOpenAI)
		WantCode(t, err, trust.EINTERNAL)
		wantNoCanary(t, err)
	})
}

// TestAPIKeyService_SealedAtRest reads the catalog file directly: no key
// in the clear, and a sealed key moved to another row does not open.
func TestAPIKeyService_SealedAtRest(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db := sqlite.NewDB(filepath.Join(dir, "catalog.db"))
	if err := db.Open(); err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	s := sqlite.NewAPIKeyService(db, MustSealer(t, 1))
	for _, k := range []string{canaryOpenAI, canaryOpenAI + "-2"} {
		if _, _, err := s.CreateAPIKeyVersion(ctx, &trust.APIKeyVersionCreate{Provider: trust.ProviderOpenAI, Key: k}); err != nil {
			t.Fatal(err)
		}
	}

	raw, err := sql.Open("sqlite", filepath.Join(dir, "catalog.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	var n int
	if err := raw.QueryRow(`SELECT COUNT(*) FROM api_key_versions WHERE instr(sealed_key, 'CANARY') > 0`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("clear key in %d rows (%v)", n, err)
	}
	// Copy version 1's blob over version 2's: the active row must not open.
	if _, err := raw.Exec(`UPDATE api_key_versions SET sealed_key = (SELECT sealed_key FROM api_key_versions WHERE provider = 'openai' AND version = 1) WHERE provider = 'openai' AND version = 2`); err != nil {
		t.Fatal(err)
	}
	_, _, err = s.UnsealCurrentKey(ctx, trust.ProviderOpenAI)
	WantCode(t, err, trust.EINTERNAL)
	wantNoCanary(t, err)
}

func TestUserKeyStore(t *testing.T) {
	ctx := context.Background()
	tn, svc, _ := MustTenancy(t)
	_, credA := MustCreateTenant(t, svc, "a")
	_, credB := MustCreateTenant(t, svc, "b")
	ua, _ := MustSession(t, tn, credA)
	ub, _ := MustSession(t, tn, credB)
	ma, err := tn.Authenticate(ctx, MustCreateMachineToken(t, tn.DB(), "m-a", "a"))
	if err != nil {
		t.Fatal(err)
	}
	ks := sqlite.NewUserKeyStore(MustSealer(t, 3))

	k, err := ks.PutUserAPIKey(ctx, ua, trust.ProviderAnthropic, canaryUser)
	if err != nil || k.TenantID != "a" || k.Version != 1 {
		t.Fatalf("put = %+v, %v", k, err)
	}
	t.Run("Unseal", func(t *testing.T) {
		got, key, err := ks.UnsealUserKey(ctx, svc, "a", trust.ProviderAnthropic)
		if err != nil || key != canaryUser || got.Version != 1 {
			t.Fatalf("unseal = %+v, %v", got, err)
		}
	})
	t.Run("Replace", func(t *testing.T) {
		if k, err := ks.PutUserAPIKey(ctx, ua, trust.ProviderAnthropic, canaryUser+"-2"); err != nil || k.Version != 2 {
			t.Fatalf("replace = %+v, %v", k, err)
		}
		if _, key, err := ks.UnsealUserKey(ctx, svc, "a", trust.ProviderAnthropic); err != nil || key != canaryUser+"-2" {
			t.Fatalf("unseal after replace: %v", err)
		}
	})
	t.Run("OtherTenantNotFound", func(t *testing.T) {
		if keys, err := ks.FindUserAPIKeys(ctx, ub); err != nil || len(keys) != 0 {
			t.Fatalf("tenant b sees %+v, %v", keys, err)
		}
		WantCode(t, ks.DeleteUserAPIKey(ctx, ub, trust.ProviderAnthropic), trust.ENOTFOUND)
		_, _, err := ks.UnsealUserKey(ctx, svc, "b", trust.ProviderAnthropic)
		WantCode(t, err, trust.ENOTFOUND)
	})
	t.Run("ErrForbiddenMachine", func(t *testing.T) {
		_, err := ks.PutUserAPIKey(ctx, ma, trust.ProviderOpenAI, canaryUser)
		WantCode(t, err, trust.EFORBIDDEN)
	})
	t.Run("ErrUnauthorizedZeroHandles", func(t *testing.T) {
		_, err := ks.PutUserAPIKey(ctx, &sqlite.TenantStore{}, trust.ProviderOpenAI, canaryUser)
		WantCode(t, err, trust.EUNAUTHORIZED)
		_, _, err = ks.UnsealUserKey(ctx, &sqlite.ServiceStore{}, "a", trust.ProviderAnthropic)
		WantCode(t, err, trust.EUNAUTHORIZED)
		_, _, err = ks.UnsealUserKey(ctx, nil, "a", trust.ProviderAnthropic)
		WantCode(t, err, trust.EUNAUTHORIZED)
	})
	t.Run("ErrInvalid", func(t *testing.T) {
		_, err := ks.PutUserAPIKey(ctx, ua, "gemini", canaryUser)
		WantCode(t, err, trust.EINVALID)
		_, err = ks.PutUserAPIKey(ctx, ua, trust.ProviderOpenAI, "")
		WantCode(t, err, trust.EINVALID)
	})
	t.Run("List", func(t *testing.T) {
		keys, err := ks.FindUserAPIKeys(ctx, ma) // a Machine may see which keys exist
		if err != nil || len(keys) != 1 || keys[0].Provider != trust.ProviderAnthropic {
			t.Fatalf("keys = %+v, %v", keys, err)
		}
	})
	t.Run("Delete", func(t *testing.T) {
		if err := ks.DeleteUserAPIKey(ctx, ua, trust.ProviderAnthropic); err != nil {
			t.Fatal(err)
		}
		_, _, err := ks.UnsealUserKey(ctx, svc, "a", trust.ProviderAnthropic)
		WantCode(t, err, trust.ENOTFOUND)
	})
	t.Run("TenantBoundInSealedContext", func(t *testing.T) {
		// Tenant b stores a key; its sealed blob copied into tenant a's row
		// must not open as tenant a's.
		if _, err := ks.PutUserAPIKey(ctx, ub, trust.ProviderOpenAI, canaryUser); err != nil {
			t.Fatal(err)
		}
		if _, err := ks.PutUserAPIKey(ctx, ua, trust.ProviderOpenAI, "sk-a-own"); err != nil {
			t.Fatal(err)
		}
		raw, err := sql.Open("sqlite", tn.DB().DSN)
		if err != nil {
			t.Fatal(err)
		}
		defer raw.Close()
		if _, err := raw.Exec(`UPDATE user_api_keys SET sealed_key = (SELECT sealed_key FROM user_api_keys WHERE tenant_id = 'b' AND provider = 'openai'), version = 1
			WHERE tenant_id = 'a' AND provider = 'openai'`); err != nil {
			t.Fatal(err)
		}
		_, _, err = ks.UnsealUserKey(ctx, svc, "a", trust.ProviderOpenAI)
		WantCode(t, err, trust.EINTERNAL)
		wantNoCanary(t, err)
	})
}
