// Command eval-injection measures the runtime guard's injection flagging on a
// labelled corpus: JSON Lines files with "text", "label" ("injection" or
// "benign") and "category". It prints, per file and per label, how many texts
// were flagged, the recall on direct injections, the benign flagged rate
// against its 2% target, and the throughput of sanitize + flag in MB/s on one
// core.
//
//	eval-injection [-rounds N] DIR
//
// The corpus is read as text only; nothing in it is executed.
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/openagents/trust/shared/guard"
)

type record struct {
	Text     string `json:"text"`
	Label    string `json:"label"`
	Category string `json:"category"`
}

type tally struct{ n, flagged int }

func (t tally) rate() float64 {
	if t.n == 0 {
		return 0
	}
	return 100 * float64(t.flagged) / float64(t.n)
}

func main() {
	rounds := flag.Int("rounds", 5, "passes over the corpus for the throughput figure")
	verbose := flag.Bool("v", false, "print the ID of every flagged benign text (for triage)")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: eval-injection [-rounds N] [-v] DIR")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 1 {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(os.Stdout, flag.Arg(0), *rounds, *verbose); err != nil {
		fmt.Fprintln(os.Stderr, "eval-injection:", err)
		os.Exit(1)
	}
}

func run(w io.Writer, dir string, rounds int, verbose bool) error {
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		fmt.Fprintf(w, "corpus %s not found: skipping the injection evaluation\n", dir)
		return nil
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.jsonl"))
	if err != nil {
		return err
	} else if len(files) == 0 {
		return fmt.Errorf("no *.jsonl files in %s (is the corpus there?)", dir)
	}
	sort.Strings(files)
	d := guard.NewDetector()
	var all []record
	byLabel := map[string]*tally{}
	byPrefix := map[string]*tally{}
	var benignFileWorst float64
	fmt.Fprintf(w, "%-40s %-9s %6s %8s %7s\n", "file", "label", "texts", "flagged", "rate")
	for _, f := range files {
		recs, err := readFile(f)
		if err != nil {
			return err
		}
		all = append(all, recs...)
		perLabel := map[string]*tally{}
		for _, r := range recs {
			in := d.Inspect(r.Text)
			for _, m := range []map[string]*tally{perLabel, byLabel} {
				if m[r.Label] == nil {
					m[r.Label] = &tally{}
				}
				m[r.Label].n++
				if in.Flagged {
					m[r.Label].flagged++
				}
			}
			if r.Label == "injection" {
				p := prefix(r.Category)
				if byPrefix[p] == nil {
					byPrefix[p] = &tally{}
				}
				byPrefix[p].n++
				if in.Flagged {
					byPrefix[p].flagged++
				}
			}
			if verbose && r.Label == "benign" && in.Flagged {
				fmt.Fprintf(w, "  benign flagged %s: %v\n", filepath.Base(f), in.Patterns)
			}
		}
		labels := make([]string, 0, len(perLabel))
		for l := range perLabel {
			labels = append(labels, l)
		}
		sort.Strings(labels)
		for _, l := range labels {
			t := perLabel[l]
			fmt.Fprintf(w, "%-40s %-9s %6d %8d %6.1f%%\n", filepath.Base(f), l, t.n, t.flagged, t.rate())
			if l == "benign" && t.rate() > benignFileWorst {
				benignFileWorst = t.rate()
			}
		}
	}
	fmt.Fprintln(w)
	for _, l := range []string{"injection", "benign"} {
		if t := byLabel[l]; t != nil {
			fmt.Fprintf(w, "all %-9s %5d texts, %5d flagged (%.1f%%)\n", l, t.n, t.flagged, t.rate())
		}
	}
	prefixes := make([]string, 0, len(byPrefix))
	for p := range byPrefix {
		prefixes = append(prefixes, p)
	}
	sort.Strings(prefixes)
	for _, p := range prefixes {
		t := byPrefix[p]
		fmt.Fprintf(w, "injection recall %-12s %5d texts, %5d flagged (%.1f%%)\n", p, t.n, t.flagged, t.rate())
	}
	verdict := "met"
	if b := byLabel["benign"]; b != nil && (b.rate() > 2 || benignFileWorst > 2) {
		verdict = "MISSED"
	}
	fmt.Fprintf(w, "benign flagged target <= 2%% per file: %s (worst file %.1f%%)\n", verdict, benignFileWorst)

	// Throughput: sanitize + flag, one goroutine, so the figure is per core.
	var bytes int
	for _, r := range all {
		bytes += len(r.Text)
	}
	if rounds < 1 {
		rounds = 1
	}
	runtime.GC()
	cpu0 := cpuTime()
	start := time.Now()
	for i := 0; i < rounds; i++ {
		for _, r := range all {
			d.Inspect(r.Text)
		}
	}
	wall := time.Since(start).Seconds()
	cpu := (cpuTime() - cpu0).Seconds()
	mb := float64(bytes*rounds) / 1e6
	// CPU time is the honest per-core figure on a shared machine; wall
	// time is shown too.
	fmt.Fprintf(w, "throughput sanitize+flag: %.1f MB/s per core of CPU time, %.1f MB/s wall (%d texts, %.2f MB x %d rounds, %.2fs CPU, %.2fs wall, one goroutine)\n",
		mb/cpu, mb/wall, len(all), float64(bytes)/1e6, rounds, cpu, wall)
	return nil
}

// prefix returns the category's first segment ("direct", "indirect", …).
func prefix(category string) string {
	if i := strings.IndexByte(category, '/'); i >= 0 {
		return category[:i]
	}
	if category == "" {
		return "(none)"
	}
	return category
}

func readFile(name string) ([]record, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var recs []record
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	line := 0
	for sc.Scan() {
		line++
		if strings.TrimSpace(sc.Text()) == "" {
			continue
		}
		var r record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", name, line, err)
		}
		recs = append(recs, r)
	}
	return recs, sc.Err()
}

// cpuTime returns the user + system CPU time the process has used so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
