package functions_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/openagents/trust/edge/cli"
	"github.com/openagents/trust/edge/edgetest"
	"github.com/openagents/trust/functions"
	"github.com/openagents/trust/functions/pipeline"
	"github.com/openagents/trust/functions/pipeline/pipelinetest"
	"github.com/openagents/trust/shared/scan"
	"github.com/openagents/trust/shared/trust"
)

// Canary credentials: never in a log, a response or trustctl's output.
const (
	operatorCanary = "CANARY-operator-functions-3b8e1d6f9a2c4e7b"
	reviewerCanary = "CANARY-reviewer-functions-5c9f2a7e1d4b8f3a"
)

func TestConfig_ValidatePipeline(t *testing.T) {
	base, baseDigest := pipelinetest.MustBase(t)
	ok := functions.Config{
		EdgeURL: "https://edge.example.com", ServiceToken: strings.Repeat("s", 32),
		OperatorToken: strings.Repeat("o", 32), SigningKey: "key.pem",
		OCIBase: base, OCIBaseImage: baseDigest, DataDir: t.TempDir(),
	}
	secretish := "https://CANARY-user:CANARY-pass@registry.example.com/skills"
	for _, tc := range []struct {
		name string
		mod  func(c *functions.Config)
		want string // the error names this variable; "" for no error
	}{
		{"OK", func(c *functions.Config) {}, ""},
		{"OKRegistryURL", func(c *functions.Config) { c.Registry, c.DataDir = "https://registry.example.com/skills", "" }, ""},
		{"OKRefWithDigest", func(c *functions.Config) { c.OCIBaseImage = "base:1@" + baseDigest }, ""},
		{"ErrNoBase", func(c *functions.Config) { c.OCIBase = "" }, "TRUST_OCI_BASE "},
		{"ErrBaseNotDir", func(c *functions.Config) { c.OCIBase = filepath.Join(base, "nope") }, "TRUST_OCI_BASE "},
		{"ErrNoBaseImage", func(c *functions.Config) { c.OCIBaseImage = "" }, "TRUST_OCI_BASE_IMAGE"},
		{"ErrTagNotPinned", func(c *functions.Config) { c.OCIBaseImage = "debian:12" }, "TRUST_OCI_BASE_IMAGE"},
		{"ErrNoRegistry", func(c *functions.Config) { c.DataDir = "" }, "TRUST_REGISTRY"},
		{"ErrRegistryPlainHTTP", func(c *functions.Config) { c.Registry = "http://registry.example.com/skills" }, "TRUST_REGISTRY"},
		{"ErrRegistryUserInfo", func(c *functions.Config) { c.Registry = secretish }, "TRUST_REGISTRY"},
		{"ErrStaleAfter", func(c *functions.Config) { c.StaleAfter = "soon" }, "TRUST_STALE_AFTER"},
		{"ErrWorkDir", func(c *functions.Config) { c.WorkDir = "/nonexistent/work" }, "TRUST_WORK_DIR"},
		{"ErrBaseFirst", func(c *functions.Config) { c.ServiceToken = "short" }, "TRUST_SERVICE_TOKEN"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := ok
			tc.mod(&c)
			err := c.ValidatePipeline()
			if tc.want == "" {
				if err != nil {
					t.Fatalf("ValidatePipeline: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err=%v, want one naming %s", err, tc.want)
			}
			if strings.Contains(err.Error(), "CANARY") || strings.Contains(err.Error(), "short") {
				t.Errorf("error echoes a value: %v", err)
			}
		})
	}
}

func TestConfig_RegistryDest(t *testing.T) {
	for _, tc := range []struct {
		c    functions.Config
		want string
	}{
		{functions.Config{Registry: "https://r.example.com/x", DataDir: "/d"}, "https://r.example.com/x"},
		{functions.Config{DataDir: "/d"}, filepath.Join("/d", "images")},
		{functions.Config{}, ""},
	} {
		if got := tc.c.RegistryDest(); got != tc.want {
			t.Errorf("RegistryDest(%+v) = %q, want %q", tc.c, got, tc.want)
		}
	}
}

