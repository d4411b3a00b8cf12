package provision_test

import (
	"bytes"
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"sync"
	"testing"

	fly "github.com/superfly/fly-go"
	"github.com/superfly/fly-go/flaps"
	"github.com/superfly/fly-go/tokens"

	"github.com/openagents/trust/edge/sqlite"
	"github.com/openagents/trust/functions/provision"
	"github.com/openagents/trust/functions/provision/flyfake"
	"github.com/openagents/trust/shared/trust"
)

// Canary credentials: none may reach a log, an error, a response or a Fly
// request body (the Fly token goes in the Authorization header only).
const (
	flyToken      = "CANARY-fly-api-token-5b1f0c9e7a3d2468"
	operatorToken = "CANARY-operator-credential-0f3e9a7c5b1d"
	serviceToken  = "CANARY-service-credential-7d2b4f6a8c0e1357"
	testImage     = "registry.fly.io/oat-agent@sha256:" + "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	testEdgeURL   = "https://edge.example.com"
)

// env is a provisioner wired to the Fly fake and the edge's real Machine
// token store (SQLite).
type env struct {
	p        *provision.Provisioner
	fake     *flyfake.Server
	machines *sqlite.MachineTokenService
	tokens   *recordingTokens
	keys     *fakeKeys
	logs     *syncBuffer
}

func mustEnv(tb testing.TB) *env {
	tb.Helper()
	fake := flyfake.New(tb, flyToken)
	fake.Forbidden = []string{flyToken, serviceToken, operatorToken}
	fake.SecretEnv = []string{provision.EnvMachineToken}
	fake.RequiredEnv = []string{provision.EnvEdgeURL, provision.EnvMachineToken, provision.EnvTenantID,
		provision.EnvAgentID, provision.EnvKeyProvider, provision.EnvKeySource, provision.EnvKeyVersion}
	// The real fly-go client reads its base URL from the environment only.
	if t, ok := tb.(*testing.T); ok {
		t.Setenv("FLY_FLAPS_BASE_URL", fake.URL())
	} else if b, ok := tb.(*testing.B); ok {
		b.Setenv("FLY_FLAPS_BASE_URL", fake.URL())
	}
	client, err := flaps.NewWithOptions(context.Background(), flaps.NewClientOpts{Tokens: tokens.Parse(flyToken)})
	if err != nil {
		tb.Fatal(err)
	}
	machines := mustMachineTokens(tb)
	e := &env{
		fake:     fake,
		machines: machines,
		tokens:   &recordingTokens{Tokens: machines},
		keys:     &fakeKeys{kv: provision.KeyVersion{Provider: trust.ProviderAnthropic, Source: "platform", Version: 3}},
		logs:     &syncBuffer{},
	}
	p := provision.New()
	p.Fly = client
	p.Tokens = e.tokens
	p.Keys = e.keys
	p.Org = "openagents"
	p.Region = "ams"
	p.Image = testImage
	p.EdgeURL = testEdgeURL
	p.Logger = newLogger(e.logs)
	if err := p.Open(); err != nil {
		tb.Fatal(err)
	}
	e.p = p
	tb.Cleanup(func() { e.checkNoLeak(tb) })
	return e
}

// checkNoLeak scans the logs for every secret: the canaries and every Machine
// token issued. The fake scans request bodies itself.
func (e *env) checkNoLeak(tb testing.TB) {
	tb.Helper()
	logs := e.logs.String()
	for _, s := range append([]string{flyToken, serviceToken, operatorToken}, e.tokens.Issued()...) {
		if strings.Contains(logs, s) {
			tb.Errorf("a secret reached the log:\n%s", logs)
		}
	}
}

// MustProvision provisions an agent and fails tb on error.
func (e *env) MustProvision(tb testing.TB, tenant, agent string) *provision.Agent {
	tb.Helper()
	a, _, err := e.p.ProvisionAgent(context.Background(), tenant, agent)
	if err != nil {
		tb.Fatalf("provision %s/%s: %v", tenant, agent, err)
	}
	return a
}

