package sqlite_test

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/openagents/trust/edge/sqlite"
	"github.com/openagents/trust/shared/trust"
)

// NewSkillVersion returns a valid pending skill version whose permissions
// digest is that of its permissions.
func NewSkillVersion(tb testing.TB, name, version string) *trust.SkillVersion {
	tb.Helper()
	perms := trust.Permissions{Tools: []string{"web.fetch", "fs.read", "web.fetch"}, Network: []string{"api.example.com"}}
	return &trust.SkillVersion{
		Name: name, Version: version, Publisher: "acme",
		ContentDigest: Digest('a'), PermissionsDigest: MustPermissionsDigest(tb, perms), ImageDigest: Digest('c'),
		Permissions: perms,
	}
}

// MustCreateSkillVersion records v or fails the test.
func MustCreateSkillVersion(tb testing.TB, db *sqlite.DB, v *trust.SkillVersion) *trust.SkillVersion {
	tb.Helper()
	if err := sqlite.NewSkillVersionService(db).CreateSkillVersion(context.Background(), v); err != nil {
		tb.Fatal(err)
	}
	return v
}

// MustCreateApprovedSkillVersion records v as approved or fails the test.
func MustCreateApprovedSkillVersion(tb testing.TB, db *sqlite.DB, v *trust.SkillVersion) *trust.SkillVersion {
	tb.Helper()
	v.State = trust.SkillVersionApproved
	MustCreateSkillVersion(tb, db, v)
	if v.State != trust.SkillVersionApproved {
		tb.Fatalf("%s@%s is %s, want approved", v.Name, v.Version, v.State)
	}
	return v
}

func TestSkillVersionService_CreateSkillVersion(t *testing.T) {
	ctx := context.Background()

	t.Run("OK", func(t *testing.T) {
		db, _ := MustOpenDB(t)
		s := sqlite.NewSkillVersionService(db)
		v := NewSkillVersion(t, "weather", "1.0.0")
		if err := s.CreateSkillVersion(ctx, v); err != nil {
			t.Fatal(err)
		}
		if v.State != trust.SkillVersionPending {
			t.Fatalf("state = %q, want pending", v.State)
		} else if !v.CreatedAt.Equal(t0) || !v.UpdatedAt.Equal(t0) {
			t.Fatalf("times = %v, %v, want %v", v.CreatedAt, v.UpdatedAt, t0)
		}
		got, err := s.FindSkillVersion(ctx, trust.SkillRef{Name: "weather", Version: "1.0.0"})
		if err != nil {
			t.Fatal(err)
		} else if !reflect.DeepEqual(got, v) {
			t.Fatalf("got %+v\nwant %+v", got, v)
		} else if want := []string{"fs.read", "web.fetch"}; !reflect.DeepEqual(got.Permissions.Tools, want) {
			t.Fatalf("tools = %q, want normalized %q", got.Permissions.Tools, want)
		}
	})

	t.Run("Approved", func(t *testing.T) {
		db, _ := MustOpenDB(t)
		v := NewSkillVersion(t, "weather", "1.0.0")
		v.State = trust.SkillVersionApproved
		MustCreateSkillVersion(t, db, v)
		if v.State != trust.SkillVersionApproved {
			t.Fatalf("state = %q, want approved", v.State)
		}
	})

	t.Run("SameDigestsAgain", func(t *testing.T) {
		db, clock := MustOpenDB(t)
		MustCreateSkillVersion(t, db, NewSkillVersion(t, "weather", "1.0.0"))
		clock.Add(time.Hour)
		again := NewSkillVersion(t, "weather", "1.0.0")
		again.State = trust.SkillVersionApproved
		MustCreateSkillVersion(t, db, again)
		if again.State != trust.SkillVersionPending || !again.CreatedAt.Equal(t0) {
			t.Fatalf("got state %q created %v, want the stored pending record from %v", again.State, again.CreatedAt, t0)
		}
	})

	t.Run("ErrImmutable", func(t *testing.T) {
		otherPerms := trust.Permissions{Tools: []string{"shell.exec"}}
		otherDigest := MustPermissionsDigest(t, otherPerms)
		for name, mutate := range map[string]func(*trust.SkillVersion){
			"Content":     func(v *trust.SkillVersion) { v.ContentDigest = Digest('d') },
			"Permissions": func(v *trust.SkillVersion) { v.Permissions, v.PermissionsDigest = otherPerms, otherDigest },
			"Image":       func(v *trust.SkillVersion) { v.ImageDigest = "" },
			"Publisher":   func(v *trust.SkillVersion) { v.Publisher = "mallory" },
		} {
			t.Run(name, func(t *testing.T) {
				db, _ := MustOpenDB(t)
				MustCreateSkillVersion(t, db, NewSkillVersion(t, "weather", "1.0.0"))
				v := NewSkillVersion(t, "weather", "1.0.0")
				mutate(v)
				wantCode(t, sqlite.NewSkillVersionService(db).CreateSkillVersion(ctx, v), trust.ECONFLICT)
			})
		}
	})

	t.Run("ErrInvalid", func(t *testing.T) {
		for name, mutate := range map[string]func(*trust.SkillVersion){
			"Name":      func(v *trust.SkillVersion) { v.Name = "../etc" },
			"Version":   func(v *trust.SkillVersion) { v.Version = "" },
			"Publisher": func(v *trust.SkillVersion) { v.Publisher = "" },
			"Content":   func(v *trust.SkillVersion) { v.ContentDigest = "sha256:xyz" },
			"State":     func(v *trust.SkillVersion) { v.State = trust.SkillVersionRejected },
			// The permissions digest must be the digest of the stored permissions.
			"PermissionsDigest":  func(v *trust.SkillVersion) { v.PermissionsDigest = Digest('b') },
			"PermissionsChanged": func(v *trust.SkillVersion) { v.Permissions.Exec = []string{"curl"} },
			"NoPermissions":      func(v *trust.SkillVersion) { v.Permissions = trust.Permissions{} },
			"PermissionsUTF8":    func(v *trust.SkillVersion) { v.Permissions.Tools = []string{"\xff"} },
		} {
			t.Run(name, func(t *testing.T) {
				db, _ := MustOpenDB(t)
				v := NewSkillVersion(t, "weather", "1.0.0")
				mutate(v)
				wantCode(t, sqlite.NewSkillVersionService(db).CreateSkillVersion(ctx, v), trust.EINVALID)
			})
		}
		t.Run("Nil", func(t *testing.T) {
			db, _ := MustOpenDB(t)
			wantCode(t, sqlite.NewSkillVersionService(db).CreateSkillVersion(ctx, nil), trust.EINVALID)
		})
	})
}

