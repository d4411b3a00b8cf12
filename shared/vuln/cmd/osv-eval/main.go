// Command osv-eval measures the dependency check against a real OSV
// database: for a sample of advisories it writes a skill whose
// requirements.txt pins an affected version, scans it as the pipeline does
// (scan.ScanWith with analyzers.Default), and checks that the advisory is
// reported; then it pins the fixed version and checks that it is not.
//
// The same pins are scanned a second time against a copy of the database
// with every `versions` list removed, so that only the range logic (the
// PEP 440 ordering and the OSV event rules) can find them.
//
//	go run ./shared/vuln/cmd/osv-eval [-n 300] [-seed 1] [-v] OSV_DIR
//
// It reads the advisories with its own minimal decoder, independent of the
// matcher it evaluates.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/openagents/trust/shared/analyzers"
	"github.com/openagents/trust/shared/scan"
)

type advisory struct {
	ID       string `json:"id" yaml:"id"`
	Withdraw string `json:"withdrawn" yaml:"withdrawn"`
	Affected []struct {
		Package struct {
			Name      string `json:"name" yaml:"name"`
			Ecosystem string `json:"ecosystem" yaml:"ecosystem"`
		} `json:"package" yaml:"package"`
		Ranges   []evRange `json:"ranges" yaml:"ranges"`
		Versions []string  `json:"versions" yaml:"versions"`
	} `json:"affected" yaml:"affected"`
}

type evRange struct {
	Type   string              `json:"type" yaml:"type"`
	Events []map[string]string `json:"events" yaml:"events"`
}

// testCase is one advisory with one affected and, when known, one fixed
// version.
type testCase struct {
	id, name, affected, fixed string
	ranged                    bool // the affected version lies in an ECOSYSTEM range
}

// tally counts one kind of check.
type tally struct{ tested, hit int }

func (t tally) String() string {
	p := 0.0
	if t.tested > 0 {
		p = 100 * float64(t.hit) / float64(t.tested)
	}
	return fmt.Sprintf("%d/%d (%.1f%%)", t.hit, t.tested, p)
}

func main() {
	n := flag.Int("n", 300, "advisories to sample")
	seed := flag.Uint64("seed", 1, "sampling seed")
	verbose := flag.Bool("v", false, "print every miss and false positive")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: osv-eval [-n N] [-seed S] [-v] OSV_DIR")
		os.Exit(2)
	}
	if _, err := os.Stat(flag.Arg(0)); err != nil {
		fmt.Printf("osv-eval: skipped: OSV database not found at %s (%v)\n", flag.Arg(0), err)
		return
	}
	if err := run(flag.Arg(0), *n, *seed, *verbose); err != nil {
		fmt.Fprintln(os.Stderr, "osv-eval:", err)
		os.Exit(1)
	}
}

