package sqlite_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/openagents/trust/edge/sqlite"
	"github.com/openagents/trust/shared/trust"
)

// NewSignature returns a signature record of v by key "main" at keyVersion.
// The envelope is opaque to the catalog; any JSON does.
func NewSignature(v *trust.SkillVersion, keyVersion int, issued time.Time) *trust.Signature {
	return &trust.Signature{
		Skill: v.Name, Version: v.Version, Publisher: v.Publisher,
		ContentDigest: v.ContentDigest, PermissionsDigest: v.PermissionsDigest, ImageDigest: v.ImageDigest,
		KeyID: "main", KeyVersion: keyVersion, IssuedAt: issued,
		Envelope: []byte(fmt.Sprintf(`{"payloadType":"test","n":%d}`, keyVersion)),
	}
}

// MustCreateSignature records sig or fails the test.
func MustCreateSignature(tb testing.TB, db *sqlite.DB, sig *trust.Signature) {
	tb.Helper()
	if err := sqlite.NewSignatureService(db).CreateSignature(context.Background(), sig); err != nil {
		tb.Fatal(err)
	}
}

func TestSignatureService_CreateSignature(t *testing.T) {
	ctx := context.Background()

	t.Run("OK", func(t *testing.T) {
		db, _ := MustOpenDB(t)
		v := MustCreateApprovedSkillVersion(t, db, NewSkillVersion(t, "weather", "1.0.0"))
		sig := NewSignature(v, 1, t0.Add(-time.Minute))
		MustCreateSignature(t, db, sig)
		if !sig.CreatedAt.Equal(t0) {
			t.Fatalf("created_at = %v, want %v", sig.CreatedAt, t0)
		}
		m, err := sqlite.NewSignatureService(db).FindSignatures(ctx, []trust.SkillRef{RefOf(v)})
		if err != nil {
			t.Fatal(err)
		} else if sigs := m[RefOf(v)]; len(sigs) != 1 {
			t.Fatalf("signatures = %d, want 1", len(sigs))
		} else if got := sigs[0]; string(got.Envelope) != string(sig.Envelope) || !got.IssuedAt.Equal(sig.IssuedAt) || got.KeyVersion != 1 {
			t.Fatalf("got %+v, want %+v", got, sig)
		}
	})

	// A signature never creates its skill version: the version, with the
	// permissions its digest covers, is recorded (and approved) first.
	t.Run("ErrVersionNotFound", func(t *testing.T) {
		db, _ := MustOpenDB(t)
		v := NewSkillVersion(t, "first-party", "2.0.0")
		wantCode(t, sqlite.NewSignatureService(db).CreateSignature(ctx, NewSignature(v, 1, t0)), trust.ENOTFOUND)
		_, err := sqlite.NewSkillVersionService(db).FindSkillVersion(ctx, RefOf(v))
		wantCode(t, err, trust.ENOTFOUND)
		MustCreateApprovedSkillVersion(t, db, v)
		wantNoSignatures(t, db, RefOf(v))
	})

	t.Run("ReplaceSameKeyVersion", func(t *testing.T) {
		db, clock := MustOpenDB(t)
		v := MustCreateApprovedSkillVersion(t, db, NewSkillVersion(t, "weather", "1.0.0"))
		MustCreateSignature(t, db, NewSignature(v, 1, t0))
		clock.Add(time.Hour)
		again := NewSignature(v, 1, t0.Add(time.Hour))
		again.Envelope = []byte(`{"again":true}`)
		MustCreateSignature(t, db, again)
		m, err := sqlite.NewSignatureService(db).FindSignatures(ctx, []trust.SkillRef{RefOf(v)})
		if err != nil {
			t.Fatal(err)
		} else if sigs := m[RefOf(v)]; len(sigs) != 1 {
			t.Fatalf("signatures = %d, want 1", len(sigs))
		} else if string(sigs[0].Envelope) != `{"again":true}` || !sigs[0].CreatedAt.Equal(t0.Add(time.Hour)) {
			t.Fatalf("got %s at %v, want the replacement", sigs[0].Envelope, sigs[0].CreatedAt)
		}
	})

	t.Run("ErrConflict", func(t *testing.T) {
		for name, mutate := range map[string]func(*trust.Signature){
			"Content":     func(s *trust.Signature) { s.ContentDigest = Digest('e') },
			"Permissions": func(s *trust.Signature) { s.PermissionsDigest = Digest('e') },
			"Image":       func(s *trust.Signature) { s.ImageDigest = Digest('e') },
			"Publisher":   func(s *trust.Signature) { s.Publisher = "mallory" },
		} {
			t.Run(name, func(t *testing.T) {
				db, _ := MustOpenDB(t)
				v := MustCreateApprovedSkillVersion(t, db, NewSkillVersion(t, "weather", "1.0.0"))
				sig := NewSignature(v, 1, t0)
				mutate(sig)
				wantCode(t, sqlite.NewSignatureService(db).CreateSignature(ctx, sig), trust.ECONFLICT)
			})
		}
	})

	t.Run("ErrNotApproved", func(t *testing.T) {
		for _, state := range []string{trust.SkillVersionPending, trust.SkillVersionRejected} {
			t.Run(state, func(t *testing.T) {
				db, _ := MustOpenDB(t)
				v := MustCreateSkillVersion(t, db, NewSkillVersion(t, "weather", "1.0.0"))
				if state != trust.SkillVersionPending {
					if _, err := sqlite.NewSkillVersionService(db).UpdateSkillVersionState(ctx, RefOf(v), state); err != nil {
						t.Fatal(err)
					}
				}
				wantCode(t, sqlite.NewSignatureService(db).CreateSignature(ctx, NewSignature(v, 1, t0)), trust.ECONFLICT)
			})
		}
	})

	t.Run("ErrInvalid", func(t *testing.T) {
		for name, mutate := range map[string]func(*trust.Signature){
			"Skill":      func(s *trust.Signature) { s.Skill = "" },
			"Publisher":  func(s *trust.Signature) { s.Publisher = "a b" },
			"Digest":     func(s *trust.Signature) { s.ContentDigest = "md5:00" },
			"KeyID":      func(s *trust.Signature) { s.KeyID = "Main" },
			"KeyVersion": func(s *trust.Signature) { s.KeyVersion = 0 },
			"IssuedAt":   func(s *trust.Signature) { s.IssuedAt = time.Time{} },
			"NoEnvelope": func(s *trust.Signature) { s.Envelope = nil },
			"NotJSON":    func(s *trust.Signature) { s.Envelope = []byte("{") },
		} {
			t.Run(name, func(t *testing.T) {
				db, _ := MustOpenDB(t)
				sig := NewSignature(NewSkillVersion(t, "weather", "1.0.0"), 1, t0)
				mutate(sig)
				wantCode(t, sqlite.NewSignatureService(db).CreateSignature(ctx, sig), trust.EINVALID)
			})
		}
		t.Run("Nil", func(t *testing.T) {
			db, _ := MustOpenDB(t)
			wantCode(t, sqlite.NewSignatureService(db).CreateSignature(ctx, nil), trust.EINVALID)
		})
	})
}

