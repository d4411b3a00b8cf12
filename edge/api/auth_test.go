package api_test

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/openagents/trust/shared/trust"
)

// route is one API route with a request that gets past authentication.
type route struct {
	method, path string
	body         any
	service      bool // service credential only
}

var routes = []route{
	{"GET", "/v1/keyring", nil, false},
	{"GET", "/v1/keyring/watch", nil, false},
	{"GET", "/v1/skills/weather/versions/1.0.0/signatures", nil, false},
	{"POST", "/v1/signatures/batch", `{"skills":[{"name":"weather","version":"1.0.0"}]}`, false},
	{"POST", "/v1/service/keys", `{}`, true},
	{"POST", "/v1/service/keys/main/versions/1/retire", nil, true},
	{"POST", "/v1/service/keys/main/versions/1/revoke", `{"reason":"x"}`, true},
	{"PUT", "/v1/service/skills/weather/versions/1.0.0", `{}`, true},
	{"GET", "/v1/service/skills/weather/versions/1.0.0", nil, true},
	{"POST", "/v1/service/skills/weather/versions/1.0.0/state", `{"state":"approved"}`, true},
	{"POST", "/v1/service/signatures", `{"envelope":{}}`, true},
	{"POST", "/v1/service/machine-tokens", `{"machine_id":"m","tenant_id":"t"}`, true},
	{"POST", "/v1/service/machines/m-none/revoke-tokens", nil, true},
}

// TestServer_Auth drives every route with each kind of credential: none and
// unknown ones are 401, a Machine token on a service route is 403, and
// everything else reaches the handler.
func TestServer_Auth(t *testing.T) {
	s := MustOpenServer(t)
	machine := s.MustMachineToken(t, "m-auth")
	revoked := s.MustMachineToken(t, "m-revoked")
	if err := s.MachineTokenService.RevokeMachineTokens(t.Context(), "m-revoked"); err != nil {
		t.Fatal(err)
	}

	unauthorized := map[string]func(*http.Request){
		"NoToken":      func(r *http.Request) {},
		"BadToken":     func(r *http.Request) { r.Header.Set("Authorization", "Bearer not-a-token") },
		"NearService":  func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+ServiceToken+"x") },
		"ServicePart":  func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+ServiceToken[:len(ServiceToken)-1]) },
		"BasicScheme":  func(r *http.Request) { r.Header.Set("Authorization", "Basic "+ServiceToken) },
		"RevokedToken": func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+revoked) },
		"EmptyBearer":  func(r *http.Request) { r.Header.Set("Authorization", "Bearer ") },
	}

	for _, rt := range routes {
		t.Run(rt.method+" "+rt.path, func(t *testing.T) {
			for name, set := range unauthorized {
				t.Run(name, func(t *testing.T) {
					rec := s.serve(t, rt, set)
					WantError(t, rec, http.StatusUnauthorized, trust.EUNAUTHORIZED)
					if rec.Header().Get("WWW-Authenticate") == "" {
						t.Fatal("401 without WWW-Authenticate")
					}
				})
			}
			t.Run("MachineToken", func(t *testing.T) {
				rec := s.serve(t, rt, func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+machine) })
				if rt.service {
					WantError(t, rec, http.StatusForbidden, trust.EFORBIDDEN)
				} else if rec.Code == http.StatusUnauthorized || rec.Code == http.StatusForbidden {
					t.Fatalf("status = %d, want the machine let through: %s", rec.Code, rec.Body)
				}
			})
			t.Run("ServiceToken", func(t *testing.T) {
				rec := s.serve(t, rt, func(r *http.Request) { r.Header.Set("Authorization", "bearer "+ServiceToken) })
				if rec.Code == http.StatusUnauthorized || rec.Code == http.StatusForbidden {
					t.Fatalf("status = %d, want the service let through: %s", rec.Code, rec.Body)
				}
			})
		})
	}
}

// serve sends rt's request after set has added its credential.
func (s *TestServer) serve(t *testing.T, rt route, set func(*http.Request)) *httptest.ResponseRecorder {
	t.Helper()
	var body *strings.Reader
	if b, ok := rt.body.(string); ok {
		body = strings.NewReader(b)
	} else {
		body = strings.NewReader("")
	}
	req := httptest.NewRequest(rt.method, rt.path, body)
	req.Header.Set("Content-Type", "application/json")
	set(req)
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	return rec
}

// TestServer_SecretsNeverLeak plants a canary service credential and Machine
// token, drives requests that succeed and fail (bad bodies, wrong routes,
// near-miss tokens, a token in the query string, a closed database),
// and checks that neither canary, nor its hash, appears in any log line or
// response.
func TestServer_SecretsNeverLeak(t *testing.T) {
	const canaryService = "svc_CANARY_service_credential_9f8e7d6c5b4a39281706"
	s := MustOpenServer(t)
	s.ServiceToken = canaryService
	rec := s.Do(t, "POST", "/v1/service/machine-tokens", canaryService, map[string]string{"machine_id": "canary-m", "tenant_id": "t"})
	WantStatus(t, rec, http.StatusCreated)
	var created struct{ Token string }
	MustDecode(t, rec, &created)
	canaryMachine := created.Token

	var bodies []string
	do := func(method, path, token string, body any) {
		rec := s.Do(t, method, path, token, body)
		bodies = append(bodies, rec.Header().Get("WWW-Authenticate")+rec.Body.String())
	}
	for _, token := range []string{canaryService, canaryMachine, canaryService + "x", canaryMachine + "x", strings.ToUpper(canaryMachine), ""} {
		for _, rt := range routes {
			do(rt.method, rt.path, token, rt.body)
		}
		do("GET", "/v1/keyring?access_token="+canaryMachine, token, nil)
		do("POST", "/v1/signatures/batch", token, `{"skills":[]}`)
		do("POST", "/v1/signatures/batch", token, `{"skills":`)
		do("POST", "/v1/service/keys", token, `{"key_id":"Bad Key","version":1}`)
		do("POST", "/v1/service/signatures", token, `{"envelope":{"payload":"x"}}`)
		do("DELETE", "/v1/keyring", token, nil)
	}
	// Internal errors are logged with their cause: close the catalog under
	// the server and try again.
	s.DB.Close()
	for _, token := range []string{canaryService, canaryMachine} {
		for _, rt := range routes {
			do(rt.method, rt.path, token, rt.body)
		}
	}

	logs := s.Logs.String()
	if !strings.Contains(logs, `"status":500`) || !strings.Contains(logs, `"level":"ERROR"`) {
		t.Fatal("no internal error was logged: the test did not reach the error path")
	}
	for name, secret := range map[string]string{"service credential": canaryService, "machine token": canaryMachine} {
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
