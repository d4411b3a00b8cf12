package vuln

import (
	"strings"
)

// record is the part of an OSV advisory (https://ossf.github.io/osv-schema/)
// the matcher reads. The same struct decodes the JSON and the YAML form.
type record struct {
	ID               string           `json:"id" yaml:"id"`
	Summary          string           `json:"summary" yaml:"summary"`
	Details          string           `json:"details" yaml:"details"`
	Aliases          []string         `json:"aliases" yaml:"aliases"`
	Withdrawn        string           `json:"withdrawn" yaml:"withdrawn"`
	Severity         []severityEntry  `json:"severity" yaml:"severity"`
	Affected         []affected       `json:"affected" yaml:"affected"`
	DatabaseSpecific databaseSpecific `json:"database_specific" yaml:"database_specific"`
}

type severityEntry struct {
	Type  string `json:"type" yaml:"type"`
	Score string `json:"score" yaml:"score"`
}

type databaseSpecific struct {
	Severity string `json:"severity" yaml:"severity"`
}

type affected struct {
	Package struct {
		Name      string `json:"name" yaml:"name"`
		Ecosystem string `json:"ecosystem" yaml:"ecosystem"`
	} `json:"package" yaml:"package"`
	Ranges           []osvRange       `json:"ranges" yaml:"ranges"`
	Versions         []string         `json:"versions" yaml:"versions"`
	Severity         []severityEntry  `json:"severity" yaml:"severity"`
	DatabaseSpecific databaseSpecific `json:"database_specific" yaml:"database_specific"`
}

type osvRange struct {
	Type   string  `json:"type" yaml:"type"`
	Events []event `json:"events" yaml:"events"`
}

type event struct {
	Introduced   string `json:"introduced,omitempty" yaml:"introduced"`
	Fixed        string `json:"fixed,omitempty" yaml:"fixed"`
	LastAffected string `json:"last_affected,omitempty" yaml:"last_affected"`
	Limit        string `json:"limit,omitempty" yaml:"limit"`
}

// NormalizeName returns the name under which a package is indexed: PEP 503
// for PyPI (lower case, runs of "-", "_" and "." become one "-"), lower case
// for npm (whose names are lower case), unchanged elsewhere.
func NormalizeName(eco, name string) string {
	name = strings.TrimSpace(name)
	switch baseEcosystem(eco) {
	case PyPI:
		var b strings.Builder
		b.Grow(len(name))
		sep := false
		for i := 0; i < len(name); i++ {
			c := name[i]
			if c == '-' || c == '_' || c == '.' {
				sep = true
				continue
			}
			if sep && b.Len() > 0 {
				b.WriteByte('-')
			}
			sep = false
			if c >= 'A' && c <= 'Z' {
				c += 'a' - 'A'
			}
			b.WriteByte(c)
		}
		return b.String()
	case Npm:
		return strings.ToLower(name)
	}
	return name
}
