package edgeapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/openagents/trust/shared/edgeapi"
	"github.com/openagents/trust/shared/httpapi"
	"github.com/openagents/trust/shared/trust"
)

const token = "oamt_CANARY_client_token_0123456789abcdefghijkl"

// Call is one request the fake edge received.
type Call struct {
	Method, Path, Auth, Body string
}

// MustFakeEdge starts a fake edge that records each request and answers with
// reply (JSON, status 200 unless reply is an int status with an error body).
func MustFakeEdge(tb testing.TB, reply func(c Call) (int, any)) (*httptest.Server, *[]Call) {
	tb.Helper()
	var calls []Call
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		c := Call{Method: r.Method, Path: r.URL.EscapedPath(), Auth: r.Header.Get("Authorization"), Body: string(body)}
		calls = append(calls, c)
		status, v := reply(c)
		httpapi.WriteJSON(w, status, v)
	}))
	tb.Cleanup(srv.Close)
	return srv, &calls
}

func TestClient_Routes(t *testing.T) {
	ctx := context.Background()
	ref := trust.SkillRef{Name: "weather", Version: "1.0.0+b1"}
	for _, tt := range []struct {
		name         string
		call         func(c *edgeapi.Client) error
		method, path string
		body         string
		reply        any
	}{
		{"Health", func(c *edgeapi.Client) error { return c.Health(ctx) }, "GET", "/healthz", "", edgeapi.HealthResponse{Status: "ok"}},
		{"FindKeyring", func(c *edgeapi.Client) error {
			kr, err := c.FindKeyring(ctx)
			if err == nil && kr.Sequence != 7 {
				err = fmt.Errorf("sequence = %d", kr.Sequence)
			}
			return err
		}, "GET", "/v1/keyring", "", trust.Keyring{Sequence: 7}},
		{"FindSignatures", func(c *edgeapi.Client) error {
			sigs, err := c.FindSignatures(ctx, ref)
			if err == nil && (sigs == nil || len(sigs) != 0) {
				err = fmt.Errorf("signatures = %#v, want empty", sigs)
			}
			return err
		}, "GET", "/v1/skills/weather/versions/1.0.0+b1/signatures", "", edgeapi.SignaturesResponse{Skill: "weather", Version: "1.0.0+b1"}},
		{"CreateKeyVersion", func(c *edgeapi.Client) error {
			_, err := c.CreateKeyVersion(ctx, &trust.KeyVersion{KeyID: "main", Version: 1})
			return err
		}, "POST", "/v1/service/keys", `"key_id":"main"`, trust.KeyVersion{KeyID: "main", Version: 1}},
		{"RetireKeyVersion", func(c *edgeapi.Client) error { _, err := c.RetireKeyVersion(ctx, "main", 2); return err },
			"POST", "/v1/service/keys/main/versions/2/retire", "", trust.KeyVersion{}},
		{"RevokeKeyVersion", func(c *edgeapi.Client) error { _, err := c.RevokeKeyVersion(ctx, "main", 2, "leaked"); return err },
			"POST", "/v1/service/keys/main/versions/2/revoke", `{"reason":"leaked"}`, trust.KeyVersion{}},
		{"CreateSkillVersion", func(c *edgeapi.Client) error {
			_, err := c.CreateSkillVersion(ctx, &trust.SkillVersion{Name: ref.Name, Version: ref.Version})
			return err
		}, "PUT", "/v1/service/skills/weather/versions/1.0.0+b1", `"name":"weather"`, trust.SkillVersion{}},
		{"FindSkillVersion", func(c *edgeapi.Client) error { _, err := c.FindSkillVersion(ctx, ref); return err },
			"GET", "/v1/service/skills/weather/versions/1.0.0+b1", "", trust.SkillVersion{}},
		{"UpdateSkillVersionState", func(c *edgeapi.Client) error {
			_, err := c.UpdateSkillVersionState(ctx, ref, trust.SkillVersionApproved)
			return err
		}, "POST", "/v1/service/skills/weather/versions/1.0.0+b1/state", `{"state":"approved"}`, trust.SkillVersion{}},
		{"CreateSignature", func(c *edgeapi.Client) error { _, err := c.CreateSignature(ctx, []byte(`{"payload":"x"}`)); return err },
			"POST", "/v1/service/signatures", `{"envelope":{"payload":"x"}}`, trust.Signature{}},
		{"CreateMachineToken", func(c *edgeapi.Client) error {
			tok, err := c.CreateMachineToken(ctx, "m1", "t1")
			if err == nil && tok != "oamt_new" {
				err = fmt.Errorf("token = %q", tok)
			}
			return err
		}, "POST", "/v1/service/machine-tokens", `{"machine_id":"m1","tenant_id":"t1"}`, edgeapi.MachineTokenResponse{MachineID: "m1", Token: "oamt_new"}},
		{"RevokeMachineTokens", func(c *edgeapi.Client) error { return c.RevokeMachineTokens(ctx, "m1:a") },
			"POST", "/v1/service/machines/m1:a/revoke-tokens", "", edgeapi.RevokeMachineTokensResponse{MachineID: "m1:a", Revoked: true}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv, calls := MustFakeEdge(t, func(Call) (int, any) { return http.StatusOK, tt.reply })
			if err := tt.call(edgeapi.NewClient(srv.URL+"/", token)); err != nil {
				t.Fatal(err)
			}
			if len(*calls) != 1 {
				t.Fatalf("calls = %d, want 1", len(*calls))
			}
			c := (*calls)[0]
			if c.Method != tt.method || c.Path != tt.path {
				t.Fatalf("request %s %s, want %s %s", c.Method, c.Path, tt.method, tt.path)
			} else if c.Auth != "Bearer "+token {
				t.Fatalf("Authorization = %q", c.Auth)
			} else if !strings.Contains(c.Body, tt.body) {
				t.Fatalf("body %s, want it to contain %s", c.Body, tt.body)
			}
		})
	}
}

