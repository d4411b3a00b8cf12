package edge_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/openagents/trust/edge"
	"github.com/openagents/trust/shared/digest"
	"github.com/openagents/trust/shared/edgeapi"
	"github.com/openagents/trust/shared/signing"
	"github.com/openagents/trust/shared/trust"
)

const serviceToken = "svc_e2e_credential_0123456789abcdef0123456789"

const fixtures = "../testdata/signing"

// MustRunMain starts the real edge node on a temporary data directory and a
// free loopback port; it is closed when the test ends.
func MustRunMain(tb testing.TB) *edge.Main {
	tb.Helper()
	m := edge.NewMain()
	m.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	m.Getenv = env(map[string]string{"TRUST_SERVICE_TOKEN": serviceToken})
	dir := filepath.Join(tb.TempDir(), "data")
	if err := m.ParseFlags(context.Background(), []string{"-data-dir", dir, "-addr", "127.0.0.1:0"}); err != nil {
		tb.Fatal(err)
	}
	if err := m.Run(context.Background()); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := m.Close(); err != nil {
			tb.Error(err)
		}
	})
	return m
}

// env returns a Getenv over vars.
func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

// TestMain_EndToEnd runs the whole flow a deployment sees, through the client:
// publish keys, record and approve a skill version, record its signature,
// issue a Machine token, look the signature up as that Machine, then revoke a
// key and the Machine's tokens.
func TestMain_EndToEnd(t *testing.T) {
	ctx := context.Background()
	m := MustRunMain(t)

	if fi, err := os.Stat(m.Config.DataDir); err != nil {
		t.Fatal(err)
	} else if fi.Mode().Perm() != 0o700 {
		t.Fatalf("data dir mode = %v, want 0700", fi.Mode().Perm())
	}
	if _, err := os.Stat(filepath.Join(m.Config.DataDir, "catalog.db")); err != nil {
		t.Fatal(err)
	}

	service := edgeapi.NewClient(m.Server.URL(), serviceToken)
	if err := service.Health(ctx); err != nil {
		t.Fatal(err)
	}

	var fixture trust.Keyring
	mustReadJSON(t, filepath.Join(fixtures, "keyring.json"), &fixture)
	for _, k := range fixture.Keys {
		if _, err := service.CreateKeyVersion(ctx, &k); err != nil {
			t.Fatal(err)
		}
	}
	// The fixture statement, with the digest of the permissions recorded below:
	// the catalog keeps a version only with the permissions its digest covers.
	perms := trust.Permissions{Tools: []string{"web.fetch"}, Network: []string{"api.weather.example"}}
	var st trust.Statement
	mustReadJSON(t, filepath.Join(fixtures, "statement.json"), &st)
	var err error
	if st.PermissionsDigest, err = digest.Permissions(perms); err != nil {
		t.Fatal(err)
	}
	envelope := mustSign(t, "test-key.pem", &st)

	// A signature needs its skill version recorded, and approved, first.
	if _, err := service.CreateSignature(ctx, envelope); trust.ErrorCode(err) != trust.ENOTFOUND {
		t.Fatalf("signature of an unrecorded version: %v, want not found", err)
	}
	if _, err := service.CreateSkillVersion(ctx, &trust.SkillVersion{
		Name: st.Skill, Version: st.Version, Publisher: st.Publisher, ContentDigest: st.ContentDigest,
		PermissionsDigest: st.PermissionsDigest, ImageDigest: st.ImageDigest, Permissions: perms,
		State: trust.SkillVersionApproved,
	}); err != nil {
		t.Fatal(err)
	}
	sig, err := service.CreateSignature(ctx, envelope)
	if err != nil {
		t.Fatal(err)
	}
	ref := trust.SkillRef{Name: sig.Skill, Version: sig.Version}
	if v, err := service.FindSkillVersion(ctx, ref); err != nil {
		t.Fatal(err)
	} else if v.State != trust.SkillVersionApproved {
		t.Fatalf("state = %q, want approved", v.State)
	}

	token, err := service.CreateMachineToken(ctx, "e784079b449483", "tenant-1")
	if err != nil {
		t.Fatal(err)
	}
	machine := edgeapi.NewClient(m.Server.URL(), token)
	kr, err := machine.FindKeyring(ctx)
	if err != nil {
		t.Fatal(err)
	} else if kr.Sequence != 2 || len(kr.Keys) != 2 {
		t.Fatalf("keyring sequence %d with %d keys, want 2 and 2", kr.Sequence, len(kr.Keys))
	}
	missing := trust.SkillRef{Name: "unsigned", Version: "1.0.0"}
	got, err := machine.FindSignaturesBatch(ctx, []trust.SkillRef{ref, missing})
	if err != nil {
		t.Fatal(err)
	} else if len(got[ref]) != 1 || string(got[ref][0].Envelope) != string(envelope) || len(got[missing]) != 0 {
		t.Fatalf("batch = %v", got)
	}

	// A Machine cannot write; the service can revoke, and the Machine sees it.
	if _, err := machine.RevokeKeyVersion(ctx, "test", 1, "leaked"); trust.ErrorCode(err) != trust.EFORBIDDEN {
		t.Fatalf("machine revoke: %v, want forbidden", err)
	}
	if _, err := service.RevokeKeyVersion(ctx, "test", 1, "leaked"); err != nil {
		t.Fatal(err)
	}
	if kr, err := machine.FindKeyring(ctx); err != nil {
		t.Fatal(err)
	} else if kr.Sequence != 3 || kr.Find("test", 1).State != trust.KeyRevoked {
		t.Fatalf("keyring after revocation = %+v", kr)
	}
	if _, err := service.CreateSignature(ctx, envelope); trust.ErrorCode(err) != trust.EINVALID || !strings.Contains(trust.ErrorMessage(err), trust.ReasonRevokedKey) {
		t.Fatalf("signature by a revoked key: %v, want invalid (%s)", err, trust.ReasonRevokedKey)
	}
	if _, err := edgeapi.NewClient(m.Server.URL(), "nope").FindKeyring(ctx); trust.ErrorCode(err) != trust.EUNAUTHORIZED {
		t.Fatalf("bad token: %v, want unauthorized", err)
	}

	// The service revokes the Machine's tokens: the next read is refused.
	if err := machine.RevokeMachineTokens(ctx, "e784079b449483"); trust.ErrorCode(err) != trust.EFORBIDDEN {
		t.Fatalf("machine revoking tokens: %v, want forbidden", err)
	}
	if err := service.RevokeMachineTokens(ctx, "e784079b449483"); err != nil {
		t.Fatal(err)
	}
	if _, err := machine.FindKeyring(ctx); trust.ErrorCode(err) != trust.EUNAUTHORIZED {
		t.Fatalf("revoked machine token: %v, want unauthorized", err)
	}
	if err := service.RevokeMachineTokens(ctx, "never-issued"); trust.ErrorCode(err) != trust.ENOTFOUND {
		t.Fatalf("machine without tokens: %v, want not found", err)
	}
}

