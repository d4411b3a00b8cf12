package vuln_test

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/openagents/trust/shared/scan"
	"github.com/openagents/trust/shared/trust"
	"github.com/openagents/trust/shared/vuln"
)

// FixtureDir is the OSV fixture database of testdata/osv.
const FixtureDir = "../../testdata/osv"

// RealDB is the production-format PyPA database, when present.
const RealDB = "../../../shared/osv/pypa-advisory-database/vulns"

// MustLoad loads an OSV database directory.
func MustLoad(tb testing.TB, dir string) *vuln.DB {
	tb.Helper()
	db, err := vuln.Load(dir)
	if err != nil {
		tb.Fatalf("Load(%s): %v", dir, err)
	}
	return db
}

func ids(advs []*vuln.Advisory) []string {
	out := []string{}
	for _, a := range advs {
		out = append(out, a.ID)
	}
	return out
}

func TestLoad_Fixture(t *testing.T) {
	db := MustLoad(t, FixtureDir)
	if got, want := db.Len(), 9; got != want { // 10 files, one withdrawn
		t.Errorf("Len = %d, want %d", got, want)
	}
}

func TestDB_Lookup(t *testing.T) {
	db := MustLoad(t, FixtureDir)
	for _, tt := range []struct {
		eco, name, version string
		want               []string
	}{
		{vuln.PyPI, "requests", "2.2.0", []string{"PYSEC-2014-13"}},
		{vuln.PyPI, "Requests", "2.2", []string{"PYSEC-2014-13"}},   // PEP 503 name, 2.2 == 2.2.0
		{vuln.PyPI, "requests", "1.0.0", []string{"PYSEC-2014-13"}}, // range, not in the list
		{vuln.PyPI, "requests", "2.3.0", []string{}},                // fixed; withdrawn record ignored
		{vuln.PyPI, "oatest-templates", "0.9", []string{}},          // before introduced
		{vuln.PyPI, "oatest-templates", "1.0", []string{"OATEST-2024-0001"}},
		{vuln.PyPI, "oatest_templates", "1.9.post1", []string{"OATEST-2024-0001"}},
		{vuln.PyPI, "oatest-templates", "2.0.0rc1", []string{"OATEST-2024-0001"}},
		{vuln.PyPI, "oatest-templates", "2.0.0rc2", []string{}},
		{vuln.PyPI, "oatest-templates", "2.0.0", []string{}},
		{vuln.PyPI, "zope-interface-extra", "1.2.2", []string{"OATEST-2024-0002"}},
		{vuln.PyPI, "Zope_Interface.Extra", "1.2.3", []string{}},
		{vuln.PyPI, "zope.interface.extra", "3.1.4", []string{"OATEST-2024-0002"}}, // last_affected is affected
		{vuln.PyPI, "zope.interface.extra", "3.1.5", []string{}},
		{vuln.PyPI, "dateutil-python", "9.9.9", []string{"MAL-2024-9001"}},
		{vuln.Npm, "lodash", "4.17.20", []string{"GHSA-35jh-r3h4-6jhm"}},
		{vuln.Npm, "lodash", "4.17.21", []string{}},
		{vuln.Npm, "Lodash", "4.17.4", []string{"GHSA-35jh-r3h4-6jhm"}},
		{vuln.Npm, "oatest-merge", "2.0.0-beta.1", []string{}},
		{vuln.Npm, "oatest-merge", "2.0.0-beta.2", []string{"OATEST-2024-0101"}},
		{vuln.Npm, "oatest-merge", "2.3.1", []string{"OATEST-2024-0101"}},
		{vuln.Npm, "oatest-merge", "2.3.2", []string{}},
		{vuln.Npm, "@oatest/colour-utils", "1.0.0", []string{"MAL-2024-9101"}},
		{vuln.PyPI, "lodash", "4.17.20", []string{}}, // ecosystems are apart
		{"Debian:12", "libexample1", "1:2.4.1-1", []string{}},
		{"Debian:12", "libexample1", "1:2.4.0-3", []string{"OATEST-2024-0201"}},
		{"Debian:12", "libexample1", "2.9", []string{"OATEST-2024-0201"}}, // epoch 0 < epoch 1
		{"Debian", "libexample1", "1:2.4.0-3", []string{"OATEST-2024-0201"}},
		{"Debian:11", "libexample1", "1:2.4.0-3", []string{}},
		{"Alpine:v3.20", "apkexample", "1.36.1-r15", []string{"OATEST-2024-0202"}},
		{"Alpine:v3.20", "apkexample", "1.36.1-r16", []string{}},
	} {
		if got := ids(db.Lookup(tt.eco, tt.name, tt.version)); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Lookup(%s, %s, %s) = %v, want %v", tt.eco, tt.name, tt.version, got, tt.want)
		}
	}
}