func TestClient_FindSignaturesBatch(t *testing.T) {
	ctx := context.Background()
	reply := func(c Call) (int, any) {
		var req edgeapi.BatchRequest
		if err := json.Unmarshal([]byte(c.Body), &req); err != nil {
			return http.StatusBadRequest, nil
		}
		var resp edgeapi.BatchResponse
		for _, ref := range req.Skills {
			r := edgeapi.BatchResult{Name: ref.Name, Version: ref.Version}
			if ref.Name != "unsigned" {
				r.Signatures = []*trust.Signature{{Skill: ref.Name, Version: ref.Version, KeyID: "main", KeyVersion: 1}}
			}
			resp.Results = append(resp.Results, r)
		}
		return http.StatusOK, resp
	}

	t.Run("OK", func(t *testing.T) {
		srv, calls := MustFakeEdge(t, reply)
		refs := []trust.SkillRef{{Name: "a", Version: "1"}, {Name: "unsigned", Version: "1"}, {Name: "a", Version: "1"}}
		m, err := edgeapi.NewClient(srv.URL, token).FindSignaturesBatch(ctx, refs)
		if err != nil {
			t.Fatal(err)
		} else if len(*calls) != 1 {
			t.Fatalf("calls = %d, want 1", len(*calls))
		} else if len(m) != 2 || len(m[refs[0]]) != 1 || m[refs[1]] == nil || len(m[refs[1]]) != 0 {
			t.Fatalf("got %v", m)
		}
	})

	t.Run("Chunks", func(t *testing.T) {
		srv, calls := MustFakeEdge(t, reply)
		refs := make([]trust.SkillRef, 2*trust.MaxBatch+1)
		for i := range refs {
			refs[i] = trust.SkillRef{Name: fmt.Sprintf("s%d", i), Version: "1"}
		}
		m, err := edgeapi.NewClient(srv.URL, token).FindSignaturesBatch(ctx, refs)
		if err != nil {
			t.Fatal(err)
		} else if len(*calls) != 3 || len(m) != len(refs) {
			t.Fatalf("calls = %d, results = %d; want 3 and %d", len(*calls), len(m), len(refs))
		}
	})

	t.Run("Empty", func(t *testing.T) {
		srv, calls := MustFakeEdge(t, reply)
		if m, err := edgeapi.NewClient(srv.URL, token).FindSignaturesBatch(ctx, nil); err != nil || len(m) != 0 || len(*calls) != 0 {
			t.Fatalf("got %v, %v after %d calls; want an empty map and no request", m, err, len(*calls))
		}
	})

	t.Run("ErrOutOfOrder", func(t *testing.T) {
		srv, _ := MustFakeEdge(t, func(Call) (int, any) {
			return http.StatusOK, edgeapi.BatchResponse{Results: []edgeapi.BatchResult{{Name: "b", Version: "1"}, {Name: "a", Version: "1"}}}
		})
		if _, err := edgeapi.NewClient(srv.URL, token).FindSignaturesBatch(ctx, []trust.SkillRef{{Name: "a", Version: "1"}, {Name: "b", Version: "1"}}); err == nil {
			t.Fatal("want an error for results out of request order")
		}
	})
}

