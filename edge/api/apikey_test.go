package api_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/openagents/trust/edge/sqlite"
	"github.com/openagents/trust/shared/edgeapi"
	"github.com/openagents/trust/shared/seal"
	"github.com/openagents/trust/shared/trust"
)

// The API-key routes join the route table, so the auth, leak and docs tests
// cover them. Placeholders stay literal.
func init() {
	routes = append(routes,
		route{"POST", "/v1/service/api-keys/{provider}/versions", `{"key":"k"}`, true},
		route{"GET", "/v1/service/api-keys/{provider}/versions", nil, true},
		route{"POST", "/v1/service/api-keys/{provider}/retire", nil, true},
		route{"POST", "/v1/service/api-keys/{provider}/staged", `{"key":"k"}`, true},
		route{"GET", "/v1/service/api-keys/{provider}/staged", nil, true},
		route{"POST", "/v1/service/api-keys/{provider}/rotate", `{"period":"2026-11"}`, true},
		route{"POST", "/v1/service/tenants/{id}/credits", `{"amount":1,"idempotency_key":"g"}`, true},
		route{"GET", "/v1/service/tenants/{id}/credits", nil, true},
		route{"GET", "/v1/service/tenants/{id}/meters/{machine}", nil, true},
		route{"POST", "/v1/service/tenants/{id}/meters/{machine}/unsuspend", nil, true},
		// User routes: a Machine token is 403.
		route{"PUT", "/v1/tenant/user-keys/{provider}", `{"key":"k"}`, true},
		route{"GET", "/v1/tenant/user-keys", nil, true},
		route{"DELETE", "/v1/tenant/user-keys/{provider}", nil, true},
		// Machine route.
		route{"GET", "/v1/tenant/key-version/{provider}", nil, false},
	)
}

// Canary keys, planted to prove they never leave the catalog in the clear.
const (
	canaryPlatformKey = "sk-ant-api03-CANARY-platform-1f2e3d4c5b6a7980"
	canaryUserKey     = "sk-proj-CANARY-user-0a9b8c7d6e5f4a3b"
	canaryStagedKey   = "sk-proj-CANARY-staged-6b5a4f3e2d1c0b9a"
)

// FakeSuspender stands in for the provisioning side (Fly Machines API).
type FakeSuspender struct {
	mu       sync.Mutex
	Machines []string
}

func (f *FakeSuspender) SuspendMachine(_ context.Context, tenantID, machineID, _ string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.Machines = append(f.Machines, tenantID+"/"+machineID)
	return nil
}

// MustOpenKeyServer is MustOpenTenantServer with the API-key services, a
// test KEK and metering (its Suspender a fake).
func MustOpenKeyServer(tb testing.TB) (*TestServer, *sqlite.Meter, *FakeSuspender) {
	tb.Helper()
	s := MustOpenTenantServer(tb)
	kek, err := seal.NewFileKEK([]byte(strings.Repeat("K", seal.KeySize)))
	if err != nil {
		tb.Fatal(err)
	}
	s.APIKeyService = sqlite.NewAPIKeyService(s.DB, seal.New(kek))
	s.UserKeys = sqlite.NewUserKeyStore(seal.New(kek))
	meter := sqlite.NewMeter(s.DB)
	meter.Logger = s.Logger
	susp := &FakeSuspender{}
	meter.Suspender = susp
	s.Meter = meter
	return s, meter, susp
}

// MustGrant grants a tenant credits through the API.
func (s *TestServer) MustGrant(tb testing.TB, tenantID string, amount int64, key string) {
	tb.Helper()
	WantStatus(tb, s.Do(tb, "POST", "/v1/service/tenants/"+tenantID+"/credits", ServiceToken, edgeapi.CreditGrantRequest{Amount: amount, IdempotencyKey: key}), http.StatusOK)
}

