package api_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/openagents/trust/shared/edgeapi"
	"github.com/openagents/trust/shared/trust"
)

// machineReads are the Machine routes behind requireMachine, each with a body
// that would be served (200) to a Machine in good standing.
var machineReads = []struct {
	method, path string
	body         any
}{
	{"GET", "/v1/keyring", nil},
	{"GET", "/v1/skills/weather-report/versions/1.2.0/signatures", nil},
	{"POST", "/v1/signatures/batch", `{"skills":[{"name":"weather-report","version":"1.2.0"}]}`},
}

// mustSuspend suspends Machine machineID of tenant a through its own usage:
// one report at the anomaly factor × the baseline floor.
func mustSuspend(tb testing.TB, s *TestServer, token string) {
	tb.Helper()
	rec := s.Do(tb, "POST", "/v1/tenant/usage", token, edgeapi.UsageRequest{
		SessionID: "s-burst", Model: "claude", IdempotencyKey: "burst-" + token[len(token)-6:],
		InputTokens: trust.DefaultBaselineFloor * trust.DefaultAnomalyFactor,
	})
	WantStatus(tb, rec, http.StatusCreated)
	var got edgeapi.MeteredUsageResponse
	MustDecode(tb, rec, &got)
	if !got.Suspended {
		tb.Fatalf("burst = %+v, want suspended", got)
	}
}

// A suspension reaches every route a Machine token opens, on the very next
// request, although the token was cached as authenticated: the suspension
// moves the catalog version the cache is keyed by. Unsuspending lets it in
// again; another Machine of the tenant is never affected.
func TestServer_SuspendedMachineRefused(t *testing.T) {
	s, meter, _ := MustOpenKeyServer(t)
	meter.TokensPerHour = 0
	a := s.MustTenant(t, "a")
	s.MustGrant(t, "a", 10_000_000, "g1")
	rec := s.Do(t, "POST", "/v1/service/machine-tokens", ServiceToken, edgeapi.MachineTokenRequest{MachineID: "m-burst", TenantID: "a"})
	WantStatus(t, rec, http.StatusCreated)
	var mt edgeapi.MachineTokenResponse
	MustDecode(t, rec, &mt)

	// Twice each: the second answer comes with the token cached.
	for range 2 {
		for _, rt := range machineReads {
			WantStatus(t, s.Do(t, rt.method, rt.path, mt.Token, rt.body), http.StatusOK)
		}
	}
	mustSuspend(t, s, mt.Token)

	t.Run("ErrSuspended", func(t *testing.T) {
		for _, rt := range append(machineReads, struct {
			method, path string
			body         any
		}{"GET", "/v1/keyring/watch", nil}) {
			msg := WantError(t, s.Do(t, rt.method, rt.path, mt.Token, rt.body), http.StatusForbidden, trust.EFORBIDDEN)
			if !strings.HasPrefix(msg, "machine suspended: usage anomaly") {
				t.Fatalf("%s %s: message %q, want machine suspended: …", rt.method, rt.path, msg)
			}
		}
		WantError(t, s.Do(t, "GET", "/v1/tenant/key-version/anthropic", mt.Token, nil), http.StatusForbidden, trust.EFORBIDDEN)
		// Tenant routes a Machine uses (audit events, SSH) refuse it too.
		msg := WantError(t, s.Do(t, "POST", "/v1/tenant/audit-events", mt.Token,
			edgeapi.AuditEventRequest{Action: "tool.call", Target: "web_fetch"}), http.StatusForbidden, trust.EFORBIDDEN)
		if !strings.HasPrefix(msg, "machine suspended") {
			t.Fatalf("audit event: message %q", msg)
		}
	})
	t.Run("ErrForgedUnsuspend", func(t *testing.T) {
		// Another Machine of the tenant cannot post the edge's own events.
		WantError(t, s.Do(t, "POST", "/v1/tenant/audit-events", a.Machine,
			edgeapi.AuditEventRequest{Action: "machine.unsuspend", Target: "machine:m-burst"}), http.StatusForbidden, trust.EFORBIDDEN)
	})
	t.Run("OtherMachine", func(t *testing.T) {
		for _, rt := range machineReads {
			WantStatus(t, s.Do(t, rt.method, rt.path, a.Machine, rt.body), http.StatusOK)
		}
	})
	t.Run("Logged", func(t *testing.T) {
		if !strings.Contains(s.Logs.String(), `"status":403`) || !strings.Contains(s.Logs.String(), `"machine_id":"m-burst"`) {
			t.Fatalf("the refusal does not name the Machine in the request log:\n%s", s.Logs.String())
		}
	})

	WantStatus(t, s.Do(t, "POST", "/v1/service/tenants/a/meters/m-burst/unsuspend", ServiceToken, nil), http.StatusOK)
	t.Run("OKUnsuspended", func(t *testing.T) {
		for _, rt := range machineReads {
			WantStatus(t, s.Do(t, rt.method, rt.path, mt.Token, rt.body), http.StatusOK)
		}
	})
}

// brokenMeter is a Meter that cannot tell whether a Machine is suspended.
type brokenMeter struct{ trust.Meter }

// A Meter that cannot check suspensions refuses every Machine (500) rather
// than serve a suspended one; the service credential still works.
func TestServer_SuspensionGateFailsClosed(t *testing.T) {
	s, _, _ := MustOpenKeyServer(t)
	a := s.MustTenant(t, "a")
	s.Meter = brokenMeter{}
	WantError(t, s.Do(t, "GET", "/v1/keyring", a.Machine, nil), http.StatusInternalServerError, trust.EINTERNAL)
	WantStatus(t, s.Do(t, "GET", "/v1/keyring", ServiceToken, nil), http.StatusOK)
	if strings.Contains(s.Logs.String(), a.Machine) {
		t.Fatal("the Machine token reached the log")
	}
}

// BenchmarkServer_MachineKeyring is a Machine's keyring read with and
// without metering: the suspension check runs only when the token cache
// misses, so a steady Machine pays for it once per catalog version.
func BenchmarkServer_MachineKeyring(b *testing.B) {
	for _, metered := range []bool{false, true} {
		b.Run(map[bool]string{false: "Unmetered", true: "Metered"}[metered], func(b *testing.B) {
			s, _, _ := MustOpenKeyServer(b)
			a := s.MustTenant(b, "a")
			if !metered {
				s.Meter = nil
			}
			for b.Loop() {
				if rec := s.Do(b, "GET", "/v1/keyring", a.Machine, nil); rec.Code != http.StatusOK {
					b.Fatalf("status %d", rec.Code)
				}
			}
		})
	}
}
