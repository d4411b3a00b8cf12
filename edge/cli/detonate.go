package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path"
	"strings"
	"time"

	"github.com/openagents/trust/shared/sandbox"
	"github.com/openagents/trust/shared/scan"
)

// runDetonate is `trustctl detonate [--json] DIR...`: run each skill in the
// Linux sandbox with canary credentials and print what it really did and a
// verdict. It exits nonzero when a skill is rejected or cannot be detonated.
func runDetonate(ctx context.Context, env *Env, args []string) error {
	fs := newFlagSet(env, "detonate", "[--json] [--timeout D] DIR...")
	asJSON := fs.Bool("json", false, "print one JSON report per line")
	timeout := fs.Duration("timeout", 5*time.Second, "wall time per entry point")
	dirs, err := parse(fs, args)
	if err != nil {
		return err
	} else if len(dirs) == 0 {
		return usagef("at least one skill folder required")
	} else if *timeout <= 0 || *timeout > 5*time.Minute {
		return usagef("--timeout must be between 0 and 5m")
	}
	sb := sandbox.New()
	sb.EntryTimeout = *timeout
	failed := false
	for _, dir := range dirs {
		r, err := sb.Detonate(ctx, dir)
		if err != nil {
			fmt.Fprintf(env.Stderr, "%s: %s\n", dir, describe(err))
			failed = true
			continue
		}
		if r.Verdict == scan.Reject {
			failed = true
		}
		if *asJSON {
			b, err := json.Marshal(r)
			if err != nil {
				return err
			}
			fmt.Fprintln(env.Stdout, string(b))
		} else {
			writeDetonation(env.Stdout, r)
		}
	}
	if failed {
		return errRefused
	}
	return nil
}

// writeDetonation prints a report for a terminal: the verdict line, then one
// line per observation, grouped by kind.
func writeDetonation(w io.Writer, r *sandbox.Report) {
	name := ""
	if r.Name != "" {
		name = " (" + r.Name + ")"
	}
	fmt.Fprintf(w, "%-7s %s%s: %d entries in %.1fs\n", r.Verdict, r.Dir, name, len(r.Entries), r.Seconds)
	for _, e := range r.Entries {
		how := fmt.Sprintf("exit %d", e.Exit)
		if e.Signal != "" {
			how = "killed by " + e.Signal
		}
		fmt.Fprintf(w, "  entry   %s: %s, %d procs, %.2fs\n", e.Name, how, e.Procs, e.Seconds)
	}
	for _, e := range r.Execs {
		sock := ""
		if len(e.TCPStdio) > 0 {
			sock = fmt.Sprintf(" (standard streams %v on a TCP socket)", e.TCPStdio)
		}
		fmt.Fprintf(w, "  exec    %s%s%s\n", oneLine(strings.Join(e.Argv, " "), 160), errnoSuffix(e.Errno), sock)
	}
	for _, n := range r.Network {
		fmt.Fprintf(w, "  net     %s %s:%d%s\n", n.Op, n.Addr, n.Port, errnoSuffix(n.Errno))
	}
	for _, q := range r.DNS {
		fmt.Fprintf(w, "  dns     %s %s (%s)\n", q.Type, q.Name, q.Via)
	}
	for _, h := range r.HTTP {
		tls := ""
		if h.TLS {
			tls = " tls"
		}
		fmt.Fprintf(w, "  http    :%d%s %s host=%s\n", h.Port, tls, oneLine(h.Line, 120), h.Host)
	}
	for _, f := range r.Files {
		to := ""
		if f.To != "" {
			to = " -> " + f.To
		}
		fmt.Fprintf(w, "  file    %s %s%s%s\n", f.Op, f.Path, to, errnoSuffix(f.Errno))
	}
	for _, l := range r.Leaks {
		fmt.Fprintf(w, "  LEAK    %s via %s: %s\n", l.Canary, l.Where, oneLine(l.Evidence, 160))
	}
	for _, u := range r.Uses {
		fmt.Fprintf(w, "  use     %s via %s (its own service): %s\n", u.Canary, u.Where, oneLine(u.Evidence, 160))
	}
	for _, l := range r.Limits {
		entry := ""
		if l.Entry < len(r.Entries) {
			entry = r.Entries[l.Entry].Name
		}
		fmt.Fprintf(w, "  limit   %s (%s)\n", l.Limit, entry)
	}
	for _, f := range r.Findings {
		where := ""
		if f.File != "" {
			where = " " + path.Clean(f.File)
		}
		fmt.Fprintf(w, "  finding %s %s%s: %s\n", f.RuleID, f.Severity, where, f.Why)
	}
}

func errnoSuffix(e string) string {
	if e == "" {
		return ""
	}
	return " (" + e + ")"
}

func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > n {
		s = s[:n] + "…"
	}
	return s
}
