//go:build integration && linux && amd64

package cli

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
)

func TestDetonateIntegration(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("detonation needs root")
	}
	t.Run("OK", func(t *testing.T) {
		code, out, errs := runDetonateCLI(t, "../../testdata/sandbox/benign")
		if code != ExitOK || !strings.HasPrefix(out, "approve") {
			t.Fatalf("code = %d, out %q, err %q", code, out, errs)
		}
	})
	t.Run("Rejected", func(t *testing.T) {
		code, out, _ := runDetonateCLI(t, "--json", "../../testdata/sandbox/dropper")
		var r struct {
			Verdict  string
			Findings []struct {
				RuleID string `json:"rule_id"`
			}
		}
		if err := json.Unmarshal([]byte(out), &r); err != nil || code != ExitFailure || r.Verdict != "reject" || len(r.Findings) == 0 {
			t.Fatalf("code = %d, got %+v (%v) from %q", code, r, err, out)
		}
	})
}