// TestMain_Restart checks that the catalog survives a restart on the same data
// directory.
func TestMain_Restart(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	for i := 1; i <= 2; i++ {
		m := edge.NewMain()
		m.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
		m.Getenv = env(map[string]string{"TRUST_SERVICE_TOKEN": serviceToken, "TRUST_DATA_DIR": dir, "TRUST_EDGE_ADDR": "127.0.0.1:0"})
		if err := m.ParseFlags(ctx, nil); err != nil {
			t.Fatal(err)
		}
		if err := m.Run(ctx); err != nil {
			t.Fatal(err)
		}
		c := edgeapi.NewClient(m.Server.URL(), serviceToken)
		if _, err := c.CreateMachineToken(ctx, "m", "t"); err != nil {
			t.Fatal(err)
		}
		var fixture trust.Keyring
		mustReadJSON(t, filepath.Join(fixtures, "keyring.json"), &fixture)
		k := fixture.Keys[i-1]
		if _, err := c.CreateKeyVersion(ctx, &k); err != nil {
			t.Fatalf("run %d: %v", i, err)
		}
		if kr, err := c.FindKeyring(ctx); err != nil {
			t.Fatal(err)
		} else if kr.Sequence != int64(i) {
			t.Fatalf("run %d: sequence = %d", i, kr.Sequence)
		}
		if err := m.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestMain_ParseFlags(t *testing.T) {
	ctx := context.Background()
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte(serviceToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	shortFile := filepath.Join(t.TempDir(), "short")
	if err := os.WriteFile(shortFile, []byte("short\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	t.Run("Defaults", func(t *testing.T) {
		m := edge.NewMain()
		m.Getenv = env(map[string]string{"TRUST_SERVICE_TOKEN": serviceToken})
		if err := m.ParseFlags(ctx, nil); err != nil {
			t.Fatal(err)
		}
		if m.Config.DataDir != ".trust" || m.Config.Addr != "127.0.0.1:8080" || m.Config.ServiceToken != serviceToken {
			t.Fatalf("config = %+v", m.Config.DataDir+" "+m.Config.Addr)
		}
		if got := m.Config.DBPath(); got != filepath.Join(".trust", "catalog.db") {
			t.Fatalf("DBPath = %q", got)
		}
	})

	t.Run("FlagsOverEnv", func(t *testing.T) {
		m := edge.NewMain()
		m.Getenv = env(map[string]string{"TRUST_DATA_DIR": "/env", "TRUST_EDGE_ADDR": ":1"})
		if err := m.ParseFlags(ctx, []string{"-data-dir", "/flag", "-addr", ":2", "-service-token-file", tokenFile}); err != nil {
			t.Fatal(err)
		}
		if m.Config.DataDir != "/flag" || m.Config.Addr != ":2" || m.Config.ServiceToken != serviceToken {
			t.Fatalf("data dir %q addr %q", m.Config.DataDir, m.Config.Addr)
		}
	})

	t.Run("Env", func(t *testing.T) {
		m := edge.NewMain()
		m.Getenv = env(map[string]string{"TRUST_DATA_DIR": "/env", "TRUST_EDGE_ADDR": ":1", "TRUST_SERVICE_TOKEN": serviceToken})
		if err := m.ParseFlags(ctx, nil); err != nil {
			t.Fatal(err)
		} else if m.Config.DataDir != "/env" || m.Config.Addr != ":1" {
			t.Fatalf("data dir %q addr %q", m.Config.DataDir, m.Config.Addr)
		}
	})

	for _, tt := range []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"ErrNoToken", nil, nil, "service credential required"},
		{"ErrShortToken", map[string]string{"TRUST_SERVICE_TOKEN": "short"}, nil, "too short"},
		{"ErrShortTokenFile", nil, []string{"-service-token-file", shortFile}, "too short"},
		{"ErrTokenTwice", map[string]string{"TRUST_SERVICE_TOKEN": serviceToken}, []string{"-service-token-file", tokenFile}, "not both"},
		{"ErrTokenFileMissing", nil, []string{"-service-token-file", tokenFile + ".nope"}, "read service credential file"},
		{"ErrArgs", map[string]string{"TRUST_SERVICE_TOKEN": serviceToken}, []string{"extra"}, "unexpected arguments"},
		{"ErrUnknownFlag", map[string]string{"TRUST_SERVICE_TOKEN": serviceToken}, []string{"-nope"}, "not defined"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m := edge.NewMain()
			m.Getenv = env(tt.env)
			m.Stderr = io.Discard
			err := m.ParseFlags(ctx, tt.args)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want one containing %q", err, tt.want)
			} else if strings.Contains(err.Error(), serviceToken) {
				t.Fatal("credential in error")
			}
		})
	}

	t.Run("Help", func(t *testing.T) {
		m := edge.NewMain()
		m.Getenv = env(nil)
		m.Stderr = io.Discard
		if err := m.ParseFlags(ctx, []string{"-h"}); !errors.Is(err, flag.ErrHelp) {
			t.Fatalf("err = %v, want flag.ErrHelp", err)
		}
	})
}

