package pipeline_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/openagents/trust/functions/pipeline"
	"github.com/openagents/trust/functions/pipeline/pipelinetest"
	"github.com/openagents/trust/shared/scan"
	"github.com/openagents/trust/shared/trust"
	"github.com/openagents/trust/shared/vuln"
)

// env is a Runner over the fake catalog, with the test key and a test base.
type env struct {
	cat      *pipelinetest.Catalog
	clock    *pipelinetest.Clock
	r        *pipeline.Runner
	work     string
	notified atomic.Int32
}

func MustEnv(tb testing.TB, analyzers ...scan.FileAnalyzer) *env {
	tb.Helper()
	e := &env{clock: pipelinetest.NewClock(pipelinetest.Now), work: tb.TempDir()}
	e.cat = pipelinetest.New(e.clock.Now)
	e.cat.Keyring = pipelinetest.MustKeyring(tb)
	e.cat.AddPublisher("acme", trust.KYCVerified, "oapt_acme")
	e.cat.AddPublisher("other", trust.KYCVerified, "oapt_other")
	base, baseDigest := pipelinetest.MustBase(tb)
	r := pipeline.NewRunner()
	r.Catalog = e.cat
	r.Signer = pipelinetest.MustSigner(tb, e.cat, e.clock.Now)
	r.Analyzers = analyzers
	r.BaseLayout, r.BaseImage = base, baseDigest
	r.Registry = filepath.Join(tb.TempDir(), "images")
	r.WorkDir = e.work
	r.Now = e.clock.Now
	r.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	r.Notify = func(context.Context, *trust.Notification) { e.notified.Add(1) }
	if err := r.Open(); err != nil {
		tb.Fatal(err)
	}
	e.r = r
	return e
}

// hello is the sample skill of testdata/skills/hello: approved by the scan.
func hello(tb testing.TB) pipelinetest.Files {
	return pipelinetest.ReadFiles(tb, "testdata/skills/hello")
}

// reverseShell is testdata/scan/reverse-shell, given a version: rejected by
// the scan.
func reverseShell(tb testing.TB) pipelinetest.Files {
	fs := pipelinetest.ReadFiles(tb, "testdata/scan/reverse-shell")
	fs["SKILL.md"] = strings.Replace(fs["SKILL.md"], "\ndescription:", "\nversion: 0.1.0\ndescription:", 1)
	return fs
}

// flagAnalyzer reports one high finding on SKILL.md: enough to flag.
type flagAnalyzer struct{}

func (flagAnalyzer) AnalyzeFile(name string, data []byte) []scan.Finding {
	if name != "SKILL.md" {
		return nil
	}
	return []scan.Finding{{RuleID: "TEST001", Category: "test", Severity: scan.High, File: name, Line: 1,
		Evidence: "test", Why: "a test analyzer that always flags"}}
}

// resume runs Resume and checks that no temporary directory stays behind.
func (e *env) resume(tb testing.TB, id string) (*trust.Submission, error) {
	tb.Helper()
	sub, err := e.r.Resume(context.Background(), id)
	if left, _ := os.ReadDir(e.work); len(left) != 0 {
		tb.Errorf("work directory not empty after Resume: %v", left)
	}
	return sub, err
}

func (e *env) mustResume(tb testing.TB, id string) *trust.Submission {
	tb.Helper()
	sub, err := e.resume(tb, id)
	if err != nil {
		tb.Fatalf("Resume: %v", err)
	}
	return sub
}