func TestClient_Errors(t *testing.T) {
	ctx := context.Background()

	t.Run("TrustError", func(t *testing.T) {
		srv, _ := MustFakeEdge(t, func(Call) (int, any) {
			return http.StatusConflict, httpapi.ErrorResponse{Error: httpapi.ErrorBody{Code: trust.ECONFLICT, Message: "key main:1 already exists"}}
		})
		_, err := edgeapi.NewClient(srv.URL, token).FindKeyring(ctx)
		var te *trust.Error
		if !errors.As(err, &te) || te.Code != trust.ECONFLICT || te.Message != "key main:1 already exists" {
			t.Fatalf("err = %v, want the edge's *trust.Error", err)
		}
	})

	t.Run("StatusOnly", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "bad gateway", http.StatusServiceUnavailable)
		}))
		defer srv.Close()
		_, err := edgeapi.NewClient(srv.URL, token).FindKeyring(ctx)
		if code := trust.ErrorCode(err); code != trust.EUNAVAILABLE {
			t.Fatalf("code = %q (%v), want %q", code, err, trust.EUNAVAILABLE)
		}
	})

	t.Run("NoRedirect", func(t *testing.T) {
		var leaked atomic.Bool
		elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			leaked.Store(true)
		}))
		defer elsewhere.Close()
		srv := httptest.NewServer(http.RedirectHandler(elsewhere.URL+"/v1/keyring", http.StatusTemporaryRedirect))
		defer srv.Close()
		if _, err := edgeapi.NewClient(srv.URL, token).FindKeyring(ctx); err == nil {
			t.Fatal("want an error for a redirect")
		} else if leaked.Load() {
			t.Fatal("redirect followed")
		}
	})

	t.Run("ResponseTooLarge", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte(`{"keys":[`))
			chunk := []byte(strings.Repeat(" ", 1<<20))
			for i := 0; i <= edgeapi.MaxResponseSize>>20; i++ {
				if _, err := w.Write(chunk); err != nil {
					return
				}
			}
		}))
		defer srv.Close()
		if _, err := edgeapi.NewClient(srv.URL, token).FindKeyring(ctx); err == nil || !strings.Contains(err.Error(), "larger than") {
			t.Fatalf("err = %v, want a size error", err)
		}
	})

	t.Run("ErrInvalidURL", func(t *testing.T) {
		for _, u := range []string{"", "edge.example.com", "ftp://edge", "http://"} {
			_, err := edgeapi.NewClient(u, token).FindKeyring(ctx)
			if code := trust.ErrorCode(err); code != trust.EINVALID {
				t.Fatalf("%q: code = %q, want %q", u, code, trust.EINVALID)
			}
		}
	})

	t.Run("ErrRevokeNotConfirmed", func(t *testing.T) {
		srv, _ := MustFakeEdge(t, func(Call) (int, any) { return http.StatusOK, edgeapi.RevokeMachineTokensResponse{MachineID: "m1"} })
		if err := edgeapi.NewClient(srv.URL, token).RevokeMachineTokens(ctx, "m1"); err == nil {
			t.Fatal("want an error when the edge does not confirm the revocation")
		}
	})

	t.Run("ErrRevokeNotFound", func(t *testing.T) {
		srv, _ := MustFakeEdge(t, func(Call) (int, any) {
			return http.StatusNotFound, httpapi.ErrorResponse{Error: httpapi.ErrorBody{Code: trust.ENOTFOUND, Message: "machine m1 has no tokens"}}
		})
		if err := edgeapi.NewClient(srv.URL, token).RevokeMachineTokens(ctx, "m1"); trust.ErrorCode(err) != trust.ENOTFOUND {
			t.Fatalf("err = %v, want not found", err)
		}
	})

	t.Run("ErrRevokeNoMachineID", func(t *testing.T) {
		srv, calls := MustFakeEdge(t, func(Call) (int, any) { return http.StatusOK, edgeapi.RevokeMachineTokensResponse{Revoked: true} })
		if err := edgeapi.NewClient(srv.URL, token).RevokeMachineTokens(ctx, ""); trust.ErrorCode(err) != trust.EINVALID {
			t.Fatalf("err = %v, want invalid", err)
		} else if len(*calls) != 0 {
			t.Fatalf("calls = %d, want none", len(*calls))
		}
	})

	t.Run("ErrEnvelopeNotJSON", func(t *testing.T) {
		_, err := edgeapi.NewClient("http://127.0.0.1:1", token).CreateSignature(ctx, []byte("{"))
		if code := trust.ErrorCode(err); code != trust.EINVALID {
			t.Fatalf("code = %q, want %q", code, trust.EINVALID)
		}
	})

	// The token appears in no error, whatever goes wrong.
	t.Run("TokenNeverInErrors", func(t *testing.T) {
		srv, _ := MustFakeEdge(t, func(c Call) (int, any) {
			return http.StatusUnauthorized, httpapi.ErrorResponse{Error: httpapi.ErrorBody{Code: trust.EUNAUTHORIZED, Message: "invalid credential"}}
		})
		closed := httptest.NewServer(http.NotFoundHandler())
		closed.Close()
		for name, c := range map[string]*edgeapi.Client{
			"Refused":     edgeapi.NewClient(srv.URL, token),
			"Unreachable": edgeapi.NewClient(closed.URL, token),
			"BadHeader":   edgeapi.NewClient(srv.URL, token+"\n"),
			"UserInfo":    edgeapi.NewClient(strings.Replace(closed.URL, "http://", "http://u:"+token+"@", 1), token),
		} {
			_, err := c.FindKeyring(ctx)
			if err == nil {
				t.Fatalf("%s: want an error", name)
			} else if strings.Contains(err.Error(), token) || strings.Contains(err.Error(), token[5:20]) {
				t.Fatalf("%s: token in error %q", name, err)
			}
		}
	})
}
