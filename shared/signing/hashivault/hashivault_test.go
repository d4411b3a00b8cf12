package hashivault_test

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openagents/trust/shared/signing"
	"github.com/openagents/trust/shared/signing/hashivault"
	"github.com/openagents/trust/shared/signing/signingtest"
	"github.com/openagents/trust/shared/trust"
)

// fakeVault is a fake of Vault's transit secrets engine, limited to what the
// sigstore provider calls for an Ed25519 key: read key (GET
// /v1/transit/keys/:name) and sign (POST /v1/transit/sign/:name), with the
// request and response shapes of Vault's API documentation. Vault itself cannot
// run here.
type fakeVault struct {
	token string
	name  string

	mu       sync.Mutex
	versions []ed25519.PrivateKey // version i+1; the last is the latest
	signedBy []int
}

func (v *fakeVault) rotate(priv ed25519.PrivateKey) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.versions = append(v.versions, priv)
}

func (v *fakeVault) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("X-Vault-Token") != v.token {
		vaultError(w, http.StatusForbidden, "permission denied")
		return
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/v1/transit/keys/"+v.name:
		keys := map[string]any{}
		for i, priv := range v.versions {
			keys[strconv.Itoa(i+1)] = map[string]any{
				"creation_time": "2026-01-01T00:00:00Z",
				"name":          "ed25519",
				"public_key":    base64.StdEncoding.EncodeToString(priv.Public().(ed25519.PublicKey)),
			}
		}
		writeJSON(w, map[string]any{"data": map[string]any{
			"name": v.name, "type": "ed25519", "latest_version": len(v.versions), "min_decryption_version": 1, "keys": keys,
		}})
	case (r.Method == http.MethodPost || r.Method == http.MethodPut) && r.URL.Path == "/v1/transit/sign/"+v.name:
		var req struct {
			Input      string `json:"input"`
			Prehashed  bool   `json:"prehashed"`
			KeyVersion string `json:"key_version"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			vaultError(w, http.StatusBadRequest, "bad request")
			return
		} else if req.Prehashed {
			vaultError(w, http.StatusBadRequest, "prehashed ed25519 is not plain ed25519")
			return
		}
		input, err := base64.StdEncoding.DecodeString(req.Input)
		if err != nil {
			vaultError(w, http.StatusBadRequest, "input is not base64")
			return
		}
		version, _ := strconv.Atoi(req.KeyVersion)
		if version == 0 {
			version = len(v.versions)
		} else if version > len(v.versions) {
			vaultError(w, http.StatusBadRequest, "requested version is not available")
			return
		}
		v.signedBy = append(v.signedBy, version)
		sig := ed25519.Sign(v.versions[version-1], input)
		writeJSON(w, map[string]any{"data": map[string]any{
			"signature":   fmt.Sprintf("vault:v%d:%s", version, base64.StdEncoding.EncodeToString(sig)),
			"key_version": version,
		}})
	default:
		vaultError(w, http.StatusNotFound, "no handler for route")
	}
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func vaultError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]any{"errors": []string{msg}})
}

// startVault starts the fake with the given key versions and points the
// provider's environment at it.
func startVault(t *testing.T, versions ...ed25519.PrivateKey) *fakeVault {
	t.Helper()
	v := &fakeVault{token: "test-token", name: "skills-signing", versions: versions}
	srv := httptest.NewServer(v)
	t.Cleanup(srv.Close)
	t.Setenv("VAULT_ADDR", srv.URL)
	t.Setenv("VAULT_TOKEN", v.token)
	t.Setenv("TRANSIT_SECRET_ENGINE_PATH", "transit")
	return v
}

func mustPrivateKey(t *testing.T, name string) ed25519.PrivateKey {
	t.Helper()
	priv, err := signing.ReadPrivateKeyFile(signingtest.VectorPath(name))
	if err != nil {
		t.Fatal(err)
	}
	return priv
}

func TestConformance(t *testing.T) {
	v := startVault(t, mustPrivateKey(t, "test-key.pem"))
	s, err := signing.LoadSigner(context.Background(), hashivault.ReferenceScheme+v.name)
	if err != nil {
		t.Fatal(err)
	}
	signingtest.TestSigner(t, s)

	t.Run("OpenBaoScheme", func(t *testing.T) {
		s, err := signing.LoadSigner(context.Background(), hashivault.AlternativeScheme+v.name)
		if err != nil {
			t.Fatal(err)
		}
		signingtest.TestSigner(t, s)
	})
}

// TestRotationBeforeSign: Vault's latest version changes after the signer read
// its public key. Sign must refuse rather than emit a signature by a key the
// keyring check never saw.
func TestRotationBeforeSign(t *testing.T) {
	v := startVault(t, mustPrivateKey(t, "test-key.pem"))
	ctx := context.Background()
	s, err := signing.LoadSigner(ctx, hashivault.ReferenceScheme+v.name)
	if err != nil {
		t.Fatal(err)
	}
	v.rotate(mustPrivateKey(t, "test-key-2.pem"))

	var st trust.Statement
	signingtest.MustDecode(t, "statement.json", &st)
	env, err := signing.Sign(ctx, s, &st)
	if env != nil || trust.ErrorCode(err) != trust.EINVALID {
		t.Fatalf("got %s, %v; want EINVALID", env, err)
	}
	if v.signedBy[len(v.signedBy)-1] != 2 {
		t.Fatalf("fake signed with version %v, want the latest (2)", v.signedBy)
	}
}

// TestLatestVersionUnpublished: Vault already signs with a version the keyring
// does not list; SigningKey refuses it.
func TestLatestVersionUnpublished(t *testing.T) {
	v := startVault(t, mustPrivateKey(t, "test-key.pem"), mustPrivateKey(t, "test-key-2.pem"))
	s, err := signing.LoadSigner(context.Background(), hashivault.ReferenceScheme+v.name)
	if err != nil {
		t.Fatal(err)
	}
	var kr trust.Keyring
	signingtest.MustDecode(t, "keyring.json", &kr)
	kr.Keys = kr.Keys[:1] // test:2 not published yet
	if _, err := signing.SigningKey(&kr, s.PublicKey(), signingtest.Now); trust.ErrorCode(err) != trust.ENOTFOUND {
		t.Fatalf("got %v, want ENOTFOUND", err)
	}
}

func TestNoServer(t *testing.T) {
	ctx := context.Background()
	t.Run("ErrNoAddress", func(t *testing.T) {
		t.Setenv("VAULT_ADDR", "")
		t.Setenv("BAO_ADDR", "")
		_, err := signing.LoadSigner(ctx, "hashivault://skills-signing")
		if err == nil || !strings.Contains(err.Error(), "VAULT_ADDR") {
			t.Fatalf("got %v, want an error naming VAULT_ADDR", err)
		}
	})
	t.Run("ErrNoToken", func(t *testing.T) {
		t.Setenv("VAULT_ADDR", "http://127.0.0.1:1")
		t.Setenv("VAULT_TOKEN", "")
		t.Setenv("BAO_TOKEN", "")
		t.Setenv("HOME", t.TempDir()) // no ~/.vault-token
		t.Setenv("VAULT_CONFIG_PATH", "")
		if _, err := signing.LoadSigner(ctx, "hashivault://skills-signing"); err == nil || !strings.Contains(err.Error(), "token") {
			t.Fatalf("got %v, want an error about the token", err)
		}
	})
	t.Run("ErrConnectionRefused", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		t.Setenv("VAULT_ADDR", "http://"+addr)
		t.Setenv("VAULT_TOKEN", "CANARY-VAULT-TOKEN")
		start := time.Now()
		_, err = signing.LoadSigner(ctx, "hashivault://skills-signing")
		if err == nil || !strings.Contains(err.Error(), "connection refused") {
			t.Fatalf("got %v, want connection refused", err)
		} else if strings.Contains(err.Error(), "CANARY") {
			t.Fatalf("error contains the Vault token: %v", err)
		} else if trust.ErrorCode(err) != trust.EINTERNAL {
			t.Fatalf("code %q, want %q", trust.ErrorCode(err), trust.EINTERNAL)
		}
		t.Logf("refused after %v: %v", time.Since(start), err)
	})
	t.Run("ErrBadReference", func(t *testing.T) {
		t.Setenv("VAULT_ADDR", "http://127.0.0.1:1")
		t.Setenv("VAULT_TOKEN", "x")
		for _, ref := range []string{"hashivault://", "hashivault://a/b", "hashivault://-x"} {
			if hashivault.ValidReference(ref) == nil {
				t.Errorf("ValidReference(%q) = nil", ref)
			}
			if _, err := signing.LoadSigner(ctx, ref); err == nil {
				t.Errorf("LoadSigner(%q) succeeded", ref)
			}
		}
	})
	t.Run("ErrWrongToken", func(t *testing.T) {
		v := startVault(t, mustPrivateKey(t, "test-key.pem"))
		t.Setenv("VAULT_TOKEN", "wrong")
		if _, err := signing.LoadSigner(ctx, hashivault.ReferenceScheme+v.name); err == nil || !strings.Contains(err.Error(), "403") {
			t.Fatalf("got %v, want a 403 from Vault", err)
		}
	})
}

// TestHungServer: the provider sends its requests without the caller's context
// and with no timeout; LoadSigner and Sign still return when the context ends.
func TestHungServer(t *testing.T) {
	release := make(chan struct{})
	hang := false
	var mu sync.Mutex
	v := &fakeVault{token: "test-token", name: "skills-signing", versions: []ed25519.PrivateKey{mustPrivateKey(t, "test-key.pem")}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		h := hang
		mu.Unlock()
		if h {
			<-release
		}
		v.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) }) // runs first: lets the abandoned requests finish
	t.Setenv("VAULT_ADDR", srv.URL)
	t.Setenv("VAULT_TOKEN", v.token)

	s, err := signing.LoadSigner(context.Background(), hashivault.ReferenceScheme+v.name)
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	hang = true
	mu.Unlock()

	var st trust.Statement
	signingtest.MustDecode(t, "statement.json", &st)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := signing.Sign(ctx, s, &st); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Sign: got %v, want context.DeadlineExceeded", err)
	} else if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("Sign returned after %v", d)
	}

	ctx2, cancel2 := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel2()
	if _, err := signing.LoadSigner(ctx2, hashivault.AlternativeScheme+v.name); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("LoadSigner: got %v, want context.DeadlineExceeded", err)
	}
}
