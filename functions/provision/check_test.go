package provision_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	fly "github.com/superfly/fly-go"

	"github.com/openagents/trust/functions/provision"
	"github.com/openagents/trust/shared/edgeapi"
	"github.com/openagents/trust/shared/trust"
)

func TestCheckGuest(t *testing.T) {
	for _, tt := range []struct {
		name string
		g    fly.MachineGuest
		ok   bool
	}{
		{"OK", fly.MachineGuest{CPUKind: "shared", CPUs: 1, MemoryMB: 512}, true},
		{"OKPerformance", fly.MachineGuest{CPUKind: "performance", CPUs: 8, MemoryMB: 16384}, true},
		{"ErrCPUKind", fly.MachineGuest{CPUKind: "gpu", CPUs: 1, MemoryMB: 512}, false},
		{"ErrNoCPUKind", fly.MachineGuest{CPUs: 1, MemoryMB: 512}, false},
		{"ErrCPUs", fly.MachineGuest{CPUKind: "shared", CPUs: 3, MemoryMB: 512}, false},
		{"ErrTooManyCPUs", fly.MachineGuest{CPUKind: "shared", CPUs: 16, MemoryMB: 512}, false},
		{"ErrMemoryLow", fly.MachineGuest{CPUKind: "shared", CPUs: 1, MemoryMB: 128}, false},
		{"ErrMemoryHigh", fly.MachineGuest{CPUKind: "shared", CPUs: 1, MemoryMB: 32768}, false},
		{"ErrMemoryStep", fly.MachineGuest{CPUKind: "shared", CPUs: 1, MemoryMB: 500}, false},
		{"ErrMemoryCeiling", fly.MachineGuest{CPUKind: "shared", CPUs: 1, MemoryMB: 512, MaxMemoryMB: 4096}, false},
		{"ErrGPU", fly.MachineGuest{CPUKind: "shared", CPUs: 1, MemoryMB: 512, GPUs: 1}, false},
		{"ErrKernelArgs", fly.MachineGuest{CPUKind: "shared", CPUs: 1, MemoryMB: 512, KernelArgs: []string{"init=/bin/sh"}}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := provision.CheckGuest(tt.g)
			if tt.ok && err != nil {
				t.Fatalf("err = %v, want nil", err)
			} else if !tt.ok && trust.ErrorCode(err) != trust.EINVALID {
				t.Fatalf("err = %v, want invalid", err)
			}
		})
	}
}

