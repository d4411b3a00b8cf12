package tfcheck_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/openagents/trust/terraform/tfcheck"
)

// root is the repository root, from terraform/tfcheck.
const root = "../.."

// The real configuration: every function with a Lambda main under
// functions/cmd has a Lambda and a route or a schedule; no secret value is
// written; IAM grants no wildcard.
func TestTerraform(t *testing.T) {
	m, err := tfcheck.Load(filepath.Join(root, "terraform"))
	if err != nil {
		t.Fatal(err)
	}
	names, err := tfcheck.CmdFunctions(root)
	if err != nil {
		t.Fatal(err)
	} else if len(names) == 0 {
		t.Fatal("no function mains found under functions/cmd")
	}

	t.Run("Functions", func(t *testing.T) {
		for _, p := range m.CheckFunctions(names) {
			t.Error(p)
		}
		// What the configuration deploys that has no main yet (a function
		// being written) is reported, not failed.
		for fn := range m.Functions().Lambdas {
			if !slices.Contains(names, fn) {
				t.Logf("terraform deploys %s, which has no functions/cmd/%s yet", fn, fn)
			}
		}
	})
	t.Run("Secrets", func(t *testing.T) {
		for _, p := range m.CheckSecrets() {
			t.Error(p)
		}
	})
	t.Run("IAM", func(t *testing.T) {
		for _, p := range m.CheckIAM() {
			t.Error(p)
		}
	})
	t.Run("Fmt", func(t *testing.T) {
		tf, err := exec.LookPath("terraform")
		if err != nil {
			t.Skip("terraform is not on PATH")
		}
		out, err := exec.Command(tf, "fmt", "-check", "-recursive", "-diff", filepath.Join(root, "terraform")).CombinedOutput()
		if err != nil {
			t.Fatalf("terraform fmt -check: %v\n%s", err, out)
		}
	})
}

// Each bad fixture is the good configuration plus one file with one problem;
// the check must name it. The good one alone has no problem.
func TestChecks_Fixtures(t *testing.T) {
	functions := []string{"sign", "notify"}
	for _, tt := range []struct {
		fixture string
		names   []string // functions with a main, default functions
		check   string   // functions, secrets, iam
		want    string   // substring of the one problem; "" for none
	}{
		{"good", nil, "functions", ""},
		{"good", nil, "secrets", ""},
		{"good", nil, "iam", ""},
		{"bad-no-lambda", []string{"sign", "notify", "review"}, "functions", "function review has no aws_lambda_function"},
		{"bad-route-target", nil, "functions", `targets review, which has no aws_lambda_function`},
		{"bad-no-trigger", nil, "functions", "function orphan has neither a route nor a schedule"},
		{"bad-secret-literal", nil, "secrets", "literal value for a secret attribute"},
		{"bad-secret-pattern", nil, "secrets", "Stripe webhook secret"},
		{"bad-secret-entropy", nil, "secrets", "high-entropy string"},
		{"bad-secret-variable", nil, "secrets", "variable fly_api_token holds a secret and has a default"},
		{"bad-iam-wildcard", nil, "iam", `wildcard action "*"`},
		{"bad-iam-service-wildcard", nil, "iam", `wildcard action "s3:Get*"`},
		{"bad-iam-resource", nil, "iam", `every resource`},
		{"bad-iam-jsonencode", nil, "iam", `wildcard action "kms:*"`},
		{"bad-iam-heredoc", nil, "iam", `wildcard action "*"`},
		{"bad-iam-notaction", nil, "iam", "not_actions"},
		{"bad-iam-managed", nil, "iam", "AdministratorAccess"},
	} {
		t.Run(tt.fixture+"/"+tt.check, func(t *testing.T) {
			m := mustLoadFixture(t, tt.fixture)
			names := tt.names
			if names == nil {
				names = functions
			}
			var problems []string
			switch tt.check {
			case "functions":
				problems = m.CheckFunctions(names)
			case "secrets":
				problems = m.CheckSecrets()
			case "iam":
				problems = m.CheckIAM()
			}
			if tt.want == "" {
				if len(problems) != 0 {
					t.Fatalf("problems %q, want none", problems)
				}
				return
			}
			if len(problems) == 0 || !slices.ContainsFunc(problems, func(p string) bool { return strings.Contains(p, tt.want) }) {
				t.Fatalf("problems %q, want one naming %q", problems, tt.want)
			}
			if tt.check == "secrets" {
				for _, p := range problems {
					for _, s := range []string{"whsec_4eC39", "hunter2", "not-a-real-one", "Zm9vYmFy"} {
						if strings.Contains(p, s) {
							t.Errorf("the report repeats the secret: %s", p)
						}
					}
				}
			}
		})
	}
}

func TestLoad_ErrParse(t *testing.T) {
	dir := t.TempDir()
	copyFixture(t, "bad-parse", dir)
	if _, err := tfcheck.Load(dir); err == nil || !strings.Contains(err.Error(), "extra.tf") {
		t.Fatalf("err = %v, want a parse error naming extra.tf", err)
	}
}

// mustLoadFixture loads testdata/good plus testdata/NAME (fixtures are
// stored as .tf.fixture so terraform fmt and the real check skip them).
func mustLoadFixture(tb testing.TB, name string) *tfcheck.Module {
	tb.Helper()
	dir := tb.TempDir()
	copyFixture(tb, "good", dir)
	if name != "good" {
		copyFixture(tb, name, dir)
	}
	m, err := tfcheck.Load(dir)
	if err != nil {
		tb.Fatal(err)
	}
	return m
}

func copyFixture(tb testing.TB, name, dst string) {
	tb.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", name, "*.tf.fixture"))
	if err != nil || len(files) == 0 {
		tb.Fatalf("fixture %s: %v", name, err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, strings.TrimSuffix(filepath.Base(f), ".fixture")), b, 0o644); err != nil {
			tb.Fatal(err)
		}
	}
}
