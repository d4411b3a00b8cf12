package vuln

import "testing"

func TestTyposquat(t *testing.T) {
	for _, tt := range []struct {
		eco, name, want string
	}{
		{PyPI, "reqeusts", "requests"},               // swapped letters
		{PyPI, "requestss", "requests"},              // insertion
		{PyPI, "requets", "requests"},                // deletion
		{PyPI, "beautifulsoup5", "beautifulsoup4"},   // substitution
		{PyPI, "dateutil-python", "python-dateutil"}, // words reordered
		{PyPI, "pythondateutil", "python-dateutil"},  // separators removed
		{PyPI, "py-yaml", "pyyaml"},                  // separator added
		{PyPI, "Djangoo", ""},                        // django is not in the list: no claim
		{Npm, "lodahs", "lodash"},
		{Npm, "expresss", "express"},
		{Npm, "crossenv", "cross-env"},
		{Npm, "axois", "axios"},
		// Not squats.
		{PyPI, "requests", ""},
		{PyPI, "Python_Dateutil", ""}, // the real name, PEP 503 spelling
		{PyPI, "scapy", ""},           // legitimate neighbour of scipy
		{PyPI, "boto", ""},
		{PyPI, "psycopg", ""},
		{PyPI, "six", ""}, // short names are not compared
		{PyPI, "pytest-xdist", ""},
		{PyPI, "myownpackage", ""},
		{Npm, "preact", ""},
		{Npm, "react", ""},
		{Npm, "vue", ""},
		{Npm, "react-is", ""},
		{PyPI, "pymssql", ""}, // not pymysql
		{Npm, "color", ""},    // not colors
		{"Go", "requets", ""},
	} {
		got, ok := Typosquat(tt.eco, tt.name)
		if got != tt.want || ok != (tt.want != "") {
			t.Errorf("Typosquat(%s, %q) = %q, %v; want %q", tt.eco, tt.name, got, ok, tt.want)
		}
	}
}

func TestOneEdit(t *testing.T) {
	for _, tt := range []struct {
		a, b string
		want bool
	}{
		{"abc", "abd", true}, {"abc", "acb", true}, {"abc", "abcd", true}, {"abc", "bc", true},
		{"abc", "abc", false}, {"abc", "cba", false}, {"abc", "abcde", false}, {"ab", "ba", true},
	} {
		if got := oneEdit(tt.a, tt.b); got != tt.want {
			t.Errorf("oneEdit(%q, %q) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
	}
}

// TestPopularNotSquats: no popular name is reported as a squat of another.
func TestPopularNotSquats(t *testing.T) {
	for eco, names := range map[string][]string{PyPI: popularPyPI, Npm: popularNpm} {
		for _, n := range names {
			if p, ok := Typosquat(eco, n); ok {
				t.Errorf("popular %s %q reported as a squat of %q", eco, n, p)
			}
		}
	}
}