func TestResume_Approve(t *testing.T) {
	e := MustEnv(t)
	sub := e.mustResume(t, e.cat.MustSubmit(t, "acme", hello(t).TarGz(t)).ID)
	if sub.State != trust.SubmissionSigned {
		t.Fatalf("state=%s (reason %q), want signed", sub.State, sub.Reason)
	}
	if sub.Name != "hello" || sub.Version != "1.0.0" || sub.Decision != "approve" {
		t.Errorf("got %s@%s decision %s", sub.Name, sub.Version, sub.Decision)
	}
	for name, d := range map[string]string{"content": sub.ContentDigest, "permissions": sub.PermissionsDigest, "image": sub.ImageDigest} {
		if !trust.ValidDigest(d) {
			t.Errorf("%s digest %q", name, d)
		}
	}
	if sub.Reason != pipeline.BehaviorNotRun {
		t.Errorf("reason=%q, want the record that behavioral analysis did not run", sub.Reason)
	}
	if len(sub.Findings) != 0 || e.cat.Writes("ReplaceSubmissionFindings") == 0 {
		t.Errorf("findings=%v after %d writes, want the scan's recorded, and none (hello is clean)", sub.Findings, e.cat.Writes("ReplaceSubmissionFindings"))
	}
	ref := trust.SkillRef{Name: "hello", Version: "1.0.0"}
	sv, err := e.cat.FindSkillVersion(context.Background(), ref)
	if err != nil {
		t.Fatal(err)
	}
	if sv.State != trust.SkillVersionApproved || sv.ImageDigest != sub.ImageDigest || sv.Publisher != "acme" {
		t.Errorf("skill version %+v", sv)
	}
	sigs, _ := e.cat.FindSignatures(context.Background(), ref)
	if len(sigs) != 1 {
		t.Fatalf("%d signatures, want 1", len(sigs))
	}
	// The signed statement itself carries the image digest.
	var env struct {
		Payload string `json:"payload"`
	}
	if err := json.Unmarshal(sigs[0].Envelope, &env); err != nil {
		t.Fatal(err)
	}
	payload, _ := base64.StdEncoding.DecodeString(env.Payload)
	var st trust.Statement
	if err := json.Unmarshal(payload, &st); err != nil {
		t.Fatal(err)
	}
	if st.ImageDigest != sub.ImageDigest || st.ContentDigest != sub.ContentDigest || st.Publisher != "acme" {
		t.Errorf("statement %+v, want image digest %s", st, sub.ImageDigest)
	}
	if n := e.notified.Load(); n != 0 {
		t.Errorf("Notify called %d times on approval", n)
	}

	// Resuming a final submission changes nothing.
	again := e.mustResume(t, sub.ID)
	if again.State != trust.SubmissionSigned || e.cat.Signatures() != 1 || e.cat.Writes("TransitionSubmission") != 6 {
		t.Errorf("second Resume: state %s, %d signatures, %d transitions", again.State, e.cat.Signatures(), e.cat.Writes("TransitionSubmission"))
	}
}

func TestResume_SameSkillSameImage(t *testing.T) {
	e := MustEnv(t)
	a := e.mustResume(t, e.cat.MustSubmit(t, "acme", hello(t).TarGz(t)).ID)
	b := e.mustResume(t, e.cat.MustSubmit(t, "acme", hello(t).Zip(t)).ID) // other bytes, same skill
	if a.ID == b.ID {
		t.Fatal("a zip of the same skill is another submission")
	}
	if b.State != trust.SubmissionSigned {
		t.Fatalf("state=%s reason=%q", b.State, b.Reason)
	}
	if a.ImageDigest != b.ImageDigest || a.ContentDigest != b.ContentDigest {
		t.Errorf("image %s vs %s, content %s vs %s", a.ImageDigest, b.ImageDigest, a.ContentDigest, b.ContentDigest)
	}
	if e.cat.SkillVersions() != 1 || e.cat.Signatures() != 1 {
		t.Errorf("%d versions, %d signatures; want 1 and 1", e.cat.SkillVersions(), e.cat.Signatures())
	}
}

