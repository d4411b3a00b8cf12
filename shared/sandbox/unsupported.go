//go:build !(linux && amd64)

package sandbox

import (
	"context"

	"github.com/openagents/trust/shared/trust"
)

// Detonate is not available on this platform: the sandbox needs Linux
// namespaces and the amd64 ptrace register layout.
func (s *Sandbox) Detonate(ctx context.Context, dir string) (*Report, error) {
	return nil, trust.Errorf(trust.ENOTIMPLEMENTED, "sandbox: detonation needs linux/amd64; refusing to run the skill")
}