// machine returns the fake's copy of a Machine.
func (e *env) machine(tb testing.TB, app, id string) *fly.Machine {
	tb.Helper()
	for _, m := range e.fake.Machines(app) {
		if m.ID == id {
			return m
		}
	}
	tb.Fatalf("machine %s not in app %s", id, app)
	return nil
}

// authenticates reports whether the edge accepts a Machine token, and for
// which Machine and tenant.
func (e *env) authenticates(tb testing.TB, token string) *trust.Machine {
	tb.Helper()
	m, err := e.machines.AuthenticateMachine(context.Background(), token)
	if trust.ErrorCode(err) == trust.EUNAUTHORIZED {
		return nil
	} else if err != nil {
		tb.Fatal(err)
	}
	return m
}

func TestProvisionAgent(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		e := mustEnv(t)
		a, created, err := e.p.ProvisionAgent(context.Background(), "tenant-1", "agent:1")
		if err != nil {
			t.Fatal(err)
		} else if !created {
			t.Error("created = false for a new agent")
		}
		if got, want := a.State, fly.MachineStateStarted; got != want {
			t.Errorf("state = %q, want %q", got, want)
		}

		app := e.fake.App(a.App)
		if app == nil {
			t.Fatalf("app %s not created", a.App)
		} else if app.Network != e.p.NetworkName("tenant-1") || app.Network != a.Network {
			t.Errorf("app network = %q, want %q", app.Network, e.p.NetworkName("tenant-1"))
		}

		m := e.machine(t, a.App, a.MachineID)
		cfg := m.Config
		if got, want := *cfg.Guest, (fly.MachineGuest{CPUKind: "shared", CPUs: 1, MemoryMB: 512}); got.CPUKind != want.CPUKind || got.CPUs != want.CPUs || got.MemoryMB != want.MemoryMB {
			t.Errorf("guest = %+v, want %+v", got, want)
		}
		if got := *cfg.Restart; got.Policy != fly.MachineRestartPolicyOnFailure || got.MaxRetries != 3 {
			t.Errorf("restart = %+v, want on-failure, 3 retries", got)
		}
		if len(cfg.Files) != 0 || len(cfg.Services) != 0 || len(cfg.Mounts) != 0 {
			t.Errorf("files %d, services %d, mounts %d: want none", len(cfg.Files), len(cfg.Services), len(cfg.Mounts))
		}
		if cfg.Image != testImage || m.Region != "ams" {
			t.Errorf("image %q region %q", cfg.Image, m.Region)
		}
		for k, want := range map[string]string{
			provision.EnvEdgeURL:     testEdgeURL,
			provision.EnvTenantID:    "tenant-1",
			provision.EnvAgentID:     "agent:1",
			provision.EnvKeyProvider: "anthropic",
			provision.EnvKeySource:   "platform",
			provision.EnvKeyVersion:  "3",
		} {
			if got := cfg.Env[k]; got != want {
				t.Errorf("env %s = %q, want %q", k, got, want)
			}
		}
		token := cfg.Env[provision.EnvMachineToken]
		if got := e.authenticates(t, token); got == nil || got.ID != a.MachineID || got.TenantID != "tenant-1" {
			t.Errorf("machine token authenticates as %+v, want machine %s of tenant-1", got, a.MachineID)
		}
		if len(cfg.Env) != 7 {
			t.Errorf("env has %d keys, want exactly 7: %v", len(cfg.Env), keys(cfg.Env))
		}

		// The answer never carries the token.
		b, _ := json.Marshal(a)
		if bytes.Contains(b, []byte(token)) {
			t.Errorf("agent JSON carries the machine token: %s", b)
		}
	})

	t.Run("Idempotent", func(t *testing.T) {
		e := mustEnv(t)
		first := e.MustProvision(t, "tenant-1", "agent-1")
		second, created, err := e.p.ProvisionAgent(context.Background(), "tenant-1", "agent-1")
		if err != nil {
			t.Fatal(err)
		} else if created {
			t.Error("created = true on the second call")
		}
		if *second != *first {
			t.Errorf("second = %+v, want %+v", second, first)
		}
		if got := e.fake.Calls("launch"); got != 1 {
			t.Errorf("%d launches, want 1", got)
		} else if got := e.fake.Calls("create_app"); got != 1 {
			t.Errorf("%d app creations, want 1", got)
		} else if got := len(e.tokens.Issued()); got != 1 {
			t.Errorf("%d tokens issued, want 1", got)
		}
	})

	t.Run("Concurrent", func(t *testing.T) {
		e := mustEnv(t)
		var wg sync.WaitGroup
		ids := make([]string, 8)
		for i := range ids {
			wg.Add(1)
			go func() {
				defer wg.Done()
				a, _, err := e.p.ProvisionAgent(context.Background(), "tenant-1", "agent-"+strconv.Itoa(i%2))
				if err != nil {
					t.Error(err)
					return
				}
				ids[i] = a.MachineID
			}()
		}
		wg.Wait()
		if got := len(e.fake.Machines(e.p.AppName("tenant-1"))); got != 2 {
			t.Errorf("%d machines for 2 agents", got)
		}
		for i := 2; i < len(ids); i++ {
			if ids[i] != ids[i%2] {
				t.Errorf("call %d got machine %s, want %s", i, ids[i], ids[i%2])
			}
		}
	})

	t.Run("TenantsIsolated", func(t *testing.T) {
		e := mustEnv(t)
		a := e.MustProvision(t, "tenant-a", "agent-1")
		b := e.MustProvision(t, "tenant-b", "agent-1")
		if a.App == b.App || a.Network == b.Network {
			t.Fatalf("tenants share app or network: %+v, %+v", a, b)
		}
		for _, x := range []*provision.Agent{a, b} {
			if n := e.fake.App(x.App).Network; n == "" || n == "default" || n != x.Network {
				t.Errorf("app %s in network %q, want %q", x.App, n, x.Network)
			}
		}
		// The fake refuses two apps in one network: that it answered
		// both is checked by its violation list at cleanup.
	})

	t.Run("ErrAppOutsideNetwork", func(t *testing.T) {
		e := mustEnv(t)
		e.fake.PutApp(flaps.App{Name: e.p.AppName("tenant-x"), Network: "default"})
		_, _, err := e.p.ProvisionAgent(context.Background(), "tenant-x", "agent-1")
		if trust.ErrorCode(err) != trust.ECONFLICT {
			t.Fatalf("err = %v, want conflict", err)
		} else if got := e.fake.Calls("launch"); got != 0 {
			t.Errorf("%d launches into a shared network", got)
		}
	})

	t.Run("ErrInvalidID", func(t *testing.T) {
		e := mustEnv(t)
		for _, ids := range [][2]string{{"", "a"}, {"t", ""}, {"../t", "a"}, {"t", "a b"}, {"t", strings.Repeat("a", 129)}} {
			if _, _, err := e.p.ProvisionAgent(context.Background(), ids[0], ids[1]); trust.ErrorCode(err) != trust.EINVALID {
				t.Errorf("%q: err = %v, want invalid", ids, err)
			}
		}
		if got := e.fake.Calls("get_app"); got != 0 {
			t.Errorf("%d Fly calls for invalid IDs", got)
		}
	})

	t.Run("ResumesAfterFailedConfigure", func(t *testing.T) {
		e := mustEnv(t)
		e.fake.FailNext("update", 500)
		if _, _, err := e.p.ProvisionAgent(context.Background(), "tenant-1", "agent-1"); err == nil {
			t.Fatal("provision succeeded through a failed update")
		} else if trust.ErrorCode(err) != trust.EINTERNAL {
			t.Errorf("err code %s, want internal", trust.ErrorCode(err))
		}
		lost := e.tokens.Issued()
		if len(lost) != 1 {
			t.Fatalf("%d tokens issued before the failure, want 1", len(lost))
		}

		a := e.MustProvision(t, "tenant-1", "agent-1")
		if a.State != fly.MachineStateStarted {
			t.Errorf("state = %q, want started", a.State)
		} else if got := e.fake.Calls("launch"); got != 1 {
			t.Errorf("%d launches, want 1 (the half-provisioned Machine is finished)", got)
		}
		if e.authenticates(t, lost[0]) != nil {
			t.Error("the token issued before the failure still authenticates")
		}
		token := e.machine(t, a.App, a.MachineID).Config.Env[provision.EnvMachineToken]
		if token == lost[0] || e.authenticates(t, token) == nil {
			t.Error("the Machine does not hold a fresh, valid token")
		}
	})

	t.Run("ResumesAfterFailedStart", func(t *testing.T) {
		e := mustEnv(t)
		e.fake.FailNext("start", 500) // 502 and 503 are retried by fly-go
		if _, _, err := e.p.ProvisionAgent(context.Background(), "tenant-1", "agent-1"); err == nil {
			t.Fatal("provision succeeded through a failed start")
		}
		a := e.MustProvision(t, "tenant-1", "agent-1")
		if a.State != fly.MachineStateStarted {
			t.Errorf("state = %q, want started", a.State)
		}
		if got := e.fake.Calls("launch"); got != 1 {
			t.Errorf("%d launches, want 1", got)
		}
	})

	t.Run("ErrKeySource", func(t *testing.T) {
		e := mustEnv(t)
		e.keys.err = trust.Errorf(trust.ENOTFOUND, "no active anthropic key version")
		if _, _, err := e.p.ProvisionAgent(context.Background(), "tenant-1", "agent-1"); err == nil {
			t.Fatal("provisioned without a key version")
		}
		if got := e.fake.Calls("start"); got != 0 {
			t.Errorf("%d starts without a key version", got)
		} else if got := len(e.tokens.Issued()); got != 0 {
			t.Errorf("%d tokens issued without a key version", got)
		}
	})
}

