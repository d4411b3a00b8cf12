package provision_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/openagents/trust/functions/lambdahttp"
	"github.com/openagents/trust/functions/provision"
)

var update = flag.Bool("update", false, "rewrite the golden responses in testdata/events/golden")

// The handler, invoked as the Lambda runtime does with HTTP API v2 events,
// walks one agent through its life; each answer is compared with its golden
// file. Order matters: the events share one fake and one token store.
func TestHandler_Events(t *testing.T) {
	e := mustEnv(t)
	h := provision.NewHandler()
	h.Provisioner = e.p
	h.OperatorToken = operatorToken
	h.Logger = e.p.Logger
	invoke := lambda.NewHandler(lambdahttp.New(h).Handle)

	for _, tt := range []struct {
		event  string
		status int
	}{
		{"provision-put-no-auth", 401},
		{"provision-put", 201},
		{"provision-put-again", 200},
		{"provision-get", 200},
		{"provision-suspend", 200},
		{"provision-resume", 200},
		{"provision-delete", 204},
		{"provision-get-gone", 404},
		{"provision-bad-id", 400},
		{"provision-unknown-route", 404},
	} {
		raw, err := os.ReadFile(filepath.Join("testdata/events", tt.event+".json"))
		if err != nil {
			t.Fatal(err)
		}
		raw = bytes.ReplaceAll(raw, []byte("{{OPERATOR_TOKEN}}"), []byte(operatorToken))
		out, err := invoke.Invoke(context.Background(), raw)
		if err != nil {
			t.Fatalf("%s: %v", tt.event, err)
		}
		var resp events.APIGatewayV2HTTPResponse
		if err := json.Unmarshal(out, &resp); err != nil {
			t.Fatalf("%s: %v", tt.event, err)
		}
		if resp.StatusCode != tt.status {
			t.Errorf("%s: status %d, want %d: %s", tt.event, resp.StatusCode, tt.status, resp.Body)
		}
		for _, s := range append([]string{operatorToken, flyToken, serviceToken}, e.tokens.Issued()...) {
			if strings.Contains(resp.Body, s) {
				t.Errorf("%s: a secret is in the response", tt.event)
			}
		}
		golden(t, tt.event, resp.StatusCode, resp.Body)
	}
}

// golden compares a response with testdata/events/golden/NAME.json.
func golden(t *testing.T, name string, status int, body string) {
	t.Helper()
	got := []byte(strings.TrimSpace(string(mustJSON(t, map[string]any{"status": status, "body": json.RawMessage(orNull(body))}))) + "\n")
	path := filepath.Join("testdata/events/golden", name+".json")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%s: %v (run with -update to create it)", name, err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s:\ngot  %s\nwant %s", name, got, want)
	}
}

func orNull(s string) string {
	if strings.TrimSpace(s) == "" {
		return "null"
	}
	return s
}

func mustJSON(tb testing.TB, v any) []byte {
	tb.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}
