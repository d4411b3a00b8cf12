package edge_test

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/openagents/trust/edge"
	"github.com/openagents/trust/edge/sqlite"
)

// provisionCanary is a planted operator credential.
const provisionCanary = "CANARY-provision-operator-credential-8e7d6c"

// The suspension adapter is off unless configured, configured completely or
// not at all, and its credential never reaches a log or an error.
func TestMain_Suspender(t *testing.T) {
	tokenFile := filepath.Join(t.TempDir(), "provision-token")
	if err := os.WriteFile(tokenFile, []byte(provisionCanary+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name    string
		vars    map[string]string
		args    []string
		wantURL string // "" = catalog-only
		wantErr string
	}{
		{"OKOff", nil, nil, "", ""},
		{"OKEnv", map[string]string{"TRUST_PROVISION_URL": "https://provision.example.com/", "TRUST_PROVISION_TOKEN": provisionCanary}, nil, "https://provision.example.com", ""},
		{"OKTokenFile", nil, []string{"-provision-url", "http://127.0.0.1:9", "-provision-token-file", tokenFile}, "http://127.0.0.1:9", ""},
		{"ErrURLOnly", nil, []string{"-provision-url", "https://provision.example.com"}, "", "without its credential"},
		{"ErrTokenOnly", map[string]string{"TRUST_PROVISION_TOKEN": provisionCanary}, nil, "", "without -provision-url"},
		{"ErrPlainHTTP", map[string]string{"TRUST_PROVISION_TOKEN": provisionCanary}, []string{"-provision-url", "http://provision.example.com"}, "", "https only"},
		{"ErrTokenTwice", map[string]string{"TRUST_PROVISION_TOKEN": provisionCanary}, []string{"-provision-url", "https://p.example.com", "-provision-token-file", tokenFile}, "", "given twice"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			vars := map[string]string{"TRUST_SERVICE_TOKEN": serviceToken}
			for k, v := range tt.vars {
				vars[k] = v
			}
			m := edge.NewMain()
			m.Logger = slog.New(slog.NewJSONHandler(&logs, nil))
			m.Getenv = env(vars)
			args := append([]string{"-data-dir", filepath.Join(t.TempDir(), "data"), "-addr", "127.0.0.1:0"}, tt.args...)
			if err := m.ParseFlags(context.Background(), args); err != nil {
				t.Fatal(err)
			}
			err := m.Run(context.Background())
			defer m.Close()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				} else if strings.Contains(err.Error(), provisionCanary) {
					t.Fatalf("the credential reached the error: %v", err)
				}
				return
			} else if err != nil {
				t.Fatal(err)
			}
			susp := m.Server.Meter.(*sqlite.Meter).Suspender
			switch ps, _ := susp.(*edge.ProvisionSuspender); {
			case tt.wantURL == "" && susp != nil:
				t.Fatalf("suspender = %#v, want none", susp)
			case tt.wantURL == "" && !strings.Contains(logs.String(), "catalog-only"):
				t.Fatalf("the node does not say suspension is catalog-only:\n%s", logs.String())
			case tt.wantURL != "" && (ps == nil || ps.URL != tt.wantURL || ps.Token != provisionCanary):
				t.Fatalf("suspender = %+v, want URL %s", ps, tt.wantURL)
			}
			if strings.Contains(logs.String(), provisionCanary) {
				t.Fatalf("the credential reached the log:\n%s", logs.String())
			}
		})
	}
}
