package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestRun(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		var out bytes.Buffer
		if err := run(&out, "../../../../testdata/guard/corpus", 1, false); err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{
			"mini.jsonl                               benign         2        0    0.0%",
			"mini.jsonl                               injection      2        1   50.0%",
			"injection recall direct             1 texts,     1 flagged (100.0%)",
			"injection recall indirect           1 texts,     0 flagged (0.0%)",
			"benign flagged target <= 2% per file: met",
			"throughput sanitize+flag:",
		} {
			if !strings.Contains(squash(out.String()), squash(want)) {
				t.Errorf("output lacks %q:\n%s", want, out.String())
			}
		}
	})
	t.Run("SkipsMissingCorpus", func(t *testing.T) {
		var out bytes.Buffer
		if err := run(&out, "no-such-dir", 1, false); err != nil || !strings.Contains(out.String(), "skipping") {
			t.Fatalf("err = %v, out %q", err, out.String())
		}
	})
	t.Run("ErrNoFiles", func(t *testing.T) {
		if err := run(&bytes.Buffer{}, t.TempDir(), 1, false); err == nil {
			t.Fatal("want an error for a folder without *.jsonl")
		}
	})
}

// squash collapses runs of spaces, so column widths do not matter.
func squash(s string) string { return strings.Join(strings.Fields(s), " ") }
