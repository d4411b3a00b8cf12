// Package vuln matches a skill's dependencies, and an image's installed
// packages, against a directory of OSV advisories
// (https://ossf.github.io/osv-schema/): known vulnerabilities, known-malicious
// packages (MAL- records) and typosquats of popular package names.
//
// A DB is loaded once from a directory (or a zip export) of OSV JSON or YAML
// files and indexed by ecosystem and normalized package name; Open caches it
// per directory for the life of the process. Versions are ordered in each
// ecosystem's own scheme (PEP 440, npm semver, dpkg). Analyzer is the
// scan.FileAnalyzer that reads requirements.txt, pyproject.toml,
// package.json, package-lock.json and yarn.lock. The rules are in
// docs/dependencies.md.
package vuln

import (
	"sort"
	"strings"

	"github.com/openagents/trust/shared/scan"
)

// Advisory is one OSV record, as much as a finding needs.
type Advisory struct {
	ID       string
	Aliases  []string
	Summary  string
	Severity scan.Severity // from the record; "" when it gives none
	// Malicious is set for a known-malicious package (an OSV MAL- record):
	// every affected version is malware, not a bug.
	Malicious bool
}

// Package is one installed or declared package.
type Package struct {
	Ecosystem string `json:"ecosystem"`
	Name      string `json:"name"`
	Version   string `json:"version"`
	Path      string `json:"path,omitempty"` // where it was found
}

// PackageMatch is an advisory that affects a package.
type PackageMatch struct {
	Package  Package
	Advisory *Advisory
}

// DB is an index of OSV advisories. It is read-only once loaded and safe
// for concurrent use.
type DB struct {
	Dir   string
	index map[string][]*entry
	n     int
}

// entry is one affected[] element of an advisory.
type entry struct {
	adv      *Advisory
	eco      string
	name     string          // as the record spells it
	versions map[string]bool // canonical forms of the versions list
	ranges   []osvRange      // ECOSYSTEM and SEMVER ranges only
}

func key(eco, name string) string { return eco + "\x00" + NormalizeName(eco, name) }

// Len is the number of advisories loaded.
func (db *DB) Len() int {
	if db == nil {
		return 0
	}
	return db.n
}

// entries returns the affected[] elements for a package. A distribution
// ecosystem without a release ("Debian") sees every release's records.
func (db *DB) entries(eco, name string) []*entry {
	if db == nil {
		return nil
	}
	return db.index[key(eco, name)]
}

