//go:build integration

package e2e_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/openagents/trust/edge/cli"
	"github.com/openagents/trust/edge/edgetest"
	"github.com/openagents/trust/functions"
	"github.com/openagents/trust/functions/pipeline/pipelinetest"
	"github.com/openagents/trust/functions/review"
	"github.com/openagents/trust/shared/scan"
	"github.com/openagents/trust/shared/trust"
)

// reviewerCanary is the reviewer credential: typed into the login form,
// never in a URL, a page or a log.
const reviewerCanary = "CANARY-reviewer-e2e-8d2f6b1a9c4e7f3b5a0d"

// hostileFinding flags every skill with a finding whose evidence and
// explanation carry HTML and script, as a hostile skill's text would.
type hostileFinding struct{}

func (hostileFinding) AnalyzeFile(name string, data []byte) []scan.Finding {
	if name != "SKILL.md" {
		return nil
	}
	return []scan.Finding{{RuleID: "E2E001", Category: "prompt-injection", Severity: scan.High, File: name, Line: 1,
		Evidence: "ignore previous instructions " + hostile, Why: "hidden instructions " + hostile}}
}

// TestIntegrationReviewQueue: a skill the pipeline flagged is approved by a
// reviewer in Chromium, on the functions wired to a real edge node, and
// becomes verifiable: signed, its signature served to Machines.
func TestIntegrationReviewQueue(t *testing.T) {
	ctx, p := MustPage(t)
	out := OutputDir(t)
	bg := context.Background()

	// The functions on a real edge node, as trust-functions wires them, with
	// the review pages in front of the review function.
	root := pipelinetest.Repo(t)
	node := edgetest.MustOpen(t, nil)
	edge := node.ServiceClient()
	kr := pipelinetest.MustKeyring(t)
	if _, err := edge.CreateKeyVersion(bg, &kr.Keys[0]); err != nil {
		t.Fatal(err)
	}
	creds, err := edge.CreatePublisher(bg, &trust.Publisher{ID: "acme", Name: "Acme", StripeAccount: "acct_acme"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := edge.UpdatePublisherKYC(bg, trust.KYCUpdate{EventID: "evt_1", StripeAccount: "acct_acme",
		State: trust.KYCVerified, EventTime: pipelinetest.Now}); err != nil {
		t.Fatal(err)
	}
	base, baseDigest := pipelinetest.MustBase(t)
	cfg := functions.Config{
		EdgeURL: node.URL(), ServiceToken: edgetest.ServiceToken, OperatorToken: "CANARY-operator-e2e-3c7a9e1f5b2d8406",
		SigningKey: filepath.Join(root, "testdata/signing/test-key.pem"),
		OCIBase:    base, OCIBaseImage: baseDigest, Registry: filepath.Join(t.TempDir(), "images"), WorkDir: t.TempDir(),
		ReviewerToken: reviewerCanary,
	}
	logs := &edgetest.Buffer{}
	logger := slog.New(slog.NewJSONHandler(logs, nil))
	signer, err := functions.NewSignHandler(bg, cfg, logger)
	if err != nil {
		t.Fatal(err)
	}
	runner, err := functions.NewRunner(cfg, signer, logger)
	if err != nil {
		t.Fatal(err)
	}
	runner.Analyzers = append(runner.Analyzers, hostileFinding{})
	rev, err := functions.NewReviewHandler(cfg, runner, logger)
	if err != nil {
		t.Fatal(err)
	}
	mux := functions.Mux(functions.Handlers{Sign: signer, Submit: functions.NewSubmitHandler(cfg, runner, logger), Review: review.NewPages(rev)})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	// The publisher submits; the pipeline flags it.
	var stdout, stderr bytes.Buffer
	vars := map[string]string{"TRUST_FUNCTIONS_URL": srv.URL, "TRUST_PUBLISHER_TOKEN": creds.Token}
	env := &cli.Env{Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: &stderr, Getenv: func(k string) string { return vars[k] }}
	code := cli.Main(bg, env, []string{"submit", "--json", filepath.Join(root, "testdata/skills/hello")})
	var sub trust.Submission
	if code != cli.ExitOK || json.Unmarshal(stdout.Bytes(), &sub) != nil || sub.State != trust.SubmissionFlagged {
		t.Fatalf("submit: exit %d\n%s\n%s", code, stdout.String(), stderr.String())
	}
	ref := trust.SkillRef{Name: sub.Name, Version: sub.Version}
	if sigs, err := edge.FindSignatures(bg, ref); err != nil || len(sigs) != 0 {
		t.Fatalf("a flagged skill has signatures: %v %v", sigs, err)
	}

	// The reviewer logs in and finds it in the queue, findings as text.
	if err := p.Navigate(ctx, srv.URL+"/review/"); err != nil {
		t.Fatal(err)
	}
	if err := p.SetValue(ctx, "#reviewer", "rev@example.com"); err != nil {
		t.Fatal(err)
	}
	if err := p.SetValue(ctx, "#credential", reviewerCanary); err != nil {
		t.Fatal(err)
	}
	MustScreenshot(t, ctx, p, out, "01-login")
	if err := p.Click(ctx, "#login"); err != nil {
		t.Fatal(err)
	}
	text := MustText(t, ctx, p)
	for _, want := range []string{sub.ID, "hello", "E2E001", "ignore previous instructions " + hostile, "hidden instructions " + hostile, "rev@example.com"} {
		if !strings.Contains(text, want) {
			t.Errorf("queue lacks %q:\n%s", want, text)
		}
	}
	WantNoScript(t, ctx, p)
	MustScreenshot(t, ctx, p, out, "02-queue")

	// Approve with a reason.
	if err := p.Eval(ctx, `document.querySelector('#sub-`+sub.ID+` input[value=approve]').checked = true`, nil); err != nil {
		t.Fatal(err)
	}
	if err := p.SetValue(ctx, "#reason-"+sub.ID, "Read SKILL.md and the script: the flagged text is documentation."); err != nil {
		t.Fatal(err)
	}
	if err := p.Click(ctx, "#decide-"+sub.ID); err != nil {
		t.Fatal(err)
	}
	text = MustText(t, ctx, p)
	if !strings.Contains(text, "now signed") || !strings.Contains(text, "reviewed by rev@example.com") {
		t.Fatalf("after approving:\n%s", text)
	}
	MustScreenshot(t, ctx, p, out, "03-approved")

	// Verifiable: signed, and the signature is served to Machines.
	sigs, err := edge.FindSignatures(bg, ref)
	if err != nil || len(sigs) != 1 || sigs[0].Publisher != "acme" || !trust.ValidDigest(sigs[0].ImageDigest) {
		t.Fatalf("signatures after approval: %+v %v", sigs, err)
	}
	token, err := edge.CreateMachineToken(bg, "m-e2e", "tenant-e2e")
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("GET", node.URL()+"/v1/skills/"+ref.Name+"/versions/"+ref.Version+"/signatures", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), sigs[0].ImageDigest) {
		t.Fatalf("a Machine reads the signatures: %d %s", resp.StatusCode, body)
	}

	// The queue is empty now.
	if err := p.Navigate(ctx, srv.URL+"/review/"); err != nil {
		t.Fatal(err)
	}
	if text := MustText(t, ctx, p); !strings.Contains(text, "Nothing to review") {
		t.Errorf("queue after the review:\n%s", text)
	}
	if all := logs.String() + node.Logs.String(); strings.Contains(all, reviewerCanary) || strings.Contains(all, creds.Token) {
		t.Error("a credential reached a log")
	}
}
