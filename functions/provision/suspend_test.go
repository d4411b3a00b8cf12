package provision_test

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"

	fly "github.com/superfly/fly-go"

	"github.com/openagents/trust/edge"
	"github.com/openagents/trust/edge/edgetest"
	"github.com/openagents/trust/functions/provision"
	"github.com/openagents/trust/shared/edgeapi"
	"github.com/openagents/trust/shared/trust"
)

// mustProvisionAPI serves the provisioning routes over loopback HTTP, as
// the edge's suspender reaches them.
func mustProvisionAPI(tb testing.TB, e *env) *httptest.Server {
	tb.Helper()
	h := provision.NewHandler()
	h.Provisioner = e.p
	h.OperatorToken = operatorToken
	h.Logger = e.p.Logger
	srv := httptest.NewServer(h)
	tb.Cleanup(srv.Close)
	return srv
}

// The whole path of an anomaly: a provisioned Machine, holding the token the
// real edge issued for it, reports a burst of usage; the edge's meter
// suspends it in the catalog and its ProvisionSuspender calls the
// provisioning API, which stops the Machine in the Fly fake. The Machine is
// refused by the edge from then on, and no credential reaches a log.
func TestSuspendMachine_EdgeToFly(t *testing.T) {
	ctx := context.Background()
	e := mustEnv(t)
	node := edgetest.MustOpenMetered(t, nil)
	e.tokens.Tokens = node.ServiceClient() // tokens are the edge's own
	svc := node.ServiceClient()
	if _, err := svc.CreateTenant(ctx, "tenant-1", "Tenant 1"); err != nil {
		t.Fatal(err)
	} else if _, err := svc.GrantCredits(ctx, "tenant-1", 10_000_000, "g1"); err != nil {
		t.Fatal(err)
	}
	node.Meter.Suspender = edge.NewProvisionSuspender(mustProvisionAPI(t, e).URL, operatorToken)

	a := e.MustProvision(t, "tenant-1", "agent-1")
	other := e.MustProvision(t, "tenant-1", "agent-2")
	token := e.machine(t, a.App, a.MachineID).Config.Env[provision.EnvMachineToken]
	machine := node.Client(token)
	if _, err := machine.FindKeyring(ctx); err != nil {
		t.Fatalf("before the burst: %v", err)
	}

	rep, err := machine.ReportUsage(ctx, edgeapi.UsageRequest{SessionID: "s1", Model: "claude", IdempotencyKey: "burst",
		InputTokens: trust.DefaultBaselineFloor * trust.DefaultAnomalyFactor})
	if err != nil {
		t.Fatal(err)
	} else if !rep.Suspended {
		t.Fatalf("report = %+v, want suspended", rep)
	}
	if got := e.machine(t, a.App, a.MachineID).State; got != fly.MachineStateStopped {
		t.Fatalf("suspended machine state = %q, want %q", got, fly.MachineStateStopped)
	}
	if got := e.machine(t, other.App, other.MachineID).State; got != fly.MachineStateStarted {
		t.Fatalf("other machine state = %q, want %q", got, fly.MachineStateStarted)
	}
	if e.fake.Calls("stop") != 1 {
		t.Fatalf("stop calls = %d, want 1", e.fake.Calls("stop"))
	}
	_, err = machine.FindKeyring(ctx)
	if trust.ErrorCode(err) != trust.EFORBIDDEN || !strings.Contains(trust.ErrorMessage(err), "machine suspended") {
		t.Fatalf("keyring after suspension: err = %v, want EFORBIDDEN machine suspended", err)
	}

	logs := node.Logs.String() + e.logs.String()
	if !strings.Contains(logs, "agent suspended") {
		t.Fatalf("the provisioner did not log the suspension:\n%s", logs)
	}
	for _, secret := range append([]string{operatorToken, flyToken, edgetest.ServiceToken}, e.tokens.Issued()...) {
		if strings.Contains(logs, secret) {
			t.Fatalf("a credential reached the logs:\n%s", logs)
		}
	}
}

// SuspendMachine through the HTTP API: the Machine is found by its ID in its
// tenant's app only, and the adapter's errors keep their codes and carry no
// credential.
func TestProvisionSuspender(t *testing.T) {
	ctx := context.Background()
	e := mustEnv(t)
	api := mustProvisionAPI(t, e)
	a := e.MustProvision(t, "tenant-1", "agent-1")
	e.MustProvision(t, "tenant-2", "agent-1")

	for _, tt := range []struct {
		name, url, token, tenant, machine string
		code                              string
	}{
		{"ErrOtherTenant", api.URL, operatorToken, "tenant-2", a.MachineID, trust.ENOTFOUND},
		{"ErrUnknownTenant", api.URL, operatorToken, "tenant-9", a.MachineID, trust.ENOTFOUND},
		{"ErrBadMachineID", api.URL, operatorToken, "tenant-1", "../agents/agent-1", trust.EINVALID},
		{"ErrWrongCredential", api.URL, "CANARY-wrong-operator-credential", "tenant-1", a.MachineID, trust.EUNAUTHORIZED},
		{"ErrUnreachable", "http://127.0.0.1:1", operatorToken, "tenant-1", a.MachineID, trust.EUNAVAILABLE},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := edge.NewProvisionSuspender(tt.url, tt.token).SuspendMachine(ctx, tt.tenant, tt.machine, "test")
			if got := trust.ErrorCode(err); got != tt.code {
				t.Fatalf("code = %q (%v), want %q", got, err, tt.code)
			} else if strings.Contains(err.Error(), tt.token) {
				t.Fatalf("the credential reached the error: %v", err)
			}
		})
	}
	if got := e.machine(t, a.App, a.MachineID).State; got != fly.MachineStateStarted {
		t.Fatalf("after refused calls, state = %q, want started", got)
	}

	t.Run("OK", func(t *testing.T) {
		s := edge.NewProvisionSuspender(api.URL+"/", operatorToken)
		for range 2 { // a second call finds it stopped and changes nothing
			if err := s.SuspendMachine(ctx, "tenant-1", a.MachineID, "test"); err != nil {
				t.Fatal(err)
			}
		}
		if got := e.machine(t, a.App, a.MachineID).State; got != fly.MachineStateStopped {
			t.Fatalf("state = %q, want stopped", got)
		} else if e.fake.Calls("stop") != 1 {
			t.Fatalf("stop calls = %d, want 1", e.fake.Calls("stop"))
		}
	})
}