func TestSkillVersionService_FindSkillVersion(t *testing.T) {
	ctx := context.Background()
	t.Run("ErrNotFound", func(t *testing.T) {
		db, _ := MustOpenDB(t)
		_, err := sqlite.NewSkillVersionService(db).FindSkillVersion(ctx, trust.SkillRef{Name: "nope", Version: "1"})
		wantCode(t, err, trust.ENOTFOUND)
	})
	t.Run("ErrInvalid", func(t *testing.T) {
		db, _ := MustOpenDB(t)
		_, err := sqlite.NewSkillVersionService(db).FindSkillVersion(ctx, trust.SkillRef{Name: "nope"})
		wantCode(t, err, trust.EINVALID)
	})
}

func TestSkillVersionService_UpdateSkillVersionState(t *testing.T) {
	t.Run("ErrRejectionIsFinal", func(t *testing.T) {
		db, _ := MustOpenDB(t)
		v := MustCreateSkillVersion(t, db, NewSkillVersion(t, "final", "1.0.0"))
		svc := sqlite.NewSkillVersionService(db)
		ref := trust.SkillRef{Name: v.Name, Version: v.Version}
		if _, err := svc.UpdateSkillVersionState(context.Background(), ref, trust.SkillVersionRejected); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.UpdateSkillVersionState(context.Background(), ref, trust.SkillVersionApproved); trust.ErrorCode(err) != trust.ECONFLICT {
			t.Fatalf("err=%v, want conflict: a rejected version stays rejected", err)
		}
	})
	ctx := context.Background()
	ref := trust.SkillRef{Name: "weather", Version: "1.0.0"}

	t.Run("OK", func(t *testing.T) {
		db, clock := MustOpenDB(t)
		s := sqlite.NewSkillVersionService(db)
		MustCreateSkillVersion(t, db, NewSkillVersion(t, ref.Name, ref.Version))
		clock.Add(time.Minute)
		for _, state := range []string{trust.SkillVersionApproved, trust.SkillVersionRejected} {
			v, err := s.UpdateSkillVersionState(ctx, ref, state)
			if err != nil {
				t.Fatal(err)
			} else if v.State != state || !v.UpdatedAt.Equal(t0.Add(time.Minute)) || !v.CreatedAt.Equal(t0) {
				t.Fatalf("got %+v, want state %q updated at %v", v, state, t0.Add(time.Minute))
			}
			if got, err := s.FindSkillVersion(ctx, ref); err != nil {
				t.Fatal(err)
			} else if got.State != state {
				t.Fatalf("stored state = %q, want %q", got.State, state)
			}
		}
	})

	t.Run("ErrNotFound", func(t *testing.T) {
		db, _ := MustOpenDB(t)
		_, err := sqlite.NewSkillVersionService(db).UpdateSkillVersionState(ctx, ref, trust.SkillVersionApproved)
		wantCode(t, err, trust.ENOTFOUND)
	})

	t.Run("ErrInvalidState", func(t *testing.T) {
		db, _ := MustOpenDB(t)
		MustCreateSkillVersion(t, db, NewSkillVersion(t, ref.Name, ref.Version))
		for _, state := range []string{"", trust.SkillVersionPending, "published"} {
			_, err := sqlite.NewSkillVersionService(db).UpdateSkillVersionState(ctx, ref, state)
			wantCode(t, err, trust.EINVALID)
		}
	})
}
