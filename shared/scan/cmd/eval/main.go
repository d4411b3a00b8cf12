// Command eval scans every skill of a labelled corpus (LABELS.tsv: path,
// label, category, source) and prints how many were approved, flagged and
// rejected per label and per category prefix, plus throughput. It only reads
// the corpus.
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

	"github.com/openagents/trust/shared/scan"
)

type counts map[scan.Decision]int

func main() {
	corpus := flag.String("corpus", "../shared/corpus/skills", "corpus folder holding LABELS.tsv")
	verbose := flag.Bool("v", false, "list malicious skills approved and benign skills rejected or flagged")
	flag.Parse()
	f, err := os.Open(filepath.Join(*corpus, "LABELS.tsv"))
	if err != nil {
		fmt.Printf("eval: skipped: corpus not found at %s (%v)\n", *corpus, err)
		return
	}
	defer f.Close()
	byLabel := map[string]counts{}
	byPrefix := map[string]counts{}
	var misses []string
	n := 0
	start := time.Now()
	type job struct{ path, label, cat string }
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
				r, err := scan.Scan(filepath.Join(*corpus, jobs[i].path))
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
		}
	}
	el := time.Since(start)
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
	for _, m := range misses {
		fmt.Println(m)
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
