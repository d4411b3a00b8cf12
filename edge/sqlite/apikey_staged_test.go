package sqlite_test

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/openagents/trust/edge/sqlite"
	"github.com/openagents/trust/shared/trust"
)

// canaryStaged is a staged key: it must never appear in an error, a record
// or the database file in the clear.
const canaryStaged = "sk-ant-api03-CANARY-staged-9f8e7d6c5b4a"

func TestAPIKeyService_StagedRotation(t *testing.T) {
	ctx := context.Background()
	db, clock := MustOpenDB(t)
	s := sqlite.NewAPIKeyService(db, MustSealer(t, 1))
	const p = trust.ProviderAnthropic

	_, err := s.FindStagedAPIKey(ctx, p)
	WantCode(t, err, trust.ENOTFOUND)
	_, _, err = s.PromoteStagedAPIKey(ctx, &trust.APIKeyPromote{Provider: p, Period: "2026-11"})
	WantCode(t, err, trust.ECONFLICT)
	if !strings.Contains(err.Error(), "no staged key for anthropic: stage the next key first") {
		t.Fatalf("no staged key error = %v", err)
	}
	if vs, _ := s.FindAPIKeyVersions(ctx, p); len(vs) != 0 {
		t.Fatalf("versions after a failed promotion = %d", len(vs))
	}

	// An earlier version to replace.
	if _, _, err := s.CreateAPIKeyVersion(ctx, &trust.APIKeyVersionCreate{Provider: p, Key: canaryAnthropic, Period: "2026-10"}); err != nil {
		t.Fatal(err)
	}
	// Staging again replaces the first staged key.
	if _, err := s.StageAPIKey(ctx, &trust.APIKeyStage{Provider: p, Key: canaryStaged + "-first", StagedBy: "alice"}); err != nil {
		t.Fatal(err)
	}
	clock.Add(time.Hour)
	st, err := s.StageAPIKey(ctx, &trust.APIKeyStage{Provider: p, Key: canaryStaged, StagedBy: "bob"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.FindStagedAPIKey(ctx, p)
	if err != nil || got.StagedBy != "bob" || got.Fingerprint != trust.APIKeyFingerprint(canaryStaged) || !got.StagedAt.Equal(st.StagedAt) {
		t.Fatalf("staged = %+v, %v", got, err)
	}
	if strings.Contains(got.Fingerprint, "CANARY") || got.Fingerprint == trust.APIKeyFingerprint(canaryStaged+"-first") {
		t.Fatalf("fingerprint = %q", got.Fingerprint)
	}
	_, err = s.FindStagedAPIKey(ctx, trust.ProviderOpenAI)
	WantCode(t, err, trust.ENOTFOUND)

	v, created, err := s.PromoteStagedAPIKey(ctx, &trust.APIKeyPromote{Provider: p, Period: "2026-11", Overlap: 2 * time.Hour})
	if err != nil || !created || v.Version != 2 || v.State != trust.APIKeyActive || v.Period != "2026-11" {
		t.Fatalf("promote = %+v, %v, %v", v, created, err)
	}
	if version, key, err := s.UnsealCurrentKey(ctx, p); err != nil || version != 2 || key != canaryStaged {
		t.Fatalf("current after promotion: version %d, right key %v, %v", version, key == canaryStaged, err)
	}
	vs, err := s.FindAPIKeyVersions(ctx, p)
	if err != nil || len(vs) != 2 || vs[1].State != trust.APIKeyPrevious || vs[1].RetireAfter == nil || !vs[1].RetireAfter.Equal(clock.Now().Add(2*time.Hour)) {
		t.Fatalf("versions = %+v, %v", vs, err)
	}
	_, err = s.FindStagedAPIKey(ctx, p)
	WantCode(t, err, trust.ENOTFOUND)

	t.Run("IdempotentPerPeriod", func(t *testing.T) {
		if _, err := s.StageAPIKey(ctx, &trust.APIKeyStage{Provider: p, Key: canaryStaged + "-dec", StagedBy: "bob"}); err != nil {
			t.Fatal(err)
		}
		again, created, err := s.PromoteStagedAPIKey(ctx, &trust.APIKeyPromote{Provider: p, Period: "2026-11"})
		if err != nil || created || again.Version != 2 {
			t.Fatalf("again = %+v, %v, %v", again, created, err)
		}
		// The key staged for next month stays staged.
		if _, err := s.FindStagedAPIKey(ctx, p); err != nil {
			t.Fatalf("staged key after a replayed period: %v", err)
		}
	})
	t.Run("ErrStagedIsActive", func(t *testing.T) {
		// Staging the live key is refused at once …
		_, err := s.StageAPIKey(ctx, &trust.APIKeyStage{Provider: p, Key: canaryStaged, StagedBy: "bob"})
		WantCode(t, err, trust.ECONFLICT)
		wantNoCanary(t, err)
		// … and so is promoting a staged key that became the live one since.
		const o = trust.ProviderOpenAI
		if _, err := s.StageAPIKey(ctx, &trust.APIKeyStage{Provider: o, Key: canaryOpenAI, StagedBy: "bob"}); err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.CreateAPIKeyVersion(ctx, &trust.APIKeyVersionCreate{Provider: o, Key: canaryOpenAI}); err != nil {
			t.Fatal(err)
		}
		_, _, err = s.PromoteStagedAPIKey(ctx, &trust.APIKeyPromote{Provider: o, Period: "2026-11"})
		WantCode(t, err, trust.ECONFLICT)
		wantNoCanary(t, err)
		if vs, _ := s.FindAPIKeyVersions(ctx, o); len(vs) != 1 {
			t.Fatalf("openai versions = %d, want the one created", len(vs))
		}
		if _, err := s.FindStagedAPIKey(ctx, o); err != nil {
			t.Fatalf("the refused staged key is gone: %v", err)
		}
	})
	t.Run("NoStagedKeyChangesNothing", func(t *testing.T) {
		db, _ := MustOpenDB(t)
		s := sqlite.NewAPIKeyService(db, MustSealer(t, 1))
		_, _, err := s.PromoteStagedAPIKey(ctx, &trust.APIKeyPromote{Provider: trust.ProviderOpenAI, Period: "2026-11"})
		WantCode(t, err, trust.ECONFLICT)
		if vs, _ := s.FindAPIKeyVersions(ctx, trust.ProviderOpenAI); len(vs) != 0 {
			t.Fatalf("openai versions = %d", len(vs))
		}
	})
}

func TestAPIKeyService_StageInvalid(t *testing.T) {
	ctx := context.Background()
	db, _ := MustOpenDB(t)
	s := sqlite.NewAPIKeyService(db, MustSealer(t, 1))
	noSealer := sqlite.NewAPIKeyService(db, nil)
	for _, tt := range []struct {
		name string
		svc  *sqlite.APIKeyService
		st   *trust.APIKeyStage
		code string
	}{
		{"Nil", s, nil, trust.EINVALID},
		{"UnknownProvider", s, &trust.APIKeyStage{Provider: "gemini", Key: canaryStaged, StagedBy: "a"}, trust.EINVALID},
		{"EmptyKey", s, &trust.APIKeyStage{Provider: "openai", StagedBy: "a"}, trust.EINVALID},
		{"KeyWithSpace", s, &trust.APIKeyStage{Provider: "openai", Key: canaryStaged + " x", StagedBy: "a"}, trust.EINVALID},
		{"NoStagedBy", s, &trust.APIKeyStage{Provider: "openai", Key: canaryStaged}, trust.EINVALID},
		{"ControlInStagedBy", s, &trust.APIKeyStage{Provider: "openai", Key: canaryStaged, StagedBy: "a\nb"}, trust.EINVALID},
		{"NoSealer", noSealer, &trust.APIKeyStage{Provider: "openai", Key: canaryStaged, StagedBy: "a"}, trust.EUNAVAILABLE},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.svc.StageAPIKey(ctx, tt.st)
			WantCode(t, err, tt.code)
			wantNoCanary(t, err)
		})
	}
	for _, tt := range []struct {
		name string
		svc  *sqlite.APIKeyService
		p    *trust.APIKeyPromote
		code string
	}{
		{"Nil", s, nil, trust.EINVALID},
		{"NoPeriod", s, &trust.APIKeyPromote{Provider: "openai"}, trust.EINVALID},
		{"BadPeriod", s, &trust.APIKeyPromote{Provider: "openai", Period: "2026-13"}, trust.EINVALID},
		{"Overlap", s, &trust.APIKeyPromote{Provider: "openai", Period: "2026-11", Overlap: -time.Second}, trust.EINVALID},
		{"NoSealer", noSealer, &trust.APIKeyPromote{Provider: "openai", Period: "2026-11"}, trust.EUNAVAILABLE},
	} {
		t.Run("Promote"+tt.name, func(t *testing.T) {
			_, _, err := tt.svc.PromoteStagedAPIKey(ctx, tt.p)
			WantCode(t, err, tt.code)
		})
	}
}

