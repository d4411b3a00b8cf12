package edgeapi_test

import (
	"context"
	"encoding/csv"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/openagents/trust/edge/edgetest"
	"github.com/openagents/trust/shared/edgeapi"
	"github.com/openagents/trust/shared/sshtool"
	"github.com/openagents/trust/shared/trust"
)

// The client is the SSH tool's edge.
var _ sshtool.Edge = (*edgeapi.Client)(nil)

// sshHostKey is a pinned host key for tests.
const sshHostKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGb1Yl0ZyLhv1xZ9ybQ0X1nq8pVnM4b8H1I7l1q0aZ5c"

// TestClient_SSH drives every SSH client method against a real edge node.
func TestClient_SSH(t *testing.T) {
	ctx := context.Background()
	e := edgetest.MustOpen(t, nil)
	svc := e.ServiceClient()
	if _, err := svc.CreateTenant(ctx, "acme", "Acme"); err != nil {
		t.Fatal(err)
	}
	u, err := svc.CreateUser(ctx, "acme", "ops@acme.example")
	if err != nil {
		t.Fatal(err)
	}
	credential, err := svc.CreateUserCredential(ctx, "acme", u.ID)
	if err != nil {
		t.Fatal(err)
	}
	sess, err := e.Client(credential).CreateSession(ctx)
	if err != nil {
		t.Fatal(err)
	}
	user := e.Client(sess.Token)
	agent, err := user.CreateAgentInstance(ctx, "ops", "")
	if err != nil {
		t.Fatal(err)
	}
	mt, err := svc.CreateMachineToken(ctx, "m-1", "acme")
	if err != nil {
		t.Fatal(err)
	}
	machine := e.Client(mt)

	cred, err := user.CreateSSHCredential(ctx, edgeapi.SSHCredentialRequest{AgentID: agent.ID, Host: "10.0.0.5", Port: 22, User: "ops",
		HostKey: sshHostKey, Allow: []string{"ls"}, Deny: []string{"rm"}})
	if err != nil {
		t.Fatal(err)
	}
	if list, err := user.FindSSHCredentials(ctx); err != nil || len(list) != 1 {
		t.Fatalf("FindSSHCredentials = %d, %v", len(list), err)
	}
	g, err := user.CreateSSHGrant(ctx, cred.ID)
	if err != nil {
		t.Fatal(err)
	}
	k, err := machine.UnsealSSHKey(ctx, cred.ID, agent.ID, g.Token)
	if err != nil || !strings.Contains(k.PrivateKey, "OPENSSH PRIVATE KEY") {
		t.Fatalf("UnsealSSHKey: %v", err)
	}
	if _, err := machine.UnsealSSHKey(ctx, cred.ID, agent.ID, g.Token); trust.ErrorCode(err) != trust.EUNAUTHORIZED {
		t.Fatalf("spent grant: %v", err)
	}
	if err := machine.SSHCredentialStatus(ctx, cred.ID); err != nil {
		t.Fatalf("status: %v", err)
	}
	code := 1
	for _, a := range []*trust.SSHAttempt{
		{CredentialID: cred.ID, Command: "ls x", Decision: trust.SSHAllowed, Reason: "exit 1", ExitCode: &code, Output: "@evil"},
		{CredentialID: cred.ID, Command: "rm -rf ~", Decision: trust.SSHRefused, Reason: "denied"},
	} {
		if err := machine.RecordSSHAttempt(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	as, err := user.FindSSHAttempts(ctx, cred.ID)
	if err != nil || len(as) != 2 || *as[0].ExitCode != 1 {
		t.Fatalf("FindSSHAttempts = %v, %v", as, err)
	}
	jsonl, err := user.ExportSSHAttempts(ctx, edgeapi.SSHExportJSONL)
	if err != nil || strings.Count(string(jsonl), "\n") != 2 {
		t.Fatalf("jsonl export: %q, %v", jsonl, err)
	}
	out, err := user.ExportSSHAttempts(ctx, edgeapi.SSHExportCSV)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(strings.NewReader(string(out))).ReadAll()
	if err != nil || len(rows) != 3 || rows[1][8] != "'@evil" {
		t.Fatalf("csv export: %q, %v", rows, err)
	}
	if _, err := user.ExportSSHAttempts(ctx, "xml"); trust.ErrorCode(err) != trust.EINVALID {
		t.Fatalf("bad format: %v", err)
	}

	if err := user.RevokeSSHCredential(ctx, cred.ID); err != nil {
		t.Fatal(err)
	}
	if err := machine.SSHCredentialStatus(ctx, cred.ID); trust.ErrorCode(err) != trust.ENOTFOUND {
		t.Fatalf("status after revocation: %v", err)
	}
	p, err := svc.PurgeSSHAttempts(ctx, time.Now().Add(time.Hour))
	if err != nil || p.Deleted != 2 {
		t.Fatalf("purge = %+v, %v", p, err)
	}
}

// TestClient_SSHStatusInactive: a 200 that does not say active is not taken
// as a standing credential.
func TestClient_SSHStatusInactive(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"id":"ssh_1","active":false}`))
	}))
	defer srv.Close()
	err := edgeapi.NewClient(srv.URL, "t").SSHCredentialStatus(context.Background(), "ssh_1")
	if trust.ErrorCode(err) != trust.ENOTFOUND {
		t.Fatalf("got %v, want ENOTFOUND", err)
	}
}
