package api_test

import (
	"strings"
	"testing"

	"github.com/openagents/trust/edge/edgetest"
	"github.com/openagents/trust/shared/edgeapi"
	"github.com/openagents/trust/shared/trust"
)

// TestClient_APIKeys drives the API-key routes end to end, over real HTTP to
// a real metered node (edgetest), through the edgeapi client.
func TestClient_APIKeys(t *testing.T) {
	ctx := t.Context()
	e := edgetest.MustOpenMetered(t, nil)
	svc := e.ServiceClient()

	if _, err := svc.CreateTenant(ctx, "acme", "Acme"); err != nil {
		t.Fatal(err)
	}
	user, _ := svc.CreateUser(ctx, "acme", "ada@acme.example")
	cred, _ := svc.CreateUserCredential(ctx, "acme", user.ID)
	sess, err := e.Client(cred).CreateSession(ctx)
	if err != nil {
		t.Fatal(err)
	}
	mtok, err := svc.CreateMachineToken(ctx, "m-1", "acme")
	if err != nil {
		t.Fatal(err)
	}
	u, m := e.Client(sess.Token), e.Client(mtok)

	if v, created, err := svc.CreateAPIKeyVersion(ctx, trust.ProviderOpenAI, edgeapi.APIKeyVersionRequest{Key: canaryPlatformKey, Period: "2026-11"}); err != nil || !created || v.Version != 1 {
		t.Fatalf("create = %+v, %v, %v", v, created, err)
	}
	if _, created, err := svc.CreateAPIKeyVersion(ctx, trust.ProviderOpenAI, edgeapi.APIKeyVersionRequest{Key: canaryPlatformKey, Period: "2026-11"}); err != nil || created {
		t.Fatalf("same period created again: %v", err)
	}
	if vs, err := svc.FindAPIKeyVersions(ctx, trust.ProviderOpenAI); err != nil || len(vs) != 1 {
		t.Fatalf("versions = %+v, %v", vs, err)
	}
	if _, err := svc.RetireAPIKeyVersions(ctx, trust.ProviderOpenAI); err != nil {
		t.Fatal(err)
	}

	// No credits: the Machine's key fetch and usage are refused.
	if _, err := m.FindKeyVersion(ctx, trust.ProviderOpenAI); trust.ErrorCode(err) != trust.EFORBIDDEN {
		t.Fatalf("key version without credits = %v, want EFORBIDDEN", err)
	}
	if acct, err := svc.GrantCredits(ctx, "acme", 10_000, "inv-1"); err != nil || acct.Balance != 10_000 {
		t.Fatalf("grant = %+v, %v", acct, err)
	}
	if kv, err := m.FindKeyVersion(ctx, trust.ProviderOpenAI); err != nil || kv.Version != 1 || kv.Source != edgeapi.KeySourcePlatform {
		t.Fatalf("key version = %+v, %v", kv, err)
	}
	rep, err := m.ReportUsage(ctx, edgeapi.UsageRequest{SessionID: "s1", Model: "gpt", InputTokens: 700, OutputTokens: 300, IdempotencyKey: "s1:1"})
	if err != nil || rep.Charged != 1000 || rep.Balance != 9000 {
		t.Fatalf("report = %+v, %v", rep, err)
	}
	if acct, err := svc.FindCreditAccount(ctx, "acme"); err != nil || acct.Balance != 9000 {
		t.Fatalf("account = %+v, %v", acct, err)
	}
	if mm, err := svc.FindMachineMeter(ctx, "acme", "m-1"); err != nil || mm.Reports != 1 || mm.SuspendedAt != nil {
		t.Fatalf("meter = %+v, %v", mm, err)
	}
	if _, err := svc.UnsuspendMachine(ctx, "acme", "m-1"); err != nil {
		t.Fatal(err)
	}

	// The tenant's own key takes over, and goes away.
	if k, err := u.PutUserAPIKey(ctx, trust.ProviderOpenAI, canaryUserKey); err != nil || k.Version != 1 {
		t.Fatalf("put = %+v, %v", k, err)
	}
	if kv, err := m.FindKeyVersion(ctx, trust.ProviderOpenAI); err != nil || kv.Source != edgeapi.KeySourceUser {
		t.Fatalf("key version = %+v, %v", kv, err)
	}
	if keys, err := u.FindUserAPIKeys(ctx); err != nil || len(keys) != 1 {
		t.Fatalf("keys = %+v, %v", keys, err)
	}
	if err := u.DeleteUserAPIKey(ctx, trust.ProviderOpenAI); err != nil {
		t.Fatal(err)
	}
	if err := u.DeleteUserAPIKey(ctx, trust.ProviderOpenAI); trust.ErrorCode(err) != trust.ENOTFOUND {
		t.Fatalf("second delete = %v, want ENOTFOUND", err)
	}
	if k, err := u.PutUserAPIKey(ctx, trust.ProviderOpenAI, canaryUserKey); err != nil || k.Version != 2 {
		t.Fatalf("put after delete = %+v, %v; want version 2 (never reused)", k, err)
	}
	if logs := e.Logs.String(); containsAny(logs, canaryPlatformKey, canaryUserKey, "CANARY-") {
		t.Fatal("a key reached the node's log")
	}
}

// containsAny reports whether s contains any of the needles.
func containsAny(s string, needles ...string) bool {
	for _, n := range needles {
		if strings.Contains(s, n) {
			return true
		}
	}
	return false
}
