// Command eval-dynamic detonates the skills of a labelled corpus (LABELS.tsv:
// path, label, category, source) in the sandbox: every malicious skill, and
// the benign skills that static analysis flags or rejects (the high-risk ones
// the pipeline would detonate), or every benign skill with -all-benign. It
// prints the verdicts per label, the malicious skills the sandbox caught that
// static analysis approved, the benign false-flag rate, and the median and
// p95 seconds per skill. Skills run only inside the sandbox, never on the host.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/openagents/trust/shared/sandbox"
	"github.com/openagents/trust/shared/scan"
)

type job struct{ path, label, cat string }

type result struct {
	job
	static  scan.Decision
	dynamic scan.Decision
	lenient scan.Decision // with every undeclared named host (DY002) at high, declared network or not
	rules   []string
	seconds float64
	entries int // entry points run: 0 when the skill has nothing a sandbox can run
	err     error
}

func main() {
	corpus := flag.String("corpus", "../shared/corpus/skills", "corpus folder holding LABELS.tsv")
	allBenign := flag.Bool("all-benign", false, "detonate every benign skill, not only the high-risk ones")
	limit := flag.Int("n", 0, "detonate at most n skills per label (0: all)")
	timeout := flag.Duration("timeout", 3*time.Second, "wall time per entry point")
	verbose := flag.Bool("v", false, "print one line per skill")
	explain := flag.Bool("findings", false, "with -v, also print each skill's findings")
	only := flag.String("only", "", "detonate only skills whose path contains this")
	hostSev := flag.String("host-severity", string(scan.Critical), "severity of a connection to an undeclared named host (critical rejects, high flags)")
	flag.Parse()
	if flag.NArg() > 0 {
		*corpus = flag.Arg(0)
	}
	f, err := os.Open(filepath.Join(*corpus, "LABELS.tsv"))
	if err != nil {
		fmt.Printf("eval-dynamic: skipped: corpus not found at %s (%v)\n", *corpus, err)
		return
	}
	var jobs []job
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		cols := strings.Split(sc.Text(), "\t")
		if len(cols) >= 3 && cols[0] != "path" {
			jobs = append(jobs, job{cols[0], cols[1], cols[2]})
		}
	}
	f.Close()

	sb := sandbox.New()
	sb.EntryTimeout = *timeout
	sb.HostSeverity = scan.Severity(*hostSev)
	perLabel := map[string]int{}
	var results []result
	start := time.Now()
	for _, j := range jobs {
		dir := filepath.Join(*corpus, j.path)
		st, err := scan.Scan(dir)
		if err != nil {
			continue
		}
		if j.label == "benign" && !*allBenign && st.Decision == scan.Approve {
			continue
		}
		if *only != "" && !strings.Contains(j.path, *only) {
			continue
		}
		if *limit > 0 && perLabel[j.label] >= *limit {
			continue
		}
		perLabel[j.label]++
		res := result{job: j, static: st.Decision}
		r, err := sb.Detonate(context.Background(), dir)
		if err != nil {
			res.err = err
		} else {
			res.dynamic, res.seconds, res.entries = r.Verdict, r.Seconds, len(r.Entries)
			soft := append([]scan.Finding(nil), r.Findings...)
			for i := range soft {
				if soft[i].RuleID == sandbox.RuleUndeclaredHost {
					soft[i].Severity = scan.High
				}
			}
			res.lenient = sandbox.Verdict(soft)
			seen := map[string]bool{}
			for _, f := range r.Findings {
				if !seen[f.RuleID] {
					seen[f.RuleID] = true
					res.rules = append(res.rules, f.RuleID)
				}
			}
		}
		if *verbose {
			fmt.Printf("%-9s static=%-7s dynamic=%-7s %5.2fs %s %v %v\n", j.label, res.static, res.dynamic, res.seconds, j.path, res.rules, errString(res.err))
			if *explain && r != nil {
				for _, f := range r.Findings {
					fmt.Printf("    %s %s %s: %s\n", f.RuleID, f.Severity, f.File, f.Evidence)
				}
			}
		}
		results = append(results, res)
	}
	report(results, time.Since(start))
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func report(results []result, total time.Duration) {
	type row struct{ n, approve, flag, reject, errs int }
	rows := map[string]*row{}
	soft := map[string]*row{}
	var secs []float64
	var caught []string
	combined := map[string]*row{}
	for _, r := range results {
		for _, m := range []map[string]*row{rows, combined, soft} {
			if m[r.label] == nil {
				m[r.label] = &row{}
			}
		}
		x := rows[r.label]
		x.n++
		switch {
		case r.err != nil:
			x.errs++
		case r.dynamic == scan.Reject:
			x.reject++
		case r.dynamic == scan.Flag:
			x.flag++
		default:
			x.approve++
		}
		if r.err == nil {
			secs = append(secs, r.seconds)
			s := soft[r.label]
			s.n++
			switch r.lenient {
			case scan.Reject:
				s.reject++
			case scan.Flag:
				s.flag++
			default:
				s.approve++
			}
		}
		c := combined[r.label]
		c.n++
		worst := r.static
		if r.err == nil && rank(r.dynamic) > rank(worst) {
			worst = r.dynamic
		}
		switch worst {
		case scan.Reject:
			c.reject++
		case scan.Flag:
			c.flag++
		default:
			c.approve++
		}
		if r.label == "malicious" && r.static == scan.Approve && r.err == nil && r.dynamic != scan.Approve {
			caught = append(caught, fmt.Sprintf("%s (%s, %v)", r.path, r.dynamic, r.rules))
		}
	}
	pct := func(a, n int) string { return fmt.Sprintf("%d (%d%%)", a, a*100/max(n, 1)) }
	fmt.Println("sandbox verdicts")
	fmt.Printf("%-10s %6s %10s %10s %10s %8s\n", "label", "total", "approve", "flag", "reject", "error")
	for _, l := range []string{"malicious", "benign"} {
		if x := rows[l]; x != nil {
			fmt.Printf("%-10s %6d %10s %10s %10s %8d\n", l, x.n, pct(x.approve, x.n), pct(x.flag, x.n), pct(x.reject, x.n), x.errs)
		}
	}
	fmt.Println("\nsandbox verdicts with every undeclared named host (DY002) at high (flag), declared network or not")
	for _, l := range []string{"malicious", "benign"} {
		if x := soft[l]; x != nil {
			fmt.Printf("%-10s %6d %10s %10s %10s\n", l, x.n, pct(x.approve, x.n), pct(x.flag, x.n), pct(x.reject, x.n))
		}
	}
	fmt.Println("\nstatic and sandbox combined (the stricter decision)")
	for _, l := range []string{"malicious", "benign"} {
		if x := combined[l]; x != nil {
			fmt.Printf("%-10s %6d %10s %10s %10s\n", l, x.n, pct(x.approve, x.n), pct(x.flag, x.n), pct(x.reject, x.n))
		}
	}
	fmt.Println("\nskills with something to run (at least one entry point): the sandbox's reach")
	for _, l := range []string{"malicious", "benign"} {
		ran, hit := 0, 0
		for _, r := range results {
			if r.label == l && r.err == nil && r.entries > 0 {
				ran++
				if r.dynamic != scan.Approve {
					hit++
				}
			}
		}
		if rows[l] != nil {
			fmt.Printf("%-10s %d of %d ran; flagged or rejected: %s\n", l, ran, rows[l].n, pct(hit, ran))
		}
	}
	sort.Strings(caught)
	fmt.Printf("\nmalicious skills static analysis approved and the sandbox flagged or rejected: %d\n", len(caught))
	for _, c := range caught {
		fmt.Println("  " + c)
	}
	sort.Float64s(secs)
	if len(secs) > 0 {
		fmt.Printf("\n%d skills detonated in %s: median %.2fs, p95 %.2fs, max %.2fs per skill\n", len(secs), total.Round(time.Second),
			secs[len(secs)/2], secs[min(len(secs)-1, len(secs)*95/100)], secs[len(secs)-1])
	}
}

func rank(d scan.Decision) int {
	switch d {
	case scan.Reject:
		return 2
	case scan.Flag:
		return 1
	}
	return 0
}