func TestMux(t *testing.T) {
	tag := func(name string) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(name)) })
	}
	mux := functions.Mux(functions.Handlers{Sign: tag("sign"), Submit: tag("submit"), Review: tag("review")})
	for _, tc := range []struct {
		method, path string
		status       int
		body         string
	}{
		{"POST", "/v1/sign", 200, "sign"},
		{"POST", "/v1/submissions", 200, "submit"},
		{"GET", "/v1/submissions/sub_1", 200, "submit"},
		{"GET", "/v1/review/queue", 200, "review"},
		{"POST", "/v1/webhooks/stripe", 404, ""}, // not configured
		{"GET", "/healthz", 200, "ok"},
		{"GET", "/nowhere", 404, "no such route"},
	} {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest(tc.method, tc.path, nil))
		if rec.Code != tc.status || !strings.Contains(rec.Body.String(), tc.body) {
			t.Errorf("%s %s: %d %q, want %d %q", tc.method, tc.path, rec.Code, rec.Body, tc.status, tc.body)
		}
	}
}

// stack is the functions server (sign, submit, review) on a real edge node,
// wired by the same constructors as trust-functions.
type stack struct {
	node   *edgetest.Edge
	url    string
	runner *pipeline.Runner
	logs   *edgetest.Buffer
	token  string // the publisher's
	images string
}

