package vuln

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"

	"go.yaml.in/yaml/v3"

	"github.com/openagents/trust/shared/trust"
)

// maxRecordSize bounds one advisory file.
const maxRecordSize = 8 << 20

// source is one advisory file to decode.
type source struct {
	name string
	data []byte
}

// Load reads every *.json, *.yaml and *.yml file below dir (or inside dir,
// when dir is a .zip export such as osv.dev's per-ecosystem all.zip) as an
// OSV record and indexes it. Withdrawn records are skipped. It fails closed:
// a file that does not decode, or a record without an id, makes the whole
// load fail (EINVALID, naming the file), and so does a directory without a
// single advisory.
func Load(dir string) (*DB, error) {
	srcs, err := readSources(dir)
	if err != nil {
		return nil, err
	}
	if len(srcs) == 0 {
		return nil, trust.Errorf(trust.EINVALID, "OSV database %s holds no advisory (*.json, *.yaml)", dir)
	}
	recs := make([]*record, len(srcs))
	errs := make([]error, len(srcs))
	var wg sync.WaitGroup
	next := make(chan int)
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for i := range next {
				recs[i], errs[i] = decode(srcs[i])
			}
		})
	}
	for i := range srcs {
		next <- i
	}
	close(next)
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	db := &DB{Dir: dir, index: map[string][]*entry{}}
	for _, r := range recs {
		if r.Withdrawn != "" {
			continue
		}
		db.add(r)
	}
	return db, nil
}

func readSources(dir string) ([]source, error) {
	if strings.HasSuffix(strings.ToLower(dir), ".zip") {
		return readZip(dir)
	}
	var srcs []source
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("read OSV database: %w", err)
		}
		if d.IsDir() {
			if path != dir && strings.HasPrefix(d.Name(), ".") {
				return filepath.SkipDir
			}
			return nil
		}
		if !isRecordName(d.Name()) || !d.Type().IsRegular() {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return fmt.Errorf("read OSV database: %w", err)
		}
		if info.Size() > maxRecordSize {
			return trust.Errorf(trust.EINVALID, "OSV record %s is larger than %d bytes", path, maxRecordSize)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("read OSV database: %w", err)
		}
		srcs = append(srcs, source{name: path, data: data})
		return nil
	})
	return srcs, err
}

func readZip(path string) ([]source, error) {
	zr, err := zip.OpenReader(path)
	if err != nil {
		return nil, fmt.Errorf("open OSV export %s: %w", path, err)
	}
	defer zr.Close()
	var srcs []source
	for _, f := range zr.File {
		if f.FileInfo().IsDir() || !isRecordName(f.Name) {
			continue
		}
		if f.UncompressedSize64 > maxRecordSize {
			return nil, trust.Errorf(trust.EINVALID, "OSV record %s in %s is larger than %d bytes", f.Name, path, maxRecordSize)
		}
		rc, err := f.Open()
		if err != nil {
			return nil, fmt.Errorf("open %s in %s: %w", f.Name, path, err)
		}
		data, err := io.ReadAll(io.LimitReader(rc, maxRecordSize+1))
		rc.Close()
		if err != nil {
			return nil, fmt.Errorf("read %s in %s: %w", f.Name, path, err)
		}
		srcs = append(srcs, source{name: path + "!" + f.Name, data: data})
	}
	return srcs, nil
}

func isRecordName(name string) bool {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".json", ".yaml", ".yml":
		return true
	}
	return false
}

func decode(s source) (*record, error) {
	r := &record{}
	var err error
	if strings.HasSuffix(strings.ToLower(s.name), ".json") {
		err = json.Unmarshal(s.data, r)
	} else {
		err = yaml.NewDecoder(bytes.NewReader(s.data)).Decode(r)
	}
	if err != nil {
		return nil, trust.Errorf(trust.EINVALID, "OSV record %s does not decode: %v", s.name, err)
	}
	if r.ID == "" {
		return nil, trust.Errorf(trust.EINVALID, "OSV record %s has no id", s.name)
	}
	return r, nil
}