func TestServer_APIKeyVersions(t *testing.T) {
	s, _, _ := MustOpenKeyServer(t)
	a := s.MustTenant(t, "a")
	s.MustGrant(t, "a", 1000, "g1")

	// No version yet: the Machine gets 404.
	WantError(t, s.Do(t, "GET", "/v1/tenant/key-version/anthropic", a.Machine, nil), http.StatusNotFound, trust.ENOTFOUND)

	rec := s.Do(t, "POST", "/v1/service/api-keys/anthropic/versions", ServiceToken, edgeapi.APIKeyVersionRequest{Key: canaryPlatformKey, Period: "2026-07"})
	WantStatus(t, rec, http.StatusCreated)
	var v edgeapi.APIKeyVersionResponse
	MustDecode(t, rec, &v)
	if v.Version != 1 || !v.Created || v.State != trust.APIKeyActive {
		t.Fatalf("version = %+v", v)
	}
	t.Run("SamePeriod", func(t *testing.T) {
		rec := s.Do(t, "POST", "/v1/service/api-keys/anthropic/versions", ServiceToken, edgeapi.APIKeyVersionRequest{Key: canaryPlatformKey + "x", Period: "2026-07"})
		WantStatus(t, rec, http.StatusOK)
	})
	WantStatus(t, s.Do(t, "POST", "/v1/service/api-keys/anthropic/versions", ServiceToken, edgeapi.APIKeyVersionRequest{Key: canaryPlatformKey + "2", OverlapSeconds: 3600}), http.StatusCreated)

	rec = s.Do(t, "GET", "/v1/tenant/key-version/anthropic", a.Machine, nil)
	WantStatus(t, rec, http.StatusOK)
	var kv edgeapi.KeyVersionResponse
	MustDecode(t, rec, &kv)
	if kv != (edgeapi.KeyVersionResponse{Provider: "anthropic", Source: edgeapi.KeySourcePlatform, Version: 2}) {
		t.Fatalf("key version = %+v", kv)
	}

	rec = s.Do(t, "GET", "/v1/service/api-keys/anthropic/versions", ServiceToken, nil)
	WantStatus(t, rec, http.StatusOK)
	var list edgeapi.APIKeyVersionsResponse
	MustDecode(t, rec, &list)
	if len(list.Versions) != 2 || list.Versions[1].State != trust.APIKeyPrevious {
		t.Fatalf("versions = %+v", list.Versions)
	}
	// The clock of the test server is fixed: nothing is due yet.
	rec = s.Do(t, "POST", "/v1/service/api-keys/anthropic/retire", ServiceToken, nil)
	WantStatus(t, rec, http.StatusOK)

	t.Run("ErrInvalid", func(t *testing.T) {
		WantError(t, s.Do(t, "POST", "/v1/service/api-keys/gemini/versions", ServiceToken, edgeapi.APIKeyVersionRequest{Key: canaryPlatformKey}), http.StatusBadRequest, trust.EINVALID)
		WantError(t, s.Do(t, "POST", "/v1/service/api-keys/openai/versions", ServiceToken, `{"key":"`+canaryPlatformKey+`","tenant_id":"a"}`), http.StatusBadRequest, trust.EINVALID)
		WantError(t, s.Do(t, "GET", "/v1/tenant/key-version/gemini", a.Machine, nil), http.StatusBadRequest, trust.EINVALID)
		for _, secs := range []string{"-1", "7776001", "9223372036"} { // the last overflows a Duration
			WantError(t, s.Do(t, "POST", "/v1/service/api-keys/openai/versions", ServiceToken, `{"key":"k","overlap_seconds":`+secs+`}`), http.StatusBadRequest, trust.EINVALID)
		}
	})
	t.Run("ErrUnavailableWithoutKEK", func(t *testing.T) {
		bare := MustOpenTenantServer(t)
		bare.APIKeyService = sqlite.NewAPIKeyService(bare.DB, nil)
		WantError(t, bare.Do(t, "POST", "/v1/service/api-keys/openai/versions", ServiceToken, edgeapi.APIKeyVersionRequest{Key: canaryPlatformKey}), http.StatusServiceUnavailable, trust.EUNAVAILABLE)
	})
}