func TestSuspendResume(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		e := mustEnv(t)
		a := e.MustProvision(t, "tenant-1", "agent-1")
		ctx := context.Background()
		for _, step := range []struct {
			name string
			do   func(ctx context.Context, tenant, agent string) (*provision.Agent, error)
			want string
		}{
			{"suspend", e.p.SuspendAgent, fly.MachineStateStopped},
			{"suspend again", e.p.SuspendAgent, fly.MachineStateStopped},
			{"resume", e.p.ResumeAgent, fly.MachineStateStarted},
			{"resume again", e.p.ResumeAgent, fly.MachineStateStarted},
		} {
			got, err := step.do(ctx, "tenant-1", "agent-1")
			if err != nil {
				t.Fatalf("%s: %v", step.name, err)
			} else if got.State != step.want || got.MachineID != a.MachineID {
				t.Errorf("%s: %s in state %q, want %s in %q", step.name, got.MachineID, got.State, a.MachineID, step.want)
			}
		}
		if got := e.fake.Calls("stop"); got != 1 {
			t.Errorf("%d stop calls, want 1", got)
		} else if got := e.fake.Calls("start"); got != 2 {
			t.Errorf("%d start calls, want 2 (provision, resume)", got)
		}
	})

	t.Run("SuspendedStaysSuspended", func(t *testing.T) {
		e := mustEnv(t)
		e.MustProvision(t, "tenant-1", "agent-1")
		if _, err := e.p.SuspendAgent(context.Background(), "tenant-1", "agent-1"); err != nil {
			t.Fatal(err)
		}
		if a := e.MustProvision(t, "tenant-1", "agent-1"); a.State != fly.MachineStateStopped {
			t.Errorf("provisioning again moved a suspended agent to %q", a.State)
		}
	})

	t.Run("ErrNotFound", func(t *testing.T) {
		e := mustEnv(t)
		e.MustProvision(t, "tenant-1", "agent-1")
		for _, ids := range [][2]string{{"tenant-1", "agent-2"}, {"tenant-2", "agent-1"}} {
			if _, err := e.p.SuspendAgent(context.Background(), ids[0], ids[1]); trust.ErrorCode(err) != trust.ENOTFOUND {
				t.Errorf("suspend %v: err = %v, want not found", ids, err)
			}
			if _, err := e.p.ResumeAgent(context.Background(), ids[0], ids[1]); trust.ErrorCode(err) != trust.ENOTFOUND {
				t.Errorf("resume %v: err = %v, want not found", ids, err)
			}
		}
	})
}

