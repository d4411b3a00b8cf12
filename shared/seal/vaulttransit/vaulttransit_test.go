package vaulttransit_test

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/openagents/trust/shared/seal"
	"github.com/openagents/trust/shared/seal/sealtest"
	"github.com/openagents/trust/shared/seal/vaulttransit"
)

const token = "hvs.CANARY-vault-token-0123456789"

// fakeTransit is a fake of Vault's Transit engine for one AEAD key: it
// checks the token and the route, encrypts with AES-GCM and binds
// associated_data, as an aes256-gcm96 Transit key does.
func fakeTransit(tb testing.TB, mount, key string) *httptest.Server {
	tb.Helper()
	k := make([]byte, 32)
	rand.Read(k)
	block, _ := aes.NewCipher(k)
	gcm, _ := cipher.NewGCM(block)
	mux := http.NewServeMux()
	handle := func(op string, fn func(req map[string]string, ad []byte) (map[string]string, bool)) {
		mux.HandleFunc("POST /v1/"+mount+"/"+op+"/"+key, func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("X-Vault-Token") != token {
				http.Error(w, `{"errors":["permission denied"]}`, http.StatusForbidden)
				return
			}
			var req map[string]string
			if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
				http.Error(w, `{"errors":["bad json"]}`, http.StatusBadRequest)
				return
			}
			ad, err := base64.StdEncoding.DecodeString(req["associated_data"])
			if err != nil {
				http.Error(w, `{"errors":["bad associated_data"]}`, http.StatusBadRequest)
				return
			}
			out, ok := fn(req, ad)
			if !ok {
				http.Error(w, `{"errors":["cipher: message authentication failed"]}`, http.StatusBadRequest)
				return
			}
			json.NewEncoder(w).Encode(map[string]any{"data": out})
		})
	}
	handle("encrypt", func(req map[string]string, ad []byte) (map[string]string, bool) {
		pt, err := base64.StdEncoding.DecodeString(req["plaintext"])
		if err != nil {
			return nil, false
		}
		nonce := make([]byte, gcm.NonceSize())
		rand.Read(nonce)
		ct := gcm.Seal(nonce, nonce, pt, ad)
		return map[string]string{"ciphertext": "vault:v1:" + base64.StdEncoding.EncodeToString(ct)}, true
	})
	handle("decrypt", func(req map[string]string, ad []byte) (map[string]string, bool) {
		raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(req["ciphertext"], "vault:v1:"))
		if err != nil || len(raw) < gcm.NonceSize() {
			return nil, false
		}
		pt, err := gcm.Open(nil, raw[:gcm.NonceSize()], raw[gcm.NonceSize():], ad)
		if err != nil {
			return nil, false
		}
		return map[string]string{"plaintext": base64.StdEncoding.EncodeToString(pt)}, true
	})
	srv := httptest.NewServer(mux)
	tb.Cleanup(srv.Close)
	return srv
}

func mustKEK(tb testing.TB, srv *httptest.Server, tok string) *vaulttransit.KEK {
	tb.Helper()
	k, err := vaulttransit.New(srv.URL+"/transit/trust-kek", tok, srv.Client())
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

func TestKEK_Conformance(t *testing.T) {
	sealtest.TestKEK(t, mustKEK(t, fakeTransit(t, "transit", "trust-kek"), token), mustKEK(t, fakeTransit(t, "transit", "trust-kek"), token))
}

func TestKEK_Sealer(t *testing.T) {
	s := seal.New(mustKEK(t, fakeTransit(t, "transit", "trust-kek"), token))
	ad := seal.Context("platform", "anthropic", "1")
	blob, err := s.Seal(context.Background(), []byte("sk-ant-canary"), ad)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := s.Open(context.Background(), blob, ad); err != nil || string(got) != "sk-ant-canary" {
		t.Fatalf("Open = %q, %v", got, err)
	}
	if id, _ := seal.KEKID(blob); !strings.HasPrefix(id, "vault-transit:") {
		t.Fatalf("KEK ID %q", id)
	}
}

// A wrong token is refused by Vault; the error names the status, never the
// token.
func TestKEK_ErrTokenNeverInErrors(t *testing.T) {
	srv := fakeTransit(t, "transit", "trust-kek")
	bad := "hvs.CANARY-wrong-token-987654321"
	_, err := mustKEK(t, srv, bad).Wrap(context.Background(), make([]byte, 32), []byte("ad"))
	if err == nil || !strings.Contains(err.Error(), "403") {
		t.Fatalf("err = %v, want a refusal with the status", err)
	} else if strings.Contains(err.Error(), "CANARY") {
		t.Fatalf("token in the error: %v", err)
	}
}

func TestNew_Err(t *testing.T) {
	for _, loc := range []string{
		"http://vault.example:8200/transit/k", // clear text to a non-loopback host
		"https://vault.example:8200/k",        // no mount
		"https://vault.example:8200/",         // nothing
		"https://user:pw@vault.example/transit/k",
		"https://vault.example/transit/k?x=1",
		"https://vault.example/transit/../k",
	} {
		if _, err := vaulttransit.New(loc, token, nil); err == nil {
			t.Errorf("New(%q) accepted", loc)
		}
	}
	if _, err := vaulttransit.New("https://vault.example/transit/k", "", nil); err == nil {
		t.Error("New accepted an empty token")
	}
	k, err := vaulttransit.New("https://vault.example:8200/transit/trust-kek", token, nil)
	if err != nil || k.ID() != "vault-transit:vault.example:8200/transit/trust-kek" {
		t.Fatalf("New = %v, ID %q", err, k.ID())
	}
}
