package analyzers_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/openagents/trust/shared/analyzers"
	"github.com/openagents/trust/shared/scan"
	"github.com/openagents/trust/shared/trust"
)

const fixtureDB = "../../testdata/osv"

// MustSkill writes files into a new skill folder.
func MustSkill(tb testing.TB, files map[string]string) string {
	tb.Helper()
	dir := tb.TempDir()
	for name, body := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	return dir
}

// MustScan runs scan.ScanWith with the default analyzers.
func MustScan(tb testing.TB, dir string, opts analyzers.Options) *scan.Report {
	tb.Helper()
	extra, err := analyzers.Default(opts)
	if err != nil {
		tb.Fatalf("Default: %v", err)
	}
	r, err := scan.ScanWith(dir, extra...)
	if err != nil {
		tb.Fatalf("ScanWith: %v", err)
	}
	return r
}

func rules(r *scan.Report) map[string]scan.Finding {
	m := map[string]scan.Finding{}
	for _, f := range r.Findings {
		if _, ok := m[f.RuleID]; !ok {
			m[f.RuleID] = f
		}
	}
	return m
}

const manifest = "---\nname: demo-skill\ndescription: A demo skill for the analyzer tests.\n---\n# Demo\n"

func TestDefault_ScanWith(t *testing.T) {
	dir := MustSkill(t, map[string]string{
		"SKILL.md":         manifest,
		"requirements.txt": "requests==2.2.1\ndateutil-python==1.0\n",
		"config/app.env":   "STRIPE_KEY=" + strings.Join([]string{"sk", "_live_", "q8Vn2LrT5wXk9PzB3mYc7HsD"}, "") + "\n",
	})
	r := MustScan(t, dir, analyzers.Options{OSVDir: fixtureDB})
	got := rules(r)
	for rule, file := range map[string]string{"DEP001": "requirements.txt", "DEP003": "requirements.txt", "DEP004": "requirements.txt", "SE001": "config/app.env"} {
		if f, ok := got[rule]; !ok || f.File != file {
			t.Errorf("no %s finding in %s: %+v", rule, file, r.Findings)
		}
	}
	if r.Decision != scan.Reject {
		t.Errorf("decision %s (score %d), want reject for a known-malicious dependency", r.Decision, r.Score)
	}
}

func TestDefault_NoDB(t *testing.T) {
	dir := MustSkill(t, map[string]string{
		"SKILL.md":     manifest,
		"package.json": `{"dependencies": {"lodash": "4.17.20", "expresss": "^4.0.0"}}`,
	})
	got := rules(MustScan(t, dir, analyzers.Options{}))
	if _, ok := got["DEP000"]; !ok {
		t.Error("no DEP000 (no database configured) finding")
	}
	if _, ok := got["DEP004"]; !ok {
		t.Error("typosquat not reported without a database")
	}
	if _, ok := got["DEP001"]; ok {
		t.Error("a vulnerability reported without a database")
	}
}

func TestDefault_Clean(t *testing.T) {
	dir := MustSkill(t, map[string]string{
		"SKILL.md":         manifest,
		"requirements.txt": "requests==2.32.3\n",
		"README.md":        "Set `OPENAI_API_KEY=<your-key>` and `AWS_ACCESS_KEY_ID=" + "AKIA" + "IOSFODNN7EXAMPLE`.\n",
	})
	for _, f := range MustScan(t, dir, analyzers.Options{OSVDir: fixtureDB}).Findings {
		if strings.HasPrefix(f.RuleID, "DEP") || f.RuleID == "SE002" {
			t.Errorf("unexpected finding %+v", f)
		}
	}
}

func TestDefault_ErrBadDB(t *testing.T) {
	bad := t.TempDir()
	if err := os.WriteFile(filepath.Join(bad, "x.json"), []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}
	for name, dir := range map[string]string{"ErrMissing": filepath.Join(bad, "nope"), "ErrMalformed": bad} {
		t.Run(name, func(t *testing.T) {
			if _, err := analyzers.Default(analyzers.Options{OSVDir: dir}); trust.ErrorCode(err) != trust.EINVALID {
				t.Errorf("Default = %v, want EINVALID", err)
			}
		})
	}
}

func TestOptionsFromEnv(t *testing.T) {
	t.Setenv(analyzers.EnvOSVDir, "/srv/osv")
	t.Setenv(analyzers.EnvOSVCacheDir, "/tmp/osv-cache")
	want := analyzers.Options{OSVDir: "/srv/osv", OSVCacheDir: "/tmp/osv-cache"}
	if got := analyzers.OptionsFromEnv(); got != want {
		t.Errorf("OptionsFromEnv = %+v, want %+v", got, want)
	}
}

func TestDefault_Snapshot(t *testing.T) {
	cacheDir := t.TempDir()
	if _, err := analyzers.Default(analyzers.Options{OSVDir: t.TempDir(), OSVCacheDir: cacheDir}); trust.ErrorCode(err) != trust.EINVALID {
		t.Fatalf("Default with an empty database directory = %v, want EINVALID", err)
	}
	src := MustSkill(t, map[string]string{"X-1.json": `{"id": "X-1", "affected": [{"package": {"ecosystem": "npm", "name": "a"}, "versions": ["1.0.0"]}]}`})
	if _, err := analyzers.Default(analyzers.Options{OSVDir: src, OSVCacheDir: cacheDir}); err != nil {
		t.Fatal(err)
	}
	if m, _ := filepath.Glob(filepath.Join(cacheDir, "osv-*.gob")); len(m) != 1 {
		t.Errorf("snapshots in the cache dir: %v, want one", m)
	}
}
