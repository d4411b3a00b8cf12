package vuln

import (
	"crypto/sha256"
	"encoding/gob"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
)

// snapshotFormat changes whenever the snapshot's shape or the meaning of
// its fields (canonical versions, severities) changes.
const snapshotFormat = 1

// snapshot is a loaded database as gob writes it.
type snapshot struct {
	Format     int
	Stamp      string
	Dir        string
	Count      int
	Advisories []Advisory
	Entries    []snapEntry
}

type snapEntry struct {
	Adv      int // index in Advisories
	Eco      string
	Name     string
	Versions []string
	Ranges   []osvRange
}

// snapshotPath names the snapshot of the database at abs in cacheDir.
func snapshotPath(cacheDir, abs string) string {
	sum := sha256.Sum256([]byte(abs))
	return filepath.Join(cacheDir, "osv-"+hex.EncodeToString(sum[:8])+".gob")
}

// readSnapshot returns the database in path if it is a snapshot of the
// current format with the given fingerprint, else nil.
func readSnapshot(path, stamp string) *DB {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	var s snapshot
	if gob.NewDecoder(f).Decode(&s) != nil || s.Format != snapshotFormat || s.Stamp != stamp {
		return nil
	}
	db := &DB{Dir: s.Dir, index: map[string][]*entry{}, n: s.Count}
	advs := make([]*Advisory, len(s.Advisories))
	for i := range s.Advisories {
		advs[i] = &s.Advisories[i]
	}
	for _, se := range s.Entries {
		if se.Adv < 0 || se.Adv >= len(advs) {
			return nil
		}
		e := &entry{adv: advs[se.Adv], eco: se.Eco, name: se.Name, ranges: se.Ranges}
		if len(se.Versions) > 0 {
			e.versions = make(map[string]bool, len(se.Versions))
			for _, v := range se.Versions {
				e.versions[v] = true
			}
		}
		db.insert(e)
	}
	return db
}

// writeSnapshot writes db to path atomically (a temporary file renamed).
func writeSnapshot(path, stamp string, db *DB) error {
	s := snapshot{Format: snapshotFormat, Stamp: stamp, Dir: db.Dir, Count: db.n}
	ids := map[*Advisory]int{}
	seen := map[*entry]bool{}
	for _, es := range db.index {
		for _, e := range es {
			if seen[e] {
				continue // a distribution entry is indexed twice
			}
			seen[e] = true
			i, ok := ids[e.adv]
			if !ok {
				i = len(s.Advisories)
				ids[e.adv] = i
				s.Advisories = append(s.Advisories, *e.adv)
			}
			se := snapEntry{Adv: i, Eco: e.eco, Name: e.name, Ranges: e.ranges}
			for v := range e.versions {
				se.Versions = append(se.Versions, v)
			}
			s.Entries = append(s.Entries, se)
		}
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("snapshot dir: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".osv-snapshot-*")
	if err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := gob.NewEncoder(tmp).Encode(&s); err != nil {
		tmp.Close()
		return fmt.Errorf("encode snapshot: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	return os.Rename(tmp.Name(), path)
}
