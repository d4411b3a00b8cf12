package api_test

import (
	"testing"

	"github.com/openagents/trust/edge/edgetest"
	"github.com/openagents/trust/shared/edgeapi"
	"github.com/openagents/trust/shared/trust"
)

// TestClient_Tenancy drives the tenant API end to end, over real HTTP to a
// real node (edgetest), through the edgeapi client.
func TestClient_Tenancy(t *testing.T) {
	ctx := t.Context()
	e := edgetest.MustOpen(t, nil)
	svc := e.ServiceClient()

	tenant, err := svc.CreateTenant(ctx, "acme", "Acme")
	if err != nil || tenant.ID != "acme" {
		t.Fatalf("tenant %+v, %v", tenant, err)
	}
	if _, err := svc.FindTenantByID(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	user, err := svc.CreateUser(ctx, "acme", "ada@acme.example")
	if err != nil {
		t.Fatal(err)
	}
	cred, err := svc.CreateUserCredential(ctx, "acme", user.ID)
	if err != nil {
		t.Fatal(err)
	}
	sess, err := e.Client(cred).CreateSession(ctx)
	if err != nil {
		t.Fatal(err)
	}
	u := e.Client(sess.Token)
	if who, err := u.FindSession(ctx); err != nil || who.Principal.UserID != user.ID {
		t.Fatalf("session %+v, %v", who, err)
	}

	a, err := u.CreateAgentInstance(ctx, "writer", "model: x\n")
	if err != nil {
		t.Fatal(err)
	}
	name := "editor"
	if got, err := u.UpdateAgentInstance(ctx, a.ID, trust.AgentInstanceUpdate{Name: &name}); err != nil || got.Name != name {
		t.Fatalf("updated %+v, %v", got, err)
	}
	if got, err := u.FindAgentInstanceByID(ctx, a.ID); err != nil || got.Name != name {
		t.Fatalf("found %+v, %v", got, err)
	}
	if as, err := u.FindAgentInstances(ctx, 10, 0); err != nil || len(as) != 1 {
		t.Fatalf("listed %+v, %v", as, err)
	}

	mtoken, err := svc.CreateMachineToken(ctx, "m-1", "acme")
	if err != nil {
		t.Fatal(err)
	}
	m := e.Client(mtoken)
	req := edgeapi.UsageRequest{SessionID: "s1", Model: "claude", InputTokens: 3, OutputTokens: 4, IdempotencyKey: "k1"}
	if _, created, err := m.CreateUsageRecord(ctx, req); err != nil || !created {
		t.Fatalf("usage: created=%v, %v", created, err)
	}
	if _, created, err := m.CreateUsageRecord(ctx, req); err != nil || created {
		t.Fatalf("replay: created=%v, %v", created, err)
	}
	if _, err := m.CreateAuditEvent(ctx, edgeapi.AuditEventRequest{Action: "ssh.command", Detail: "ls"}); err != nil {
		t.Fatal(err)
	}
	if rs, err := u.FindUsageRecords(ctx, 0, 0); err != nil || len(rs) != 1 {
		t.Fatalf("usage %+v, %v", rs, err)
	}
	if evs, err := u.FindAuditEvents(ctx, 0, 0); err != nil || len(evs) != 3 {
		t.Fatalf("audit %+v, %v", evs, err) // create, update, ssh.command
	}

	if err := u.DeleteAgentInstance(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := u.FindAgentInstanceByID(ctx, a.ID); trust.ErrorCode(err) != trust.ENOTFOUND {
		t.Fatalf("after delete: %v, want not found", err)
	}
	if _, err := m.FindAgentInstances(ctx, 0, 0); trust.ErrorCode(err) != trust.EFORBIDDEN {
		t.Fatalf("machine on a user route: %v, want forbidden", err)
	}
	if err := u.RevokeSession(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := u.FindSession(ctx); trust.ErrorCode(err) != trust.EUNAUTHORIZED {
		t.Fatalf("after revoke: %v, want unauthorized", err)
	}
	if err := svc.RevokeUser(ctx, "acme", user.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Client(cred).CreateSession(ctx); trust.ErrorCode(err) != trust.EUNAUTHORIZED {
		t.Fatalf("revoked credential: %v, want unauthorized", err)
	}
}
