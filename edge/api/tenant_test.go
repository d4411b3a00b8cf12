package api_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/openagents/trust/edge/sqlite"
	"github.com/openagents/trust/shared/edgeapi"
	"github.com/openagents/trust/shared/trust"
)

// The tenant routes join the route table, so the auth, leak and docs tests
// cover them too. Paths keep their {id} and {user} placeholders literally.
func init() {
	routes = append(routes,
		route{"POST", "/v1/service/tenants", `{"id":"t","name":"T"}`, true},
		route{"GET", "/v1/service/tenants/{id}", nil, true},
		route{"POST", "/v1/service/tenants/{id}/users", `{"email":"a@b.c"}`, true},
		route{"POST", "/v1/service/tenants/{id}/users/{user}/credentials", nil, true},
		route{"POST", "/v1/service/tenants/{id}/users/{user}/revoke", nil, true},
		// User routes: a Machine token is refused (403) like on service routes.
		route{"POST", "/v1/sessions", nil, true},
		route{"GET", "/v1/session", nil, true},
		route{"DELETE", "/v1/session", nil, true},
		route{"POST", "/v1/tenant/agents", `{"name":"a"}`, true},
		route{"GET", "/v1/tenant/agents", nil, true},
		route{"GET", "/v1/tenant/agents/{id}", nil, true},
		route{"PUT", "/v1/tenant/agents/{id}", `{"name":"b"}`, true},
		route{"DELETE", "/v1/tenant/agents/{id}", nil, true},
		route{"GET", "/v1/tenant/usage", nil, true},
		route{"GET", "/v1/tenant/audit-events", nil, true},
		// Machine routes.
		route{"POST", "/v1/tenant/usage", `{"session_id":"s","model":"m","idempotency_key":"k"}`, false},
		route{"POST", "/v1/tenant/audit-events", `{"action":"ssh.command"}`, false},
	)
}

// MustOpenTenantServer is MustOpenServer with the tenant store.
func MustOpenTenantServer(tb testing.TB) *TestServer {
	tb.Helper()
	s := MustOpenServer(tb)
	s.Tenancy = sqlite.NewTenancy(s.DB, ServiceToken)
	return s
}

// DoH is Do with extra headers.
func (s *TestServer) DoH(tb testing.TB, method, path, token string, body any, header http.Header) *httptest.ResponseRecorder {
	tb.Helper()
	var rd io.Reader
	if body != nil {
		buf, err := json.Marshal(body)
		if err != nil {
			tb.Fatal(err)
		}
		rd = strings.NewReader(string(buf))
	}
	req := httptest.NewRequest(method, path, rd)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	return rec
}

// TenantFixture is a tenant with one user session and one Machine.
type TenantFixture struct {
	ID, UserID, Credential, Session, Machine string
}

// MustTenant creates a tenant, a user with a credential and a session, and a
// Machine token, all through the API.
func (s *TestServer) MustTenant(tb testing.TB, id string) *TenantFixture {
	tb.Helper()
	f := &TenantFixture{ID: id}
	WantStatus(tb, s.Do(tb, "POST", "/v1/service/tenants", ServiceToken, edgeapi.TenantRequest{ID: id, Name: "Tenant " + id}), http.StatusCreated)
	f.UserID, f.Credential, f.Session = s.MustUser(tb, id, "owner@"+id+".example")
	rec := s.Do(tb, "POST", "/v1/service/machine-tokens", ServiceToken, edgeapi.MachineTokenRequest{MachineID: "m-" + id, TenantID: id})
	WantStatus(tb, rec, http.StatusCreated)
	var mt edgeapi.MachineTokenResponse
	MustDecode(tb, rec, &mt)
	f.Machine = mt.Token
	return f
}

// MustUser creates a user of a tenant, issues a credential and opens a
// session, through the API.
func (s *TestServer) MustUser(tb testing.TB, tenantID, email string) (userID, credential, session string) {
	tb.Helper()
	rec := s.Do(tb, "POST", "/v1/service/tenants/"+tenantID+"/users", ServiceToken, edgeapi.UserRequest{Email: email})
	WantStatus(tb, rec, http.StatusCreated)
	var u trust.User
	MustDecode(tb, rec, &u)
	rec = s.Do(tb, "POST", "/v1/service/tenants/"+tenantID+"/users/"+u.ID+"/credentials", ServiceToken, nil)
	WantStatus(tb, rec, http.StatusCreated)
	var c edgeapi.UserCredentialResponse
	MustDecode(tb, rec, &c)
	rec = s.Do(tb, "POST", "/v1/sessions", c.Credential, nil)
	WantStatus(tb, rec, http.StatusCreated)
	var sess trust.Session
	MustDecode(tb, rec, &sess)
	return u.ID, c.Credential, sess.Token
}