func TestResume_Reject(t *testing.T) {
	e := MustEnv(t)
	sub := e.mustResume(t, e.cat.MustSubmit(t, "acme", reverseShell(t).TarGz(t)).ID)
	if sub.State != trust.SubmissionRejected || sub.Decision != "reject" {
		t.Fatalf("state=%s decision=%s, want rejected/reject", sub.State, sub.Decision)
	}
	if !strings.Contains(sub.Reason, "IN003") {
		t.Errorf("reason %q does not name the critical finding", sub.Reason)
	}
	if e.cat.SkillVersions() != 0 || e.cat.Signatures() != 0 {
		t.Errorf("a rejected skill was recorded or signed")
	}
	ns := e.cat.Notifications()
	if len(ns) != 1 {
		t.Fatalf("%d notifications, want 1", len(ns))
	}
	n := ns[0]
	if n.Kind != pipeline.NotificationKind || n.Publisher != "acme" || n.SubmissionID != sub.ID {
		t.Errorf("notification %+v", n)
	}
	var body pipeline.Rejection
	if err := json.Unmarshal(n.Body, &body); err != nil {
		t.Fatal(err)
	}
	if body.SubmissionID != sub.ID || body.Skill != sub.Name || body.Version != sub.Version || body.Decision != "reject" ||
		body.Score != sub.Score || body.RejectedBy != "pipeline" || len(body.Findings) != len(sub.Findings) || len(body.Findings) == 0 {
		t.Errorf("body %+v", body)
	}
	if e.notified.Load() != 1 {
		t.Errorf("Notify called %d times, want 1", e.notified.Load())
	}
	// Again: the same notification, Notify while undelivered, not after.
	e.mustResume(t, sub.ID)
	e.cat.MarkDelivered(sub.ID)
	e.mustResume(t, sub.ID)
	if len(e.cat.Notifications()) != 1 || e.notified.Load() != 2 {
		t.Errorf("%d notifications, Notify %d times; want 1 and 2", len(e.cat.Notifications()), e.notified.Load())
	}
}

func TestResume_FlagThenReview(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name, to, want string
	}{
		{"Approve", trust.SubmissionApproved, trust.SubmissionSigned},
		{"Reject", trust.SubmissionRejected, trust.SubmissionRejected},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := MustEnv(t, flagAnalyzer{})
			sub := e.mustResume(t, e.cat.MustSubmit(t, "acme", hello(t).TarGz(t)).ID)
			if sub.State != trust.SubmissionFlagged || sub.Decision != "flag" || sub.Score < scan.FlagScore {
				t.Fatalf("state=%s decision=%s score=%d, want flagged", sub.State, sub.Decision, sub.Score)
			}
			if e.cat.SkillVersions() != 0 {
				t.Fatal("a flagged skill was recorded")
			}
			// Flagged waits: Resume does not move it.
			if again := e.mustResume(t, sub.ID); again.State != trust.SubmissionFlagged {
				t.Fatalf("Resume moved a flagged submission to %s", again.State)
			}
			// The reviewer's function: decide, then Resume.
			if _, err := e.cat.TransitionSubmission(ctx, sub.ID, trust.SubmissionTransition{
				From: trust.SubmissionFlagged, To: tc.to, Reviewer: "rev@example.com", Reason: "looked at it"}); err != nil {
				t.Fatal(err)
			}
			got := e.mustResume(t, sub.ID)
			if got.State != tc.want {
				t.Fatalf("state=%s, want %s", got.State, tc.want)
			}
			switch tc.want {
			case trust.SubmissionSigned:
				if e.cat.Signatures() != 1 || len(e.cat.Notifications()) != 0 {
					t.Errorf("%d signatures, %d notifications", e.cat.Signatures(), len(e.cat.Notifications()))
				}
			case trust.SubmissionRejected:
				ns := e.cat.Notifications()
				if len(ns) != 1 || e.cat.Signatures() != 0 {
					t.Fatalf("%d notifications, %d signatures", len(ns), e.cat.Signatures())
				}
				var body pipeline.Rejection
				json.Unmarshal(ns[0].Body, &body)
				if body.RejectedBy != "reviewer" || body.Reason != "looked at it" || body.ScanDecision != "flag" {
					t.Errorf("body %+v", body)
				}
			}
		})
	}
}