func TestDB_LookupConstraint(t *testing.T) {
	db := MustLoad(t, FixtureDir)
	for _, tt := range []struct {
		eco, name, spec string
		want            []string
	}{
		{vuln.PyPI, "requests", ">=2.0", []string{"PYSEC-2014-13"}},
		{vuln.PyPI, "requests", ">=2.3", []string{}},
		{vuln.PyPI, "requests", "", []string{}}, // fixed long ago: the newest release is fine
		{vuln.PyPI, "requests", "<2.1", []string{"PYSEC-2014-13"}},
		{vuln.PyPI, "oatest-templates", "~=1.5", []string{"OATEST-2024-0001"}},
		{vuln.PyPI, "oatest-templates", ">=2.0.0", []string{}},
		{vuln.PyPI, "dateutil-python", "", []string{"MAL-2024-9001"}},
		{vuln.PyPI, "dateutil-python", ">=3", []string{"MAL-2024-9001"}},
		{vuln.Npm, "lodash", "^4.17.0", []string{"GHSA-35jh-r3h4-6jhm"}},
		{vuln.Npm, "lodash", "^4.17.21", []string{}},
		{vuln.Npm, "oatest-merge", "~2.3.0", []string{"OATEST-2024-0101"}},
		{vuln.Npm, "oatest-merge", ">=2.4.0", []string{}},
		{vuln.Npm, "@oatest/colour-utils", "*", []string{"MAL-2024-9101"}},
	} {
		var c *vuln.Constraint
		if tt.spec != "" && tt.spec != "*" {
			var err error
			if c, err = vuln.ParseConstraint(tt.eco, tt.spec); err != nil {
				t.Fatal(err)
			}
		}
		if got := ids(db.LookupConstraint(tt.eco, tt.name, c)); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("LookupConstraint(%s, %s, %q) = %v, want %v", tt.eco, tt.name, tt.spec, got, tt.want)
		}
	}
}

func TestDB_Advisory(t *testing.T) {
	db := MustLoad(t, FixtureDir)
	for _, tt := range []struct {
		eco, name, version string
		severity           scan.Severity
		aliases            []string
		malicious          bool
	}{
		{vuln.PyPI, "requests", "2.0.0", "", []string{"CVE-2014-1829", "GHSA-cfj3-7x9c-4p3h"}, false},
		{vuln.PyPI, "oatest-templates", "1.0", scan.Critical, []string{"CVE-2099-0001"}, false}, // CVSS 9.8
		{vuln.PyPI, "zope-interface-extra", "1.0", scan.Low, []string{"CVE-2099-0002"}, false},
		{vuln.Npm, "lodash", "4.0.0", scan.High, []string{"CVE-2021-23337"}, false},
		{vuln.Npm, "oatest-merge", "2.1.0", scan.Medium, nil, false},
		{vuln.PyPI, "dateutil-python", "1.0", scan.Critical, nil, true},
	} {
		advs := db.Lookup(tt.eco, tt.name, tt.version)
		if len(advs) != 1 {
			t.Fatalf("Lookup(%s, %s) = %v, want one", tt.name, tt.version, ids(advs))
		}
		a := advs[0]
		if a.Severity != tt.severity || !reflect.DeepEqual(a.Aliases, tt.aliases) || a.Malicious != tt.malicious || a.Summary == "" {
			t.Errorf("%s: got %+v, want severity %q aliases %v malicious %v and a summary", a.ID, *a, tt.severity, tt.aliases, tt.malicious)
		}
	}
}

func TestDB_MatchPackages(t *testing.T) {
	db := MustLoad(t, FixtureDir)
	pkgs := []vuln.Package{
		{Ecosystem: vuln.PyPI, Name: "requests", Version: "2.2.1", Path: "usr/lib/python3/dist-packages/requests-2.2.1.dist-info"},
		{Ecosystem: vuln.PyPI, Name: "requests", Version: "2.32.3"},
		{Ecosystem: vuln.Npm, Name: "lodash", Version: "4.17.15"},
	}
	got := db.MatchPackages(pkgs)
	if len(got) != 2 || got[0].Advisory.ID != "PYSEC-2014-13" || got[0].Package != pkgs[0] || got[1].Advisory.ID != "GHSA-35jh-r3h4-6jhm" {
		t.Errorf("MatchPackages = %+v", got)
	}
	var nilDB *vuln.DB
	if got := nilDB.MatchPackages(pkgs); got != nil || nilDB.Len() != 0 {
		t.Errorf("nil DB matched %v", got)
	}
}

