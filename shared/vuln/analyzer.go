package vuln

import (
	"fmt"
	"path"
	"regexp"
	"strings"

	"github.com/openagents/trust/shared/scan"
)

// Rule IDs of the dependency analyzer (docs/dependencies.md).
const (
	RuleNoDatabase   = "DEP000" // info: no OSV database configured
	RuleVulnerable   = "DEP001" // a pinned version has a known vulnerability
	RuleMayBeExposed = "DEP002" // a version range admits affected versions
	RuleMalicious    = "DEP003" // a known-malicious package (OSV MAL- record)
	RuleTyposquat    = "DEP004" // a name one slip away from a popular package
	RuleUnverifiable = "DEP005" // a URL, VCS, outside path or private index
	RuleUnpinned     = "DEP006" // info: no version constraint at all
)

// maxDepsPerFile bounds the findings of one lock file.
const maxDepsPerFile = 20000

// Analyzer is the dependency check as a scan.FileAnalyzer. DB may be nil:
// then typosquats and unverifiable or unpinned dependencies are still
// reported, and each dependency file gets a DEP000 finding saying that no
// vulnerability database was configured.
type Analyzer struct {
	DB *DB
}

var _ scan.FileAnalyzer = (*Analyzer)(nil)

// AnalyzeFile implements scan.FileAnalyzer.
func (a *Analyzer) AnalyzeFile(name string, data []byte) []scan.Finding {
	kind := ManifestKind(name)
	if kind == "" {
		return nil
	}
	deps := ParseManifest(name, data)
	if len(deps) > maxDepsPerFile {
		deps = deps[:maxDepsPerFile]
	}
	var out []scan.Finding
	if a.DB == nil && len(deps) > 0 {
		out = append(out, scan.Finding{RuleID: RuleNoDatabase, Category: scan.CatDependencies, Severity: scan.Info,
			File: name, Line: deps[0].Line, Evidence: kind,
			Why: "no vulnerability database was configured: dependencies were not checked against OSV advisories"})
	}
	for _, d := range deps {
		out = append(out, a.check(name, d)...)
	}
	return out
}

func finding(file string, d Dep, rule string, sev scan.Severity, evidence, why string) scan.Finding {
	return scan.Finding{RuleID: rule, Category: scan.CatDependencies, Severity: sev, File: file, Line: d.Line,
		Evidence: clip(evidence), Why: why}
}

var commitRef = regexp.MustCompile(`@[0-9a-f]{40}(#|$)`)

func (a *Analyzer) check(file string, d Dep) []scan.Finding {
	label := d.Name
	if d.Spec != "" {
		label += sep(d) + d.Spec
	}
	switch d.Kind {
	case FromInclude:
		target := path.Join(path.Dir(file), d.Target)
		if strings.Contains(d.Target, "://") || path.IsAbs(d.Target) || strings.HasPrefix(d.Target, "~") ||
			target == ".." || strings.HasPrefix(target, "../") {
			return []scan.Finding{finding(file, d, RuleUnverifiable, scan.Medium, "-r "+redactURL(d.Target),
				"includes a requirements file from outside the skill: what it installs cannot be reviewed")}
		}
		return nil // the included file is in the skill and is analyzed on its own
	case FromIndex:
		return []scan.Finding{finding(file, d, RuleUnverifiable, scan.Medium, redactURL(d.Target),
			"installs from a package index or link other than the public registry: a private or attacker index can serve any code under any name")}
	case FromPath:
		t := strings.TrimPrefix(strings.TrimPrefix(strings.TrimPrefix(d.Target, "file:"), "link:"), "workspace:")
		if c := path.Join(path.Dir(file), t); path.IsAbs(t) || strings.HasPrefix(t, "~") || c == ".." || strings.HasPrefix(c, "../") {
			return []scan.Finding{finding(file, d, RuleUnverifiable, scan.Medium, d.Target,
				"depends on a local path outside the skill: what it installs cannot be reviewed")}
		}
		return nil
	case FromURL:
		out := a.nameChecks(file, d, label)
		sev, why := scan.Medium, "depends on an archive URL or a VCS reference, not a registry release: its content is not pinned and no advisory database covers it"
		if commitRef.MatchString(strings.ToLower(d.Target)) {
			sev, why = scan.Low, "depends on a VCS commit rather than a registry release: no advisory database covers it"
		}
		return append(out, finding(file, d, RuleUnverifiable, sev, redactURL(d.Target), why))
	}
	out := a.nameChecks(file, d, label)
	if d.Name == "" {
		return out
	}
	c, err := ParseConstraint(d.Ecosystem, d.Spec)
	if err != nil {
		out = append(out, finding(file, d, RuleUnverifiable, scan.Low, label,
			"the version constraint does not parse as a version range, so only an exact match can be checked"))
		// A legacy version ("==trunk") can still match a record's list.
		if strings.HasPrefix(d.Spec, "==") && !strings.ContainsAny(d.Spec, ",*") {
			v := strings.TrimLeft(d.Spec, "=")
			out = append(out, advisoryFindings(file, d, label, a.DB.Lookup(d.Ecosystem, d.Name, v), true)...)
		}
		return out
	}
	if v, ok := c.Pinned(); ok {
		return append(out, advisoryFindings(file, d, label, a.DB.Lookup(d.Ecosystem, d.Name, v), true)...)
	}
	out = append(out, finding(file, d, RuleUnpinned, scan.Info, label,
		"no exact version is pinned: what is installed changes with each new release"))
	cons := c
	if c.Any() {
		cons = nil
	}
	return append(out, advisoryFindings(file, d, label, a.DB.LookupConstraint(d.Ecosystem, d.Name, cons), false)...)
}

