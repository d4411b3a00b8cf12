package vuln_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/openagents/trust/shared/scan"
	"github.com/openagents/trust/shared/vuln"
)

// got summarizes findings as "RULE severity line evidence".
func summarize(fs []scan.Finding) []string {
	var out []string
	for _, f := range fs {
		out = append(out, fmt.Sprintf("%s %s %d %s", f.RuleID, f.Severity, f.Line, f.Evidence))
	}
	return out
}

func hasFinding(fs []scan.Finding, rule string, sev scan.Severity, line int, whyPart string) bool {
	for _, f := range fs {
		if f.RuleID == rule && f.Severity == sev && f.Line == line && strings.Contains(f.Why, whyPart) && f.Category == scan.CatDependencies {
			return true
		}
	}
	return false
}

func TestAnalyzer(t *testing.T) {
	a := &vuln.Analyzer{DB: MustLoad(t, FixtureDir)}
	for _, tt := range []struct {
		name, file, body string
		rule             string
		sev              scan.Severity
		line             int
		why              string
	}{
		{"Vulnerable", "requirements.txt", "flask==3.0.0\nrequests==2.2.1\n", vuln.RuleVulnerable, scan.Medium, 2, "PYSEC-2014-13 (CVE-2014-1829, GHSA-cfj3-7x9c-4p3h)"},
		{"VulnerableSeverityFromRecord", "requirements.txt", "oatest-templates==1.5\n", vuln.RuleVulnerable, scan.Critical, 1, "OATEST-2024-0001"},
		{"RangeExposure", "requirements.txt", "requests>=2.0\n", vuln.RuleMayBeExposed, scan.Low, 1, "PYSEC-2014-13"},
		{"Malicious", "requirements.txt", "\ndateutil-python==2.8.3\n", vuln.RuleMalicious, scan.Critical, 2, "MAL-2024-9001"},
		{"MaliciousUnpinned", "requirements.txt", "dateutil-python\n", vuln.RuleMalicious, scan.Critical, 1, "MAL-2024-9001"},
		{"TyposquatAlsoMalicious", "requirements.txt", "dateutil-python\n", vuln.RuleTyposquat, scan.High, 1, "python-dateutil"},
		{"Typosquat", "requirements.txt", "reqeusts==2.31.0\n", vuln.RuleTyposquat, scan.High, 1, `"requests"`},
		{"URL", "requirements.txt", "pkg @ https://example.com/pkg.tar.gz\n", vuln.RuleUnverifiable, scan.Medium, 1, "archive URL"},
		{"VCSCommit", "requirements.txt", "git+https://github.com/o/r.git@0123456789abcdef0123456789abcdef01234567#egg=r\n", vuln.RuleUnverifiable, scan.Low, 1, "VCS commit"},
		{"IncludeOutside", "requirements.txt", "-r ../../etc/reqs.txt\n", vuln.RuleUnverifiable, scan.Medium, 1, "outside the skill"},
		{"IncludeURL", "sub/requirements.txt", "-r https://example.com/r.txt\n", vuln.RuleUnverifiable, scan.Medium, 1, "outside the skill"},
		{"PrivateIndex", "requirements.txt", "--extra-index-url https://pkgs.example.com/simple\nfoo==1\n", vuln.RuleUnverifiable, scan.Medium, 1, "package index"},
		{"Unpinned", "requirements.txt", "rich\n", vuln.RuleUnpinned, scan.Info, 1, "no exact version"},
		{"NpmVulnerable", "package.json", "{\"dependencies\": {\n\"lodash\": \"4.17.20\"}}", vuln.RuleVulnerable, scan.High, 2, "GHSA-35jh-r3h4-6jhm"},
		{"NpmRange", "package.json", "{\"dependencies\": {\"lodash\": \"^4.17.0\"}}", vuln.RuleMayBeExposed, scan.Low, 1, "CVE-2021-23337"},
		{"NpmMalicious", "package.json", "{\"dependencies\": {\"@oatest/colour-utils\": \"^1.0.0\"}}", vuln.RuleMalicious, scan.Critical, 1, "MAL-2024-9101"},
		{"NpmGit", "package.json", "{\"dependencies\": {\"x\": \"github:someone/x\"}}", vuln.RuleUnverifiable, scan.Medium, 1, "VCS"},
		{"NpmPathOutside", "package.json", "{\"dependencies\": {\"x\": \"file:../../x\"}}", vuln.RuleUnverifiable, scan.Medium, 1, "outside the skill"},
		{"Lock", "package-lock.json", "{\"packages\": {\n\"node_modules/lodash\": {\"version\": \"4.17.11\"}}}", vuln.RuleVulnerable, scan.High, 2, "GHSA-35jh-r3h4-6jhm"},
		{"YarnLock", "yarn.lock", "lodash@^4:\n  version \"4.17.19\"\n", vuln.RuleVulnerable, scan.High, 1, "GHSA-35jh-r3h4-6jhm"},
		{"PoetryLock", "poetry.lock", "[[package]]\nname = \"requests\"\nversion = \"2.1.0\"\n", vuln.RuleVulnerable, scan.Medium, 1, "PYSEC-2014-13"},
		{"PipfileLock", "Pipfile.lock", "{\"default\": {\n\"dateutil-python\": {\"version\": \"==2.8.3\"}}}", vuln.RuleMalicious, scan.Critical, 2, "MAL-2024-9001"},
		{"Pyproject", "pyproject.toml", "[project]\ndependencies = [\"requests==2.0.0\"]\n", vuln.RuleVulnerable, scan.Medium, 2, "PYSEC-2014-13"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			fs := a.AnalyzeFile(tt.file, []byte(tt.body))
			if !hasFinding(fs, tt.rule, tt.sev, tt.line, tt.why) {
				t.Errorf("want %s %s at line %d with %q; got %q", tt.rule, tt.sev, tt.line, tt.why, summarize(fs))
			}
		})
	}
}