// MustCreateAgent creates an agent instance as a session.
func (s *TestServer) MustCreateAgent(tb testing.TB, session, name string) *trust.AgentInstance {
	tb.Helper()
	rec := s.Do(tb, "POST", "/v1/tenant/agents", session, edgeapi.AgentInstanceRequest{Name: name, Config: "model: x\n"})
	WantStatus(tb, rec, http.StatusCreated)
	var a trust.AgentInstance
	MustDecode(tb, rec, &a)
	return &a
}

func TestServer_Tenancy(t *testing.T) {
	s := MustOpenTenantServer(t)
	a, b := s.MustTenant(t, "acme"), s.MustTenant(t, "beta")
	agentA := s.MustCreateAgent(t, a.Session, "writer")
	agentB := s.MustCreateAgent(t, b.Session, "writer") // names are per tenant

	t.Run("Session", func(t *testing.T) {
		rec := s.Do(t, "GET", "/v1/session", a.Session, nil)
		WantStatus(t, rec, http.StatusOK)
		var got edgeapi.SessionResponse
		MustDecode(t, rec, &got)
		if got.Principal != (trust.Principal{Kind: trust.PrincipalUser, TenantID: "acme", UserID: a.UserID}) || got.Tenant.ID != "acme" {
			t.Fatalf("session = %+v", got)
		}
	})
	t.Run("AgentOK", func(t *testing.T) {
		WantStatus(t, s.Do(t, "GET", "/v1/tenant/agents/"+agentA.ID, a.Session, nil), http.StatusOK)
		rec := s.Do(t, "PUT", "/v1/tenant/agents/"+agentA.ID, a.Session, map[string]string{"config": "model: y\n"})
		WantStatus(t, rec, http.StatusOK)
		var got trust.AgentInstance
		MustDecode(t, rec, &got)
		if got.Name != "writer" || got.Config != "model: y\n" || got.TenantID != "acme" {
			t.Fatalf("updated %+v", got)
		}
		rec = s.Do(t, "GET", "/v1/tenant/agents", a.Session, nil)
		var list edgeapi.AgentInstancesResponse
		MustDecode(t, rec, &list)
		if len(list.AgentInstances) != 1 || list.AgentInstances[0].ID != agentA.ID {
			t.Fatalf("list = %+v", list)
		}
	})
	t.Run("ErrNotFoundOtherTenant", func(t *testing.T) {
		for _, method := range []string{"GET", "PUT", "DELETE"} {
			var body any
			if method == "PUT" {
				body = map[string]string{"name": "stolen"}
			}
			WantError(t, s.Do(t, method, "/v1/tenant/agents/"+agentB.ID, a.Session, body), http.StatusNotFound, trust.ENOTFOUND)
		}
		rec := s.Do(t, "GET", "/v1/tenant/agents/"+agentB.ID, b.Session, nil)
		var got trust.AgentInstance
		MustDecode(t, rec, &got)
		if got != *agentB {
			t.Fatalf("tenant b's agent changed: %+v", got)
		}
	})
	t.Run("ErrConflict", func(t *testing.T) {
		WantError(t, s.Do(t, "POST", "/v1/tenant/agents", a.Session, edgeapi.AgentInstanceRequest{Name: "writer"}), http.StatusConflict, trust.ECONFLICT)
		WantError(t, s.Do(t, "POST", "/v1/service/tenants", ServiceToken, edgeapi.TenantRequest{ID: "acme", Name: "x"}), http.StatusConflict, trust.ECONFLICT)
	})
	t.Run("ErrInvalid", func(t *testing.T) {
		WantError(t, s.Do(t, "POST", "/v1/tenant/agents", a.Session, `{"name":"x","tenant_id":"beta"}`), http.StatusBadRequest, trust.EINVALID)
		WantError(t, s.Do(t, "GET", "/v1/tenant/agents?limit=x", a.Session, nil), http.StatusBadRequest, trust.EINVALID)
		WantError(t, s.Do(t, "GET", "/v1/tenant/agents?limit=100000", a.Session, nil), http.StatusBadRequest, trust.EINVALID)
	})
	t.Run("Usage", func(t *testing.T) {
		req := edgeapi.UsageRequest{SessionID: "s1", Model: "claude", InputTokens: 5, OutputTokens: 7, IdempotencyKey: "k1"}
		WantStatus(t, s.Do(t, "POST", "/v1/tenant/usage", a.Machine, req), http.StatusCreated)
		WantStatus(t, s.Do(t, "POST", "/v1/tenant/usage", a.Machine, req), http.StatusOK)
		WantStatus(t, s.Do(t, "POST", "/v1/tenant/usage", b.Machine, req), http.StatusCreated) // same key, other tenant
		req.InputTokens++
		WantError(t, s.Do(t, "POST", "/v1/tenant/usage", a.Machine, req), http.StatusConflict, trust.ECONFLICT)
		rec := s.Do(t, "GET", "/v1/tenant/usage", a.Session, nil)
		var list edgeapi.UsageRecordsResponse
		MustDecode(t, rec, &list)
		if len(list.UsageRecords) != 1 || list.UsageRecords[0].MachineID != "m-acme" || list.UsageRecords[0].TenantID != "acme" {
			t.Fatalf("usage = %+v", list)
		}
	})
	t.Run("Audit", func(t *testing.T) {
		WantStatus(t, s.Do(t, "POST", "/v1/tenant/audit-events", b.Machine, edgeapi.AuditEventRequest{Action: "ssh.command", Detail: "ls"}), http.StatusCreated)
		rec := s.Do(t, "GET", "/v1/tenant/audit-events", a.Session, nil)
		var list edgeapi.AuditEventsResponse
		MustDecode(t, rec, &list)
		for _, e := range list.AuditEvents {
			if e.TenantID != "acme" || e.Action == "ssh.command" {
				t.Fatalf("tenant acme sees %+v", e)
			}
		}
	})
	t.Run("ErrForbiddenWrongPrincipal", func(t *testing.T) {
		WantError(t, s.Do(t, "GET", "/v1/tenant/agents", a.Machine, nil), http.StatusForbidden, trust.EFORBIDDEN)
		WantError(t, s.Do(t, "POST", "/v1/tenant/usage", a.Session, edgeapi.UsageRequest{}), http.StatusForbidden, trust.EFORBIDDEN)
		WantError(t, s.Do(t, "POST", "/v1/sessions", a.Machine, nil), http.StatusForbidden, trust.EFORBIDDEN)
		WantError(t, s.Do(t, "POST", "/v1/service/tenants", a.Machine, edgeapi.TenantRequest{ID: "x", Name: "x"}), http.StatusForbidden, trust.EFORBIDDEN)
	})
	t.Run("ErrUnauthorized", func(t *testing.T) {
		for _, token := range []string{"", a.Credential, a.Session + "x", "oaus_" + strings.Repeat("A", 43)} {
			WantError(t, s.Do(t, "GET", "/v1/tenant/agents", token, nil), http.StatusUnauthorized, trust.EUNAUTHORIZED)
		}
		WantError(t, s.Do(t, "POST", "/v1/sessions", a.Session, nil), http.StatusUnauthorized, trust.EUNAUTHORIZED)
		// A user session is not the service (nor a Machine).
		WantError(t, s.Do(t, "POST", "/v1/service/tenants", a.Session, edgeapi.TenantRequest{ID: "x", Name: "x"}), http.StatusUnauthorized, trust.EUNAUTHORIZED)
	})
	t.Run("ServiceAsTenant", func(t *testing.T) {
		WantError(t, s.Do(t, "GET", "/v1/tenant/agents", ServiceToken, nil), http.StatusBadRequest, trust.EINVALID)
		WantError(t, s.DoH(t, "GET", "/v1/tenant/agents", ServiceToken, nil, http.Header{"Trust-Tenant": {"nope"}}), http.StatusNotFound, trust.ENOTFOUND)
		rec := s.DoH(t, "GET", "/v1/tenant/agents", ServiceToken, nil, http.Header{"Trust-Tenant": {"beta"}})
		var list edgeapi.AgentInstancesResponse
		MustDecode(t, rec, &list)
		if len(list.AgentInstances) != 1 || list.AgentInstances[0].ID != agentB.ID {
			t.Fatalf("service as beta lists %+v", list)
		}
		// The header means nothing to a user: the session's tenant wins.
		rec = s.DoH(t, "GET", "/v1/tenant/agents/"+agentB.ID, a.Session, nil, http.Header{"Trust-Tenant": {"beta"}})
		WantError(t, rec, http.StatusNotFound, trust.ENOTFOUND)
	})
	t.Run("RevokeSession", func(t *testing.T) {
		_, _, session := s.MustUser(t, "acme", "leaving@acme.example")
		WantStatus(t, s.Do(t, "DELETE", "/v1/session", session, nil), http.StatusOK)
		WantError(t, s.Do(t, "GET", "/v1/session", session, nil), http.StatusUnauthorized, trust.EUNAUTHORIZED)
	})
	t.Run("RevokeUser", func(t *testing.T) {
		userID, cred, session := s.MustUser(t, "acme", "fired@acme.example")
		WantError(t, s.Do(t, "POST", "/v1/service/tenants/beta/users/"+userID+"/revoke", ServiceToken, nil), http.StatusNotFound, trust.ENOTFOUND)
		WantStatus(t, s.Do(t, "POST", "/v1/service/tenants/acme/users/"+userID+"/revoke", ServiceToken, nil), http.StatusOK)
		WantError(t, s.Do(t, "GET", "/v1/session", session, nil), http.StatusUnauthorized, trust.EUNAUTHORIZED)
		WantError(t, s.Do(t, "POST", "/v1/sessions", cred, nil), http.StatusUnauthorized, trust.EUNAUTHORIZED)
	})
	t.Run("Unconfigured", func(t *testing.T) {
		s := MustOpenServer(t)
		WantError(t, s.Do(t, "POST", "/v1/service/tenants", ServiceToken, edgeapi.TenantRequest{ID: "x", Name: "x"}), http.StatusServiceUnavailable, trust.EUNAVAILABLE)
	})
}

