package signing_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDependencyFence: shared/signing, which every Machine links to verify
// skills, pulls in neither the Vault client nor any cloud SDK. Vault support
// lives in shared/signing/hashivault, imported by the signing side only.
func TestDependencyFence(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go command not found")
	}
	out, err := exec.Command(goBin, "list", "-deps", "github.com/openagents/trust/shared/signing").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, banned := range []string{
			"github.com/hashicorp/",
			"github.com/sigstore/sigstore/pkg/signature/kms/hashivault",
			"github.com/aws/",
			"cloud.google.com/",
			"github.com/Azure/",
			"github.com/openagents/trust/shared/signing/localkms",
		} {
			if strings.HasPrefix(dep, banned) {
				t.Errorf("shared/signing depends on %s", dep)
			}
		}
	}
}
