package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	"github.com/openagents/trust/shared/guard"
)

// runGuard is `trustctl guard SUBCOMMAND`: the runtime guard's tools.
func runGuard(ctx context.Context, env *Env, args []string) error {
	if len(args) == 0 {
		return usagef("subcommand required: scan-text")
	}
	switch args[0] {
	case "scan-text":
		return runGuardScanText(ctx, env, args[1:])
	}
	return usagef("unknown subcommand %q: want scan-text", args[0])
}

// maxScanLine caps one input line of scan-text.
const maxScanLine = 64 << 20

// scanTextInput is one input line: the text, and an optional id echoed back.
type scanTextInput struct {
	ID   json.RawMessage `json:"id,omitempty"`
	Text *string         `json:"text"`
}

// scanTextResult is one output line.
type scanTextResult struct {
	ID        json.RawMessage `json:"id,omitempty"`
	Flagged   bool            `json:"flagged"`
	Patterns  []string        `json:"patterns"`
	Removed   map[string]int  `json:"removed"`
	Truncated bool            `json:"truncated"`
	Hidden    string          `json:"hidden,omitempty"`
	Error     string          `json:"error,omitempty"`
}

// runGuardScanText reads JSON Lines with a "text" field on stdin and writes
// one JSON line per input line: whether the injection rules flag it, their
// IDs, and what the sanitizer removed (counts per class, whether it was
// truncated, and any text hidden in Unicode tag characters). An "id" field
// is copied through. A line that is not a JSON object with a string "text"
// gets an "error" and makes the command exit 1 at the end; so does a
// flagged line with --fail-on-flag.
func runGuardScanText(ctx context.Context, env *Env, args []string) error {
	fs := newFlagSet(env, "guard scan-text", "[--fail-on-flag] < input.jsonl")
	failOnFlag := fs.Bool("fail-on-flag", false, "exit 1 if any text is flagged")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	} else if len(pos) > 0 {
		return usagef("unexpected arguments %q: input is read from stdin", pos)
	}
	d := guard.NewDetector()
	sc := bufio.NewScanner(env.Stdin)
	sc.Buffer(make([]byte, 64<<10), maxScanLine)
	out := bufio.NewWriter(env.Stdout)
	defer out.Flush()
	enc := json.NewEncoder(out)
	enc.SetEscapeHTML(false)
	bad, flagged, line := 0, 0, 0
	for sc.Scan() {
		line++
		if err := ctx.Err(); err != nil {
			return err
		}
		raw := bytes.TrimSpace(sc.Bytes())
		if len(raw) == 0 {
			continue
		}
		var in scanTextInput
		var res scanTextResult
		if err := json.Unmarshal(raw, &in); err != nil || in.Text == nil {
			bad++
			res = scanTextResult{ID: in.ID, Patterns: []string{}, Removed: map[string]int{},
				Error: fmt.Sprintf("line %d: want a JSON object with a string \"text\"", line)}
		} else {
			r := d.Inspect(*in.Text)
			res = scanTextResult{ID: in.ID, Flagged: r.Flagged, Patterns: r.Patterns, Removed: r.Report.Removed,
				Truncated: r.Report.Truncated, Hidden: r.Report.Hidden}
			if r.Flagged {
				flagged++
			}
		}
		if err := enc.Encode(res); err != nil {
			return fmt.Errorf("write result: %w", err)
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read input line %d: %w", line+1, err)
	}
	if err := out.Flush(); err != nil {
		return fmt.Errorf("write result: %w", err)
	}
	if bad > 0 {
		fmt.Fprintf(env.Stderr, "trustctl guard scan-text: %d invalid input line(s)\n", bad)
		return errRefused
	}
	if *failOnFlag && flagged > 0 {
		fmt.Fprintf(env.Stderr, "trustctl guard scan-text: %d text(s) flagged\n", flagged)
		return errRefused
	}
	return nil
}