func TestResume_Failed(t *testing.T) {
	hello := hello(t)
	noVersion := pipelinetest.Files{"SKILL.md": "---\nname: nover\ndescription: x\n---\nbody\n"}
	badPerms := pipelinetest.Files{"SKILL.md": "---\nname: bad\nversion: 1.0.0\npermissions:\n  netwrk: [x]\n---\n"}
	for _, tc := range []struct {
		name    string
		archive func(t *testing.T) []byte
		setup   func(t *testing.T, e *env)
		reason  string
	}{
		{"ErrNoVersion", func(t *testing.T) []byte { return noVersion.TarGz(t) }, nil, "no version"},
		{"ErrManifest", func(t *testing.T) []byte { return badPerms.TarGz(t) }, nil, "SKILL.md"},
		{"ErrPathEscape", func(t *testing.T) []byte { return escapingArchive(t) }, nil, "(rule: path-escape)"},
		{"ErrOtherPublisher", func(t *testing.T) []byte { return hello.TarGz(t) }, func(t *testing.T, e *env) {
			other := e.cat.MustSubmit(t, "other", hello.Zip(t))
			if s := e.mustResume(t, other.ID); s.State != trust.SubmissionSigned {
				t.Fatalf("other's submission: %s", s.State)
			}
		}, "another publisher"},
		{"ErrOtherContent", func(t *testing.T) []byte {
			changed := pipelinetest.Files{}
			for k, v := range hello {
				changed[k] = v
			}
			changed["README.md"] += "\nchanged\n"
			return changed.TarGz(t)
		}, func(t *testing.T, e *env) {
			if s := e.mustResume(t, e.cat.MustSubmit(t, "acme", hello.Zip(t)).ID); s.State != trust.SubmissionSigned {
				t.Fatalf("first version: %s", s.State)
			}
		}, "immutable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := MustEnv(t)
			if tc.setup != nil {
				tc.setup(t, e)
			}
			sub := e.mustResume(t, e.cat.MustSubmit(t, "acme", tc.archive(t)).ID)
			if sub.State != trust.SubmissionFailed {
				t.Fatalf("state=%s, want failed", sub.State)
			}
			if !strings.Contains(sub.Reason, tc.reason) {
				t.Errorf("reason %q, want it to mention %q", sub.Reason, tc.reason)
			}
		})
	}
}

// escapingArchive is a tar.gz whose entry climbs out of the destination.
func escapingArchive(t *testing.T) []byte {
	return pipelinetest.Files{"SKILL.md": "---\nname: x\nversion: 1.0.0\n---\n", "../evil.sh": "echo\n"}.TarGz(t)
}

func TestResume_Transient(t *testing.T) {
	t.Run("CatalogUnreachable", func(t *testing.T) {
		e := MustEnv(t)
		sub := e.cat.MustSubmit(t, "acme", hello(t).TarGz(t))
		down := trust.Errorf(trust.EUNAVAILABLE, "catalog unreachable")
		e.cat.SetHook(func(c pipelinetest.Call) error {
			if c.Method == "TransitionSubmission" && c.Transition.To == trust.SubmissionBuilt && !c.Committed {
				return down
			}
			return nil
		})
		got, err := e.resume(t, sub.ID)
		if !errors.Is(err, down) || got.State != trust.SubmissionScanned {
			t.Fatalf("err=%v state=%s, want the catalog's error and scanned", err, got.State)
		}
		e.cat.SetHook(nil)
		if got := e.mustResume(t, sub.ID); got.State != trust.SubmissionSigned {
			t.Fatalf("after recovery: %s", got.State)
		}
	})
	t.Run("BaseMissing", func(t *testing.T) {
		e := MustEnv(t)
		layout := e.r.BaseLayout
		e.r.BaseLayout = filepath.Join(t.TempDir(), "nowhere")
		sub := e.cat.MustSubmit(t, "acme", hello(t).TarGz(t))
		got, err := e.resume(t, sub.ID)
		if err == nil || got.State != trust.SubmissionScanned {
			t.Fatalf("err=%v state=%s, want an error and scanned (the operator fixes the base)", err, got.State)
		}
		e.r.BaseLayout = layout
		if got := e.mustResume(t, sub.ID); got.State != trust.SubmissionSigned {
			t.Fatalf("after fixing the base: %s", got.State)
		}
	})
	t.Run("Canceled", func(t *testing.T) {
		e := MustEnv(t)
		sub := e.cat.MustSubmit(t, "acme", hello(t).TarGz(t))
		ctx, cancel := context.WithCancel(context.Background())
		e.cat.SetHook(func(c pipelinetest.Call) error {
			if c.Committed && c.Method == "ReplaceSubmissionFindings" {
				cancel()
			}
			return nil
		})
		_, err := e.r.Resume(ctx, sub.ID)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err=%v, want canceled", err)
		}
		e.cat.SetHook(nil)
		if got := e.mustResume(t, sub.ID); got.State != trust.SubmissionSigned || len(got.Findings) != countFindings(t, hello(t)) {
			t.Fatalf("after cancel: %s with %d findings", got.State, len(got.Findings))
		}
	})
}