func TestServer_StagedRotation(t *testing.T) {
	s, _, _ := MustOpenKeyServer(t)
	a := s.MustTenant(t, "a")
	s.MustGrant(t, "a", 1000, "g1")
	const base = "/v1/service/api-keys/anthropic"

	WantError(t, s.Do(t, "GET", base+"/staged", ServiceToken, nil), http.StatusNotFound, trust.ENOTFOUND)
	rec := s.Do(t, "POST", base+"/rotate", ServiceToken, edgeapi.RotateAPIKeyRequest{Period: "2026-07"})
	WantError(t, rec, http.StatusConflict, trust.ECONFLICT)
	if !strings.Contains(rec.Body.String(), "no staged key for anthropic: stage the next key first") {
		t.Fatalf("no staged key answer = %s", rec.Body)
	}

	rec = s.Do(t, "POST", base+"/staged", ServiceToken, edgeapi.StageAPIKeyRequest{Key: canaryStagedKey})
	WantStatus(t, rec, http.StatusCreated)
	var st trust.StagedAPIKey
	MustDecode(t, rec, &st)
	if st.Provider != "anthropic" || st.StagedBy != "service" || st.Fingerprint != trust.APIKeyFingerprint(canaryStagedKey) {
		t.Fatalf("staged = %+v", st)
	}
	rec = s.Do(t, "GET", base+"/staged", ServiceToken, nil)
	WantStatus(t, rec, http.StatusOK)
	var found trust.StagedAPIKey
	MustDecode(t, rec, &found)
	if found.Fingerprint != st.Fingerprint {
		t.Fatalf("found = %+v", found)
	}

	rec = s.Do(t, "POST", base+"/rotate", ServiceToken, edgeapi.RotateAPIKeyRequest{Period: "2026-07", OverlapSeconds: 3600})
	WantStatus(t, rec, http.StatusCreated)
	var v edgeapi.APIKeyVersionResponse
	MustDecode(t, rec, &v)
	if v.Version != 1 || !v.Created || v.Period != "2026-07" || v.State != trust.APIKeyActive {
		t.Fatalf("rotated = %+v", v)
	}
	WantError(t, s.Do(t, "GET", base+"/staged", ServiceToken, nil), http.StatusNotFound, trust.ENOTFOUND)
	// The active key cannot be staged again.
	WantError(t, s.Do(t, "POST", base+"/staged", ServiceToken, edgeapi.StageAPIKeyRequest{Key: canaryStagedKey}), http.StatusConflict, trust.ECONFLICT)
	rec = s.Do(t, "POST", base+"/rotate", ServiceToken, edgeapi.RotateAPIKeyRequest{Period: "2026-07"})
	WantStatus(t, rec, http.StatusOK)
	MustDecode(t, rec, &v)
	if v.Version != 1 || v.Created {
		t.Fatalf("second rotation in the period = %+v", v)
	}
	rec = s.Do(t, "GET", "/v1/tenant/key-version/anthropic", a.Machine, nil)
	WantStatus(t, rec, http.StatusOK)

	t.Run("ErrInvalid", func(t *testing.T) {
		for _, tt := range []struct {
			name, method, path string
			body               any
		}{
			{"UnknownProvider", "POST", "/v1/service/api-keys/gemini/staged", edgeapi.StageAPIKeyRequest{Key: canaryStagedKey}},
			{"EmptyKey", "POST", base + "/staged", edgeapi.StageAPIKeyRequest{}},
			{"UnknownField", "POST", base + "/staged", `{"key":"k","period":"2026-07"}`},
			{"NoPeriod", "POST", base + "/rotate", edgeapi.RotateAPIKeyRequest{}},
			{"BadPeriod", "POST", base + "/rotate", edgeapi.RotateAPIKeyRequest{Period: "26-07"}},
			{"NegativeOverlap", "POST", base + "/rotate", `{"period":"2026-08","overlap_seconds":-1}`},
			{"LongOverlap", "POST", base + "/rotate", `{"period":"2026-08","overlap_seconds":7776001}`},
			{"FindUnknownProvider", "GET", "/v1/service/api-keys/gemini/staged", nil},
		} {
			t.Run(tt.name, func(t *testing.T) {
				WantError(t, s.Do(t, tt.method, tt.path, ServiceToken, tt.body), http.StatusBadRequest, trust.EINVALID)
			})
		}
	})
	t.Run("ErrForbiddenForMachine", func(t *testing.T) {
		WantError(t, s.Do(t, "POST", base+"/staged", a.Machine, edgeapi.StageAPIKeyRequest{Key: canaryStagedKey}), http.StatusForbidden, trust.EFORBIDDEN)
		WantError(t, s.Do(t, "POST", base+"/rotate", a.Machine, edgeapi.RotateAPIKeyRequest{Period: "2026-08"}), http.StatusForbidden, trust.EFORBIDDEN)
	})
	t.Run("ErrUnavailableWithoutKEK", func(t *testing.T) {
		bare := MustOpenTenantServer(t)
		bare.APIKeyService = sqlite.NewAPIKeyService(bare.DB, nil)
		WantError(t, bare.Do(t, "POST", base+"/staged", ServiceToken, edgeapi.StageAPIKeyRequest{Key: canaryStagedKey}), http.StatusServiceUnavailable, trust.EUNAVAILABLE)
		WantError(t, bare.Do(t, "POST", base+"/rotate", ServiceToken, edgeapi.RotateAPIKeyRequest{Period: "2026-08"}), http.StatusServiceUnavailable, trust.EUNAVAILABLE)
	})
}