func TestDestroyAgent(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		e := mustEnv(t)
		a := e.MustProvision(t, "tenant-1", "agent-1")
		token := e.machine(t, a.App, a.MachineID).Config.Env[provision.EnvMachineToken]
		if err := e.p.DestroyAgent(context.Background(), "tenant-1", "agent-1"); err != nil {
			t.Fatal(err)
		}
		if e.authenticates(t, token) != nil {
			t.Error("the destroyed Machine's token still authenticates")
		}
		if got := e.fake.Machines(a.App); len(got) != 0 {
			t.Errorf("%d machines left", len(got))
		}
		if err := e.p.DestroyAgent(context.Background(), "tenant-1", "agent-1"); trust.ErrorCode(err) != trust.ENOTFOUND {
			t.Errorf("second destroy: err = %v, want not found", err)
		}
		// Provisioning again gives a new Machine with a new token.
		b := e.MustProvision(t, "tenant-1", "agent-1")
		if b.MachineID == a.MachineID {
			t.Error("the destroyed Machine came back")
		}
	})

	t.Run("ErrRevokeKeepsMachine", func(t *testing.T) {
		e := mustEnv(t)
		a := e.MustProvision(t, "tenant-1", "agent-1")
		e.tokens.revokeErr = trust.Errorf(trust.EUNAVAILABLE, "edge unreachable")
		if err := e.p.DestroyAgent(context.Background(), "tenant-1", "agent-1"); trust.ErrorCode(err) != trust.EUNAVAILABLE {
			t.Fatalf("err = %v, want unavailable", err)
		}
		if got := e.fake.Calls("destroy"); got != 0 {
			t.Errorf("machine destroyed while its token could not be revoked")
		}
		e.tokens.revokeErr = nil
		if err := e.p.DestroyAgent(context.Background(), "tenant-1", "agent-1"); err != nil {
			t.Fatalf("retry: %v", err)
		}
		if len(e.fake.Machines(a.App)) != 0 {
			t.Error("retry left the machine")
		}
	})
}

