// Command eval scans every skill of a labelled corpus (LABELS.tsv: path,
// label, category, source) and prints how many were approved, flagged and
// rejected per label and per category prefix, plus throughput (wall clock and
// CPU time). -v lists the misses, -findings their findings, -rules the benign
// and malicious hits of every rule. It only reads the corpus.
//
//	eval [-v] [-findings] [-rules] [CORPUS]
package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/openagents/trust/shared/analyzers"
	"github.com/openagents/trust/shared/scan"
)

type counts map[scan.Decision]int

type job struct{ path, label, cat string }

func main() {
	corpus := flag.String("corpus", "../shared/corpus/skills", "corpus folder holding LABELS.tsv")
	verbose := flag.Bool("v", false, "list malicious skills approved and benign skills rejected or flagged")
	explain := flag.Bool("findings", false, "with -v, also print the medium and higher findings of each listed skill")
	perRule := flag.Bool("rules", false, "print, per rule, how many benign and malicious skills it fired on")
	osv := flag.String("osv", os.Getenv(analyzers.EnvOSVDir), "OSV advisory directory for the dependency check (empty: none); the pipeline's other extra analyzers always run")
	flag.Parse()
	if flag.NArg() > 0 {
		*corpus = flag.Arg(0)
	}
	f, err := os.Open(filepath.Join(*corpus, "LABELS.tsv"))
	if err != nil {
		fmt.Printf("eval: skipped: corpus not found at %s (%v)\n", *corpus, err)
		return
	}
	defer f.Close()
	// Exactly the extra analyzers the pipeline and trustctl scan run.
	extra, err := analyzers.Default(analyzers.Options{OSVDir: *osv})
	if err != nil {
		fmt.Fprintln(os.Stderr, "eval:", err)
		os.Exit(1)
	}
	byLabel := map[string]counts{}
	byPrefix := map[string]counts{}
	var misses []string
	n := 0
	start, cpu0 := time.Now(), cpuTime()
	var jobs []job
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		cols := strings.Split(sc.Text(), "\t")
		if len(cols) < 3 || cols[0] == "path" {
			continue
		}
		jobs = append(jobs, job{cols[0], cols[1], cols[2]})
	}
	// Skills are scanned in parallel, one worker per CPU.
	reports := make([]*scan.Report, len(jobs))
	var wg sync.WaitGroup
	next := make(chan int)
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for i := range next {
				r, err := scan.ScanWith(filepath.Join(*corpus, jobs[i].path), extra...)
				if err != nil {
					fmt.Fprintf(os.Stderr, "%s: %v\n", jobs[i].path, err)
					continue
				}
				reports[i] = r
			}
		})
	}
	for i := range jobs {
		next <- i
	}
	close(next)
	wg.Wait()
	for i, j := range jobs {
		r := reports[i]
		if r == nil {
			continue
		}
		n++
		path, label, cat := j.path, j.label, j.cat
		prefix, _, _ := strings.Cut(cat, ":")
		add(byLabel, label, r.Decision)
		add(byPrefix, label+" "+prefix+":", r.Decision)
		if *verbose && (label == "malicious" && r.Decision == scan.Approve || label == "benign" && r.Decision != scan.Approve) {
			top := ""
			if len(r.Findings) > 0 {
				top = r.Findings[0].RuleID + " " + r.Findings[0].Why
			}
			misses = append(misses, fmt.Sprintf("%-9s %-7s %3d %s  [%s] %s", label, r.Decision, r.Score, path, cat, top))
			for _, f := range r.Findings {
				if *explain && f.Severity.Points() >= scan.Medium.Points() {
					misses = append(misses, fmt.Sprintf("    %s %s %s:%d %s", f.RuleID, f.Severity, f.File, f.Line, f.Evidence))
				}
			}
		}
	}
	el, cpu := time.Since(start), cpuTime()-cpu0
	print := func(title string, m map[string]counts) {
		fmt.Printf("%-28s %6s %8s %8s %8s\n", title, "total", "approve", "flag", "reject")
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			c := m[k]
			t := c[scan.Approve] + c[scan.Flag] + c[scan.Reject]
			fmt.Printf("%-28s %6d %8s %8s %8s\n", k, t, pct(c[scan.Approve], t), pct(c[scan.Flag], t), pct(c[scan.Reject], t))
		}
		fmt.Println()
	}
	print("label", byLabel)
	print("label / category prefix", byPrefix)
	fmt.Printf("%d skills in %v on %d workers: %.0f skills/s\n", n, el.Round(time.Millisecond), runtime.GOMAXPROCS(0), float64(n)/el.Seconds())
	if cpu > 0 {
		// On a shared machine the wall-clock figure depends on the other
		// load; CPU time does not.
		fmt.Printf("CPU time %v: %.0f skills per CPU-second\n", cpu.Round(time.Millisecond), float64(n)/cpu.Seconds())
	}
	for _, m := range misses {
		fmt.Println(m)
	}
	if *perRule {
		printRules(jobs, reports)
	}
}

// printRules prints, per rule, the number of benign and malicious skills with
// at least one finding of it.
func printRules(jobs []job, reports []*scan.Report) {
	type tally struct {
		benign, malicious int
		where             []string // benign skills, to review what a rule hits
	}
	by := map[string]*tally{}
	for i, r := range reports {
		if r == nil {
			continue
		}
		seen := map[string]bool{}
		for _, f := range r.Findings {
			if seen[f.RuleID] {
				continue
			}
			seen[f.RuleID] = true
			if by[f.RuleID] == nil {
				by[f.RuleID] = &tally{}
			}
			if jobs[i].label == "malicious" {
				by[f.RuleID].malicious++
			} else {
				by[f.RuleID].benign++
				by[f.RuleID].where = append(by[f.RuleID].where, jobs[i].path+" ("+f.File+")")
			}
		}
	}
	ids := make([]string, 0, len(by))
	for id := range by {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	fmt.Printf("\n%-8s %7s %9s\n", "rule", "benign", "malicious")
	for _, id := range ids {
		fmt.Printf("%-8s %7d %9d\n", id, by[id].benign, by[id].malicious)
		if len(by[id].where) <= 5 {
			for _, w := range by[id].where {
				fmt.Printf("           benign: %s\n", w)
			}
		}
	}
}

func add(m map[string]counts, k string, d scan.Decision) {
	if m[k] == nil {
		m[k] = counts{}
	}
	m[k][d]++
}

func pct(a, t int) string {
	if t == 0 {
		return "-"
	}
	return fmt.Sprintf("%d (%.0f%%)", a, float64(a)*100/float64(t))
}