func TestCheckRestart(t *testing.T) {
	for _, tt := range []struct {
		name string
		r    fly.MachineRestart
		ok   bool
	}{
		{"OK", fly.MachineRestart{Policy: "on-failure", MaxRetries: 3}, true},
		{"OKAlways", fly.MachineRestart{Policy: "always"}, true},
		{"OKNo", fly.MachineRestart{Policy: "no"}, true},
		{"ErrEmpty", fly.MachineRestart{}, false},
		{"ErrSpot", fly.MachineRestart{Policy: "spot-price"}, false},
		{"ErrRetries", fly.MachineRestart{Policy: "on-failure", MaxRetries: 11}, false},
		{"ErrRetriesWithAlways", fly.MachineRestart{Policy: "always", MaxRetries: 2}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := provision.CheckRestart(tt.r)
			if tt.ok != (err == nil) {
				t.Fatalf("err = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

var edgeURLCases = []struct {
	url string
	ok  bool
}{
	{"https://edge.example.com", true},
	{"https://edge.example.com:8443/base", true},
	{"http://edge.example.com", false},
	{"http://127.0.0.1:8080", false}, // a Machine's loopback is not the edge
	{"https://trust-edge.internal", false},
	{"https://trust-edge.flycast", false},
	{"https://user:pw@edge.example.com", false},
	{"https://edge.example.com/?x=1", false},
	{"https://", false},
	{"edge.example.com", false},
	{"", false},
}

func TestCheckMachineEdgeURL(t *testing.T) {
	for _, tt := range edgeURLCases {
		if err := provision.CheckMachineEdgeURL(tt.url); tt.ok != (err == nil) {
			t.Errorf("%q: err = %v, want ok=%v", tt.url, err, tt.ok)
		} else if err != nil && strings.Contains(trust.ErrorMessage(err), "pw") {
			t.Errorf("%q: the message echoes the password", tt.url)
		}
	}
}

func FuzzCheckMachineEdgeURL(f *testing.F) {
	for _, tt := range edgeURLCases {
		f.Add(tt.url)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		if provision.CheckMachineEdgeURL(raw) == nil && !strings.HasPrefix(raw, "https://") {
			t.Fatalf("accepted %q, which is not https", raw)
		}
	})
}

func TestKeyVersion_Validate(t *testing.T) {
	for _, tt := range []struct {
		name string
		kv   provision.KeyVersion
		ok   bool
	}{
		{"OK", provision.KeyVersion{Provider: "anthropic", Source: "platform", Version: 1}, true},
		{"OKUser", provision.KeyVersion{Provider: "openai", Source: "user", Version: 7}, true},
		{"ErrProvider", provision.KeyVersion{Provider: "acme", Source: "platform", Version: 1}, false},
		{"ErrSource", provision.KeyVersion{Provider: "anthropic", Source: "", Version: 1}, false},
		{"ErrVersion", provision.KeyVersion{Provider: "anthropic", Source: "platform"}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.kv.Validate(); tt.ok != (err == nil) {
				t.Fatalf("err = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

// PlatformKeys asks the edge's service API for the provider's versions and
// picks the active one. The edge here answers the documented shape.
func TestPlatformKeys(t *testing.T) {
	var versions []*trust.APIKeyVersion
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != "GET" || r.URL.Path != "/v1/service/api-keys/anthropic/versions" || r.Header.Get("Authorization") != "Bearer "+serviceToken {
			http.Error(w, `{"error":{"code":"not_found","message":"no such route"}}`, 404)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(edgeapi.APIKeyVersionsResponse{Versions: versions})
	}))
	defer srv.Close()
	src := &provision.PlatformKeys{Edge: edgeapi.NewClient(srv.URL, serviceToken), Provider: "anthropic"}

	t.Run("OK", func(t *testing.T) {
		versions = []*trust.APIKeyVersion{
			{Provider: "anthropic", Version: 4, State: trust.APIKeyActive},
			{Provider: "anthropic", Version: 3, State: trust.APIKeyPrevious},
		}
		got, err := src.CurrentKeyVersion(context.Background(), "tenant-1")
		if err != nil {
			t.Fatal(err)
		} else if want := (provision.KeyVersion{Provider: "anthropic", Source: "platform", Version: 4}); got != want {
			t.Fatalf("got %+v, want %+v", got, want)
		}
	})
	t.Run("ErrNoneActive", func(t *testing.T) {
		versions = []*trust.APIKeyVersion{{Provider: "anthropic", Version: 3, State: trust.APIKeyRetired}}
		if _, err := src.CurrentKeyVersion(context.Background(), "tenant-1"); trust.ErrorCode(err) != trust.ENOTFOUND {
			t.Fatalf("err = %v, want not found", err)
		}
	})
}

func TestConfig_Validate(t *testing.T) {
	base := map[string]string{
		"TRUST_EDGE_URL":         "https://edge.example.com",
		"TRUST_SERVICE_TOKEN":    serviceToken,
		"TRUST_OPERATOR_TOKEN":   operatorToken,
		"FLY_API_TOKEN":          flyToken,
		"TRUST_FLY_ORG":          "openagents",
		"TRUST_AGENT_IMAGE":      testImage,
		"TRUST_MACHINE_EDGE_URL": "https://edge.example.com",
	}
	for _, tt := range []struct {
		name    string
		set     map[string]string
		wantErr string // "" for valid
	}{
		{"OK", nil, ""},
		{"OKSized", map[string]string{"TRUST_MACHINE_CPUS": "2", "TRUST_MACHINE_MEMORY_MB": "1024", "TRUST_MACHINE_CPU_KIND": "performance"}, ""},
		{"ErrNoFlyToken", map[string]string{"FLY_API_TOKEN": ""}, "FLY_API_TOKEN"},
		{"ErrShortService", map[string]string{"TRUST_SERVICE_TOKEN": "short"}, "TRUST_SERVICE_TOKEN"},
		{"ErrShortOperator", map[string]string{"TRUST_OPERATOR_TOKEN": "short"}, "TRUST_OPERATOR_TOKEN"},
		{"ErrNoOrg", map[string]string{"TRUST_FLY_ORG": ""}, "TRUST_FLY_ORG"},
		{"ErrImageTag", map[string]string{"TRUST_AGENT_IMAGE": "registry.fly.io/agent:latest"}, "TRUST_AGENT_IMAGE"},
		{"ErrMachineEdgeHTTP", map[string]string{"TRUST_MACHINE_EDGE_URL": "http://edge.example.com"}, "TRUST_MACHINE_EDGE_URL"},
		{"ErrMachineEdgePrivate", map[string]string{"TRUST_MACHINE_EDGE_URL": "https://trust-edge.internal"}, "TRUST_MACHINE_EDGE_URL"},
		{"ErrFlyBaseHTTP", map[string]string{"FLY_FLAPS_BASE_URL": "http://api.machines.dev"}, "FLY_FLAPS_BASE_URL"},
		{"ErrMemory", map[string]string{"TRUST_MACHINE_MEMORY_MB": "100"}, "TRUST_MACHINE_"},
		{"ErrCPUsNotNumber", map[string]string{"TRUST_MACHINE_CPUS": "two"}, "TRUST_MACHINE_CPUS"},
		{"ErrProvider", map[string]string{"TRUST_KEY_PROVIDER": "acme"}, "TRUST_KEY_PROVIDER"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			env := map[string]string{}
			for k, v := range base {
				env[k] = v
			}
			for k, v := range tt.set {
				env[k] = v
			}
			err := provision.ConfigFromEnv(func(k string) string { return env[k] }).Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("err = %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want one naming %s", err, tt.wantErr)
			}
			for _, s := range []string{serviceToken, operatorToken, flyToken, "short"} {
				if strings.Contains(err.Error(), s) {
					t.Errorf("the error carries a value: %v", err)
				}
			}
		})
	}
}

func TestConfig_NewHandler(t *testing.T) {
	t.Setenv("FLY_FLAPS_BASE_URL", "http://127.0.0.1:9")
	env := map[string]string{
		"TRUST_EDGE_URL":         "https://edge.example.com",
		"TRUST_SERVICE_TOKEN":    serviceToken,
		"TRUST_OPERATOR_TOKEN":   operatorToken,
		"FLY_API_TOKEN":          flyToken,
		"FLY_FLAPS_BASE_URL":     "http://127.0.0.1:9",
		"TRUST_FLY_ORG":          "openagents",
		"TRUST_AGENT_IMAGE":      testImage,
		"TRUST_MACHINE_EDGE_URL": "https://edge.example.com",
	}
	t.Run("OK", func(t *testing.T) {
		h, err := provision.ConfigFromEnv(func(k string) string { return env[k] }).NewHandler(context.Background(), newLogger(&syncBuffer{}))
		if err != nil {
			t.Fatal(err)
		} else if h.Provisioner == nil || h.OperatorToken != operatorToken {
			t.Fatal("handler not wired")
		}
	})
	t.Run("ErrBaseURLDiffers", func(t *testing.T) {
		env["FLY_FLAPS_BASE_URL"] = "https://elsewhere.example.com"
		if _, err := provision.ConfigFromEnv(func(k string) string { return env[k] }).NewHandler(context.Background(), nil); err == nil {
			t.Fatal("built a client for another base URL than fly-go reads")
		}
	})
}
