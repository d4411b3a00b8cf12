package bundle_test

import (
	"bytes"
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/openagents/trust/shared/bundle"
	"github.com/openagents/trust/shared/digest"
)

// fuzzLimits are small so the fuzzer reaches every limit quickly.
var fuzzLimits = bundle.Limits{MaxCompressed: 64 << 10, MaxExpanded: 256 << 10, MaxFileSize: 128 << 10, MaxFiles: 50, MaxRatio: 20}

// seedFuzz adds the table's archives of the given formats, less the large ones.
func seedFuzz(f *testing.F, formats ...bundle.Format) {
	for _, tc := range extractCases {
		data := tc.data(f)
		if len(data) > 64<<10 {
			continue
		}
		for _, format := range formats {
			if bundle.DetectFormat(data) == format {
				f.Add(data)
			}
		}
	}
	f.Add(MustTar(f, true, tent{name: "../sentinel", body: "pwned"}))
	f.Add(MustZip(f, zent{name: "../sentinel", body: "pwned"}))
}

func FuzzExtractTar(f *testing.F) {
	seedFuzz(f, bundle.FormatTar, bundle.FormatTarGz)
	f.Fuzz(func(t *testing.T, data []byte) { checkExtract(t, data) })
}

func FuzzExtractZip(f *testing.F) {
	seedFuzz(f, bundle.FormatZip)
	f.Fuzz(func(t *testing.T, data []byte) { checkExtract(t, data) })
}

// checkExtract extracts data below base/work with a sentinel in base, and
// checks that nothing outside work changed, that a refusal leaves work empty,
// and that a success leaves a digestible tree within the limits.
func checkExtract(t *testing.T, data []byte) {
	base := t.TempDir()
	sentinel := filepath.Join(base, "sentinel")
	if err := os.WriteFile(sentinel, []byte("sentinel"), 0o644); err != nil {
		t.Fatal(err)
	}
	work := filepath.Join(base, "work")
	if err := os.Mkdir(work, 0o755); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(work, "out")
	_, err := bundle.Extract(context.Background(), bytes.NewReader(data), bundle.FormatAuto, dst, fuzzLimits)

	if got := MustEntries(t, base); len(got) != 2 || got[0] != "sentinel" || got[1] != "work" {
		t.Fatalf("base holds %q", got)
	}
	if b, _ := os.ReadFile(sentinel); string(b) != "sentinel" {
		t.Fatalf("sentinel changed: %q", b)
	}
	if err != nil {
		if bundle.RuleOf(err) == "" {
			t.Fatalf("error without a rule: %v", err)
		}
		if got := MustEntries(t, work); len(got) != 0 {
			t.Fatalf("left behind after %v: %q", err, got)
		}
		return
	}
	if got := MustEntries(t, work); len(got) != 1 {
		t.Fatalf("work holds %q", got)
	}
	var n int
	var total int64
	err = filepath.WalkDir(dst, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dst {
			return err
		}
		n++
		fi, err := d.Info()
		if err != nil {
			return err
		}
		switch m := fi.Mode(); {
		case m.IsDir() && m.Perm() == 0o755:
		case m.IsRegular() && (m.Perm() == 0o644 || m.Perm() == 0o755):
			total += fi.Size()
			if fi.Size() > fuzzLimits.MaxFileSize {
				t.Errorf("%s: %d bytes", p, fi.Size())
			}
		default:
			t.Errorf("%s: mode %v", p, m)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n > fuzzLimits.MaxFiles || total > fuzzLimits.MaxExpanded {
		t.Errorf("limits exceeded: %d entries, %d bytes", n, total)
	}
	if _, err := digest.Content(dst); err != nil {
		t.Errorf("digest of extracted tree: %v", err)
	}
}
