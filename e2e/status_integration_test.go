//go:build integration

package e2e_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/openagents/trust/edge/edgetest"
	"github.com/openagents/trust/shared/edgeapi"
	"github.com/openagents/trust/shared/sshtool"
	"github.com/openagents/trust/shared/trust"
)

// hostile is planted in every field a page shows; it must stay text.
const hostile = `<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">`

// testHostKey is a pinned host key: the tool never dials in this test.
const testHostKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGb1Yl0ZyLhv1xZ9ybQ0X1nq8pVnM4b8H1I7l1q0aZ5c"

// tenantSetup is a tenant on a real edge node as the status page shows it:
// a user credential, an agent, a Machine with usage and a canary alert, an
// SSH credential and the Machine's SSH tool holding its key.
type tenantSetup struct {
	credential string // the user's, typed into the login form
	agent      *trust.AgentInstance
	ssh        *trust.SSHCredential
	tool       *sshtool.Tool
	approver   *sshtool.Approver
	userID     string
}

func mustTenant(t *testing.T, e *edgetest.Edge, id string) *tenantSetup {
	t.Helper()
	ctx := context.Background()
	svc := e.ServiceClient()
	if _, err := svc.CreateTenant(ctx, id, "Tenant "+id+" "+hostile); err != nil {
		t.Fatal(err)
	}
	u, err := svc.CreateUser(ctx, id, "owner@"+id+".example")
	if err != nil {
		t.Fatal(err)
	}
	s := &tenantSetup{userID: u.ID}
	if s.credential, err = svc.CreateUserCredential(ctx, id, u.ID); err != nil {
		t.Fatal(err)
	}
	sess, err := e.Client(s.credential).CreateSession(ctx)
	if err != nil {
		t.Fatal(err)
	}
	user := e.Client(sess.Token)
	if s.agent, err = user.CreateAgentInstance(ctx, "ops "+hostile, "model: x\n"); err != nil {
		t.Fatal(err)
	}
	token, err := svc.CreateMachineToken(ctx, "m-"+id, id)
	if err != nil {
		t.Fatal(err)
	}
	machine := e.Client(token)
	if _, err := svc.GrantCredits(ctx, id, 1_000_000, "grant-"+id); err != nil {
		t.Fatal(err)
	}
	if _, err := machine.ReportUsage(ctx, edgeapi.UsageRequest{SessionID: "conv-1", Model: "claude", InputTokens: 1200, OutputTokens: 300, IdempotencyKey: "u-1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := machine.CreateAuditEvent(ctx, edgeapi.AuditEventRequest{Action: "guard.canary", Target: "session:conv-1", Detail: "canary token in a tool result " + hostile}); err != nil {
		t.Fatal(err)
	}
	if s.ssh, err = user.CreateSSHCredential(ctx, edgeapi.SSHCredentialRequest{AgentID: s.agent.ID, Host: "127.0.0.1", Port: 1,
		User: "agent", HostKey: testHostKey, Allow: []string{"ls", "uptime"}, Deny: []string{"rm"}}); err != nil {
		t.Fatal(err)
	}
	grant, err := user.CreateSSHGrant(ctx, s.ssh.ID)
	if err != nil {
		t.Fatal(err)
	}
	key, err := machine.UnsealSSHKey(ctx, s.ssh.ID, s.agent.ID, grant.Token)
	if err != nil {
		t.Fatal(err)
	}
	if s.approver, err = sshtool.NewApprover(bytes.Repeat([]byte{7}, 32)); err != nil {
		t.Fatal(err)
	}
	s.tool = sshtool.NewTool()
	s.tool.Edge, s.tool.Approvals, s.tool.SessionID, s.tool.UserID = machine, s.approver, "conv-1", u.ID
	s.tool.Logger = slog.New(slog.NewJSONHandler(io.Discard, nil))
	if err := s.tool.Open(key, []byte(key.PrivateKey)); err != nil {
		t.Fatal(err)
	}
	// A refused attempt (the denylist wins) and a hostile recorded one.
	if _, err := s.run(t, "rm -rf /"); err == nil {
		t.Fatal("rm -rf / was not refused")
	}
	if err := machine.RecordSSHAttempt(ctx, &trust.SSHAttempt{CredentialID: s.ssh.ID, Command: "ls " + hostile,
		Decision: trust.SSHAllowed, Output: "</pre>" + hostile}); err != nil {
		t.Fatal(err)
	}
	return s
}

// run asks the Machine's SSH tool to run an approved command.
func (s *tenantSetup) run(t *testing.T, command string) (*sshtool.Result, error) {
	t.Helper()
	approval, err := s.approver.Approve(sshtool.Scope{SessionID: "conv-1", UserID: s.userID, CredentialID: s.ssh.ID}, command)
	if err != nil {
		t.Fatal(err)
	}
	return s.tool.Run(context.Background(), sshtool.Request{Command: command, Approval: approval})
}

// TestIntegrationStatusPage: a user logs in to the Agent status page in
// Chromium, sees their agents, usage, credits and alerts, filters and
// exports the SSH audit log, revokes SSH, and the Machine's next command
// is refused. Another tenant's data never shows.
func TestIntegrationStatusPage(t *testing.T) {
	ctx, p := MustPage(t)
	out := OutputDir(t)
	e := edgetest.MustOpenMetered(t, nil)
	acme, beta := mustTenant(t, e, "acme"), mustTenant(t, e, "beta")

	// Log in: the status page sends the browser to the form first.
	if err := p.Navigate(ctx, e.URL()+"/status"); err != nil {
		t.Fatal(err)
	}
	if text := MustText(t, ctx, p); !strings.Contains(text, "User credential") {
		t.Fatalf("not the login form:\n%s", text)
	}
	MustScreenshot(t, ctx, p, out, "01-login")
	if err := p.SetValue(ctx, "#credential", acme.credential); err != nil {
		t.Fatal(err)
	}
	if err := p.Click(ctx, "#login"); err != nil {
		t.Fatal(err)
	}
	text := MustText(t, ctx, p)
	for _, want := range []string{"Tenant acme " + hostile, "ops " + hostile, "guard.canary", "m-acme", "running",
		"998500", acme.ssh.ID, "rm -rf /", "ls " + hostile, "Revoke SSH"} {
		if !strings.Contains(text, want) {
			t.Errorf("status page lacks %q", want)
		}
	}
	for _, other := range []string{beta.agent.ID, beta.ssh.ID, "m-beta", "Tenant beta"} {
		if strings.Contains(text, other) {
			t.Errorf("acme's status page shows beta's %s", other)
		}
	}
	WantNoScript(t, ctx, p)
	var cookieVisible bool
	if err := p.Eval(ctx, `document.cookie.includes("trust_session")`, &cookieVisible); err != nil || cookieVisible {
		t.Errorf("session cookie readable by scripts: %v %v", cookieVisible, err)
	}
	MustScreenshot(t, ctx, p, out, "02-status")

	// Filter the audit log to refused attempts.
	if err := p.SetValue(ctx, "select[name=decision]", "refused"); err != nil {
		t.Fatal(err)
	}
	if err := p.Click(ctx, "#apply"); err != nil {
		t.Fatal(err)
	}
	if text := MustText(t, ctx, p); !strings.Contains(text, "rm -rf /") || strings.Contains(text, "ls "+hostile) || !strings.Contains(text, "1 attempts") {
		t.Errorf("filtered log:\n%s", text)
	}
	MustScreenshot(t, ctx, p, out, "03-filtered")

	// Export by clicking the links: CSV of the filtered log, JSONL of all.
	csvDir, jsonlDir := filepath.Join(out, "export-refused"), filepath.Join(out, "export-all")
	os.MkdirAll(csvDir, 0o755)
	os.MkdirAll(jsonlDir, 0o755)
	body := MustDownload(t, ctx, p, csvDir, "#export-csv")
	rows, err := csv.NewReader(strings.NewReader(body)).ReadAll()
	if err != nil || len(rows) != 2 || rows[1][4] != "rm -rf /" || rows[1][5] != trust.SSHRefused {
		t.Fatalf("CSV export: %q %v", rows, err)
	}
	if err := p.Navigate(ctx, e.URL()+"/status"); err != nil {
		t.Fatal(err)
	}
	body = MustDownload(t, ctx, p, jsonlDir, "#export-jsonl")
	if lines := strings.Split(strings.TrimSpace(body), "\n"); len(lines) != 2 || strings.Contains(body, beta.ssh.ID) || !strings.Contains(body, acme.ssh.ID) {
		t.Fatalf("JSONL export:\n%s", body)
	}

	// Revoke SSH; the Machine's next command is refused, and the log says so.
	if err := p.Click(ctx, "#revoke-"+acme.ssh.ID); err != nil {
		t.Fatal(err)
	}
	if text := MustText(t, ctx, p); !strings.Contains(text, "SSH credential revoked") || strings.Contains(text, "Revoke SSH") {
		t.Fatalf("after revoking:\n%s", text)
	}
	if _, err := acme.run(t, "uptime"); err == nil || !strings.Contains(err.Error(), "revoked") {
		t.Fatalf("command after revoking: %v, want refused as revoked", err)
	}
	if _, err := beta.run(t, "rm -rf /"); err == nil || strings.Contains(err.Error(), "revoked") {
		t.Fatalf("beta's credential: %v, want it standing (only its policy refuses)", err)
	}
	if err := p.Navigate(ctx, e.URL()+"/status"); err != nil {
		t.Fatal(err)
	}
	if text := MustText(t, ctx, p); !strings.Contains(text, "uptime") || !strings.Contains(text, "ssh_credential.revoke") {
		t.Errorf("the refused command or the revocation is missing:\n%s", text)
	}
	MustScreenshot(t, ctx, p, out, "04-revoked")

	// Log out: the session no longer opens the page.
	if err := p.Click(ctx, "#logout"); err != nil {
		t.Fatal(err)
	}
	if err := p.Navigate(ctx, e.URL()+"/status"); err != nil {
		t.Fatal(err)
	}
	if text := MustText(t, ctx, p); !strings.Contains(text, "User credential") {
		t.Errorf("after logging out:\n%s", text)
	}
	for _, secret := range []string{acme.credential, beta.credential, edgetest.ServiceToken} {
		if strings.Contains(e.Logs.String(), secret) {
			t.Error("a credential reached the edge's log")
		}
	}
}