func TestServer_UserKeys(t *testing.T) {
	s, _, _ := MustOpenKeyServer(t)
	a, b := s.MustTenant(t, "a"), s.MustTenant(t, "b")
	s.MustGrant(t, "a", 1000, "g1")
	s.MustGrant(t, "b", 1000, "g1")
	WantStatus(t, s.Do(t, "POST", "/v1/service/api-keys/openai/versions", ServiceToken, edgeapi.APIKeyVersionRequest{Key: canaryPlatformKey}), http.StatusCreated)

	rec := s.Do(t, "PUT", "/v1/tenant/user-keys/openai", a.Session, edgeapi.UserAPIKeyRequest{Key: canaryUserKey})
	WantStatus(t, rec, http.StatusOK)
	var k trust.UserAPIKey
	MustDecode(t, rec, &k)
	if k.TenantID != "a" || k.Version != 1 || k.CreatedBy != "user:"+a.UserID {
		t.Fatalf("key = %+v", k)
	}
	versionOf := func(machine string) edgeapi.KeyVersionResponse {
		rec := s.Do(t, "GET", "/v1/tenant/key-version/openai", machine, nil)
		WantStatus(t, rec, http.StatusOK)
		var kv edgeapi.KeyVersionResponse
		MustDecode(t, rec, &kv)
		return kv
	}
	if kv := versionOf(a.Machine); kv.Source != edgeapi.KeySourceUser || kv.Version != 1 {
		t.Fatalf("tenant a's machine = %+v, want its user key", kv)
	}
	if kv := versionOf(b.Machine); kv.Source != edgeapi.KeySourcePlatform {
		t.Fatalf("tenant b's machine = %+v, want the platform key", kv)
	}
	var keys edgeapi.UserAPIKeysResponse
	rec = s.Do(t, "GET", "/v1/tenant/user-keys", b.Session, nil)
	MustDecode(t, rec, &keys)
	if len(keys.Keys) != 0 {
		t.Fatalf("tenant b sees %+v", keys.Keys)
	}
	WantError(t, s.Do(t, "DELETE", "/v1/tenant/user-keys/openai", b.Session, nil), http.StatusNotFound, trust.ENOTFOUND)
	WantError(t, s.Do(t, "PUT", "/v1/tenant/user-keys/openai", a.Machine, edgeapi.UserAPIKeyRequest{Key: canaryUserKey}), http.StatusForbidden, trust.EFORBIDDEN)
	WantStatus(t, s.Do(t, "DELETE", "/v1/tenant/user-keys/openai", a.Session, nil), http.StatusOK)
	if kv := versionOf(a.Machine); kv.Source != edgeapi.KeySourcePlatform {
		t.Fatalf("after delete = %+v", kv)
	}

	// The service unseals at injection, for that tenant only.
	svc, err := s.Tenancy.Service(t.Context(), ServiceToken)
	if err != nil {
		t.Fatal(err)
	}
	WantStatus(t, s.Do(t, "PUT", "/v1/tenant/user-keys/anthropic", a.Session, edgeapi.UserAPIKeyRequest{Key: canaryUserKey}), http.StatusOK)
	if _, key, err := s.UserKeys.UnsealUserKey(t.Context(), svc, "a", "anthropic"); err != nil || key != canaryUserKey {
		t.Fatalf("unseal: %v", err)
	}
	if _, _, err := s.UserKeys.UnsealUserKey(t.Context(), svc, "b", "anthropic"); trust.ErrorCode(err) != trust.ENOTFOUND {
		t.Fatalf("tenant b's unseal = %v, want ENOTFOUND", err)
	}
}

