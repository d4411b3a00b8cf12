package sign_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/openagents/trust/edge/edgetest"
	"github.com/openagents/trust/functions/lambdahttp"
	"github.com/openagents/trust/functions/sign"
	"github.com/openagents/trust/shared/digest"
	"github.com/openagents/trust/shared/edgeapi"
	"github.com/openagents/trust/shared/signing"
	"github.com/openagents/trust/shared/skill"
	"github.com/openagents/trust/shared/trust"
)

var update = flag.Bool("update", false, "rewrite the golden responses in testdata/events/golden")

// Canary credentials: they must never appear in a response or a log line.
const (
	operatorToken = "CANARY-operator-7f3c9a1e5b2d4f6081a3c5e7d9b1f3a5"
)

var now = time.Date(2026, 11, 24, 18, 40, 1, 0, time.UTC)

// env is a signing function wired to a real in-process edge node.
type env struct {
	handler *sign.Handler
	edge    *edgeapi.Client
	logs    *edgetest.Buffer
	node    *edgetest.Edge
}

func MustEnv(tb testing.TB) *env {
	tb.Helper()
	ctx := context.Background()
	logs := &edgetest.Buffer{}
	logger := slog.New(slog.NewJSONHandler(logs, nil))

	node := edgetest.MustOpen(tb, func() time.Time { return now })
	edge := node.ServiceClient()

	// The published key: version 1 of the fixed test keyring.
	var kr trust.Keyring
	MustReadJSON(tb, "../../testdata/signing/keyring.json", &kr)
	kv := kr.Keys[0]
	if _, err := edge.CreateKeyVersion(ctx, &kv); err != nil {
		tb.Fatal(err)
	}
	signer, err := signing.LoadSigner(ctx, "../../testdata/signing/test-key.pem")
	if err != nil {
		tb.Fatal(err)
	}

	MustCreateSkillVersion(tb, edge, "../../testdata/skills/hello", "acme", trust.SkillVersionApproved)
	pending := MustSkillVersion(tb, "../../testdata/skills/hello", "acme", trust.SkillVersionPending)
	pending.Name, pending.Version = "pending-skill", "0.1.0"
	if _, err := edge.CreateSkillVersion(ctx, pending); err != nil {
		tb.Fatal(err)
	}

	h := sign.NewHandler()
	h.Catalog, h.Signer, h.OperatorToken, h.Logger = edge, signer, operatorToken, logger
	h.Now = func() time.Time { return now }
	return &env{handler: h, edge: edge, logs: logs, node: node}
}

func MustSkillVersion(tb testing.TB, dir, publisher, state string) *trust.SkillVersion {
	tb.Helper()
	m, err := skill.Load(dir)
	if err != nil {
		tb.Fatal(err)
	}
	cd, err := digest.Content(dir)
	if err != nil {
		tb.Fatal(err)
	}
	pd, err := digest.Permissions(m.Permissions)
	if err != nil {
		tb.Fatal(err)
	}
	return &trust.SkillVersion{Name: m.Name, Version: m.Version, Publisher: publisher,
		ContentDigest: cd, PermissionsDigest: pd, Permissions: m.Permissions, State: state}
}

func MustCreateSkillVersion(tb testing.TB, edge *edgeapi.Client, dir, publisher, state string) {
	tb.Helper()
	if _, err := edge.CreateSkillVersion(context.Background(), MustSkillVersion(tb, dir, publisher, state)); err != nil {
		tb.Fatal(err)
	}
}

func MustReadJSON(tb testing.TB, path string, v any) {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		tb.Fatalf("%s: %v", path, err)
	}
}

// invoke runs an event file through the Lambda runtime's handler wrapper.
func (e *env) invoke(tb testing.TB, name string) events.APIGatewayV2HTTPResponse {
	tb.Helper()
	raw, err := os.ReadFile(filepath.Join("../../testdata/events", name+".json"))
	if err != nil {
		tb.Fatal(err)
	}
	raw = bytes.ReplaceAll(raw, []byte("{{OPERATOR_TOKEN}}"), []byte(operatorToken))
	out, err := lambda.NewHandler(lambdahttp.New(e.handler).Handle).Invoke(context.Background(), raw)
	if err != nil {
		tb.Fatal(err)
	}
	var resp events.APIGatewayV2HTTPResponse
	if err := json.Unmarshal(out, &resp); err != nil {
		tb.Fatal(err)
	}
	return resp
}

// golden compares a response with testdata/events/golden/NAME.json.
func golden(tb testing.TB, name string, resp events.APIGatewayV2HTTPResponse) {
	tb.Helper()
	got, err := json.MarshalIndent(resp, "", "  ")
	if err != nil {
		tb.Fatal(err)
	}
	got = append(got, '\n')
	path := filepath.Join("../../testdata/events/golden", name+".json")
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		tb.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		tb.Fatalf("response differs from %s:\ngot:\n%s\nwant:\n%s", path, got, want)
	}
}

