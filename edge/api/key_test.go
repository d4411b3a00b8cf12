package api_test

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/openagents/trust/shared/trust"
)

// NewKey returns fixture key test:1 as a request body.
func NewKey(tb testing.TB) map[string]any {
	tb.Helper()
	pub, err := os.ReadFile(filepath.Join(fixtures, "test-key.pub.pem"))
	if err != nil {
		tb.Fatal(err)
	}
	return map[string]any{
		"key_id": "test", "version": 1, "algorithm": "ed25519", "public_key": string(pub),
		"not_before": "2026-01-01T00:00:00Z", "not_after": "2036-01-01T00:00:00Z",
	}
}

// NewKey2 returns fixture key test:2 as a request body, without a version.
func NewKey2(tb testing.TB) map[string]any {
	tb.Helper()
	pub, err := os.ReadFile(filepath.Join(fixtures, "test-key-2.pub.pem"))
	if err != nil {
		tb.Fatal(err)
	}
	return map[string]any{
		"key_id": "test", "algorithm": "ed25519", "public_key": string(pub),
		"not_before": "2026-06-01T00:00:00Z", "not_after": "2036-06-01T00:00:00Z",
	}
}

// MustKeyring returns the keyring as a Machine sees it.
func (s *TestServer) MustKeyring(tb testing.TB) *trust.Keyring {
	tb.Helper()
	rec := s.Do(tb, "GET", "/v1/keyring", ServiceToken, nil)
	WantStatus(tb, rec, http.StatusOK)
	var kr trust.Keyring
	MustDecode(tb, rec, &kr)
	return &kr
}