// countFindings is how many findings a clean run records for files.
func countFindings(t *testing.T, files pipelinetest.Files) int {
	t.Helper()
	e := MustEnv(t)
	return len(e.mustResume(t, e.cat.MustSubmit(t, "acme", files.TarGz(t)).ID).Findings)
}

func TestResume_Concurrent(t *testing.T) {
	e := MustEnv(t)
	id := e.cat.MustSubmit(t, "acme", hello(t).TarGz(t)).ID
	var wg sync.WaitGroup
	states := make([]string, 4)
	for i := range states {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sub, err := e.r.Resume(context.Background(), id)
			if err != nil {
				t.Errorf("Resume %d: %v", i, err)
				return
			}
			states[i] = sub.State
		}()
	}
	wg.Wait()
	for i, s := range states {
		if s != trust.SubmissionSigned {
			t.Errorf("Resume %d ended in %s", i, s)
		}
	}
	if e.cat.SkillVersions() != 1 || e.cat.Signatures() != 1 {
		t.Errorf("%d versions, %d signatures", e.cat.SkillVersions(), e.cat.Signatures())
	}
}

func TestResume_ErrNotFound(t *testing.T) {
	e := MustEnv(t)
	if _, err := e.r.Resume(context.Background(), "sub_missing"); trust.ErrorCode(err) != trust.ENOTFOUND {
		t.Fatalf("err=%v, want not found", err)
	}
}

func TestRunner_Open(t *testing.T) {
	for _, tc := range []struct {
		name string
		mod  func(r *pipeline.Runner)
		ok   bool
	}{
		{"OK", func(r *pipeline.Runner) {}, true},
		{"ErrNoCatalog", func(r *pipeline.Runner) { r.Catalog = nil }, false},
		{"ErrNoSigner", func(r *pipeline.Runner) { r.Signer = nil }, false},
		{"ErrNoBase", func(r *pipeline.Runner) { r.BaseImage = "" }, false},
		{"ErrNoRegistry", func(r *pipeline.Runner) { r.Registry = "" }, false},
		{"ErrWorkDir", func(r *pipeline.Runner) { r.WorkDir = "/nonexistent/dir" }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := MustEnv(t)
			tc.mod(e.r)
			if err := e.r.Open(); (err == nil) != tc.ok {
				t.Fatalf("Open: %v, want ok=%v", err, tc.ok)
			}
		})
	}
}

// BenchmarkResume runs the whole pipeline (extract, scan, build, push to an
// OCI layout, sign) on the hello skill, renamed each time, over the fake catalog.
func BenchmarkResume(b *testing.B) {
	e := MustEnv(b)
	files := hello(b)
	ids := make([]string, b.N)
	for i := range ids {
		fs := pipelinetest.Files{}
		for k, v := range files {
			fs[k] = v
		}
		fs["SKILL.md"] = strings.Replace(fs["SKILL.md"], "name: hello\n", fmt.Sprintf("name: hello-%d\n", i), 1)
		ids[i] = e.cat.MustSubmit(b, "acme", fs.TarGz(b)).ID
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		sub, err := e.r.Resume(context.Background(), ids[i])
		if err != nil || sub.State != trust.SubmissionSigned {
			b.Fatalf("%v %v", sub, err)
		}
	}
}