func MustStack(t *testing.T) *stack {
	t.Helper()
	ctx := context.Background()
	root := pipelinetest.Repo(t)
	node := edgetest.MustOpen(t, nil)
	edge := node.ServiceClient()
	kr := pipelinetest.MustKeyring(t)
	if _, err := edge.CreateKeyVersion(ctx, &kr.Keys[0]); err != nil {
		t.Fatal(err)
	}
	creds, err := edge.CreatePublisher(ctx, &trust.Publisher{ID: "acme", Name: "Acme", StripeAccount: "acct_acme"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := edge.UpdatePublisherKYC(ctx, trust.KYCUpdate{EventID: "evt_1", StripeAccount: "acct_acme",
		State: trust.KYCVerified, EventTime: pipelinetest.Now}); err != nil {
		t.Fatal(err)
	}
	base, baseDigest := pipelinetest.MustBase(t)
	s := &stack{node: node, logs: &edgetest.Buffer{}, token: creds.Token, images: filepath.Join(t.TempDir(), "images")}
	cfg := functions.Config{
		EdgeURL: node.URL(), ServiceToken: edgetest.ServiceToken, OperatorToken: operatorCanary,
		SigningKey: filepath.Join(root, "testdata/signing/test-key.pem"),
		OCIBase:    base, OCIBaseImage: baseDigest, Registry: s.images, WorkDir: t.TempDir(),
		ReviewerToken: reviewerCanary,
	}
	logger := slog.New(slog.NewJSONHandler(s.logs, nil))
	signer, err := functions.NewSignHandler(ctx, cfg, logger)
	if err != nil {
		t.Fatal(err)
	}
	if s.runner, err = functions.NewRunner(cfg, signer, logger); err != nil {
		t.Fatal(err)
	}
	rev, err := functions.NewReviewHandler(cfg, s.runner, logger)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(functions.Mux(functions.Handlers{Sign: signer,
		Submit: functions.NewSubmitHandler(cfg, s.runner, logger), Review: rev}))
	t.Cleanup(srv.Close)
	s.url = srv.URL
	t.Cleanup(func() {
		all := s.logs.String() + node.Logs.String()
		for _, secret := range []string{s.token, edgetest.ServiceToken, operatorCanary, reviewerCanary} {
			if strings.Contains(all, secret) {
				t.Errorf("a credential reached a log")
			}
		}
		if left, _ := os.ReadDir(cfg.WorkDir); len(left) != 0 {
			t.Errorf("temporary files left behind: %v", left)
		}
	})
	return s
}

// trustctl runs the CLI against the stack.
func (s *stack) trustctl(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	vars := map[string]string{"TRUST_FUNCTIONS_URL": s.url, "TRUST_PUBLISHER_TOKEN": s.token}
	env := &cli.Env{Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: &stderr, Getenv: func(k string) string { return vars[k] }}
	code := cli.Main(context.Background(), env, args)
	if strings.Contains(stdout.String()+stderr.String(), s.token) {
		t.Errorf("trustctl printed the publisher token")
	}
	return code, stdout.String(), stderr.String()
}

// TestEndToEnd: trustctl submit → the submit function → the pipeline → a real
// edge node: signed, with the image digest in the signed statement.
func TestEndToEnd(t *testing.T) {
	ctx := context.Background()
	s := MustStack(t)
	dir := filepath.Join(pipelinetest.Repo(t), "testdata/skills/hello")
	code, out, errOut := s.trustctl(t, "submit", "--json", dir)
	if code != cli.ExitOK {
		t.Fatalf("submit: exit %d\n%s\n%s", code, out, errOut)
	}
	var sub trust.Submission
	if err := json.Unmarshal([]byte(out), &sub); err != nil {
		t.Fatal(err)
	}
	if sub.State != trust.SubmissionSigned || sub.Publisher != "acme" || !trust.ValidDigest(sub.ImageDigest) {
		t.Fatalf("submission %+v", sub)
	}
	sigs, err := s.node.ServiceClient().FindSignatures(ctx, trust.SkillRef{Name: "hello", Version: "1.0.0"})
	if err != nil || len(sigs) != 1 {
		t.Fatalf("signatures %v, %v", sigs, err)
	}
	if sigs[0].ImageDigest != sub.ImageDigest || sigs[0].ContentDigest != sub.ContentDigest || sigs[0].Publisher != "acme" {
		t.Errorf("signature %+v does not carry the submission's digests", sigs[0])
	}
	if idx, err := os.ReadFile(filepath.Join(s.images, "index.json")); err != nil || !strings.Contains(string(idx), strings.TrimPrefix(sub.ImageDigest, "sha256:")) {
		t.Errorf("image not in the registry layout: %v", err)
	}

	// The same folder again: the same submission.
	if code, out, _ := s.trustctl(t, "submit", dir); code != cli.ExitOK || !strings.Contains(out, "already submitted") || !strings.Contains(out, sub.ID) {
		t.Errorf("resubmit: exit %d\n%s", code, out)
	}
	if code, out, _ := s.trustctl(t, "status", sub.ID); code != cli.ExitOK || !strings.Contains(out, "state       signed") {
		t.Errorf("status: exit %d\n%s", code, out)
	}
}

func TestEndToEnd_Rejected(t *testing.T) {
	ctx := context.Background()
	s := MustStack(t)
	fs := pipelinetest.ReadFiles(t, "testdata/scan/reverse-shell")
	fs["SKILL.md"] = strings.Replace(fs["SKILL.md"], "\ndescription:", "\nversion: 0.1.0\ndescription:", 1)
	dir := t.TempDir()
	for name, body := range fs {
		p := filepath.Join(dir, strings.TrimSuffix(name, "*"))
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	code, out, _ := s.trustctl(t, "submit", dir)
	if code != cli.ExitFailure || !strings.Contains(out, "state       rejected") || !strings.Contains(out, "IN003") {
		t.Fatalf("submit: exit %d\n%s", code, out)
	}
	ns, err := s.node.ServiceClient().FindPendingNotifications(ctx, 10, 10)
	if err != nil || len(ns) != 1 || ns[0].Kind != trust.NotificationSubmissionRejected || ns[0].Publisher != "acme" {
		t.Fatalf("notifications %v, %v", ns, err)
	}
	var body pipeline.Rejection
	if err := json.Unmarshal(ns[0].Body, &body); err != nil || body.Skill != "debug-helper" || len(body.Findings) == 0 {
		t.Errorf("notification body %s: %v", ns[0].Body, err)
	}
}

// TestEndToEnd_Review: a flagged submission, approved by a reviewer through
// the review function, is signed by the pipeline it resumes.
func TestEndToEnd_Review(t *testing.T) {
	s := MustStack(t)
	s.runner.Analyzers = append(s.runner.Analyzers, flagAll{})
	dir := filepath.Join(pipelinetest.Repo(t), "testdata/skills/hello")
	code, out, _ := s.trustctl(t, "submit", "--json", dir)
	var sub trust.Submission
	if code != cli.ExitOK || json.Unmarshal([]byte(out), &sub) != nil || sub.State != trust.SubmissionFlagged {
		t.Fatalf("submit: exit %d\n%s", code, out)
	}
	req, _ := http.NewRequest("POST", s.url+"/v1/review/submissions/"+sub.ID,
		strings.NewReader(`{"decision":"approve","reason":"checked the script by hand","reviewer":"rev@example.com"}`))
	req.Header.Set("Authorization", "Bearer "+reviewerCanary)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("review: %d", resp.StatusCode)
	}
	if code, out, _ := s.trustctl(t, "status", sub.ID); code != cli.ExitOK || !strings.Contains(out, "state       signed") || !strings.Contains(out, "rev@example.com") {
		t.Errorf("status after review: exit %d\n%s", code, out)
	}
}

// flagAll flags every skill (one high finding on SKILL.md).
type flagAll struct{}

func (flagAll) AnalyzeFile(name string, data []byte) []scan.Finding {
	if name != "SKILL.md" {
		return nil
	}
	return []scan.Finding{{RuleID: "TEST001", Category: "test", Severity: scan.High, File: name, Line: 1, Why: "test: flag everything"}}
}

// crashing wraps the pipeline's catalog and signer and panics right after
// the n-th write succeeds (n < 0: never), as a process dying there would.
type crashing struct {
	pipeline.Catalog
	signer pipeline.Signer
	n      int
	writes int
}

func (c *crashing) wrote() {
	if c.writes++; c.writes == c.n+1 {
		panic("injected crash")
	}
}

func (c *crashing) TransitionSubmission(ctx context.Context, id string, t trust.SubmissionTransition) (*trust.Submission, error) {
	s, err := c.Catalog.TransitionSubmission(ctx, id, t)
	if err == nil {
		c.wrote()
	}
	return s, err
}

func (c *crashing) ReplaceSubmissionFindings(ctx context.Context, id, source string, fs []*trust.SubmissionFinding) error {
	err := c.Catalog.ReplaceSubmissionFindings(ctx, id, source, fs)
	if err == nil {
		c.wrote()
	}
	return err
}

func (c *crashing) CreateSkillVersion(ctx context.Context, v *trust.SkillVersion) (*trust.SkillVersion, error) {
	sv, err := c.Catalog.CreateSkillVersion(ctx, v)
	if err == nil {
		c.wrote()
	}
	return sv, err
}

func (c *crashing) UpdateSkillVersionState(ctx context.Context, ref trust.SkillRef, state string) (*trust.SkillVersion, error) {
	sv, err := c.Catalog.UpdateSkillVersionState(ctx, ref, state)
	if err == nil {
		c.wrote()
	}
	return sv, err
}

func (c *crashing) Sign(ctx context.Context, ref trust.SkillRef) (*trust.Signature, error) {
	sig, err := c.signer.Sign(ctx, ref)
	if err == nil {
		c.wrote()
	}
	return sig, err
}

// TestEndToEnd_CrashAtEveryWrite: against the real catalog, a crash right
// after any write of the pipeline, then Resume, ends signed with one skill
// version, one signature and the clean run's findings.
func TestEndToEnd_CrashAtEveryWrite(t *testing.T) {
	ctx := context.Background()
	archive := pipelinetest.ReadFiles(t, "testdata/skills/hello").TarGz(t)
	submit := func(s *stack) string {
		sub, _, err := s.node.ServiceClient().CreateSubmission(ctx, &trust.Submission{Publisher: "acme",
			ArchiveDigest: pipelinetest.ArchiveDigest(archive), ArchiveFormat: "tar.gz", ArchiveSize: int64(len(archive))}, archive)
		if err != nil {
			t.Fatal(err)
		}
		return sub.ID
	}
	clean := MustStack(t)
	want, err := clean.runner.Resume(ctx, submit(clean))
	if err != nil || want.State != trust.SubmissionSigned {
		t.Fatalf("clean run: %v, %v", want, err)
	}
	for n := 0; ; n++ {
		s := MustStack(t)
		edge := s.node.ServiceClient()
		c := &crashing{Catalog: s.runner.Catalog, signer: s.runner.Signer, n: n}
		s.runner.Catalog, s.runner.Signer = c, c
		id := submit(s)
		crashed := func() (crashed bool) {
			defer func() { crashed = recover() != nil }()
			s.runner.Resume(ctx, id)
			return false
		}()
		if !crashed {
			if n < 7 {
				t.Fatalf("the pipeline made only %d writes", n)
			}
			return // every write has been crashed after
		}
		c.n = -1
		got, err := s.runner.Resume(ctx, id)
		if err != nil || got.State != trust.SubmissionSigned {
			t.Fatalf("crash after write %d: %v, %v", n, got, err)
		}
		sigs, _ := edge.FindSignatures(ctx, trust.SkillRef{Name: "hello", Version: "1.0.0"})
		if len(sigs) != 1 || sigs[0].ImageDigest != got.ImageDigest {
			t.Errorf("crash after write %d: %d signatures", n, len(sigs))
		}
		if len(got.Findings) != len(want.Findings) || got.ImageDigest != want.ImageDigest || got.Reason != want.Reason {
			t.Errorf("crash after write %d: %d findings, image %s, reason %q; want %d, %s, %q", n,
				len(got.Findings), got.ImageDigest, got.Reason, len(want.Findings), want.ImageDigest, want.Reason)
		}
	}
}

func TestNewRunner_Sandbox(t *testing.T) {
	root := pipelinetest.Repo(t)
	base, baseDigest := pipelinetest.MustBase(t)
	cfg := functions.Config{
		EdgeURL: "http://127.0.0.1:1", ServiceToken: edgetest.ServiceToken, OperatorToken: operatorCanary,
		SigningKey: filepath.Join(root, "testdata/signing/test-key.pem"),
		OCIBase:    base, OCIBaseImage: baseDigest, Registry: t.TempDir(), WorkDir: t.TempDir(),
	}
	logger := slog.New(slog.DiscardHandler)
	signer, err := functions.NewSignHandler(context.Background(), cfg, logger)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		sandbox, minScore string
		wantErr           bool
		behavior          bool
		min               int
	}{
		{"", "", false, false, 0},
		{"off", "", false, false, 0},
		{"on", "", false, true, 40},
		{"on", "0", false, true, 0},
		{"on", "-1", true, false, 0},
		{"yes", "", true, false, 0},
	} {
		c := cfg
		c.Sandbox, c.SandboxMinScore = tc.sandbox, tc.minScore
		r, err := functions.NewRunner(c, signer, logger)
		if (err != nil) != tc.wantErr {
			t.Fatalf("TRUST_SANDBOX=%q MIN=%q: err %v", tc.sandbox, tc.minScore, err)
		} else if err != nil {
			continue
		}
		if (r.Behavior != nil) != tc.behavior || r.BehaviorMinScore != tc.min {
			t.Errorf("TRUST_SANDBOX=%q MIN=%q: behavior %v min %d", tc.sandbox, tc.minScore, r.Behavior, r.BehaviorMinScore)
		}
	}
}