func TestLoad_Err(t *testing.T) {
	for name, files := range map[string]map[string]string{
		"ErrBadJSON":  {"a.json": `{"id": "X-1", "affected": [`},
		"ErrBadYAML":  {"a.yaml": "id: X-1\naffected: [\n"},
		"ErrNoID":     {"a.json": `{"summary": "no id"}`},
		"ErrEmpty":    {"README.md": "# nothing here"},
		"ErrWrongTyp": {"a.json": `{"id": "X-1", "affected": "requests"}`},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			for n, body := range files {
				if err := os.WriteFile(filepath.Join(dir, n), []byte(body), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := vuln.Load(dir); trust.ErrorCode(err) != trust.EINVALID {
				t.Errorf("Load = %v, want EINVALID", err)
			}
		})
	}
	t.Run("ErrMissing", func(t *testing.T) {
		if _, err := vuln.Open(filepath.Join(t.TempDir(), "nope")); trust.ErrorCode(err) != trust.EINVALID {
			t.Errorf("Open = %v, want EINVALID", err)
		}
	})
}

func TestOpen_Cache(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("a.json", `{"id": "X-1", "affected": [{"package": {"ecosystem": "npm", "name": "a"}, "versions": ["1.0.0"]}]}`)
	db1, err := vuln.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	db2, err := vuln.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if db1 != db2 {
		t.Error("second Open loaded again, want the cached DB")
	}
	write("b.json", `{"id": "X-2", "affected": [{"package": {"ecosystem": "npm", "name": "b"}, "versions": ["1.0.0"]}]}`)
	db3, err := vuln.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if db3 == db1 || db3.Len() != 2 {
		t.Errorf("Open after a change: same DB %v, Len %d; want a reload with 2", db3 == db1, db3.Len())
	}
}

func TestLoad_Zip(t *testing.T) {
	zipPath := filepath.Join(t.TempDir(), "all.zip")
	MustZip(t, zipPath, map[string]string{
		"X-1.json": `{"id": "X-1", "affected": [{"package": {"ecosystem": "PyPI", "name": "a"}, "versions": ["1.0"]}]}`,
	})
	db := MustLoad(t, zipPath)
	if got := ids(db.Lookup(vuln.PyPI, "A", "1.0.0")); !reflect.DeepEqual(got, []string{"X-1"}) {
		t.Errorf("Lookup in zip = %v", got)
	}
}

func TestLoad_RealDB(t *testing.T) {
	if _, err := os.Stat(RealDB); err != nil {
		t.Skip("PyPA advisory database not present at", RealDB)
	}
	if testing.Short() || vuln.RaceEnabled {
		t.Skip("loads the whole PyPA database (seconds; ten times that under the race detector)")
	}
	db, err := vuln.Open(RealDB) // shared with TestRealDB_VersionsInRanges
	if err != nil {
		t.Fatal(err)
	}
	if db.Len() < 2000 {
		t.Errorf("Len = %d, want the whole PyPA database", db.Len())
	}
	if got := ids(db.Lookup(vuln.PyPI, "requests", "2.2.1")); len(got) == 0 {
		t.Error("requests 2.2.1 has no advisory in the PyPA database, want PYSEC-2014-13 at least")
	}
}

func BenchmarkLoad_RealDB(b *testing.B) {
	if _, err := os.Stat(RealDB); err != nil {
		b.Skip("PyPA advisory database not present at", RealDB)
	}
	for b.Loop() {
		MustLoad(b, RealDB)
	}
}

func BenchmarkOpen_RealDBCached(b *testing.B) {
	if _, err := os.Stat(RealDB); err != nil {
		b.Skip("PyPA advisory database not present at", RealDB)
	}
	if _, err := vuln.Open(RealDB); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := vuln.Open(RealDB); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkLookup_RealDB(b *testing.B) {
	if _, err := os.Stat(RealDB); err != nil {
		b.Skip("PyPA advisory database not present at", RealDB)
	}
	db := MustLoad(b, RealDB)
	for b.Loop() {
		db.Lookup(vuln.PyPI, "Django", "3.2.1")
	}
}