// TestAPIKeyService_StagedSealedAtRest checks the staged key is stored only
// sealed, bound to its provider, and leaves no clear copy in the file.
func TestAPIKeyService_StagedSealedAtRest(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "catalog.db")
	db := sqlite.NewDB(path)
	if err := db.Open(); err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	s := sqlite.NewAPIKeyService(db, MustSealer(t, 1))
	for _, p := range trust.Providers {
		if _, err := s.StageAPIKey(ctx, &trust.APIKeyStage{Provider: p, Key: canaryStaged + "-" + p, StagedBy: "ops"}); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := s.PromoteStagedAPIKey(ctx, &trust.APIKeyPromote{Provider: trust.ProviderOpenAI, Period: "2026-11"}); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{path, path + "-wal"} {
		b, _ := os.ReadFile(f)
		if strings.Contains(string(b), "CANARY") {
			t.Fatalf("clear staged key in %s", filepath.Base(f))
		}
	}

	// A blob moved from one provider's staged row to the other's must not open.
	raw, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, err := raw.Exec(`INSERT INTO api_key_staged (provider, sealed_key, kek_id, fingerprint, staged_by, staged_at)
		SELECT 'openai', sealed_key, kek_id, fingerprint, staged_by, staged_at FROM api_key_staged WHERE provider = 'anthropic'`); err != nil {
		t.Fatal(err)
	}
	_, _, err = s.PromoteStagedAPIKey(ctx, &trust.APIKeyPromote{Provider: trust.ProviderOpenAI, Period: "2026-12"})
	WantCode(t, err, trust.EINTERNAL)
	wantNoCanary(t, err)
	if vs, _ := s.FindAPIKeyVersions(ctx, trust.ProviderOpenAI); len(vs) != 1 || vs[0].State != trust.APIKeyActive {
		t.Fatalf("a failed promotion changed the versions: %+v", vs)
	}
}