// add indexes one record under each package it affects.
func (db *DB) add(r *record) {
	adv := &Advisory{
		ID:        r.ID,
		Aliases:   r.Aliases,
		Summary:   r.Summary,
		Severity:  severityOf(r),
		Malicious: strings.HasPrefix(r.ID, "MAL-"),
	}
	if adv.Summary == "" {
		adv.Summary = firstSentence(r.Details)
	}
	added := false
	for _, a := range r.Affected {
		eco, name := a.Package.Ecosystem, a.Package.Name
		if eco == "" || name == "" {
			continue
		}
		e := &entry{adv: adv, eco: eco, name: name}
		if len(a.Versions) > 0 {
			e.versions = make(map[string]bool, len(a.Versions))
			for _, v := range a.Versions {
				e.versions[canonical(eco, v)] = true
			}
		}
		for _, rg := range a.Ranges {
			if rg.Type != "ECOSYSTEM" && rg.Type != "SEMVER" {
				continue // GIT ranges name commits, not releases
			}
			evs := append([]event(nil), rg.Events...)
			sortEvents(eco, evs)
			e.ranges = append(e.ranges, osvRange{Type: rg.Type, Events: evs})
		}
		db.insert(e)
		added = true
	}
	if added {
		db.n++
	}
}

// insert indexes one entry under its ecosystem and, for a distribution
// release ("Debian:12"), under the bare ecosystem too.
func (db *DB) insert(e *entry) {
	k := key(e.eco, e.name)
	db.index[k] = append(db.index[k], e)
	if base := baseEcosystem(e.eco); base != e.eco {
		k = key(base, e.name)
		db.index[k] = append(db.index[k], e)
	}
}

// firstSentence returns the first line or sentence of a description, short.
func firstSentence(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexAny(s, "\n"); i >= 0 {
		s = s[:i]
	}
	if i := strings.Index(s, ". "); i >= 0 {
		s = s[:i+1]
	}
	if len(s) > 160 {
		s = s[:157] + "..."
	}
	return s
}

// cache holds the databases Open loaded, by directory.
var cache struct {
	sync.Mutex
	dbs map[string]cached
}

type cached struct {
	stamp string
	db    *DB
}

// Open returns the database at dir, loading it on first use and again only
// when the files in it change (by path, size and modification time).
// Concurrent callers share one load.
func Open(dir string) (*DB, error) { return OpenCached(dir, "") }

// OpenCached is Open with an on-disk snapshot in cacheDir (none when
// empty): a process that finds a snapshot with the directory's current
// fingerprint decodes it instead of parsing every advisory, and one that
// loads the advisories writes the snapshot for the next. A missing,
// stale or unreadable snapshot is only a slower start; a failed load is
// an error as with Load.
func OpenCached(dir, cacheDir string) (*DB, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("OSV database path %s: %w", dir, err)
	}
	stamp, err := fingerprint(abs)
	if err != nil {
		return nil, err
	}
	cache.Lock()
	defer cache.Unlock()
	if c, ok := cache.dbs[abs]; ok && c.stamp == stamp {
		return c.db, nil
	}
	var db *DB
	snap := ""
	if cacheDir != "" {
		snap = snapshotPath(cacheDir, abs)
		db = readSnapshot(snap, stamp)
	}
	if db == nil {
		if db, err = Load(abs); err != nil {
			return nil, err
		}
		if snap != "" {
			_ = writeSnapshot(snap, stamp, db) // a cache: failing to write it only costs the next start
		}
	}
	if cache.dbs == nil {
		cache.dbs = map[string]cached{}
	}
	cache.dbs[abs] = cached{stamp: stamp, db: db}
	return db, nil
}

// fingerprint summarizes the advisory files of dir without reading them.
func fingerprint(dir string) (string, error) {
	info, err := os.Stat(dir)
	if err != nil {
		return "", trust.Errorf(trust.EINVALID, "OSV database %s: %v", dir, pathErr(err))
	}
	if !info.IsDir() {
		return fmt.Sprintf("%d/%d", info.Size(), info.ModTime().UnixNano()), nil
	}
	var lines []string
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || !isRecordName(d.Name()) {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		lines = append(lines, fmt.Sprintf("%s %d %d", path, fi.Size(), fi.ModTime().UnixNano()))
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("read OSV database: %w", err)
	}
	sort.Strings(lines)
	sum := sha256.Sum256([]byte(strings.Join(lines, "\n")))
	return hex.EncodeToString(sum[:]), nil
}

// pathErr names what went wrong with a path without repeating the path.
func pathErr(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}