// Lookup returns the advisories affecting the exact version of a package,
// ordered by ID.
func (db *DB) Lookup(eco, name, version string) []*Advisory {
	var out []*Advisory
	seen := map[string]bool{}
	for _, e := range db.entries(eco, name) {
		if !seen[e.adv.ID] && e.affects(version) {
			seen[e.adv.ID] = true
			out = append(out, e.adv)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// LookupConstraint returns the advisories that may affect some version a
// constraint allows: an affected version in the record's list satisfies it,
// or one of the record's range bounds does, or the constraint has no upper
// bound and the record has no fix. A nil constraint (no version given)
// allows every version, so only malicious packages and unfixed advisories
// are returned: the newest release is affected by those.
func (db *DB) LookupConstraint(eco, name string, c *Constraint) []*Advisory {
	var out []*Advisory
	seen := map[string]bool{}
	for _, e := range db.entries(eco, name) {
		if seen[e.adv.ID] {
			continue
		}
		if e.mayAffect(c) {
			seen[e.adv.ID] = true
			out = append(out, e.adv)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// MatchPackages matches installed packages (an image inventory) by exact
// version.
func (db *DB) MatchPackages(pkgs []Package) []PackageMatch {
	var out []PackageMatch
	for _, p := range pkgs {
		for _, a := range db.Lookup(p.Ecosystem, p.Name, p.Version) {
			out = append(out, PackageMatch{Package: p, Advisory: a})
		}
	}
	return out
}

// affects reports whether version is in the entry's versions list or in one
// of its ranges.
func (e *entry) affects(version string) bool {
	if e.versions[canonical(e.eco, version)] {
		return true
	}
	for _, r := range e.ranges {
		if inRange(e.eco, r.Events, version) {
			return true
		}
	}
	return false
}

// inRange evaluates OSV range events for version: events are applied in
// version order; introduced opens, fixed (at or below) and last_affected
// (strictly below) close.
func inRange(eco string, evs []event, version string) bool {
	affected := false
	for _, ev := range evs {
		switch {
		case ev.Introduced != "":
			if ev.Introduced == "0" || Compare(eco, version, ev.Introduced) >= 0 {
				affected = true
			}
		case ev.Fixed != "":
			if Compare(eco, version, ev.Fixed) >= 0 {
				affected = false
			}
		case ev.LastAffected != "":
			if Compare(eco, version, ev.LastAffected) > 0 {
				affected = false
			}
		}
	}
	return affected
}

// sortEvents puts a range's events in version order ("0" first), the
// order inRange needs. At equal versions a fixed event comes before an
// introduced one: records join adjacent intervals that way ("introduced:
// 0.13.0" after "fixed: 0.13.0" of the interval before), and the version
// where one interval ends and the next begins is affected.
func sortEvents(eco string, evs []event) {
	ver := func(e event) string {
		switch {
		case e.Introduced != "":
			return e.Introduced
		case e.Fixed != "":
			return e.Fixed
		case e.LastAffected != "":
			return e.LastAffected
		}
		return e.Limit
	}
	rank := func(e event) int {
		if e.Introduced != "" {
			return 1
		}
		return 0
	}
	sort.SliceStable(evs, func(i, j int) bool {
		a, b := ver(evs[i]), ver(evs[j])
		if a == "0" || b == "0" {
			return a == "0" && b != "0"
		}
		if c := Compare(eco, a, b); c != 0 {
			return c < 0
		}
		return rank(evs[i]) < rank(evs[j])
	})
}

// unfixed reports whether a range leaves its last introduced version open.
func unfixed(evs []event) bool {
	open := false
	for _, ev := range evs {
		switch {
		case ev.Introduced != "":
			open = true
		case ev.Fixed != "", ev.LastAffected != "":
			open = false
		}
	}
	return open
}

// mayAffect reports whether some version c allows is affected.
func (e *entry) mayAffect(c *Constraint) bool {
	if e.adv.Malicious && (c == nil || len(e.ranges) == 0 && len(e.versions) == 0) {
		return true
	}
	openEnded := c == nil || c.OpenEnded()
	for _, r := range e.ranges {
		if openEnded && unfixed(r.Events) {
			return true
		}
	}
	if c == nil {
		return false
	}
	for v := range e.versions {
		if c.Allows(v) {
			return true
		}
	}
	for _, r := range e.ranges {
		for _, ev := range r.Events {
			for _, v := range []string{ev.Introduced, ev.LastAffected} {
				if v != "" && v != "0" && c.Allows(v) && inRange(e.eco, r.Events, v) {
					return true
				}
			}
		}
		// The constraint's own lowest allowed versions.
		for _, lo := range c.Lows() {
			if c.Allows(lo) && inRange(e.eco, r.Events, lo) {
				return true
			}
		}
	}
	return false
}

// severityOf picks an advisory's severity: a MAL- record is critical; then
// the affected entry's or the record's database_specific severity (GHSA's
// LOW/MODERATE/HIGH/CRITICAL); then a CVSS v3 vector's base score.
func severityOf(r *record) scan.Severity {
	if strings.HasPrefix(r.ID, "MAL-") {
		return scan.Critical
	}
	words := []string{r.DatabaseSpecific.Severity}
	sevs := r.Severity
	for _, a := range r.Affected {
		words = append(words, a.DatabaseSpecific.Severity)
		sevs = append(sevs, a.Severity...)
	}
	for _, w := range words {
		switch strings.ToUpper(strings.TrimSpace(w)) {
		case "CRITICAL":
			return scan.Critical
		case "HIGH":
			return scan.High
		case "MODERATE", "MEDIUM":
			return scan.Medium
		case "LOW":
			return scan.Low
		}
	}
	for _, s := range sevs {
		if !strings.HasPrefix(s.Type, "CVSS_V3") {
			continue
		}
		if score, ok := cvss3(s.Score); ok {
			switch {
			case score >= 9:
				return scan.Critical
			case score >= 7:
				return scan.High
			case score >= 4:
				return scan.Medium
			case score > 0:
				return scan.Low
			}
			return scan.Info
		}
	}
	return ""
}
