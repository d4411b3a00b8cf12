package api_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/openagents/trust/shared/digest"
	"github.com/openagents/trust/shared/trust"
)

// SkillPermissions are the permissions the test skill versions declare.
var SkillPermissions = trust.Permissions{Tools: []string{"web.fetch"}, Network: []string{"api.weather.example"}}

// MustPermissionsDigest returns the permissions digest of p.
func MustPermissionsDigest(tb testing.TB, p trust.Permissions) string {
	tb.Helper()
	d, err := digest.Permissions(p)
	if err != nil {
		tb.Fatal(err)
	}
	return d
}

// SkillStatement returns the fixture statement (test:1, weather-report@1.2.0)
// with the permissions digest of SkillPermissions. The catalog records a skill
// version only with the permissions its digest covers, and the fixture's own
// digest stands for permissions no test has.
func SkillStatement(tb testing.TB) *trust.Statement {
	tb.Helper()
	st := FixtureStatement(tb)
	st.PermissionsDigest = MustPermissionsDigest(tb, SkillPermissions)
	return st
}

// SkillBody returns the skill version st names, with SkillPermissions, as a
// PUT body.
func SkillBody(tb testing.TB, st *trust.Statement) map[string]any {
	tb.Helper()
	return map[string]any{
		"publisher": st.Publisher, "content_digest": st.ContentDigest,
		"permissions_digest": st.PermissionsDigest, "image_digest": st.ImageDigest,
		"permissions": map[string]any{"tools": SkillPermissions.Tools, "network": SkillPermissions.Network},
	}
}

// NewSkillBody returns SkillStatement's skill version as a PUT body.
func NewSkillBody(tb testing.TB) map[string]any {
	tb.Helper()
	return SkillBody(tb, SkillStatement(tb))
}

// MustApproveSkill records the skill version st names, approved, so that st
// can be signed.
func (s *TestServer) MustApproveSkill(tb testing.TB, st *trust.Statement) {
	tb.Helper()
	body := SkillBody(tb, st)
	body["state"] = trust.SkillVersionApproved
	WantStatus(tb, s.Do(tb, "PUT", "/v1/service/skills/"+st.Skill+"/versions/"+st.Version, ServiceToken, body), http.StatusCreated)
}

const skillPath = "/v1/service/skills/weather-report/versions/1.2.0"

func TestServer_SkillVersions(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		s := MustOpenServer(t)
		rec := s.Do(t, "PUT", skillPath, ServiceToken, NewSkillBody(t))
		WantStatus(t, rec, http.StatusCreated)
		var v trust.SkillVersion
		MustDecode(t, rec, &v)
		if v.Name != "weather-report" || v.Version != "1.2.0" || v.State != trust.SkillVersionPending || !v.CreatedAt.Equal(Now) {
			t.Fatalf("got %+v", v)
		}

		// The same record again is 200 with the stored version.
		WantStatus(t, s.Do(t, "PUT", skillPath, ServiceToken, NewSkillBody(t)), http.StatusOK)

		rec = s.Do(t, "POST", skillPath+"/state", ServiceToken, `{"state":"approved"}`)
		WantStatus(t, rec, http.StatusOK)
		MustDecode(t, rec, &v)
		if v.State != trust.SkillVersionApproved {
			t.Fatalf("state = %q, want approved", v.State)
		}

		rec = s.Do(t, "GET", skillPath, ServiceToken, nil)
		WantStatus(t, rec, http.StatusOK)
		MustDecode(t, rec, &v)
		if v.State != trust.SkillVersionApproved || v.Permissions.Tools[0] != "web.fetch" {
			t.Fatalf("got %+v", v)
		}
	})

	t.Run("NameInBody", func(t *testing.T) {
		s := MustOpenServer(t)
		body := NewSkillBody(t)
		body["name"], body["version"] = "weather-report", "1.2.0"
		WantStatus(t, s.Do(t, "PUT", skillPath, ServiceToken, body), http.StatusCreated)
	})

	t.Run("Errors", func(t *testing.T) {
		s := MustOpenServer(t)
		WantStatus(t, s.Do(t, "PUT", skillPath, ServiceToken, NewSkillBody(t)), http.StatusCreated)
		with := func(key string, v any) map[string]any {
			body := NewSkillBody(t)
			body[key] = v
			return body
		}
		for _, tt := range []struct {
			name, method, path string
			body               any
			status             int
			code               string
		}{
			{"ErrImmutable", "PUT", skillPath, with("content_digest", "sha256:"+strings.Repeat("0", 64)), 409, trust.ECONFLICT},
			{"ErrOtherPublisher", "PUT", skillPath, with("publisher", "mallory"), 409, trust.ECONFLICT},
			{"ErrPathMismatch", "PUT", skillPath, with("name", "other"), 400, trust.EINVALID},
			{"ErrVersionMismatch", "PUT", skillPath, with("version", "9.9.9"), 400, trust.EINVALID},
			{"ErrBadDigest", "PUT", "/v1/service/skills/new/versions/1", with("content_digest", "md5:1"), 400, trust.EINVALID},
			{"ErrPermissionsDigest", "PUT", "/v1/service/skills/new/versions/1", with("permissions_digest", FixtureStatement(t).PermissionsDigest), 400, trust.EINVALID},
			{"ErrPermissionsChanged", "PUT", "/v1/service/skills/new/versions/1", with("permissions", map[string]any{"tools": []string{"shell.exec"}}), 400, trust.EINVALID},
			{"ErrNoPermissions", "PUT", "/v1/service/skills/new/versions/1", with("permissions", nil), 400, trust.EINVALID},
			{"ErrBadState", "PUT", "/v1/service/skills/new/versions/1", with("state", "rejected"), 400, trust.EINVALID},
			{"ErrBadName", "PUT", "/v1/service/skills/-bad/versions/1", NewSkillBody(t), 400, trust.EINVALID},
			{"ErrTooLarge", "PUT", "/v1/service/skills/new/versions/1", with("publisher", strings.Repeat("a", 300<<10)), 400, trust.EINVALID},
			{"ErrTrailingData", "PUT", "/v1/service/skills/new/versions/1", `{} {}`, 400, trust.EINVALID},
			{"ErrNotFound", "GET", "/v1/service/skills/nope/versions/1", nil, 404, trust.ENOTFOUND},
			{"ErrStateNotFound", "POST", "/v1/service/skills/nope/versions/1/state", `{"state":"approved"}`, 404, trust.ENOTFOUND},
			{"ErrStateInvalid", "POST", skillPath + "/state", `{"state":"pending"}`, 400, trust.EINVALID},
			{"ErrStateUnknownField", "POST", skillPath + "/state", `{"state":"approved","by":"me"}`, 400, trust.EINVALID},
		} {
			t.Run(tt.name, func(t *testing.T) {
				WantError(t, s.Do(t, tt.method, tt.path, ServiceToken, tt.body), tt.status, tt.code)
			})
		}
	})
}