func TestServer_MeteredUsage(t *testing.T) {
	s, meter, susp := MustOpenKeyServer(t)
	meter.TokensPerHour = 10_000
	a := s.MustTenant(t, "a")
	WantStatus(t, s.Do(t, "POST", "/v1/service/api-keys/anthropic/versions", ServiceToken, edgeapi.APIKeyVersionRequest{Key: canaryPlatformKey}), http.StatusCreated)
	report := func(key string, in int64) *httptest.ResponseRecorder {
		return s.Do(t, "POST", "/v1/tenant/usage", a.Machine, edgeapi.UsageRequest{SessionID: "s1", Model: "claude", InputTokens: in, IdempotencyKey: key})
	}

	t.Run("ErrNoCredits", func(t *testing.T) {
		msg := WantError(t, report("k0", 10), http.StatusForbidden, trust.EFORBIDDEN)
		if !strings.Contains(msg, "credits") {
			t.Fatalf("message %q does not say why", msg)
		}
		WantError(t, s.Do(t, "GET", "/v1/tenant/key-version/anthropic", a.Machine, nil), http.StatusForbidden, trust.EFORBIDDEN)
	})
	s.MustGrant(t, "a", 100_000, "g1")
	s.MustGrant(t, "a", 100_000, "g1") // a replayed grant changes nothing

	rec := report("k1", 1500)
	WantStatus(t, rec, http.StatusCreated)
	var got edgeapi.MeteredUsageResponse
	MustDecode(t, rec, &got)
	if got.Charged != 1500 || got.Balance != 98_500 || !got.Created || got.MachineID != "m-a" {
		t.Fatalf("report = %+v", got)
	}
	rec = report("k1", 1500)
	WantStatus(t, rec, http.StatusOK)
	MustDecode(t, rec, &got)
	if got.Charged != 0 || got.Balance != 98_500 {
		t.Fatalf("replay = %+v", got)
	}

	WantStatus(t, report("k2", 9000), http.StatusCreated)
	WantError(t, report("k3", 1), http.StatusTooManyRequests, trust.ERATELIMIT)

	// Anomaly: a second Machine's first report at 100× the floor.
	rec = s.Do(t, "POST", "/v1/service/machine-tokens", ServiceToken, edgeapi.MachineTokenRequest{MachineID: "m-burst", TenantID: "a"})
	var mt edgeapi.MachineTokenResponse
	MustDecode(t, rec, &mt)
	meter.TokensPerHour = 0
	s.MustGrant(t, "a", 1_000_000, "g2") // the burst is charged too
	rec = s.Do(t, "POST", "/v1/tenant/usage", mt.Token, edgeapi.UsageRequest{SessionID: "s2", Model: "claude", InputTokens: trust.DefaultBaselineFloor * trust.DefaultAnomalyFactor, IdempotencyKey: "burst"})
	WantStatus(t, rec, http.StatusCreated)
	MustDecode(t, rec, &got)
	if !got.Suspended {
		t.Fatalf("burst = %+v, want suspended", got)
	}
	if len(susp.Machines) != 1 || susp.Machines[0] != "a/m-burst" {
		t.Fatalf("suspender calls = %v", susp.Machines)
	}
	WantError(t, s.Do(t, "GET", "/v1/tenant/key-version/anthropic", mt.Token, nil), http.StatusForbidden, trust.EFORBIDDEN)
	WantError(t, s.Do(t, "POST", "/v1/tenant/usage", mt.Token, edgeapi.UsageRequest{SessionID: "s2", Model: "claude", InputTokens: 1, IdempotencyKey: "after"}), http.StatusForbidden, trust.EFORBIDDEN)
	// The first Machine is not affected.
	WantStatus(t, s.Do(t, "GET", "/v1/tenant/key-version/anthropic", a.Machine, nil), http.StatusOK)

	var evs edgeapi.AuditEventsResponse
	MustDecode(t, s.Do(t, "GET", "/v1/tenant/audit-events", a.Session, nil), &evs)
	var actions []string
	for _, e := range evs.AuditEvents {
		actions = append(actions, e.Action)
	}
	if !strings.Contains(strings.Join(actions, ","), "usage.anomaly,machine.suspend") {
		t.Fatalf("audit actions = %v", actions)
	}
	rec = s.Do(t, "POST", "/v1/service/tenants/a/meters/m-burst/unsuspend", ServiceToken, nil)
	WantStatus(t, rec, http.StatusOK)
	WantStatus(t, s.Do(t, "GET", "/v1/tenant/key-version/anthropic", mt.Token, nil), http.StatusOK)
	WantError(t, s.Do(t, "GET", "/v1/service/tenants/a/meters/m-none", ServiceToken, nil), http.StatusNotFound, trust.ENOTFOUND)
}