func TestMain_RunErrors(t *testing.T) {
	t.Run("ErrInvalidConfig", func(t *testing.T) {
		m := edge.NewMain()
		if err := m.Run(context.Background()); err == nil {
			m.Close()
			t.Fatal("want error without a service credential")
		}
	})
	t.Run("ErrAddrInUse", func(t *testing.T) {
		first := MustRunMain(t)
		m := edge.NewMain()
		m.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
		m.Config = edge.Config{DataDir: t.TempDir(), Addr: strings.TrimPrefix(first.Server.URL(), "http://"), ServiceToken: serviceToken}
		err := m.Run(context.Background())
		m.Close()
		if err == nil {
			t.Fatal("want error for an address in use")
		}
	})
}

// mustSign signs st with a fixture private key file.
func mustSign(tb testing.TB, keyFile string, st *trust.Statement) []byte {
	tb.Helper()
	ctx := context.Background()
	signer, err := signing.LoadSigner(ctx, filepath.Join(fixtures, keyFile))
	if err != nil {
		tb.Fatal(err)
	}
	env, err := signing.Sign(ctx, signer, st)
	if err != nil {
		tb.Fatal(err)
	}
	return env
}

func mustReadJSON(tb testing.TB, path string, v any) {
	tb.Helper()
	buf, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	if err := json.Unmarshal(buf, v); err != nil {
		tb.Fatalf("%s: %v", path, err)
	}
}