func TestSignatureService_FindSignatures(t *testing.T) {
	ctx := context.Background()

	t.Run("OK", func(t *testing.T) {
		db, _ := MustOpenDB(t)
		a := MustCreateApprovedSkillVersion(t, db, NewSkillVersion(t, "alpha", "1.0.0"))
		b := NewSkillVersion(t, "beta", "0.1.0")
		b.ContentDigest = Digest('f')
		MustCreateApprovedSkillVersion(t, db, b)
		// Recorded out of order: key version 1 issued last.
		MustCreateSignature(t, db, NewSignature(a, 2, t0.Add(-2*time.Hour)))
		MustCreateSignature(t, db, NewSignature(a, 3, t0.Add(-time.Hour)))
		MustCreateSignature(t, db, NewSignature(a, 1, t0))
		MustCreateSignature(t, db, NewSignature(b, 1, t0))
		missing := trust.SkillRef{Name: "gamma", Version: "9"}

		refs := []trust.SkillRef{missing, RefOf(b), RefOf(a), RefOf(b)}
		m, err := sqlite.NewSignatureService(db).FindSignatures(ctx, refs)
		if err != nil {
			t.Fatal(err)
		}
		if len(m) != 3 {
			t.Fatalf("results = %d, want 3", len(m))
		}
		if sigs, ok := m[missing]; !ok || sigs == nil || len(sigs) != 0 {
			t.Fatalf("missing ref = %v (present %v), want an empty, non-nil slice", sigs, ok)
		}
		if sigs := m[RefOf(b)]; len(sigs) != 1 || sigs[0].Skill != "beta" || sigs[0].ContentDigest != Digest('f') {
			t.Fatalf("beta = %+v, want its one signature", sigs)
		}
		var got []int
		for _, sig := range m[RefOf(a)] {
			got = append(got, sig.KeyVersion)
		}
		if want := []int{1, 3, 2}; fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("alpha key versions = %v, want newest issued first %v", got, want)
		}
	})

	// Rejecting a signed version hides its signatures from Machines: only an
	// approved version's signatures are returned.
	t.Run("RejectedHidden", func(t *testing.T) {
		db, _ := MustOpenDB(t)
		v := MustCreateApprovedSkillVersion(t, db, NewSkillVersion(t, "weather", "1.0.0"))
		other := MustCreateApprovedSkillVersion(t, db, NewSkillVersion(t, "other", "1.0.0"))
		MustCreateSignature(t, db, NewSignature(v, 1, t0))
		MustCreateSignature(t, db, NewSignature(v, 2, t0))
		MustCreateSignature(t, db, NewSignature(other, 1, t0))
		if _, err := sqlite.NewSkillVersionService(db).UpdateSkillVersionState(ctx, RefOf(v), trust.SkillVersionRejected); err != nil {
			t.Fatal(err)
		}

		m, err := sqlite.NewSignatureService(db).FindSignatures(ctx, []trust.SkillRef{RefOf(v), RefOf(other)})
		if err != nil {
			t.Fatal(err)
		} else if sigs, ok := m[RefOf(v)]; !ok || sigs == nil || len(sigs) != 0 {
			t.Fatalf("rejected version = %v (present %v), want an empty, non-nil slice", sigs, ok)
		} else if len(m[RefOf(other)]) != 1 {
			t.Fatalf("approved version = %d signatures, want 1", len(m[RefOf(other)]))
		}
		// Nor can the rejected version be signed again.
		wantCode(t, sqlite.NewSignatureService(db).CreateSignature(ctx, NewSignature(v, 3, t0)), trust.ECONFLICT)
		wantNoSignatures(t, db, RefOf(v))
	})

	t.Run("Empty", func(t *testing.T) {
		db, _ := MustOpenDB(t)
		m, err := sqlite.NewSignatureService(db).FindSignatures(ctx, nil)
		if err != nil {
			t.Fatal(err)
		} else if len(m) != 0 {
			t.Fatalf("got %v, want empty", m)
		}
	})

	t.Run("MaxBatch", func(t *testing.T) {
		db, _ := MustOpenDB(t)
		v := MustCreateApprovedSkillVersion(t, db, NewSkillVersion(t, "s-250", "1.0.0"))
		MustCreateSignature(t, db, NewSignature(v, 1, t0))
		refs := make([]trust.SkillRef, trust.MaxBatch)
		for i := range refs {
			refs[i] = trust.SkillRef{Name: fmt.Sprintf("s-%d", i), Version: "1.0.0"}
		}
		m, err := sqlite.NewSignatureService(db).FindSignatures(ctx, refs)
		if err != nil {
			t.Fatal(err)
		} else if len(m) != trust.MaxBatch || len(m[RefOf(v)]) != 1 {
			t.Fatalf("got %d results, %d for %s; want %d and 1", len(m), len(m[RefOf(v)]), RefOf(v), trust.MaxBatch)
		}
	})

	t.Run("ErrTooMany", func(t *testing.T) {
		db, _ := MustOpenDB(t)
		refs := make([]trust.SkillRef, trust.MaxBatch+1)
		for i := range refs {
			refs[i] = trust.SkillRef{Name: "s", Version: "1"}
		}
		_, err := sqlite.NewSignatureService(db).FindSignatures(ctx, refs)
		wantCode(t, err, trust.EINVALID)
	})

	t.Run("ErrInvalidRef", func(t *testing.T) {
		db, _ := MustOpenDB(t)
		_, err := sqlite.NewSignatureService(db).FindSignatures(ctx, []trust.SkillRef{{Name: "ok", Version: "1"}, {Name: "bad name", Version: "1"}})
		wantCode(t, err, trust.EINVALID)
	})
}

// wantNoSignatures fails the test if FindSignatures returns any for ref.
func wantNoSignatures(tb testing.TB, db *sqlite.DB, ref trust.SkillRef) {
	tb.Helper()
	m, err := sqlite.NewSignatureService(db).FindSignatures(context.Background(), []trust.SkillRef{ref})
	if err != nil {
		tb.Fatal(err)
	} else if sigs := m[ref]; len(sigs) != 0 {
		tb.Fatalf("%s has %d signatures, want none", ref, len(sigs))
	}
}

// RefOf returns the name@version of v.
func RefOf(v *trust.SkillVersion) trust.SkillRef {
	return trust.SkillRef{Name: v.Name, Version: v.Version}
}
