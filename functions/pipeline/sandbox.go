package pipeline

import (
	"context"

	"github.com/openagents/trust/shared/sandbox"
	"github.com/openagents/trust/shared/scan"
)

// SandboxBehavior is the Behavior of shared/sandbox: it detonates the
// extracted skill in fresh Linux namespaces with canary inputs and reports
// the findings and verdict. It needs root and namespaces (not Lambda): where
// they are missing Detonate fails with EUNAVAILABLE and the submission waits
// in built, never approved without the analysis.
type SandboxBehavior struct {
	Sandbox *sandbox.Sandbox
}

// Analyze implements Behavior.
func (b SandboxBehavior) Analyze(ctx context.Context, dir string) ([]scan.Finding, scan.Decision, error) {
	s := b.Sandbox
	if s == nil {
		s = sandbox.New()
	}
	r, err := s.Detonate(ctx, dir)
	if err != nil {
		return nil, "", err
	}
	return r.Findings, r.Verdict, nil
}