// The KEK comes from a file or a Vault Transit key, never both; a bad Vault
// location or a missing token stops the node, and the token is never echoed.
func TestMain_KEKSources(t *testing.T) {
	const vaultToken = "hvs.CANARY-edge-vault-token-42"
	kekFile := filepath.Join(t.TempDir(), "kek")
	if err := os.WriteFile(kekFile, []byte(base64.StdEncoding.EncodeToString(make([]byte, 32))+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		vars map[string]string
	}{
		{"ErrBoth", map[string]string{"TRUST_KEK_FILE": kekFile, "TRUST_KEK_VAULT": "https://vault.example/transit/k", "VAULT_TOKEN": vaultToken}},
		{"ErrNoToken", map[string]string{"TRUST_KEK_VAULT": "https://vault.example/transit/k"}},
		{"ErrClearText", map[string]string{"TRUST_KEK_VAULT": "http://vault.example/transit/k", "VAULT_TOKEN": vaultToken}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vars := map[string]string{"TRUST_SERVICE_TOKEN": serviceToken}
			maps.Copy(vars, tc.vars)
			m := edge.NewMain()
			m.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
			m.Getenv = env(vars)
			if err := m.ParseFlags(context.Background(), []string{"-data-dir", t.TempDir(), "-addr", "127.0.0.1:0"}); err != nil {
				t.Fatal(err)
			}
			err := m.Run(context.Background())
			m.Close()
			if err == nil {
				t.Fatal("the node started")
			} else if strings.Contains(err.Error(), "CANARY") {
				t.Fatalf("token in the error: %v", err)
			}
		})
	}
	t.Run("OKVault", func(t *testing.T) {
		m := edge.NewMain()
		m.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
		m.Getenv = env(map[string]string{"TRUST_SERVICE_TOKEN": serviceToken,
			"TRUST_KEK_VAULT": "https://vault.example:8200/transit/trust-kek", "VAULT_TOKEN": vaultToken})
		if err := m.ParseFlags(context.Background(), []string{"-data-dir", t.TempDir(), "-addr", "127.0.0.1:0"}); err != nil {
			t.Fatal(err)
		}
		if err := m.Run(context.Background()); err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		if m.Server.SSH == nil || m.Server.APIKeyService == nil {
			t.Fatal("sealing services not wired with a Vault KEK")
		}
	})
}