// nameChecks reports a typosquatted name.
func (a *Analyzer) nameChecks(file string, d Dep, label string) []scan.Finding {
	if d.Name == "" {
		return nil
	}
	if p, ok := Typosquat(d.Ecosystem, d.Name); ok {
		return []scan.Finding{finding(file, d, RuleTyposquat, scan.High, label,
			fmt.Sprintf("%q looks like a typosquat of the popular %s package %q", d.Name, d.Ecosystem, p))}
	}
	return nil
}

// advisoryFindings turns the advisories of one dependency into at most two
// findings, one per rule (the scan keeps one finding per rule and line):
// known-malicious (critical) and vulnerable (the highest severity among
// the advisories, medium when none says) or possibly exposed (low).
func advisoryFindings(file string, d Dep, label string, advs []*Advisory, pinned bool) []scan.Finding {
	var mal, vul []*Advisory
	for _, a := range advs {
		if a.Malicious {
			mal = append(mal, a)
		} else {
			vul = append(vul, a)
		}
	}
	var out []scan.Finding
	if len(mal) > 0 {
		out = append(out, finding(file, d, RuleMalicious, scan.Critical, label, "known-malicious package: "+describe(mal)))
	}
	if len(vul) == 0 {
		return out
	}
	if !pinned {
		return append(out, finding(file, d, RuleMayBeExposed, scan.Low, label, "the version range admits affected versions: "+describe(vul)))
	}
	sev := scan.Info
	for _, a := range vul {
		if a.Severity.Points() > sev.Points() {
			sev = a.Severity
		}
	}
	if sev.Points() < scan.Medium.Points() {
		sev = scan.Medium
		for _, a := range vul {
			if a.Severity == scan.Low && len(vul) == 1 {
				sev = scan.Low // the record itself says low
			}
		}
	}
	what := "pinned version has a known vulnerability: "
	if len(vul) > 1 {
		what = fmt.Sprintf("pinned version has %d known vulnerabilities: ", len(vul))
	}
	return append(out, finding(file, d, RuleVulnerable, sev, label, what+describe(vul)))
}

// describe names advisories: one with its aliases and summary, several by
// ID (each with its first alias).
func describe(advs []*Advisory) string {
	if len(advs) == 1 {
		a := advs[0]
		s := a.ID
		if len(a.Aliases) > 0 {
			s += " (" + strings.Join(a.Aliases, ", ") + ")"
		}
		if a.Summary != "" {
			s += ": " + a.Summary
		}
		return s
	}
	parts := make([]string, len(advs))
	for i, a := range advs {
		parts[i] = a.ID
		if len(a.Aliases) > 0 {
			parts[i] += " (" + a.Aliases[0] + ")"
		}
	}
	return strings.Join(parts, ", ")
}

func sep(d Dep) string {
	if d.Ecosystem == Npm {
		return "@"
	}
	return ""
}

// redactURL drops user information from a URL (an index URL may carry a
// token: https://user:TOKEN@host/simple).
func redactURL(u string) string {
	i := strings.Index(u, "://")
	if i < 0 {
		return u
	}
	rest := u[i+3:]
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	if at := strings.LastIndexByte(rest[:end], '@'); at >= 0 {
		return u[:i+3] + "[redacted]@" + rest[at+1:]
	}
	return u
}

// clip shortens evidence to one line of at most 120 bytes.
func clip(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if len(s) > 120 {
		cut := 120
		for cut > 0 && s[cut]&0xC0 == 0x80 {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}
