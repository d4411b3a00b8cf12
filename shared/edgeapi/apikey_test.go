package edgeapi_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/openagents/trust/shared/edgeapi"
	"github.com/openagents/trust/shared/httpapi"
	"github.com/openagents/trust/shared/trust"
)

// canaryKey is a planted API key: it must travel only in a request body.
const canaryKey = "sk-ant-CANARY-edgeapi-key-9a8b7c6d5e"

func TestClient_APIKeyRoutes(t *testing.T) {
	ctx := context.Background()
	for _, tt := range []struct {
		name         string
		call         func(c *edgeapi.Client) error
		method, path string
		body         string
		reply        any
	}{
		{"CreateAPIKeyVersion", func(c *edgeapi.Client) error {
			_, _, err := c.CreateAPIKeyVersion(ctx, "anthropic", edgeapi.APIKeyVersionRequest{Key: canaryKey, Period: "2026-11", OverlapSeconds: 60})
			return err
		}, "POST", "/v1/service/api-keys/anthropic/versions", `{"key":"` + canaryKey + `","period":"2026-11","overlap_seconds":60}`, edgeapi.APIKeyVersionResponse{}},
		{"FindAPIKeyVersions", func(c *edgeapi.Client) error { _, err := c.FindAPIKeyVersions(ctx, "openai"); return err },
			"GET", "/v1/service/api-keys/openai/versions", "", edgeapi.APIKeyVersionsResponse{}},
		{"RetireAPIKeyVersions", func(c *edgeapi.Client) error { _, err := c.RetireAPIKeyVersions(ctx, "openai"); return err },
			"POST", "/v1/service/api-keys/openai/retire", "", edgeapi.APIKeyVersionsResponse{}},
		{"FindKeyVersion", func(c *edgeapi.Client) error { _, err := c.FindKeyVersion(ctx, "a/b"); return err },
			"GET", "/v1/tenant/key-version/a%2Fb", "", edgeapi.KeyVersionResponse{}},
		{"PutUserAPIKey", func(c *edgeapi.Client) error { _, err := c.PutUserAPIKey(ctx, "openai", canaryKey); return err },
			"PUT", "/v1/tenant/user-keys/openai", `{"key":"` + canaryKey + `"}`, trust.UserAPIKey{}},
		{"FindUserAPIKeys", func(c *edgeapi.Client) error { _, err := c.FindUserAPIKeys(ctx); return err },
			"GET", "/v1/tenant/user-keys", "", edgeapi.UserAPIKeysResponse{}},
		{"DeleteUserAPIKey", func(c *edgeapi.Client) error { return c.DeleteUserAPIKey(ctx, "openai") },
			"DELETE", "/v1/tenant/user-keys/openai", "", edgeapi.DeleteResponse{}},
		{"GrantCredits", func(c *edgeapi.Client) error { _, err := c.GrantCredits(ctx, "acme", 5, "g1"); return err },
			"POST", "/v1/service/tenants/acme/credits", `{"amount":5,"idempotency_key":"g1"}`, trust.CreditAccount{}},
		{"FindCreditAccount", func(c *edgeapi.Client) error { _, err := c.FindCreditAccount(ctx, "acme"); return err },
			"GET", "/v1/service/tenants/acme/credits", "", trust.CreditAccount{}},
		{"FindMachineMeter", func(c *edgeapi.Client) error { _, err := c.FindMachineMeter(ctx, "acme", "m 1"); return err },
			"GET", "/v1/service/tenants/acme/meters/m%201", "", trust.MachineMeter{}},
		{"UnsuspendMachine", func(c *edgeapi.Client) error { _, err := c.UnsuspendMachine(ctx, "acme", "m1"); return err },
			"POST", "/v1/service/tenants/acme/meters/m1/unsuspend", "", trust.MachineMeter{}},
		{"ReportUsage", func(c *edgeapi.Client) error {
			_, err := c.ReportUsage(ctx, edgeapi.UsageRequest{SessionID: "s", Model: "m", InputTokens: 1, IdempotencyKey: "k"})
			return err
		}, "POST", "/v1/tenant/usage", `{"session_id":"s","model":"m","input_tokens":1,"output_tokens":0,"idempotency_key":"k"}`, edgeapi.MeteredUsageResponse{}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv, calls := MustFakeEdge(t, func(Call) (int, any) { return http.StatusOK, tt.reply })
			if err := tt.call(edgeapi.NewClient(srv.URL, token)); err != nil {
				t.Fatal(err)
			}
			c := (*calls)[0]
			if c.Method != tt.method || c.Path != tt.path || strings.TrimSpace(c.Body) != tt.body {
				t.Fatalf("call = %s %s %s, want %s %s %s", c.Method, c.Path, c.Body, tt.method, tt.path, tt.body)
			}
		})
	}
}

// TestClient_APIKeyErrorsCarryNoKey: a refused store answers the edge's
// coded message, which never holds the key the request carried.
func TestClient_APIKeyErrorsCarryNoKey(t *testing.T) {
	srv, _ := MustFakeEdge(t, func(Call) (int, any) {
		return http.StatusBadRequest, httpapi.ErrorResponse{Error: httpapi.ErrorBody{Code: trust.EINVALID, Message: "key must be printable ASCII without spaces"}}
	})
	c := edgeapi.NewClient(srv.URL, token)
	_, _, err := c.CreateAPIKeyVersion(context.Background(), "openai", edgeapi.APIKeyVersionRequest{Key: canaryKey})
	if trust.ErrorCode(err) != trust.EINVALID {
		t.Fatalf("err = %v, want EINVALID", err)
	}
	if strings.Contains(err.Error(), "CANARY") {
		t.Fatalf("key in error: %v", err)
	}
	// A transport failure names neither the key nor the token.
	c = edgeapi.NewClient("http://127.0.0.1:1", token)
	_, err = c.PutUserAPIKey(context.Background(), "openai", canaryKey)
	if err == nil || strings.Contains(err.Error(), "CANARY") {
		t.Fatalf("err = %v", err)
	}
}