// recordingTokens is the edge client, recording every token it issues so the
// tests can scan for them and check their revocation; revokeErr fails
// revocations.
type recordingTokens struct {
	provision.Tokens
	mu        sync.Mutex
	issued    []string
	revokeErr error
}

func (r *recordingTokens) CreateMachineToken(ctx context.Context, machineID, tenantID string) (string, error) {
	tok, err := r.Tokens.CreateMachineToken(ctx, machineID, tenantID)
	if err == nil {
		r.mu.Lock()
		r.issued = append(r.issued, tok)
		r.mu.Unlock()
	}
	return tok, err
}

func (r *recordingTokens) RevokeMachineTokens(ctx context.Context, machineID string) error {
	if r.revokeErr != nil {
		return r.revokeErr
	}
	return r.Tokens.RevokeMachineTokens(ctx, machineID)
}

func (r *recordingTokens) Issued() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.issued...)
}

// fakeKeys is a fake KeyVersionSource: one version for every tenant, or err.
type fakeKeys struct {
	kv  provision.KeyVersion
	err error
}

func (f *fakeKeys) CurrentKeyVersion(ctx context.Context, tenantID string) (provision.KeyVersion, error) {
	if f.err != nil {
		return provision.KeyVersion{}, f.err
	}
	return f.kv, nil
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
