package cli_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/openagents/trust/edge/cli"
	"github.com/openagents/trust/edge/edgetest"
	"github.com/openagents/trust/shared/edgeapi"
	"github.com/openagents/trust/shared/trust"
)

// canaryPlatformKey is a planted platform API key: trustctl never sees it.
const canaryPlatformKey = "sk-ant-CANARY-cli-platform-key-4e5f6a7b"

// keyStack is a metered edge with a tenant, credits, a platform key and
// one Machine of the tenant.
type keyStack struct {
	node    *edgetest.Edge
	svc     *edgeapi.Client
	machine string // Machine token
}

func mustKeyStack(t *testing.T, credits int64) *keyStack {
	t.Helper()
	ctx := context.Background()
	node := edgetest.MustOpenMetered(t, nil)
	svc := node.ServiceClient()
	if _, err := svc.CreateTenant(ctx, "t1", "Tenant 1"); err != nil {
		t.Fatal(err)
	}
	if credits > 0 {
		if _, err := svc.GrantCredits(ctx, "t1", credits, "g1"); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := svc.CreateAPIKeyVersion(ctx, "anthropic", edgeapi.APIKeyVersionRequest{Key: canaryPlatformKey + "-1"}); err != nil {
		t.Fatal(err)
	}
	token, err := svc.CreateMachineToken(ctx, "m-1", "t1")
	if err != nil {
		t.Fatal(err)
	}
	return &keyStack{node: node, svc: svc, machine: token}
}

// startAPIKeyWatch runs trustctl apikey watch as the Machine, with the
// environment provisioning gave it (platform key version 1).
func (s *keyStack) startAPIKeyWatch(t *testing.T, args ...string) *watch {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	w := &watch{lines: make(chan string, 64), stderr: &lineWriter{lines: make(chan string, 64)}, cancel: cancel, code: make(chan int, 1)}
	vars := map[string]string{
		"TRUST_EDGE_URL": s.node.URL(), "TRUST_MACHINE_TOKEN": s.machine,
		"TRUST_API_KEY_PROVIDER": "anthropic", "TRUST_API_KEY_SOURCE": "platform", "TRUST_API_KEY_VERSION": "1",
	}
	env := &cli.Env{Stdin: strings.NewReader(""), Stdout: &lineWriter{lines: w.lines}, Stderr: w.stderr,
		Getenv: func(k string) string { return vars[k] }}
	go func() {
		w.code <- cli.Main(ctx, env, append([]string{"apikey", "watch", "--interval", "1ms"}, args...))
	}()
	return w
}

// next returns the watch's next stdout line.
func (w *watch) nextLine(t *testing.T) string {
	t.Helper()
	select {
	case l := <-w.lines:
		return l
	case <-time.After(watchWait):
		t.Fatal("no output from trustctl apikey watch")
		return ""
	}
}

// exit waits for the watch to end and returns its code and last stderr line.
func (w *watch) exit(t *testing.T) (int, string) {
	t.Helper()
	select {
	case code := <-w.code:
		var last string
		for {
			select {
			case l := <-w.stderr.lines:
				last = l
			default:
				return code, last
			}
		}
	case <-time.After(watchWait):
		t.Fatal("trustctl apikey watch did not exit")
		return 0, ""
	}
}

// A rotation reaches the Machine as a new line and a hook run; a suspension
// ends the watch with exit code 1 and says why; no secret is printed.
func TestAPIKeyWatch(t *testing.T) {
	ctx := context.Background()
	s := mustKeyStack(t, 10_000_000)
	dir := t.TempDir()
	hook := filepath.Join(dir, "switch-key")
	if err := os.WriteFile(hook, []byte("#!/bin/sh\necho \"$TRUST_API_KEY_PROVIDER $TRUST_API_KEY_SOURCE $TRUST_API_KEY_VERSION\" >> \""+dir+"/switched\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	w := s.startAPIKeyWatch(t, "--json", "--exec", hook)

	if _, _, err := s.svc.CreateAPIKeyVersion(ctx, "anthropic", edgeapi.APIKeyVersionRequest{Key: canaryPlatformKey + "-2"}); err != nil {
		t.Fatal(err)
	}
	if got, want := w.nextLine(t), `{"provider":"anthropic","source":"platform","version":2}`; got != want {
		t.Fatalf("line = %s, want %s", got, want)
	}
	// The hook runs before the next poll, so it has run once the watch ends.
	rep, err := s.node.Client(s.machine).ReportUsage(ctx, edgeapi.UsageRequest{SessionID: "s1", Model: "claude", IdempotencyKey: "burst",
		InputTokens: trust.DefaultBaselineFloor * trust.DefaultAnomalyFactor})
	if err != nil || !rep.Suspended {
		t.Fatalf("burst: %+v, %v; want suspended", rep, err)
	}
	code, last := w.exit(t)
	if code != cli.ExitFailure || !strings.Contains(last, "key watch stopped: machine suspended") {
		t.Fatalf("exit %d, stderr %q; want 1 and the suspension", code, last)
	}
	switched, err := os.ReadFile(filepath.Join(dir, "switched"))
	if err != nil || string(switched) != "anthropic platform 2\n" {
		t.Fatalf("hook saw %q (%v), want one run for version 2", switched, err)
	}
	if strings.Contains(s.node.Logs.String(), canaryPlatformKey) || strings.Contains(s.node.Logs.String(), s.machine) {
		t.Fatal("a secret reached the edge's log")
	}
}

func TestAPIKeyWatch_Errors(t *testing.T) {
	t.Run("ErrNoCredits", func(t *testing.T) {
		s := mustKeyStack(t, 0)
		code, last := s.startAPIKeyWatch(t).exit(t)
		if code != cli.ExitFailure || !strings.Contains(last, "key watch stopped: no credits left") {
			t.Fatalf("exit %d, stderr %q", code, last)
		}
	})
	t.Run("ErrRevokedToken", func(t *testing.T) {
		s := mustKeyStack(t, 1000)
		if err := s.svc.RevokeMachineTokens(context.Background(), "m-1"); err != nil {
			t.Fatal(err)
		}
		code, last := s.startAPIKeyWatch(t).exit(t)
		if code != cli.ExitFailure || !strings.Contains(last, "key watch stopped: invalid credential") || strings.Contains(last, s.machine) {
			t.Fatalf("exit %d, stderr %q", code, last)
		}
	})
	t.Run("ErrUsage", func(t *testing.T) {
		for _, args := range [][]string{
			{"apikey"}, {"apikey", "rotate"}, {"apikey", "watch", "--provider", "gemini"},
			{"apikey", "watch", "--provider", "openai", "--interval", "0s"}, {"apikey", "watch", "extra"},
		} {
			var out, errOut strings.Builder
			env := &cli.Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errOut,
				Getenv: func(k string) string {
					return map[string]string{"TRUST_EDGE_URL": "http://127.0.0.1:1", "TRUST_MACHINE_TOKEN": "x", "TRUST_API_KEY_PROVIDER": "anthropic"}[k]
				}}
			if code := cli.Main(context.Background(), env, args); code != cli.ExitUsage {
				t.Fatalf("%v: exit %d (%s), want %d", args, code, errOut.String(), cli.ExitUsage)
			}
		}
	})
}
