package fence_test

import (
	"os/exec"
	"strings"
	"testing"
)

// deps returns the transitive imports of the packages matching pattern.
func deps(tb testing.TB, pattern string) map[string][]string {
	tb.Helper()
	out, err := exec.Command("go", "list", "-deps=false", "-f", `{{.ImportPath}}{{range .Deps}} {{.}}{{end}}`, pattern).Output()
	if err != nil {
		tb.Fatalf("go list %s: %v", pattern, err)
	}
	m := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		m[f[0]] = f[1:]
	}
	return m
}

// TestFence_NoAWSOutsideFunctions: the shared packages and everything that runs on
// Fly (edge node, Machine runtime) import no AWS code; only functions/ may.
func TestFence_NoAWSOutsideFunctions(t *testing.T) {
	for _, pattern := range []string{"github.com/openagents/trust/shared/...", "github.com/openagents/trust/edge/..."} {
		for pkg, ds := range deps(t, pattern) {
			for _, d := range ds {
				if strings.HasPrefix(d, "github.com/aws/") {
					t.Errorf("%s imports %s: AWS code belongs in functions/ only", pkg, d)
				}
			}
		}
	}
}

// TestFence_DomainIsStdlibOnly: the domain package imports only the standard library.
func TestFence_DomainIsStdlibOnly(t *testing.T) {
	for pkg, ds := range deps(t, "github.com/openagents/trust/shared/trust") {
		for _, d := range ds {
			if strings.Contains(strings.SplitN(d, "/", 2)[0], ".") {
				t.Errorf("%s imports %s: the domain package is standard library only", pkg, d)
			}
		}
	}
}

// TestFence_EdgeDoesNotImportFunctions: Fly-side code never links the functions.
func TestFence_EdgeDoesNotImportFunctions(t *testing.T) {
	for pkg, ds := range deps(t, "github.com/openagents/trust/edge/...") {
		for _, d := range ds {
			if strings.HasPrefix(d, "github.com/openagents/trust/functions") {
				t.Errorf("%s imports %s", pkg, d)
			}
		}
	}
}

// TestFence_MachineCLICarriesNoVault: trustctl ships in every Machine; it
// verifies and never holds the platform's Vault signing path.
func TestFence_MachineCLICarriesNoVault(t *testing.T) {
	for pkg, ds := range deps(t, "github.com/openagents/trust/edge/cmd/trustctl") {
		for _, d := range ds {
			if strings.HasPrefix(d, "github.com/hashicorp/") || strings.HasSuffix(d, "/signing/hashivault") {
				t.Errorf("%s imports %s", pkg, d)
			}
		}
	}
}

// TestFence_BuildsWithoutCgo: every binary builds with CGO_ENABLED=0.
func TestFence_BuildsWithoutCgo(t *testing.T) {
	if testing.Short() {
		t.Skip("builds binaries")
	}
	cmd := exec.Command("go", "build", "-o", t.TempDir()+"/", "github.com/openagents/trust/edge/cmd/...", "github.com/openagents/trust/functions/cmd/...")
	cmd.Env = append(cmd.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("CGO_ENABLED=0 go build: %v\n%s", err, out)
	}
}