// TestServer_APIKeySecretsNeverLeak plants canary platform and user keys,
// runs the whole API-key flow — stores, rotation, listings, Machine
// fetches, metering up to a suspension, bad requests carrying the keys,
// and a closed catalog — and scans every log line, error message,
// response, audit row and the catalog file for them: zero hits.
func TestServer_APIKeySecretsNeverLeak(t *testing.T) {
	s, meter, _ := MustOpenKeyServer(t)
	meter.TokensPerHour = 5_000
	a := s.MustTenant(t, "a")
	s.MustGrant(t, "a", 10_000, "g1")

	var bodies []string
	do := func(method, path, token string, body any) {
		rec := s.Do(t, method, path, token, body)
		bodies = append(bodies, rec.Header().Get("WWW-Authenticate")+rec.Body.String())
	}
	drive := func() {
		do("POST", "/v1/service/api-keys/anthropic/versions", ServiceToken, edgeapi.APIKeyVersionRequest{Key: canaryPlatformKey, Period: "2026-07"})
		do("POST", "/v1/service/api-keys/anthropic/versions", ServiceToken, edgeapi.APIKeyVersionRequest{Key: canaryPlatformKey + "-next"})
		do("POST", "/v1/service/api-keys/gemini/versions", ServiceToken, edgeapi.APIKeyVersionRequest{Key: canaryPlatformKey})
		do("POST", "/v1/service/api-keys/openai/versions", ServiceToken, edgeapi.APIKeyVersionRequest{Key: canaryPlatformKey + " with space"})
		do("POST", "/v1/service/api-keys/openai/versions", ServiceToken, `{"key":"`+canaryPlatformKey+`"`)
		do("POST", "/v1/service/api-keys/openai/versions", ServiceToken, `{"key":"`+canaryPlatformKey+`","overlap_seconds":"x"}`)
		do("POST", "/v1/service/api-keys/openai/versions", a.Machine, edgeapi.APIKeyVersionRequest{Key: canaryPlatformKey})
		do("POST", "/v1/service/api-keys/openai/versions", canaryPlatformKey, edgeapi.APIKeyVersionRequest{Key: canaryPlatformKey})
		do("GET", "/v1/service/api-keys/anthropic/versions", ServiceToken, nil)
		do("POST", "/v1/service/api-keys/anthropic/retire", ServiceToken, nil)
		do("POST", "/v1/service/api-keys/openai/staged", ServiceToken, edgeapi.StageAPIKeyRequest{Key: canaryStagedKey, StagedBy: "ops"})
		do("POST", "/v1/service/api-keys/openai/staged", ServiceToken, edgeapi.StageAPIKeyRequest{Key: canaryStagedKey, StagedBy: canaryStagedKey + "\n"})
		do("POST", "/v1/service/api-keys/gemini/staged", ServiceToken, edgeapi.StageAPIKeyRequest{Key: canaryStagedKey})
		do("POST", "/v1/service/api-keys/openai/staged", ServiceToken, `{"key":"`+canaryStagedKey+`"`)
		do("POST", "/v1/service/api-keys/openai/staged", ServiceToken, `{"key":"`+canaryStagedKey+`","extra":1}`)
		do("POST", "/v1/service/api-keys/openai/staged", a.Machine, edgeapi.StageAPIKeyRequest{Key: canaryStagedKey})
		do("POST", "/v1/service/api-keys/openai/staged", canaryStagedKey, edgeapi.StageAPIKeyRequest{Key: canaryStagedKey})
		do("GET", "/v1/service/api-keys/openai/staged", ServiceToken, nil)
		do("POST", "/v1/service/api-keys/anthropic/rotate", ServiceToken, edgeapi.RotateAPIKeyRequest{Period: "2026-08"})
		do("POST", "/v1/service/api-keys/openai/rotate", ServiceToken, edgeapi.RotateAPIKeyRequest{Period: "2026-08"})
		do("POST", "/v1/service/api-keys/openai/rotate", ServiceToken, edgeapi.RotateAPIKeyRequest{Period: "2026-08"})
		do("POST", "/v1/service/api-keys/openai/staged", ServiceToken, edgeapi.StageAPIKeyRequest{Key: canaryStagedKey}) // the active key: 409
		do("GET", "/v1/service/api-keys/openai/versions", ServiceToken, nil)
		do("PUT", "/v1/tenant/user-keys/openai", a.Session, edgeapi.UserAPIKeyRequest{Key: canaryUserKey})
		do("PUT", "/v1/tenant/user-keys/openai", a.Machine, edgeapi.UserAPIKeyRequest{Key: canaryUserKey})
		do("PUT", "/v1/tenant/user-keys/gemini", a.Session, edgeapi.UserAPIKeyRequest{Key: canaryUserKey})
		do("PUT", "/v1/tenant/user-keys/openai", a.Session, `{"key":"`+canaryUserKey+`"}x`)
		do("GET", "/v1/tenant/user-keys", a.Session, nil)
		do("GET", "/v1/tenant/key-version/openai", a.Machine, nil)
		do("GET", "/v1/tenant/key-version/anthropic", a.Machine, nil)
		do("GET", "/v1/tenant/key-version/anthropic?key="+canaryPlatformKey, a.Machine, nil)
		for _, n := range []int64{100, 4_900, 1, 300_000} {
			do("POST", "/v1/tenant/usage", a.Machine, edgeapi.UsageRequest{SessionID: "s", Model: "m", InputTokens: n, IdempotencyKey: "k" + strings.Repeat("x", int(n%7))})
		}
		do("GET", "/v1/tenant/audit-events", a.Session, nil)
		do("GET", "/v1/tenant/usage", a.Session, nil)
	}
	drive()

	// The service-side injection paths, whose errors are scanned too.
	var errs []error
	ctx := t.Context()
	if _, key, err := s.APIKeyService.UnsealCurrentKey(ctx, "anthropic"); err != nil || key != canaryPlatformKey+"-next" {
		t.Fatalf("unseal current: %v", err)
	}
	if v, key, err := s.APIKeyService.UnsealCurrentKey(ctx, "openai"); err != nil || v != 1 || key != canaryStagedKey {
		t.Fatalf("unseal promoted staged key: version %d, %v", v, err)
	}
	svc, _ := s.Tenancy.Service(ctx, ServiceToken)
	if _, key, err := s.UserKeys.UnsealUserKey(ctx, svc, "a", "openai"); err != nil || key != canaryUserKey {
		t.Fatalf("unseal user key: %v", err)
	}
	wrong := sqlite.NewAPIKeyService(s.DB, seal.New(mustKEK(t, "W")))
	_, _, err := wrong.UnsealCurrentKey(ctx, "anthropic")
	errs = append(errs, err)
	audit, err := svc.FindAuditEvents(ctx, "")
	if err != nil || len(audit) == 0 {
		t.Fatalf("audit rows: %d, %v", len(audit), err)
	}

	s.DB.Close() // internal errors are logged with their cause
	drive()
	_, _, err = s.APIKeyService.UnsealCurrentKey(ctx, "anthropic")
	errs = append(errs, err)

	catalog, err := os.ReadFile(s.DB.DSN)
	if err != nil {
		t.Fatal(err)
	}
	wal, _ := os.ReadFile(s.DB.DSN + "-wal")
	logs := s.Logs.String()
	if !strings.Contains(logs, `"status":500`) {
		t.Fatal("no internal error was logged: the test did not reach the error path")
	}
	var places []string
	places = append(places, logs, string(catalog), string(wal))
	places = append(places, bodies...)
	for _, e := range errs {
		if e == nil {
			t.Fatal("expected an error")
		}
		places = append(places, e.Error())
	}
	for _, e := range audit {
		places = append(places, e.Actor+" "+e.Action+" "+e.Target+" "+e.Detail)
	}
	if !strings.Contains(logs, "api key rotation without a staged key") {
		t.Fatal("the rotation without a staged key was not logged")
	}
	for _, secret := range []string{canaryPlatformKey, canaryUserKey, canaryStagedKey} {
		sum := sha256.Sum256([]byte(secret))
		for _, needle := range []string{secret, secret[8:], hex.EncodeToString(sum[:]), "CANARY"} {
			for _, p := range places {
				if strings.Contains(p, needle) {
					i := strings.Index(p, needle)
					t.Errorf("%q found: ...%s...", needle, p[max(0, i-80):min(len(p), i+80)])
					break
				}
			}
		}
	}
}

// mustKEK returns a KEK of one repeated character.
func mustKEK(tb testing.TB, c string) *seal.FileKEK {
	tb.Helper()
	k, err := seal.NewFileKEK([]byte(strings.Repeat(c, seal.KeySize)))
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

// BenchmarkServer_KeyVersion measures the Machine's key-version poll
// in-process: token check, credit and suspension gate, user-key and
// platform-version reads.
func BenchmarkServer_KeyVersion(b *testing.B) {
	s, _, _ := MustOpenKeyServer(b)
	s.Logger = slog.New(slog.DiscardHandler)
	a := s.MustTenant(b, "a")
	s.MustGrant(b, "a", 1000, "g1")
	WantStatus(b, s.Do(b, "POST", "/v1/service/api-keys/anthropic/versions", ServiceToken, edgeapi.APIKeyVersionRequest{Key: canaryPlatformKey}), http.StatusCreated)
	b.ReportAllocs()
	for b.Loop() {
		if rec := s.Do(b, "GET", "/v1/tenant/key-version/anthropic", a.Machine, nil); rec.Code != http.StatusOK {
			b.Fatal(rec.Body)
		}
	}
}