// TestServer_TenantSecretsNeverLeak plants canary credentials — the service
// credential, a user credential, a session and a Machine token — drives the
// tenant routes with each (and near misses, and a closed catalog), and checks
// that none of them, nor their hashes, reaches a log line or a response other
// than the one that issued it.
func TestServer_TenantSecretsNeverLeak(t *testing.T) {
	const canaryService = "svc_CANARY_tenant_service_credential_5a4b3c2d1e0f"
	s := MustOpenTenantServer(t)
	s.ServiceToken = canaryService
	s.Tenancy = sqlite.NewTenancy(s.DB, canaryService)

	issue := func(method, path, token string, body any, out any) {
		rec := s.Do(t, method, path, token, body)
		WantStatus(t, rec, http.StatusCreated)
		MustDecode(t, rec, out)
	}
	var tenant trust.Tenant
	issue("POST", "/v1/service/tenants", canaryService, edgeapi.TenantRequest{ID: "canary", Name: "Canary"}, &tenant)
	var user trust.User
	issue("POST", "/v1/service/tenants/canary/users", canaryService, edgeapi.UserRequest{Email: "c@canary.example"}, &user)
	var cred edgeapi.UserCredentialResponse
	issue("POST", "/v1/service/tenants/canary/users/"+user.ID+"/credentials", canaryService, nil, &cred)
	var sess trust.Session
	issue("POST", "/v1/sessions", cred.Credential, nil, &sess)
	var mt edgeapi.MachineTokenResponse
	issue("POST", "/v1/service/machine-tokens", canaryService, edgeapi.MachineTokenRequest{MachineID: "m-canary", TenantID: "canary"}, &mt)
	secrets := map[string]string{"service credential": canaryService, "user credential": cred.Credential, "session": sess.Token, "machine token": mt.Token}

	var bodies []string
	do := func(method, path, token string, body any) {
		rec := s.Do(t, method, path, token, body)
		bodies = append(bodies, rec.Header().Get("WWW-Authenticate")+rec.Body.String())
	}
	tokens := []string{""}
	for _, secret := range secrets {
		tokens = append(tokens, secret, secret+"x", strings.ToUpper(secret), secret[:len(secret)-1])
	}
	drive := func() {
		for _, token := range tokens {
			for _, rt := range routes {
				do(rt.method, strings.NewReplacer("{id}", "canary", "{user}", user.ID).Replace(rt.path), token, rt.body)
			}
			do("GET", "/v1/tenant/agents?access_token="+sess.Token, token, nil)
			do("POST", "/v1/tenant/agents", token, `{"name":`)
			do("POST", "/v1/tenant/usage", token, `{"session_id":"bad key","model":"m","idempotency_key":"k"}`)
		}
	}
	drive()
	s.DB.Close() // internal errors are logged with their cause
	drive()

	logs := s.Logs.String()
	if !strings.Contains(logs, `"status":500`) {
		t.Fatal("no internal error was logged: the test did not reach the error path")
	}
	for name, secret := range secrets {
		sum := sha256.Sum256([]byte(secret))
		for _, needle := range []string{secret, secret[5:], hex.EncodeToString(sum[:])} {
			if strings.Contains(logs, needle) {
				t.Errorf("%s found in logs", name)
			}
			for _, b := range bodies {
				if strings.Contains(b, needle) {
					t.Errorf("%s found in a response: %s", name, b)
					break
				}
			}
		}
	}
}