func TestAnalyzer_Clean(t *testing.T) {
	a := &vuln.Analyzer{DB: MustLoad(t, FixtureDir)}
	for name, tt := range map[string]struct{ file, body string }{
		"FixedPin":      {"requirements.txt", "requests==2.32.3\nlodash==4.17.20\n"},
		"SafeRange":     {"requirements.txt", "requests>=2.3,<3\n-r dev-requirements.txt\n"},
		"IncludeInside": {"sub/requirements.txt", "-r ../requirements-base.txt\n"},
		"NpmFixed":      {"package.json", `{"dependencies": {"lodash": "4.17.21", "local": "file:./vendor/x"}}`},
		"NotManifest":   {"README.md", "requests==2.2.1\n"},
		"PublicIndex":   {"requirements.txt", "--index-url https://pypi.org/simple/\nrequests==2.32.3\n"},
	} {
		t.Run(name, func(t *testing.T) {
			var fs []scan.Finding
			for _, f := range a.AnalyzeFile(tt.file, []byte(tt.body)) {
				if f.RuleID != vuln.RuleUnpinned { // info: a range is not a pin
					fs = append(fs, f)
				}
			}
			if len(fs) != 0 {
				t.Errorf("findings %q, want none", summarize(fs))
			}
		})
	}
}

func TestAnalyzer_NoDB(t *testing.T) {
	a := &vuln.Analyzer{}
	fs := a.AnalyzeFile("requirements.txt", []byte("requests==2.2.1\nreqeusts==1.0\n"))
	if !hasFinding(fs, vuln.RuleNoDatabase, scan.Info, 1, "no vulnerability database") {
		t.Errorf("no DEP000 in %q", summarize(fs))
	}
	if !hasFinding(fs, vuln.RuleTyposquat, scan.High, 2, "typosquat") {
		t.Errorf("typosquat not reported without a DB: %q", summarize(fs))
	}
	for _, f := range fs {
		if f.RuleID == vuln.RuleVulnerable {
			t.Errorf("vulnerability reported without a DB: %+v", f)
		}
	}
	if fs := a.AnalyzeFile("requirements.txt", []byte("# nothing\n")); len(fs) != 0 {
		t.Errorf("empty manifest: %q, want none", summarize(fs))
	}
}

// TestAnalyzer_NoSecretInFindings: an index URL's credential never reaches a
// finding.
func TestAnalyzer_NoSecretInFindings(t *testing.T) {
	const canary = "CANARYtok3n9f8e7d6c5b4a"
	a := &vuln.Analyzer{}
	for _, body := range []string{
		"--extra-index-url https://build:" + canary + "@pkgs.example.com/simple\n",
		"pkg @ https://user:" + canary + "@example.com/pkg.tar.gz\n",
		"-r https://" + canary + "@example.com/r.txt\n",
	} {
		for _, f := range a.AnalyzeFile("requirements.txt", []byte(body)) {
			if strings.Contains(fmt.Sprintf("%+v", f), canary) {
				t.Errorf("canary in finding %+v", f)
			}
		}
	}
}

// TestAnalyzer_Concurrent: one analyzer serves concurrent scans.
func TestAnalyzer_Concurrent(t *testing.T) {
	a := &vuln.Analyzer{DB: MustLoad(t, FixtureDir)}
	done := make(chan int)
	for range 8 {
		go func() {
			done <- len(a.AnalyzeFile("requirements.txt", []byte("requests==2.2.1\nlodash\n")))
		}()
	}
	for range 8 {
		if n := <-done; n == 0 {
			t.Error("no findings from a concurrent call")
		}
	}
}

func BenchmarkAnalyzer_Lockfile(b *testing.B) {
	a := &vuln.Analyzer{DB: MustLoad(b, FixtureDir)}
	var sb strings.Builder
	sb.WriteString("{\"lockfileVersion\": 3, \"packages\": {\n")
	for i := range 2000 {
		fmt.Fprintf(&sb, "\"node_modules/pkg%d\": {\"version\": \"1.%d.0\"},\n", i, i)
	}
	sb.WriteString("\"node_modules/lodash\": {\"version\": \"4.17.20\"}}}\n")
	data := []byte(sb.String())
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		a.AnalyzeFile("package-lock.json", data)
	}
}
