package pipeline_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"testing"

	"github.com/openagents/trust/functions/pipeline/pipelinetest"
	"github.com/openagents/trust/shared/scan"
	"github.com/openagents/trust/shared/trust"
)

// crash is what a hook does at the chosen write.
type crash int

const (
	panicBefore crash = iota // the process dies before the write
	panicAfter               // the process dies after the write is stored
	lostAnswer               // the write is stored, its answer lost (an error)
	failBefore               // the catalog refuses (unreachable) before the write
)

func (c crash) String() string {
	return [...]string{"PanicBefore", "PanicAfter", "LostAnswer", "FailBefore"}[c]
}

// TestResume_CrashAtEveryWrite runs the pipeline once cleanly to list its
// writes, then once per write and per kind of crash at that write, and checks
// that Resume finishes with the clean run's result and no duplicates.
func TestResume_CrashAtEveryWrite(t *testing.T) {
	for _, tc := range []struct {
		name      string
		files     func(tb testing.TB) pipelinetest.Files
		analyzers []scan.FileAnalyzer
		review    string // a reviewer's move from flagged before the final Resume
		want      string
		behavior  bool // with a Behavior that rejects
	}{
		{"Signed", hello, nil, "", trust.SubmissionSigned, false},
		{"Rejected", reverseShell, nil, "", trust.SubmissionRejected, false},
		{"ReviewedApproved", hello, []scan.FileAnalyzer{flagAnalyzer{}}, trust.SubmissionApproved, trust.SubmissionSigned, false},
		{"BehaviorRejected", hello, nil, "", trust.SubmissionRejected, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// The clean run: its writes and its result.
			newEnv := func(t *testing.T) *env {
				e := MustEnv(t, tc.analyzers...)
				if tc.behavior {
					e.r.Behavior = &fakeBehavior{decision: scan.Reject, findings: []scan.Finding{{RuleID: "BX001",
						Category: "malicious-code", Severity: scan.Critical, File: "scripts/hello.sh", Why: "test"}}}
				}
				return e
			}
			clean := newEnv(t)
			cleanID := clean.cat.MustSubmit(t, "acme", tc.files(t).TarGz(t)).ID
			var writes []string
			clean.cat.SetHook(func(c pipelinetest.Call) error {
				if c.Committed {
					writes = append(writes, key(c))
				}
				return nil
			})
			want := runToEnd(t, clean, cleanID, tc.review)
			clean.cat.SetHook(nil)
			if want.State != tc.want {
				t.Fatalf("clean run: %s, want %s", want.State, tc.want)
			}
			if len(writes) < 6 {
				t.Fatalf("clean run made %d writes: %v", len(writes), writes)
			}
			hows := []crash{panicBefore, panicAfter, lostAnswer, failBefore}
			if testing.Short() {
				hows = []crash{panicAfter}
			}
			for i, w := range writes {
				for _, how := range hows {
					t.Run(fmt.Sprintf("%02d-%s-%s", i, w, how), func(t *testing.T) {
						e := newEnv(t)
						id := e.cat.MustSubmit(t, "acme", tc.files(t).TarGz(t)).ID
						hit := false
						e.cat.SetHook(func(c pipelinetest.Call) error {
							if hit || key(c) != w || c.Committed != (how == panicAfter || how == lostAnswer) {
								return nil
							}
							hit = true
							switch how {
							case panicBefore, panicAfter:
								panic("injected crash")
							case lostAnswer:
								return errors.New("connection reset")
							}
							return trust.Errorf(trust.EUNAVAILABLE, "catalog unreachable")
						})
						crashed(t, e, id, tc.review)
						if !hit {
							t.Fatalf("write %s never happened", w)
						}
						e.cat.SetHook(nil)
						got := runToEnd(t, e, id, tc.review)
						compare(t, e, got, want, clean)
					})
				}
			}
		})
	}
}

// key names a write for the crash table.
func key(c pipelinetest.Call) string {
	if c.Transition != nil {
		return c.Method + "-" + c.Transition.To
	}
	return c.Method
}

// crashed runs the pipeline (and the review, if any) until the injected
// crash, recovering its panic.
func crashed(t *testing.T, e *env, id, review string) {
	t.Helper()
	defer func() {
		if p := recover(); p != nil && p != "injected crash" {
			panic(p)
		}
	}()
	runToEnd(t, e, id, review)
}

// runToEnd resumes id and, when it is flagged and review is set, applies the
// reviewer's move and resumes again, as the review function does. Errors are
// the crash's: the state then tells the story.
func runToEnd(t *testing.T, e *env, id, review string) *trust.Submission {
	t.Helper()
	sub, err := e.r.Resume(context.Background(), id)
	if err != nil {
		return sub
	}
	if sub.State == trust.SubmissionFlagged && review != "" {
		if _, err := e.cat.TransitionSubmission(context.Background(), id, trust.SubmissionTransition{
			From: trust.SubmissionFlagged, To: review, Reviewer: "rev", Reason: "ok"}); err != nil {
			return sub
		}
		sub, _ = e.r.Resume(context.Background(), id)
	}
	return sub
}

// compare checks a resumed run against the clean one.
func compare(t *testing.T, e *env, got, want *trust.Submission, clean *env) {
	t.Helper()
	if got == nil {
		t.Fatal("no submission")
	}
	if got.State != want.State || got.Decision != want.Decision || got.Score != want.Score ||
		got.ImageDigest != want.ImageDigest || got.ContentDigest != want.ContentDigest || got.Reason != want.Reason {
		t.Errorf("got %s/%s/%d image %s reason %q\nwant %s/%s/%d image %s reason %q",
			got.State, got.Decision, got.Score, got.ImageDigest, got.Reason,
			want.State, want.Decision, want.Score, want.ImageDigest, want.Reason)
	}
	if len(got.Findings) != len(want.Findings) {
		t.Errorf("%d findings, want %d", len(got.Findings), len(want.Findings))
	}
	if e.cat.SkillVersions() != clean.cat.SkillVersions() || e.cat.Signatures() != clean.cat.Signatures() ||
		len(e.cat.Notifications()) != len(clean.cat.Notifications()) {
		t.Errorf("%d versions, %d signatures, %d notifications; want %d, %d, %d",
			e.cat.SkillVersions(), e.cat.Signatures(), len(e.cat.Notifications()),
			clean.cat.SkillVersions(), clean.cat.Signatures(), len(clean.cat.Notifications()))
	}
	if left, _ := os.ReadDir(e.work); len(left) != 0 {
		t.Errorf("work directory not empty: %v", left)
	}
}