// TestResume_RegistryURL pushes to go-containerregistry's in-process registry
// instead of an OCI layout: the same skill gives the same image digest.
func TestResume_RegistryURL(t *testing.T) {
	layoutRun := MustEnv(t)
	want := layoutRun.mustResume(t, layoutRun.cat.MustSubmit(t, "acme", hello(t).TarGz(t)).ID)

	reg := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(reg.Close)
	e := MustEnv(t)
	e.r.Registry = reg.URL + "/skills/hello"
	got := e.mustResume(t, e.cat.MustSubmit(t, "acme", hello(t).TarGz(t)).ID)
	if got.State != trust.SubmissionSigned || got.ImageDigest != want.ImageDigest {
		t.Fatalf("state %s image %s, want signed with %s", got.State, got.ImageDigest, want.ImageDigest)
	}
	ref, err := name.ParseReference(strings.TrimPrefix(reg.URL, "http://") + "/skills/hello@" + got.ImageDigest)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := remote.Image(ref); err != nil {
		t.Errorf("pulling the pushed image by digest: %v", err)
	}
}

// countingSigner counts Sign calls.
type countingSigner struct {
	pipeline.Signer
	n atomic.Int32
}

func (c *countingSigner) Sign(ctx context.Context, ref trust.SkillRef) (*trust.Signature, error) {
	c.n.Add(1)
	return c.Signer.Sign(ctx, ref)
}

// TestResume_SigningKeyNotActive: the signer's ECONFLICT (its key is not in
// the keyring) is the operator's to fix: the submission waits in approved,
// after one attempt, and is signed once the key is published.
func TestResume_SigningKeyNotActive(t *testing.T) {
	e := MustEnv(t)
	signer := &countingSigner{Signer: e.r.Signer}
	e.r.Signer = signer
	kr := e.cat.Keyring
	e.cat.Keyring = &trust.Keyring{}
	id := e.cat.MustSubmit(t, "acme", hello(t).TarGz(t)).ID
	got, err := e.resume(t, id)
	if trust.ErrorCode(err) != trust.ECONFLICT || got.State != trust.SubmissionApproved {
		t.Fatalf("err=%v state=%s, want the signer's conflict and approved", err, got.State)
	}
	if n := signer.n.Load(); n != 1 {
		t.Errorf("Sign called %d times, want 1", n)
	}
	e.cat.Keyring = kr
	if got := e.mustResume(t, id); got.State != trust.SubmissionSigned || e.cat.Signatures() != 1 {
		t.Fatalf("after publishing the key: %s, %d signatures", got.State, e.cat.Signatures())
	}
}

// fakeBehavior stands in for a sandbox: it returns fixed findings, decision and error.
type fakeBehavior struct {
	findings []scan.Finding
	decision scan.Decision
	err      error
	calls    atomic.Int32
}

func (b *fakeBehavior) Analyze(ctx context.Context, dir string) ([]scan.Finding, scan.Decision, error) {
	b.calls.Add(1)
	if _, err := os.Stat(filepath.Join(dir, "SKILL.md")); err != nil {
		return nil, "", fmt.Errorf("no skill folder: %w", err)
	}
	return b.findings, b.decision, b.err
}

