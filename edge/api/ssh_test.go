package api_test

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/openagents/trust/edge/api"
	"github.com/openagents/trust/edge/sqlite"
	"github.com/openagents/trust/shared/edgeapi"
	"github.com/openagents/trust/shared/seal"
	"github.com/openagents/trust/shared/trust"
)

// The SSH routes join the route table, so the auth, leak and docs tests
// cover them. Placeholders stay literal.
func init() {
	routes = append(routes,
		// User routes: a Machine token is 403.
		route{"POST", "/v1/tenant/ssh-credentials", `{"agent_id":"a"}`, true},
		route{"GET", "/v1/tenant/ssh-credentials", nil, true},
		route{"GET", "/v1/tenant/ssh-credentials/{id}", nil, true},
		route{"DELETE", "/v1/tenant/ssh-credentials/{id}", nil, true},
		route{"POST", "/v1/tenant/ssh-credentials/{id}/grants", nil, true},
		route{"GET", "/v1/tenant/ssh-attempts", nil, true},
		// Machine routes.
		route{"POST", "/v1/tenant/ssh-credentials/{id}/key", `{"agent_id":"a","grant":"g"}`, false},
		route{"GET", "/v1/tenant/ssh-credentials/{id}/status", nil, false},
		route{"POST", "/v1/tenant/ssh-attempts", `{"credential_id":"c","command":"ls","decision":"refused"}`, false},
		// Service.
		route{"POST", "/v1/service/ssh-attempts/purge", `{}`, true},
	)
}

// testHostKey is a pinned host key for tests.
const testHostKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGb1Yl0ZyLhv1xZ9ybQ0X1nq8pVnM4b8H1I7l1q0aZ5c"

// MustOpenSSHServer is MustOpenTenantServer with the SSH store and a test KEK.
func MustOpenSSHServer(tb testing.TB) *TestServer {
	tb.Helper()
	s := MustOpenTenantServer(tb)
	kek, err := seal.NewFileKEK(bytes.Repeat([]byte{0x53}, seal.KeySize))
	if err != nil {
		tb.Fatal(err)
	}
	s.SSH = sqlite.NewSSHStore(seal.New(kek))
	return s
}

// sshSetup is a tenant with an agent and one SSH credential.
type sshSetup struct {
	*TenantFixture
	agent *trust.AgentInstance
	cred  trust.SSHCredential
}

func (s *TestServer) mustSSHSetup(tb testing.TB, tenantID string) *sshSetup {
	tb.Helper()
	f := &sshSetup{TenantFixture: s.MustTenant(tb, tenantID)}
	f.agent = s.MustCreateAgent(tb, f.Session, "agent")
	rec := s.Do(tb, "POST", "/v1/tenant/ssh-credentials", f.Session, edgeapi.SSHCredentialRequest{
		AgentID: f.agent.ID, Host: "127.0.0.1", Port: 2222, User: "agent", HostKey: testHostKey,
		Allow: []string{"ls", "uptime"}, Deny: []string{"rm"},
	})
	WantStatus(tb, rec, http.StatusCreated)
	MustDecode(tb, rec, &f.cred)
	return f
}

// mustKey issues a grant and spends it, returning both responses.
func (s *TestServer) mustKey(tb testing.TB, f *sshSetup) (trust.SSHGrant, trust.SSHKey) {
	tb.Helper()
	var g trust.SSHGrant
	rec := s.Do(tb, "POST", "/v1/tenant/ssh-credentials/"+f.cred.ID+"/grants", f.Session, nil)
	WantStatus(tb, rec, http.StatusCreated)
	MustDecode(tb, rec, &g)
	var k trust.SSHKey
	rec = s.Do(tb, "POST", "/v1/tenant/ssh-credentials/"+f.cred.ID+"/key", f.Machine, edgeapi.SSHKeyRequest{AgentID: f.agent.ID, Grant: g.Token})
	WantStatus(tb, rec, http.StatusOK)
	MustDecode(tb, rec, &k)
	return g, k
}