func TestHandler_Events(t *testing.T) {
	for _, tc := range []struct {
		event  string
		status int
	}{
		{"sign-ok", 201},
		{"sign-no-auth", 401},
		{"sign-wrong-auth", 401},
		{"sign-pending", 409},
		{"sign-unknown", 404},
		{"sign-bad-json", 400},
		{"sign-bad-ref", 400},
		{"sign-not-found-route", 404},
	} {
		t.Run(tc.event, func(t *testing.T) {
			e := MustEnv(t)
			resp := e.invoke(t, tc.event)
			if resp.StatusCode != tc.status {
				t.Fatalf("status=%d, want %d: %s", resp.StatusCode, tc.status, resp.Body)
			}
			golden(t, tc.event, resp)
			for _, canary := range []string{operatorToken, edgetest.ServiceToken} {
				if strings.Contains(resp.Body, canary) || strings.Contains(e.logs.String(), canary) || strings.Contains(e.node.Logs.String(), canary) {
					t.Fatalf("a credential leaked into the response or the logs")
				}
			}
		})
	}
}

func TestHandler_Sign(t *testing.T) {
	t.Run("OKVerifiable", func(t *testing.T) {
		e := MustEnv(t)
		resp := e.invoke(t, "sign-ok")
		var sig trust.Signature
		if err := json.Unmarshal([]byte(resp.Body), &sig); err != nil {
			t.Fatal(err)
		}
		var kr trust.Keyring
		MustReadJSON(t, "../../testdata/signing/keyring.json", &kr)
		st, err := signing.Verify(sig.Envelope, &kr, now)
		if err != nil {
			t.Fatal(err)
		}
		want := MustSkillVersion(t, "../../testdata/skills/hello", "acme", "")
		if st.Skill != "hello" || st.Version != "1.0.0" || st.Publisher != "acme" ||
			st.ContentDigest != want.ContentDigest || st.PermissionsDigest != want.PermissionsDigest ||
			st.KeyID != "test" || st.KeyVersion != 1 || !st.IssuedAt.Equal(now) {
			t.Fatalf("statement %+v does not bind the approved version", st)
		}
		sigs, err := e.edge.FindSignaturesBatch(context.Background(), []trust.SkillRef{{Name: "hello", Version: "1.0.0"}})
		if err != nil {
			t.Fatal(err)
		}
		if got := len(sigs[trust.SkillRef{Name: "hello", Version: "1.0.0"}]); got != 1 {
			t.Fatalf("catalog holds %d signatures, want 1", got)
		}
	})

	t.Run("ErrUnpublishedKey", func(t *testing.T) {
		e := MustEnv(t)
		other, err := signing.LoadSigner(context.Background(), "../../testdata/signing/test-key-2.pem")
		if err != nil {
			t.Fatal(err)
		}
		e.handler.Signer = other // version 2 was never published on this edge
		_, err = e.handler.Sign(context.Background(), trust.SkillRef{Name: "hello", Version: "1.0.0"})
		if trust.ErrorCode(err) != trust.ECONFLICT {
			t.Fatalf("err=%v, want conflict: an unpublished key may not sign", err)
		}
	})

	t.Run("ErrRevokedKey", func(t *testing.T) {
		e := MustEnv(t)
		if _, err := e.edge.RevokeKeyVersion(context.Background(), "test", 1, "compromised"); err != nil {
			t.Fatal(err)
		}
		_, err := e.handler.Sign(context.Background(), trust.SkillRef{Name: "hello", Version: "1.0.0"})
		if trust.ErrorCode(err) != trust.ECONFLICT {
			t.Fatalf("err=%v, want conflict", err)
		}
	})

	t.Run("ErrServiceCredentialRefused", func(t *testing.T) {
		// The edge refusing the function's own credential is an internal
		// error for the caller, not "unauthorized".
		e := MustEnv(t)
		e.handler.Catalog = e.node.Client("not-the-service-credential-000000000000")
		w := httptest.NewRecorder()
		r := httptest.NewRequest("POST", "/v1/sign", strings.NewReader(`{"name":"hello","version":"1.0.0"}`))
		r.Header.Set("Authorization", "Bearer "+operatorToken)
		e.handler.ServeHTTP(w, r)
		if w.Code != 500 || !strings.Contains(w.Body.String(), `"internal error"`) {
			t.Fatalf("got %d %s, want 500 internal error", w.Code, w.Body)
		}
	})

	t.Run("ErrMethod", func(t *testing.T) {
		e := MustEnv(t)
		w := httptest.NewRecorder()
		e.handler.ServeHTTP(w, httptest.NewRequest("GET", "/v1/sign", nil))
		if w.Code != 405 || w.Header().Get("Allow") != "POST" || !strings.Contains(w.Body.String(), `"code":"invalid"`) {
			t.Fatalf("got %d %v %s", w.Code, w.Header(), w.Body)
		}
	})

	t.Run("ErrRejected", func(t *testing.T) {
		e := MustEnv(t)
		ref := trust.SkillRef{Name: "hello", Version: "1.0.0"}
		if _, err := e.edge.UpdateSkillVersionState(context.Background(), ref, trust.SkillVersionRejected); err != nil {
			t.Fatal(err)
		}
		if _, err := e.handler.Sign(context.Background(), ref); trust.ErrorCode(err) != trust.ECONFLICT {
			t.Fatalf("err=%v, want conflict", err)
		}
	})
}
