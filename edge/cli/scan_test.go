package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
)

func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	env := &Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb, Getenv: func(string) string { return "" }}
	code := Main(context.Background(), env, args)
	return code, out.String(), errb.String()
}

func TestScan(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		code, out, errs := runCLI(t, "scan", "../../testdata/scan/benign-notes")
		if code != ExitOK || !strings.HasPrefix(out, "approve") {
			t.Fatalf("code = %d, out %q, err %q", code, out, errs)
		}
	})
	t.Run("Rejected", func(t *testing.T) {
		code, out, _ := runCLI(t, "scan", "../../testdata/scan/benign-notes", "../../testdata/scan/rawip-dropper")
		if code != ExitFailure || !strings.Contains(out, "reject") || strings.Count(out, "\n") != 2 {
			t.Fatalf("code = %d, out %q", code, out)
		}
	})
	t.Run("JSON", func(t *testing.T) {
		_, out, _ := runCLI(t, "scan", "--json", "../../testdata/scan/rawip-dropper")
		var r struct {
			Decision string
			Findings []struct {
				RuleID string `json:"rule_id"`
			}
		}
		if err := json.Unmarshal([]byte(out), &r); err != nil || r.Decision != "reject" || len(r.Findings) == 0 {
			t.Fatalf("got %+v (%v) from %q", r, err, out)
		}
	})
	t.Run("SARIF", func(t *testing.T) {
		_, out, _ := runCLI(t, "scan", "--sarif", "../../testdata/scan/rawip-dropper", "../../testdata/scan/benign-notes")
		var log struct {
			Version string
			Runs    []struct {
				Results []struct{ RuleID string }
			}
		}
		if err := json.Unmarshal([]byte(out), &log); err != nil || log.Version != "2.1.0" || len(log.Runs) != 1 || len(log.Runs[0].Results) == 0 {
			t.Fatalf("got %+v (%v)", log, err)
		}
	})
	// The dependency check runs as in the pipeline: a pinned version an
	// advisory covers is a finding naming the advisory.
	t.Run("OSV", func(t *testing.T) {
		_, out, errs := runCLI(t, "scan", "--json", "--osv", "../../testdata/osv", "../../testdata/scan/vulnerable-dep")
		if !strings.Contains(out, "PYSEC-2014-13") {
			t.Fatalf("no advisory in %q (stderr %q)", out, errs)
		}
		_, out, _ = runCLI(t, "scan", "--json", "../../testdata/scan/vulnerable-dep")
		if strings.Contains(out, "PYSEC-2014-13") {
			t.Fatalf("advisory reported without a database: %q", out)
		}
	})
	t.Run("ErrOSVMissing", func(t *testing.T) {
		code, _, errs := runCLI(t, "scan", "--osv", t.TempDir()+"/absent", "../../testdata/scan/benign-notes")
		if code == ExitOK || !strings.Contains(errs, "OSV") {
			t.Fatalf("code = %d, stderr %q: a missing database must fail the scan", code, errs)
		}
	})
	t.Run("ErrUsage", func(t *testing.T) {
		if code, _, _ := runCLI(t, "scan"); code != ExitUsage {
			t.Fatalf("code = %d, want %d", code, ExitUsage)
		}
	})
}