func run(dir string, n int, seed uint64, verbose bool) error {
	t0 := time.Now()
	full, err := analyzers.Default(analyzers.Options{OSVDir: dir})
	if err != nil {
		return err
	}
	loadTime := time.Since(t0)
	tmp, err := os.MkdirTemp("", "osv-eval-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	rangesDir, skillDir := filepath.Join(tmp, "ranges-only"), filepath.Join(tmp, "skill")
	if err := os.Mkdir(skillDir, 0o755); err != nil {
		return err
	}
	cases, total, err := sample(dir, rangesDir, n, seed)
	if err != nil {
		return err
	}
	rangesOnly, err := analyzers.Default(analyzers.Options{OSVDir: rangesDir})
	if err != nil {
		return err
	}

	var recall, rangeRecall, falsePos tally
	skipped := 0
	check := func(t *tally, extra []scan.FileAnalyzer, c testCase, version, what string, want bool) error {
		t.tested++
		got, err := reports(skillDir, extra, c.name, version, c.id)
		if err != nil {
			return err
		}
		if got == want {
			t.hit++
		} else if verbose {
			fmt.Printf("%-28s %s %s==%s\n", what, c.id, c.name, version)
		}
		return nil
	}
	for _, c := range cases {
		if c.affected == "" {
			skipped++
			continue
		}
		if err := check(&recall, full, c, c.affected, "miss", true); err != nil {
			return err
		}
		if c.ranged {
			if err := check(&rangeRecall, rangesOnly, c, c.affected, "miss (ranges only)", true); err != nil {
				return err
			}
		}
		if c.fixed != "" {
			var reported tally
			if err := check(&reported, full, c, c.fixed, "false positive (fixed)", false); err != nil {
				return err
			}
			falsePos.tested++
			falsePos.hit += reported.tested - reported.hit
		}
	}
	fmt.Printf("OSV database: %s (%d advisory files, loaded in %v)\n", dir, total, loadTime.Round(time.Millisecond))
	fmt.Printf("sampled %d advisories (seed %d); %d without a concrete affected version skipped\n", len(cases), seed, skipped)
	fmt.Printf("recall, full database:         %v affected pins reported\n", recall)
	fmt.Printf("recall, versions lists removed: %v affected pins inside a range reported\n", rangeRecall)
	fmt.Printf("false positives:               %v fixed pins still reported\n", falsePos)
	return nil
}

// reports scans a one-file skill pinning name==version and reports whether
// a finding names the advisory id.
func reports(skill string, extra []scan.FileAnalyzer, name, version, id string) (bool, error) {
	if err := os.WriteFile(filepath.Join(skill, "requirements.txt"), []byte(name+"=="+version+"\n"), 0o644); err != nil {
		return false, err
	}
	r, err := scan.ScanWith(skill, extra...)
	if err != nil {
		return false, err
	}
	for _, f := range r.Findings {
		if f.Category != scan.CatDependencies {
			continue
		}
		// Whole IDs only: PYSEC-2021-3 is not PYSEC-2021-30.
		for _, w := range strings.FieldsFunc(f.Why, func(r rune) bool { return r == ' ' || r == ',' || r == '(' || r == ')' || r == ':' }) {
			if w == id {
				return true, nil
			}
		}
	}
	return false, nil
}

// sample reads every advisory, writes its copy without versions lists to
// rangesDir, and picks n at random (seeded) among those with a PyPI
// package.
func sample(dir, rangesDir string, n int, seed uint64) ([]testCase, int, error) {
	if err := os.MkdirAll(rangesDir, 0o755); err != nil {
		return nil, 0, err
	}
	var all []testCase
	total := 0
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		ext := strings.ToLower(filepath.Ext(p))
		if ext != ".yaml" && ext != ".yml" && ext != ".json" {
			return nil
		}
		total++
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		var a advisory
		var raw map[string]any
		if ext == ".json" {
			err = json.Unmarshal(data, &a)
			if err == nil {
				err = json.Unmarshal(data, &raw)
			}
		} else {
			err = yaml.Unmarshal(data, &a)
			if err == nil {
				err = yaml.Unmarshal(data, &raw)
			}
		}
		if err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		if err := writeRangesOnly(rangesDir, total, raw); err != nil {
			return err
		}
		if a.Withdraw != "" {
			return nil
		}
		for _, af := range a.Affected {
			if af.Package.Ecosystem == "PyPI" {
				all = append(all, pick(a.ID, af.Package.Name, af.Versions, af.Ranges))
				break
			}
		}
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	sort.Slice(all, func(i, j int) bool { return all[i].id < all[j].id })
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	rng.Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
	return all[:min(n, len(all))], total, nil
}

// writeRangesOnly writes a record without its affected versions lists.
func writeRangesOnly(dir string, i int, raw map[string]any) error {
	if affected, ok := raw["affected"].([]any); ok {
		for _, a := range affected {
			if m, ok := a.(map[string]any); ok {
				delete(m, "versions")
			}
		}
	}
	data, err := json.Marshal(raw)
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, fmt.Sprintf("%05d.json", i)), data, 0o644)
}

// pick chooses an affected version — the last listed, else the first range
// bound (an introduced version other than "0", or a last_affected) — and a
// fixed version (a range's fixed event) that is not itself listed as
// affected. ranged tells whether the affected version lies in one of the
// record's ECOSYSTEM ranges by the record's own listing (listed, and the
// record has ranges) or by construction (a bound).
func pick(id, name string, versions []string, ranges []evRange) testCase {
	c := testCase{id: id, name: name}
	listed := map[string]bool{}
	for _, v := range versions {
		listed[v] = true
	}
	bound := ""
	hasRange := false
	for _, r := range ranges {
		if r.Type != "ECOSYSTEM" {
			continue
		}
		hasRange = true
		for _, ev := range r.Events {
			if v := ev["introduced"]; v != "" && v != "0" && bound == "" {
				bound = v
			}
			if v := ev["last_affected"]; v != "" && bound == "" {
				bound = v
			}
			if v := ev["fixed"]; c.fixed == "" && v != "" && !listed[v] {
				c.fixed = v
			}
		}
	}
	switch {
	case len(versions) > 0:
		c.affected = versions[len(versions)-1]
		c.ranged = hasRange
	case bound != "":
		c.affected, c.ranged = bound, true
	}
	return c
}
