//go:build integration

package pipeline_test

import (
	"os"
	"runtime"
	"strings"
	"testing"

	"github.com/openagents/trust/functions/pipeline"
	"github.com/openagents/trust/functions/pipeline/pipelinetest"
	"github.com/openagents/trust/shared/trust"
)

// The real sandbox as the pipeline's Behavior: a skill whose script sends
// the planted API key out is rejected by what it did, whatever static
// analysis thought of it. Needs root and namespaces.
func TestResume_SandboxIntegration(t *testing.T) {
	if runtime.GOOS != "linux" || runtime.GOARCH != "amd64" || os.Geteuid() != 0 {
		t.Skip("the sandbox needs linux/amd64 and root")
	}
	e := MustEnv(t)
	e.r.Behavior = pipeline.SandboxBehavior{}
	files := pipelinetest.ReadFiles(t, "testdata/sandbox/exfil")
	files["SKILL.md"] = strings.Replace(files["SKILL.md"], "\ndescription:", "\nversion: 0.1.0\ndescription:", 1)
	sub, err := e.resume(t, e.cat.MustSubmit(t, "acme", files.TarGz(t)).ID)
	if err != nil {
		t.Fatal(err)
	}
	if sub.State != trust.SubmissionRejected {
		t.Fatalf("state %s decision %s (reason %q), want rejected", sub.State, sub.Decision, sub.Reason)
	}
	found := false
	for _, f := range sub.Findings {
		if f.Source == pipeline.SourceBehavior && f.RuleID == "DY001" {
			found = true
		}
	}
	if !found {
		t.Fatalf("no canary-leak finding from the sandbox in %+v", sub.Findings)
	}
}
