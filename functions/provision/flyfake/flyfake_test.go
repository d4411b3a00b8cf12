package flyfake_test

import (
	"bytes"
	"net/http"
	"strings"
	"testing"

	"github.com/openagents/trust/functions/provision/flyfake"
)

const (
	token  = "fake-fly-token"
	image  = `"image":"r/a@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"`
	guest  = `"guest":{"cpu_kind":"shared","cpus":1,"memory_mb":512}`
	policy = `"restart":{"policy":"on-failure","max_retries":3}`
)

// The fake refuses, and records, each request that breaks a rule; it answers
// the ones that do not. Each case runs against a fresh fake holding app "a"
// in network "net-a".
func TestServer_Rules(t *testing.T) {
	for _, tt := range []struct {
		name, method, path, body string
		violation                string // "" when the request is fine
	}{
		{"OKCreateApp", "POST", "/v1/apps", `{"name":"b","org_slug":"o","network":"net-b","app_role_id":""}`, ""},
		{"ErrNoNetwork", "POST", "/v1/apps", `{"name":"b","org_slug":"o","network":"","app_role_id":""}`, "without a custom private network"},
		{"ErrDefaultNetwork", "POST", "/v1/apps", `{"name":"b","org_slug":"o","network":"default","app_role_id":""}`, "without a custom private network"},
		{"ErrSharedNetwork", "POST", "/v1/apps", `{"name":"b","org_slug":"o","network":"net-a","app_role_id":""}`, "already used"},
		{"ErrUnknownField", "POST", "/v1/apps", `{"name":"b","org_slug":"o","network":"net-b","extra":1}`, "unknown field"},
		{"OKLaunch", "POST", "/v1/apps/a/machines", `{"skip_launch":true,"skip_secrets":false,"config":{` + image + `,` + guest + `,` + policy + `}}`, ""},
		{"ErrUnpinnedImage", "POST", "/v1/apps/a/machines", `{"skip_secrets":false,"config":{"image":"r/a:latest",` + guest + `,` + policy + `}}`, "not pinned"},
		{"ErrNoGuest", "POST", "/v1/apps/a/machines", `{"skip_secrets":false,"config":{` + image + `,` + policy + `}}`, "no guest limits"},
		{"ErrNoRestart", "POST", "/v1/apps/a/machines", `{"skip_secrets":false,"config":{` + image + `,` + guest + `}}`, "no restart policy"},
		{"ErrSSHFile", "POST", "/v1/apps/a/machines", `{"skip_launch":true,"skip_secrets":false,"config":{` + image + `,` + guest + `,` + policy + `,"files":[{"guest_path":"/root/.ssh/authorized_keys","raw_value":"eA=="}]}}`, "SSH material"},
		{"ErrStartWithoutEnv", "POST", "/v1/apps/a/machines", `{"skip_secrets":false,"config":{` + image + `,` + guest + `,` + policy + `}}`, "required environment"},
		{"ErrSecretOutsideEnv", "POST", "/v1/apps/a/machines", `{"skip_launch":true,"skip_secrets":false,"config":{` + image + `,` + guest + `,` + policy + `,"env":{"TOKEN":"s3cret-value"},"metadata":{"copy":"s3cret-value"}}}`, "outside its env key"},
		{"ErrForbidden", "POST", "/v1/apps/a/machines", `{"skip_launch":true,"skip_secrets":false,"config":{` + image + `,` + guest + `,` + policy + `,"env":{"X":"CANARY-service"}}}`, "forbidden secret"},
		{"ErrUnknownRoute", "POST", "/v1/apps/a/secrets", `{}`, "unknown route"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := flyfake.NewServer(token)
			defer s.Close()
			s.Forbidden = []string{"CANARY-service"}
			s.SecretEnv = []string{"TOKEN"}
			s.RequiredEnv = []string{"TOKEN"}
			mustDo(t, s, "POST", "/v1/apps", `{"name":"a","org_slug":"o","network":"net-a","app_role_id":""}`)

			status := do(t, s, tt.method, tt.path, tt.body, token)
			vs := s.Violations()
			if tt.violation == "" {
				if status >= 300 || len(vs) != 0 {
					t.Fatalf("status %d, violations %q: want it accepted", status, vs)
				}
				return
			}
			if status != http.StatusBadRequest || len(vs) != 1 || !strings.Contains(vs[0], tt.violation) {
				t.Fatalf("status %d, violations %q: want 400 and one violation naming %q", status, vs, tt.violation)
			}
		})
	}
}

func TestServer_Unauthorized(t *testing.T) {
	s := flyfake.NewServer(token)
	defer s.Close()
	if got := do(t, s, "GET", "/v1/apps/a", "", "wrong"); got != http.StatusUnauthorized {
		t.Fatalf("status %d, want 401", got)
	}
}

func mustDo(tb testing.TB, s *flyfake.Server, method, path, body string) {
	tb.Helper()
	if got := do(tb, s, method, path, body, token); got >= 300 {
		tb.Fatalf("%s %s: status %d", method, path, got)
	}
}

func do(tb testing.TB, s *flyfake.Server, method, path, body, tok string) int {
	tb.Helper()
	req, err := http.NewRequest(method, s.URL()+path, bytes.NewBufferString(body))
	if err != nil {
		tb.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}
