package vuln

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func lookupAll(db *DB) map[string][]string {
	out := map[string][]string{}
	for _, q := range [][3]string{
		{PyPI, "requests", "2.2.0"}, {PyPI, "requests", "1.0"}, {PyPI, "oatest-templates", "2.0.0rc1"},
		{PyPI, "zope.interface.extra", "3.1.4"}, {PyPI, "dateutil-python", "2.8.3"}, {Npm, "lodash", "4.17.20"},
		{Npm, "oatest-merge", "2.3.1"}, {Npm, "@oatest/colour-utils", "1.0.0"}, {"Debian", "libexample1", "1:2.4.0-3"},
		{"Debian:12", "libexample1", "1:2.4.0-3"}, {"Alpine:v3.20", "apkexample", "1.36.1-r15"},
	} {
		var ids []string
		for _, a := range db.Lookup(q[0], q[1], q[2]) {
			ids = append(ids, a.ID+"/"+string(a.Severity)+"/"+a.Summary)
		}
		out[q[0]+" "+q[1]+" "+q[2]] = ids
	}
	return out
}

func TestSnapshot_RoundTrip(t *testing.T) {
	db, err := Load("../../testdata/osv")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "snap.gob")
	if err := writeSnapshot(path, "stamp-1", db); err != nil {
		t.Fatal(err)
	}
	got := readSnapshot(path, "stamp-1")
	if got == nil {
		t.Fatal("readSnapshot = nil, want the database")
	}
	if got.Len() != db.Len() || !reflect.DeepEqual(lookupAll(got), lookupAll(db)) {
		t.Errorf("snapshot answers differ:\n got %v\nwant %v", lookupAll(got), lookupAll(db))
	}
	if readSnapshot(path, "stamp-2") != nil {
		t.Error("a snapshot with another fingerprint was used")
	}
	if err := os.WriteFile(path, []byte("not gob"), 0o600); err != nil {
		t.Fatal(err)
	}
	if readSnapshot(path, "stamp-1") != nil {
		t.Error("a corrupt snapshot was used")
	}
}

func TestOpenCached_WritesAndUsesSnapshot(t *testing.T) {
	src, cacheDir := t.TempDir(), t.TempDir()
	rec := `{"id": "X-1", "affected": [{"package": {"ecosystem": "PyPI", "name": "a"}, "versions": ["1.0"]}]}`
	if err := os.WriteFile(filepath.Join(src, "X-1.json"), []byte(rec), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenCached(src, cacheDir); err != nil {
		t.Fatal(err)
	}
	abs, _ := filepath.Abs(src)
	snap := snapshotPath(cacheDir, abs)
	if _, err := os.Stat(snap); err != nil {
		t.Fatalf("no snapshot written: %v", err)
	}
	// A new process: forget the in-process cache, break the source record
	// without changing its size or time… not possible portably, so prove
	// the snapshot is read by making Load impossible: the record is
	// replaced by one that does not decode, with the fingerprint restored.
	info, _ := os.Stat(filepath.Join(src, "X-1.json"))
	bad := []byte(rec[:len(rec)-1] + "!")
	if err := os.WriteFile(filepath.Join(src, "X-1.json"), bad, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(filepath.Join(src, "X-1.json"), info.ModTime(), info.ModTime()); err != nil {
		t.Fatal(err)
	}
	cache.Lock()
	delete(cache.dbs, abs)
	cache.Unlock()
	db, err := OpenCached(src, cacheDir)
	if err != nil {
		t.Fatalf("OpenCached with a valid snapshot: %v", err)
	}
	if len(db.Lookup(PyPI, "a", "1.0")) != 1 {
		t.Error("snapshot database does not match a 1.0")
	}
	// Without the snapshot the broken record fails the load, closed.
	cache.Lock()
	delete(cache.dbs, abs)
	cache.Unlock()
	if _, err := OpenCached(src, ""); err == nil {
		t.Error("Open of a broken record succeeded")
	}
}

func BenchmarkSnapshot_RealDB(b *testing.B) {
	const dir = "../../../shared/osv/pypa-advisory-database/vulns"
	if _, err := os.Stat(dir); err != nil {
		b.Skip("PyPA advisory database not present at", dir)
	}
	db, err := Load(dir)
	if err != nil {
		b.Fatal(err)
	}
	path := filepath.Join(b.TempDir(), "snap.gob")
	if err := writeSnapshot(path, "s", db); err != nil {
		b.Fatal(err)
	}
	info, _ := os.Stat(path)
	for b.Loop() {
		if readSnapshot(path, "s") == nil {
			b.Fatal("snapshot not read")
		}
	}
	b.ReportMetric(float64(info.Size()), "snapshot-bytes")
}