func TestResume_Behavior(t *testing.T) {
	exfil := scan.Finding{RuleID: "BX001", Category: "malicious-code", Severity: scan.Critical, File: "scripts/hello.sh",
		Evidence: "connect 198.51.100.7:443", Why: "the script sent data to an undeclared host"}
	for _, tc := range []struct {
		name     string
		b        *fakeBehavior
		state    string
		decision string
	}{
		{"Clean", &fakeBehavior{decision: scan.Approve}, trust.SubmissionSigned, "approve"},
		{"Reject", &fakeBehavior{findings: []scan.Finding{exfil}, decision: scan.Reject}, trust.SubmissionRejected, "reject"},
		{"UnknownFlags", &fakeBehavior{decision: "maybe"}, trust.SubmissionFlagged, "flag"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := MustEnv(t)
			e.r.Behavior = tc.b
			static := countFindings(t, hello(t))
			sub := e.mustResume(t, e.cat.MustSubmit(t, "acme", hello(t).TarGz(t)).ID)
			if sub.State != tc.state || sub.Decision != tc.decision {
				t.Fatalf("state %s decision %s, want %s %s", sub.State, sub.Decision, tc.state, tc.decision)
			}
			if sub.Reason == pipeline.BehaviorNotRun {
				t.Error("recorded as not run although it ran")
			}
			if len(sub.Findings) != static+len(tc.b.findings) {
				t.Errorf("%d findings, want %d static + %d behavior", len(sub.Findings), static, len(tc.b.findings))
			}
			if tc.state == trust.SubmissionRejected && (!strings.Contains(sub.Reason, "BX001") || sub.Score < scan.RejectScore) {
				t.Errorf("reason %q score %d", sub.Reason, sub.Score)
			}
		})
	}
	t.Run("ErrSandboxUnavailable", func(t *testing.T) {
		e := MustEnv(t)
		b := &fakeBehavior{err: trust.Errorf(trust.EUNAVAILABLE, "sandbox: no user namespaces")}
		e.r.Behavior = b
		id := e.cat.MustSubmit(t, "acme", hello(t).TarGz(t)).ID
		got, err := e.resume(t, id)
		if trust.ErrorCode(err) != trust.EUNAVAILABLE || got.State != trust.SubmissionBuilt {
			t.Fatalf("err=%v state=%s, want unavailable and built (fail closed: wait)", err, got.State)
		}
		b.err = nil
		b.decision = scan.Approve
		if got := e.mustResume(t, id); got.State != trust.SubmissionSigned {
			t.Fatalf("after recovery: %s", got.State)
		}
	})
}

// The built image's packages are matched against the advisory database: a
// vulnerable package the skill vendors (under the skill's layer) scores and
// flags the submission, though static analysis skips node_modules.
func TestResume_ImageInventory(t *testing.T) {
	db, err := vuln.Open("../../testdata/osv")
	if err != nil {
		t.Fatal(err)
	}
	e := MustEnv(t)
	e.r.VulnDB = db
	files := hello(t)
	files["node_modules/lodash/package.json"] = `{"name": "lodash", "version": "4.17.20"}`
	sub := e.mustResume(t, e.cat.MustSubmit(t, "acme", files.TarGz(t)).ID)
	if sub.State != trust.SubmissionFlagged {
		t.Fatalf("state=%s decision=%s score=%d, want flagged for a vendored vulnerable lodash", sub.State, sub.Decision, sub.Score)
	}
	var found *trust.SubmissionFinding
	for _, f := range sub.Findings {
		if f.Source == pipeline.SourceImage {
			found = f
		}
	}
	if found == nil || found.RuleID != "IMG001" || !strings.Contains(found.Evidence, "GHSA-35jh-r3h4-6jhm") ||
		found.Severity != string(scan.High) || !strings.Contains(found.File, "node_modules/lodash") {
		t.Fatalf("image finding %+v", found)
	}

	// The fixed version passes.
	files["node_modules/lodash/package.json"] = `{"name": "lodash", "version": "4.17.21"}`
	files["SKILL.md"] = strings.Replace(files["SKILL.md"], "version: 1.0.0", "version: 1.0.1", 1)
	sub = e.mustResume(t, e.cat.MustSubmit(t, "acme", files.TarGz(t)).ID)
	if sub.State != trust.SubmissionSigned {
		t.Fatalf("state=%s decision=%s, want signed with a fixed lodash", sub.State, sub.Decision)
	}
}

// With BehaviorMinScore, only high-risk submissions are detonated; the
// others record that the analysis was not needed.
func TestResume_BehaviorMinScore(t *testing.T) {
	e := MustEnv(t)
	b := &fakeBehavior{decision: scan.Reject}
	e.r.Behavior, e.r.BehaviorMinScore = b, 40
	sub := e.mustResume(t, e.cat.MustSubmit(t, "acme", hello(t).TarGz(t)).ID)
	if sub.State != trust.SubmissionSigned || !strings.HasPrefix(sub.Reason, pipeline.BehaviorLowRisk) {
		t.Fatalf("state %s reason %q, want signed without detonation", sub.State, sub.Reason)
	}

	e = MustEnv(t, flagAnalyzer{}) // a high static finding: score ≥ 40
	e.r.Behavior, e.r.BehaviorMinScore = b, 40
	sub = e.mustResume(t, e.cat.MustSubmit(t, "acme", hello(t).TarGz(t)).ID)
	if sub.State != trust.SubmissionRejected {
		t.Fatalf("state %s, want rejected by the detonation of a high-risk submission", sub.State)
	}
}