func TestServer_SSH(t *testing.T) {
	s := MustOpenSSHServer(t)
	a := s.mustSSHSetup(t, "ssh-a")
	b := s.mustSSHSetup(t, "ssh-b")
	credPath := "/v1/tenant/ssh-credentials/" + a.cred.ID

	t.Run("Credential", func(t *testing.T) {
		if !strings.HasPrefix(a.cred.PublicKey, "ssh-ed25519 ") || a.cred.Target.Port != 2222 {
			t.Fatalf("credential = %+v", a.cred)
		}
		WantStatus(t, s.Do(t, "GET", credPath, a.Session, nil), http.StatusOK)
		WantError(t, s.Do(t, "GET", credPath, b.Session, nil), http.StatusNotFound, trust.ENOTFOUND)
		var list edgeapi.SSHCredentialsResponse
		rec := s.Do(t, "GET", "/v1/tenant/ssh-credentials", b.Session, nil)
		MustDecode(t, rec, &list)
		if len(list.SSHCredentials) != 1 || list.SSHCredentials[0].ID != b.cred.ID {
			t.Fatalf("tenant b lists %+v", list)
		}
	})
	t.Run("ErrUnknownField", func(t *testing.T) {
		rec := s.Do(t, "POST", "/v1/tenant/ssh-credentials", a.Session, `{"agent_id":"x","tenant_id":"ssh-b"}`)
		WantError(t, rec, http.StatusBadRequest, trust.EINVALID)
	})
	t.Run("GrantAndKey", func(t *testing.T) {
		g, k := s.mustKey(t, a)
		if !strings.HasPrefix(k.PrivateKey, "-----BEGIN OPENSSH PRIVATE KEY-----") || k.Credential.ID != a.cred.ID {
			t.Fatalf("key response: credential %+v", k.Credential)
		}
		rec := s.Do(t, "POST", credPath+"/key", a.Machine, edgeapi.SSHKeyRequest{AgentID: a.agent.ID, Grant: g.Token})
		WantError(t, rec, http.StatusUnauthorized, trust.EUNAUTHORIZED)
		rec = s.Do(t, "POST", credPath+"/key", b.Machine, edgeapi.SSHKeyRequest{AgentID: a.agent.ID, Grant: g.Token})
		WantError(t, rec, http.StatusUnauthorized, trust.EUNAUTHORIZED)
		WantError(t, s.Do(t, "POST", credPath+"/grants", a.Machine, nil), http.StatusForbidden, trust.EFORBIDDEN)
		WantError(t, s.Do(t, "POST", credPath+"/grants", b.Session, nil), http.StatusNotFound, trust.ENOTFOUND)
	})
	t.Run("Attempts", func(t *testing.T) {
		code := 0
		for _, req := range []edgeapi.SSHAttemptRequest{
			{CredentialID: a.cred.ID, Command: "ls", Decision: trust.SSHAllowed, Reason: "exit 0", ExitCode: &code, Output: "=HYPERLINK(\"http://x\")\n"},
			{CredentialID: a.cred.ID, Command: "-rm -rf ~", Decision: trust.SSHRefused, Reason: "command \"rm\" is denied"},
		} {
			WantStatus(t, s.Do(t, "POST", "/v1/tenant/ssh-attempts", a.Machine, req), http.StatusCreated)
		}
		WantError(t, s.Do(t, "POST", "/v1/tenant/ssh-attempts", b.Machine, edgeapi.SSHAttemptRequest{CredentialID: a.cred.ID, Command: "ls", Decision: trust.SSHRefused}), http.StatusNotFound, trust.ENOTFOUND)

		var list edgeapi.SSHAttemptsResponse
		MustDecode(t, s.Do(t, "GET", "/v1/tenant/ssh-attempts", a.Session, nil), &list)
		if len(list.SSHAttempts) != 2 || list.SSHAttempts[0].Actor != "machine:m-ssh-a" {
			t.Fatalf("attempts = %+v", list.SSHAttempts)
		}
		MustDecode(t, s.Do(t, "GET", "/v1/tenant/ssh-attempts", b.Session, nil), &list)
		if len(list.SSHAttempts) != 0 {
			t.Fatalf("tenant b sees %d attempts of a", len(list.SSHAttempts))
		}

		rec := s.Do(t, "GET", "/v1/tenant/ssh-attempts?format=jsonl", a.Session, nil)
		WantStatus(t, rec, http.StatusOK)
		lines := strings.Split(strings.TrimSpace(rec.Body.String()), "\n")
		if len(lines) != 2 {
			t.Fatalf("jsonl has %d lines", len(lines))
		}
		var first trust.SSHAttempt
		if err := json.Unmarshal([]byte(lines[0]), &first); err != nil || first.Command != "ls" {
			t.Fatalf("jsonl line 1: %v %+v", err, first)
		}

		rec = s.Do(t, "GET", "/v1/tenant/ssh-attempts?format=csv", a.Session, nil)
		WantStatus(t, rec, http.StatusOK)
		rows, err := csv.NewReader(rec.Body).ReadAll()
		if err != nil || len(rows) != 3 {
			t.Fatalf("csv: %d rows, %v", len(rows), err)
		}
		if got := rows[1][8]; !strings.HasPrefix(got, "'=HYPERLINK") {
			t.Fatalf("output cell %q not defused", got)
		}
		if got := rows[2][4]; got != "'-rm -rf ~" {
			t.Fatalf("command cell %q not defused", got)
		}
		WantError(t, s.Do(t, "GET", "/v1/tenant/ssh-attempts?format=xml", a.Session, nil), http.StatusBadRequest, trust.EINVALID)
	})
	t.Run("Revoke", func(t *testing.T) {
		WantStatus(t, s.Do(t, "GET", credPath+"/status", a.Machine, nil), http.StatusOK)
		WantError(t, s.Do(t, "GET", credPath+"/status", a.Session, nil), http.StatusForbidden, trust.EFORBIDDEN)
		WantError(t, s.Do(t, "DELETE", credPath, b.Session, nil), http.StatusNotFound, trust.ENOTFOUND)
		var g trust.SSHGrant
		MustDecode(t, s.Do(t, "POST", credPath+"/grants", a.Session, nil), &g)
		WantStatus(t, s.Do(t, "DELETE", credPath, a.Session, nil), http.StatusOK)
		WantError(t, s.Do(t, "GET", credPath+"/status", a.Machine, nil), http.StatusNotFound, trust.ENOTFOUND)
		rec := s.Do(t, "POST", credPath+"/key", a.Machine, edgeapi.SSHKeyRequest{AgentID: a.agent.ID, Grant: g.Token})
		WantError(t, rec, http.StatusUnauthorized, trust.EUNAUTHORIZED)
	})
	t.Run("Purge", func(t *testing.T) {
		var out edgeapi.SSHPurgeResponse
		rec := s.Do(t, "POST", "/v1/service/ssh-attempts/purge", ServiceToken, `{}`)
		WantStatus(t, rec, http.StatusOK)
		MustDecode(t, rec, &out)
		if out.Deleted != 0 || !out.Before.Equal(Now.Add(-trust.SSHAuditRetention)) {
			t.Fatalf("default purge = %+v", out)
		}
		rec = s.Do(t, "POST", "/v1/service/ssh-attempts/purge", ServiceToken, edgeapi.SSHPurgeRequest{Before: Now.Add(time.Second)})
		MustDecode(t, rec, &out)
		if out.Deleted != 2 {
			t.Fatalf("purge deleted %d, want 2", out.Deleted)
		}
		WantError(t, s.Do(t, "POST", "/v1/service/ssh-attempts/purge", a.Session, `{}`), http.StatusUnauthorized, trust.EUNAUTHORIZED)
	})
	t.Run("ErrNotConfigured", func(t *testing.T) {
		s2 := MustOpenTenantServer(t)
		f := s2.MustTenant(t, "t")
		WantError(t, s2.Do(t, "GET", "/v1/tenant/ssh-credentials", f.Session, nil), http.StatusServiceUnavailable, trust.EUNAVAILABLE)
	})
}

