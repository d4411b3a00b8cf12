package vuln

import (
	"os"
	"testing"
)

// TestRealDB_VersionsInRanges checks the PEP 440 ordering against the PyPA
// database itself: its `versions` lists are enumerated from its ranges, so
// every listed version that parses must fall inside one of the record's
// ECOSYSTEM ranges.
func TestRealDB_VersionsInRanges(t *testing.T) {
	const dir = "../../../shared/osv/pypa-advisory-database/vulns"
	if _, err := os.Stat(dir); err != nil {
		t.Skip("PyPA advisory database not present at", dir)
	}
	if testing.Short() || raceEnabled {
		t.Skip("loads the whole PyPA database (seconds; ten times that under the race detector)")
	}
	db, err := Open(dir) // shared with TestLoad_RealDB
	if err != nil {
		t.Fatal(err)
	}
	checked, outside := 0, 0
	for _, es := range db.index {
		for _, e := range es {
			if len(e.ranges) == 0 {
				continue
			}
			for v := range e.versions {
				if _, ok := parsePEP440(v); !ok {
					continue
				}
				checked++
				in := false
				for _, r := range e.ranges {
					in = in || inRange(e.eco, r.Events, v)
				}
				if !in {
					outside++
					if outside <= 10 {
						t.Logf("%s: listed version %s outside its ranges %+v", e.adv.ID, v, e.ranges)
					}
				}
			}
		}
	}
	t.Logf("%d listed versions checked, %d outside their ranges", checked, outside)
	if checked == 0 || outside*1000 > checked { // allow 0.1% for upstream data errors
		t.Errorf("%d of %d listed versions fall outside their ranges", outside, checked)
	}
}
