package provision

import (
	"net/url"
	"regexp"
	"strings"

	fly "github.com/superfly/fly-go"

	"github.com/openagents/trust/shared/trust"
)

// Limits of an agent Machine's guest.
const (
	MinMemoryMB = 256
	MaxMemoryMB = 16384
	MaxCPUs     = 8
)

// namePattern is the shape of Fly app-name parts.
var namePattern = regexp.MustCompile(`^[a-z][a-z0-9-]*$`)

// digestPattern ends an image reference pinned by digest.
var digestPattern = regexp.MustCompile(`^[^\s@]+@sha256:[0-9a-f]{64}$`)

func pinnedImage(ref string) bool { return digestPattern.MatchString(ref) }

// CheckGuest reports, as EINVALID, guest limits an agent Machine must not
// have: an unknown CPU kind, a CPU count that is not 1, 2, 4 or 8, memory
// outside [MinMemoryMB, MaxMemoryMB] or not a multiple of 256, a GPU, or a
// memory ceiling above the limit.
func CheckGuest(g fly.MachineGuest) error {
	switch {
	case g.CPUKind != "shared" && g.CPUKind != "performance":
		return trust.Errorf(trust.EINVALID, "cpu kind %q: want shared or performance", g.CPUKind)
	case g.CPUs != 1 && g.CPUs != 2 && g.CPUs != 4 && g.CPUs != MaxCPUs:
		return trust.Errorf(trust.EINVALID, "%d CPUs: want 1, 2, 4 or 8", g.CPUs)
	case g.MemoryMB < MinMemoryMB || g.MemoryMB > MaxMemoryMB || g.MemoryMB%256 != 0:
		return trust.Errorf(trust.EINVALID, "%d MB of memory: want a multiple of 256 between %d and %d", g.MemoryMB, MinMemoryMB, MaxMemoryMB)
	case g.MaxMemoryMB != 0 && g.MaxMemoryMB != g.MemoryMB:
		return trust.Errorf(trust.EINVALID, "a memory ceiling above the limit is not allowed")
	case g.GPUs != 0 || g.GPUKind != "":
		return trust.Errorf(trust.EINVALID, "GPUs are not allowed")
	case len(g.KernelArgs) != 0 || g.HostDedicationID != "":
		return trust.Errorf(trust.EINVALID, "kernel arguments and host dedication are not allowed")
	}
	return nil
}

// CheckRestart reports, as EINVALID, a restart policy other than "no",
// "always" or "on-failure" with at most 10 retries.
func CheckRestart(r fly.MachineRestart) error {
	switch r.Policy {
	case fly.MachineRestartPolicyNo, fly.MachineRestartPolicyAlways:
		if r.MaxRetries != 0 {
			return trust.Errorf(trust.EINVALID, "max retries apply to on-failure only")
		}
		return nil
	case fly.MachineRestartPolicyOnFailure:
		if r.MaxRetries < 0 || r.MaxRetries > 10 {
			return trust.Errorf(trust.EINVALID, "max retries must be between 0 and 10")
		}
		return nil
	}
	return trust.Errorf(trust.EINVALID, "restart policy %q: want no, always or on-failure", r.Policy)
}

// CheckMachineEdgeURL reports, as EINVALID, an edge URL Machines must not be
// given: Machines reach the edge over the public internet, so only https://
// with a host name or address, no user, query or fragment. Plain http is
// refused even to loopback: a Machine's loopback is not the edge.
func CheckMachineEdgeURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return trust.Errorf(trust.EINVALID, "want https://host[:port][/path], without user, query or fragment")
	}
	if h := u.Hostname(); strings.HasSuffix(h, ".internal") || strings.HasSuffix(h, ".flycast") {
		return trust.Errorf(trust.EINVALID, "%s is a private Fly address: Machines in a tenant network reach the edge only at its public address", h)
	}
	return nil
}