// TestServer_SSHSecretsNeverLeak: the private key is in the one response
// that spends a grant, the grant in the one that issues it; neither is in
// any log line or other response, including errors after the catalog closed.
func TestServer_SSHSecretsNeverLeak(t *testing.T) {
	s := MustOpenSSHServer(t)
	f := s.mustSSHSetup(t, "leak")
	g, k := s.mustKey(t, f)
	keyBody := strings.Split(k.PrivateKey, "\n")[2] // [1] is a header all ed25519 keys share
	var bodies []string
	drive := func() {
		for _, token := range []string{f.Session, f.Machine, ServiceToken, g.Token} {
			for _, rt := range routes {
				if !strings.Contains(rt.path, "ssh") {
					continue
				}
				path := strings.ReplaceAll(rt.path, "{id}", f.cred.ID)
				rec := s.Do(t, rt.method, path, token, rt.body)
				bodies = append(bodies, rec.Body.String())
			}
			rec := s.Do(t, "POST", "/v1/tenant/ssh-credentials/"+f.cred.ID+"/key", token, edgeapi.SSHKeyRequest{AgentID: f.agent.ID, Grant: g.Token})
			bodies = append(bodies, rec.Body.String())
		}
	}
	drive()
	s.DB.Close()
	drive()
	logs := s.Logs.String()
	if !strings.Contains(logs, `"status":500`) {
		t.Fatal("no internal error was logged: the test did not reach the error path")
	}
	for name, secret := range map[string]string{"private key": keyBody, "grant": g.Token, "grant body": g.Token[5:]} {
		if strings.Contains(logs, secret) {
			t.Errorf("%s in logs", name)
		}
		for _, b := range bodies {
			if strings.Contains(b, secret) {
				t.Errorf("%s in a response: %.200s", name, b)
				break
			}
		}
	}
}

func TestCSVCell(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"ls -la", "ls -la"},
		{"=1+2", "'=1+2"},
		{"+1", "'+1"},
		{"-rf", "'-rf"},
		{"@SUM(A1)", "'@SUM(A1)"},
		{"\tx", "'\tx"},
		{"\rx", "'\rx"},
		{"a=b", "a=b"},
	}
	for _, tt := range tests {
		if got := api.CSVCell(tt.in); got != tt.want {
			t.Errorf("CSVCell(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