func TestServer_KeyVersions(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		s := MustOpenServer(t)
		body := NewKey(t)
		body["created_at"] = "2001-01-01T00:00:00Z" // the server's time wins
		rec := s.Do(t, "POST", "/v1/service/keys", ServiceToken, body)
		WantStatus(t, rec, http.StatusCreated)
		var k trust.KeyVersion
		MustDecode(t, rec, &k)
		if k.Ref() != "test:1" || k.State != trust.KeyActive || !k.CreatedAt.Equal(Now) {
			t.Fatalf("got %+v, want test:1 active created %v", k, Now)
		}

		machine := s.MustMachineToken(t, "m1")
		rec = s.Do(t, "GET", "/v1/keyring", machine, nil)
		WantStatus(t, rec, http.StatusOK)
		var kr trust.Keyring
		MustDecode(t, rec, &kr)
		if kr.Sequence != 1 || len(kr.Keys) != 1 || kr.Keys[0].PublicKey != body["public_key"] {
			t.Fatalf("keyring = %+v", kr)
		}
	})

	t.Run("EmptyKeyring", func(t *testing.T) {
		s := MustOpenServer(t)
		rec := s.Do(t, "GET", "/v1/keyring", ServiceToken, nil)
		WantStatus(t, rec, http.StatusOK)
		if !strings.Contains(rec.Body.String(), `"keys":[]`) {
			t.Fatalf("body = %s, want an empty keys list", rec.Body)
		}
	})

	t.Run("SequenceOnEveryChange", func(t *testing.T) {
		s := MustOpenServer(t)
		s.MustPublishTestKeys(t)
		steps := []struct {
			method, path string
			body         any
			status       int
			sequence     int64
		}{
			{"POST", "/v1/service/keys/test/versions/1/retire", nil, 200, 3},
			{"POST", "/v1/service/keys/test/versions/1/retire", nil, 200, 3},
			{"POST", "/v1/service/keys/test/versions/1/revoke", `{"reason":"rotated"}`, 200, 4},
			{"POST", "/v1/service/keys/test/versions/1/revoke", `{"reason":"again"}`, 200, 4},
			{"POST", "/v1/service/keys/test/versions/1/retire", nil, 409, 4},
			{"POST", "/v1/service/keys/test/versions/2/revoke", `{"reason":"leaked"}`, 200, 5},
		}
		if kr := s.MustKeyring(t); kr.Sequence != 2 {
			t.Fatalf("sequence = %d after two keys, want 2", kr.Sequence)
		}
		for i, step := range steps {
			WantStatus(t, s.Do(t, step.method, step.path, ServiceToken, step.body), step.status)
			if kr := s.MustKeyring(t); kr.Sequence != step.sequence {
				t.Fatalf("step %d (%s): sequence = %d, want %d", i, step.path, kr.Sequence, step.sequence)
			}
		}
		kr := s.MustKeyring(t)
		if k := kr.Find("test", 1); k.State != trust.KeyRevoked || k.RevocationReason != "rotated" || k.RevokedAt == nil {
			t.Fatalf("test:1 = %+v, want the first revocation", k)
		}
	})

	t.Run("Errors", func(t *testing.T) {
		s := MustOpenServer(t)
		WantStatus(t, s.Do(t, "POST", "/v1/service/keys", ServiceToken, NewKey(t)), http.StatusCreated)
		with := func(key string, v any) map[string]any {
			body := NewKey(t)
			if v == nil {
				delete(body, key)
			} else {
				body[key] = v
			}
			return body
		}
		for _, tt := range []struct {
			name, method, path string
			body               any
			status             int
			code               string
		}{
			{"ErrConflict", "POST", "/v1/service/keys", NewKey(t), 409, trust.ECONFLICT},
			{"ErrGap", "POST", "/v1/service/keys", with("version", 3), 400, trust.EINVALID},
			{"ErrAlgorithm", "POST", "/v1/service/keys", with("algorithm", "rsa"), 400, trust.EINVALID},
			{"ErrPublicKey", "POST", "/v1/service/keys", with("public_key", "nope"), 400, trust.EINVALID},
			{"ErrWindow", "POST", "/v1/service/keys", with("not_after", "2025-01-01T00:00:00Z"), 400, trust.EINVALID},
			{"ErrState", "POST", "/v1/service/keys", with("state", "revoked"), 400, trust.EINVALID},
			{"ErrKeyID", "POST", "/v1/service/keys", with("key_id", "Bad Key"), 400, trust.EINVALID},
			{"ErrUnknownField", "POST", "/v1/service/keys", with("extra", true), 400, trust.EINVALID},
			{"ErrMalformedJSON", "POST", "/v1/service/keys", `{"key_id":`, 400, trust.EINVALID},
			{"ErrNoBody", "POST", "/v1/service/keys", nil, 400, trust.EINVALID},
			{"ErrRetireNotFound", "POST", "/v1/service/keys/test/versions/9/retire", nil, 404, trust.ENOTFOUND},
			{"ErrRetireBadVersion", "POST", "/v1/service/keys/test/versions/one/retire", nil, 400, trust.EINVALID},
			{"ErrRetireBadKeyID", "POST", "/v1/service/keys/Test/versions/1/retire", nil, 400, trust.EINVALID},
			{"ErrRevokeNotFound", "POST", "/v1/service/keys/other/versions/1/revoke", `{"reason":"x"}`, 404, trust.ENOTFOUND},
			{"ErrRevokeNoReason", "POST", "/v1/service/keys/test/versions/1/revoke", `{}`, 400, trust.EINVALID},
			{"ErrRevokeNoBody", "POST", "/v1/service/keys/test/versions/1/revoke", nil, 400, trust.EINVALID},
		} {
			t.Run(tt.name, func(t *testing.T) {
				WantError(t, s.Do(t, tt.method, tt.path, ServiceToken, tt.body), tt.status, tt.code)
			})
		}
		if kr := s.MustKeyring(t); kr.Sequence != 1 {
			t.Fatalf("sequence = %d after refused requests, want 1", kr.Sequence)
		}
	})

	// A version of 0, or none, asks for the key ID's next version; the answer
	// carries the number assigned.
	t.Run("NextVersion", func(t *testing.T) {
		s := MustOpenServer(t)
		first := NewKey(t)
		delete(first, "version")
		second := NewKey2(t)
		second["version"] = 0
		for i, body := range []map[string]any{first, second} {
			rec := s.Do(t, "POST", "/v1/service/keys", ServiceToken, body)
			WantStatus(t, rec, http.StatusCreated)
			var k trust.KeyVersion
			MustDecode(t, rec, &k)
			if k.KeyID != "test" || k.Version != i+1 || k.State != trust.KeyActive {
				t.Fatalf("body %d: got %s %s, want test:%d active", i+1, k.Ref(), k.State, i+1)
			}
			if got := s.MustKeyring(t).Find("test", i+1); got == nil || got.PublicKey != body["public_key"] {
				t.Fatalf("keyring test:%d = %+v, want the published key", i+1, got)
			}
		}
	})

	// A public key is published once: not under another version or key ID,
	// and not after its revocation.
	t.Run("ErrKeyPublishedTwice", func(t *testing.T) {
		s := MustOpenServer(t)
		WantStatus(t, s.Do(t, "POST", "/v1/service/keys", ServiceToken, NewKey(t)), http.StatusCreated)
		again := func(keyID string, version any) map[string]any {
			body := NewKey(t)
			body["key_id"] = keyID
			if version == nil {
				delete(body, "version")
			} else {
				body["version"] = version
			}
			return body
		}
		for name, body := range map[string]map[string]any{
			"NextVersion": again("test", nil),
			"Version2":    again("test", 2),
			"OtherKeyID":  again("other", 1),
		} {
			t.Run(name, func(t *testing.T) {
				msg := WantError(t, s.Do(t, "POST", "/v1/service/keys", ServiceToken, body), http.StatusConflict, trust.ECONFLICT)
				if !strings.Contains(msg, "test:1") {
					t.Fatalf("message %q does not name the published key test:1", msg)
				}
			})
		}
		WantStatus(t, s.Do(t, "POST", "/v1/service/keys/test/versions/1/revoke", ServiceToken, `{"reason":"leaked"}`), http.StatusOK)
		WantError(t, s.Do(t, "POST", "/v1/service/keys", ServiceToken, again("other", nil)), http.StatusConflict, trust.ECONFLICT)
		if kr := s.MustKeyring(t); kr.Sequence != 2 || len(kr.Keys) != 1 {
			t.Fatalf("keyring = %+v, want test:1 alone at sequence 2", kr)
		}
	})

	t.Run("ErrContentType", func(t *testing.T) {
		s := MustOpenServer(t)
		req := httptest.NewRequest("POST", "/v1/service/keys", strings.NewReader(`{}`))
		req.Header.Set("Content-Type", "text/plain")
		req.Header.Set("Authorization", "Bearer "+ServiceToken)
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		WantError(t, rec, http.StatusBadRequest, trust.EINVALID)
	})

	t.Run("Retiring", func(t *testing.T) {
		s := MustOpenServer(t)
		body := NewKey(t)
		body["state"] = trust.KeyRetiring
		WantStatus(t, s.Do(t, "POST", "/v1/service/keys", ServiceToken, body), http.StatusCreated)
		if got := s.MustKeyring(t).Keys[0]; got.State != trust.KeyRetiring || got.NotBefore.Format(time.RFC3339) != "2026-01-01T00:00:00Z" {
			t.Fatalf("got %+v", got)
		}
	})
}
