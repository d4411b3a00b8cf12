package pipeline_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/openagents/trust/functions/pipeline"
	"github.com/openagents/trust/functions/pipeline/pipelinetest"
	"github.com/openagents/trust/shared/scan"
	"github.com/openagents/trust/shared/trust"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// markerAnalyzer flags a skill whose SKILL.md says "flag-me".
type markerAnalyzer struct{}

func (markerAnalyzer) AnalyzeFile(name string, data []byte) []scan.Finding {
	if name != "SKILL.md" || !bytes.Contains(data, []byte("flag-me")) {
		return nil
	}
	return flagAnalyzer{}.AnalyzeFile(name, data)
}

// variant is hello renamed, with extra text in SKILL.md.
func variant(tb testing.TB, name, extra string) []byte {
	fs := hello(tb)
	fs["SKILL.md"] = strings.Replace(fs["SKILL.md"], "name: hello\n", "name: "+name+"\n", 1) + extra
	return fs.TarGz(tb)
}

// staleEnv leaves, at pipelinetest.Now + 11 minutes:
//
//	A (hello)    stuck in scanned since Now (the catalog was down)
//	B (hello-b)  flagged since Now
//	C (hello-c)  rejected by a reviewer at Now, who never called Resume
//	D (hello-d)  received just now, not yet run
func staleEnv(t *testing.T) (e *env, a, b, c, d string) {
	t.Helper()
	e = MustEnv(t, markerAnalyzer{})
	ctx := context.Background()
	a = e.cat.MustSubmit(t, "acme", hello(t).TarGz(t)).ID
	e.cat.SetHook(func(c pipelinetest.Call) error {
		if c.Transition != nil && c.Transition.To == trust.SubmissionBuilt && !c.Committed {
			return trust.Errorf(trust.EUNAVAILABLE, "catalog unreachable")
		}
		return nil
	})
	if s, _ := e.resume(t, a); s.State != trust.SubmissionScanned {
		t.Fatalf("A: %s", s.State)
	}
	e.cat.SetHook(nil)
	b = e.cat.MustSubmit(t, "acme", variant(t, "hello-b", "flag-me\n")).ID
	if s := e.mustResume(t, b); s.State != trust.SubmissionFlagged {
		t.Fatalf("B: %s", s.State)
	}
	c = e.cat.MustSubmit(t, "acme", variant(t, "hello-c", "flag-me\n")).ID
	e.mustResume(t, c)
	if _, err := e.cat.TransitionSubmission(ctx, c, trust.SubmissionTransition{
		From: trust.SubmissionFlagged, To: trust.SubmissionRejected, Reviewer: "rev", Reason: "no"}); err != nil {
		t.Fatal(err)
	}
	e.clock.Add(11 * time.Minute)
	d = e.cat.MustSubmit(t, "acme", variant(t, "hello-d", "")).ID
	return e, a, b, c, d
}

func TestResumeStale(t *testing.T) {
	e, a, b, c, d := staleEnv(t)
	rep, err := e.r.ResumeStale(context.Background(), 10*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Resumed != 1 || rep.Finished != 1 || len(rep.IDs) != 1 || rep.IDs[0] != a || rep.Errors != 0 {
		t.Errorf("report %+v, want only A resumed", rep)
	}
	for id, want := range map[string]string{a: trust.SubmissionSigned, b: trust.SubmissionFlagged,
		c: trust.SubmissionRejected, d: trust.SubmissionReceived} {
		if s, _ := e.cat.FindSubmissionByID(context.Background(), id); s.State != want {
			t.Errorf("%s: %s, want %s", id, s.State, want)
		}
	}
	ns := e.cat.Notifications()
	if len(ns) != 1 || ns[0].SubmissionID != c || rep.Notified != 1 {
		t.Fatalf("notifications %v (report %d), want one for C", ns, rep.Notified)
	}
	// A second pass finds nothing new to do.
	rep, err = e.r.ResumeStale(context.Background(), 10*time.Minute)
	if err != nil || rep.Resumed != 0 || len(e.cat.Notifications()) != 1 {
		t.Errorf("second pass: %+v, %v, %d notifications", rep, err, len(e.cat.Notifications()))
	}
}

func TestResumeStale_MaxStale(t *testing.T) {
	e, _, _, _, _ := staleEnv(t)
	e.r.MaxStale = 0
	rep, err := e.r.ResumeStale(context.Background(), 0)
	if err != nil || rep.Resumed != 0 {
		t.Fatalf("%+v %v, want nothing resumed with MaxStale 0", rep, err)
	}
	e.r.MaxStale = 1
	if rep, _ = e.r.ResumeStale(context.Background(), 0); rep.Resumed != 1 {
		t.Fatalf("resumed %d, want 1", rep.Resumed)
	}
}

// TestHandleSchedule invokes the scheduled function as Lambda does, with an
// EventBridge scheduled event, against a golden answer.
func TestHandleSchedule(t *testing.T) {
	e, _, _, _, _ := staleEnv(t)
	event, err := os.ReadFile("testdata/scheduled-event.json")
	if err != nil {
		t.Fatal(err)
	}
	out, err := lambda.NewHandler(e.r.HandleSchedule).Invoke(context.Background(), event)
	if err != nil {
		t.Fatal(err)
	}
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, out, "", "  "); err != nil {
		t.Fatal(err)
	}
	pretty.WriteByte('\n')
	golden := "testdata/golden/schedule.json"
	if *update {
		if err := os.WriteFile(golden, pretty.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(pretty.Bytes(), want) {
		t.Errorf("got\n%s\nwant\n%s", pretty.Bytes(), want)
	}
	var rep pipeline.StaleReport
	if err := json.Unmarshal(out, &rep); err != nil || rep.Resumed != 1 {
		t.Errorf("report %s: %v", out, err)
	}
}