// KYC is checked again at signing: a publisher Stripe disabled after intake
// (say, while a reviewer looked at the submission) gets nothing signed; the
// submission waits in approved and is signed once verified again.
func TestResume_KYCRevokedBeforeSigning(t *testing.T) {
	e := MustEnv(t, flagAnalyzer{})
	id := e.cat.MustSubmit(t, "acme", hello(t).TarGz(t)).ID
	if sub := e.mustResume(t, id); sub.State != trust.SubmissionFlagged {
		t.Fatalf("state %s, want flagged", sub.State)
	}
	e.cat.SetKYC("acme", trust.KYCRejected)
	if _, err := e.cat.TransitionSubmission(context.Background(), id, trust.SubmissionTransition{
		From: trust.SubmissionFlagged, To: trust.SubmissionApproved, Reviewer: "alice", Reason: "looks fine"}); err != nil {
		t.Fatal(err)
	}
	sub, err := e.resume(t, id)
	if trust.ErrorCode(err) != trust.EFORBIDDEN || sub.State != trust.SubmissionApproved || e.cat.Signatures() != 0 {
		t.Fatalf("err %v state %s, %d signatures: want forbidden, approved, none", err, sub.State, e.cat.Signatures())
	}
	e.cat.SetKYC("acme", trust.KYCVerified)
	if sub := e.mustResume(t, id); sub.State != trust.SubmissionSigned {
		t.Fatalf("state %s after KYC verified again, want signed", sub.State)
	}
}

// manyAnalyzer reports n low findings on SKILL.md.
type manyAnalyzer struct{ n int }

func (m manyAnalyzer) AnalyzeFile(name string, data []byte) []scan.Finding {
	if name != "SKILL.md" {
		return nil
	}
	out := make([]scan.Finding, m.n)
	for i := range out {
		out[i] = scan.Finding{RuleID: fmt.Sprintf("MANY%04d", i), Category: "third-party-content", Severity: scan.Low,
			File: "SKILL.md", Line: i + 1, Evidence: "x", Why: "many"}
	}
	return out
}

// A skill producing more findings than the catalog keeps per source still
// reaches a decision: the most severe are kept, with a note of the rest.
func TestResume_FindingsCapped(t *testing.T) {
	e := MustEnv(t, manyAnalyzer{n: trust.MaxSubmissionFindings + 500})
	sub := e.mustResume(t, e.cat.MustSubmit(t, "acme", hello(t).TarGz(t)).ID)
	if !trust.FinalSubmissionState(sub.State) && sub.State != trust.SubmissionFlagged {
		t.Fatalf("state %s, want a decision", sub.State)
	}
	var static []*trust.SubmissionFinding
	for _, f := range sub.Findings {
		if f.Source == pipeline.SourceStatic {
			static = append(static, f)
		}
	}
	if len(static) != trust.MaxSubmissionFindings || static[len(static)-1].RuleID != "FINDINGS-CAP" {
		t.Fatalf("%d static findings recorded, last %+v", len(static), static[len(static)-1])
	}
	// Rejected: the publisher's notification carries the most severe few.
	ns := e.cat.Notifications()
	if sub.State != trust.SubmissionRejected || len(ns) != 1 {
		t.Fatalf("state %s, %d notifications", sub.State, len(ns))
	}
	var body pipeline.Rejection
	if err := json.Unmarshal(ns[0].Body, &body); err != nil {
		t.Fatal(err)
	}
	if len(body.Findings) != pipeline.MaxNotifiedFindings || body.FindingsTotal != len(sub.Findings) || len(ns[0].Body) > trust.MaxNotificationBody/10 {
		t.Fatalf("notification: %d findings of %d, %d bytes", len(body.Findings), body.FindingsTotal, len(ns[0].Body))
	}
}
