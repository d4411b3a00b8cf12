package digest

import (
	"crypto/sha256"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// benchSkill is a skill of typical size: 8 files in 3 folders, about 80 KiB (the
// median real-world skill is smaller, about 11 KiB in 2 files).
var benchSkill = []node{
	{path: "SKILL.md", data: benchText(6 << 10)},
	{path: "README.md", data: benchText(4 << 10)},
	{path: "scripts/run.sh", data: benchText(2 << 10), mode: 0o755},
	{path: "scripts/helper.py", data: benchText(6 << 10)},
	{path: "references/api.md", data: benchText(16 << 10)},
	{path: "references/examples.md", data: benchText(12 << 10)},
	{path: "references/forms.md", data: benchText(8 << 10)},
	{path: "assets/data.json", data: benchText(28 << 10)},
}

func benchText(n int) string {
	return strings.Repeat("The quick brown fox jumps over the lazy dog.\n", n/45+1)[:n]
}

// BenchmarkContent measures content digests: the sample skill, the 50 skills a
// Machine verifies at boot, and one large file. Each has a Baseline that only
// reads and hashes the same file contents, without walking, checking or taring.
func BenchmarkContent(b *testing.B) {
	b.Run("Hello", func(b *testing.B) {
		benchContent(b, []string{filepath.Join(skillsDir, "hello")})
	})
	b.Run("Hello/Baseline", func(b *testing.B) {
		benchBaseline(b, []string{filepath.Join(skillsDir, "hello")})
	})

	skills := make([]string, 50)
	base := b.TempDir()
	for i := range skills {
		skills[i] = filepath.Join(base, fmt.Sprintf("skill-%02d", i))
		MustTree(b, skills[i], benchSkill)
	}
	b.Run("50Skills", func(b *testing.B) { benchContent(b, skills) })
	b.Run("50Skills/Baseline", func(b *testing.B) { benchBaseline(b, skills) })

	large := filepath.Join(b.TempDir(), "large")
	MustWriteFile(b, filepath.Join(large, "model.bin"), strings.Repeat("x", 64<<20), 0o644)
	b.Run("64MiB", func(b *testing.B) { benchContent(b, []string{large}) })
	b.Run("64MiB/Baseline", func(b *testing.B) { benchBaseline(b, []string{large}) })
}

func benchContent(b *testing.B, dirs []string) {
	b.SetBytes(treeSize(b, dirs))
	b.ReportAllocs()
	for b.Loop() {
		for _, dir := range dirs {
			if _, err := Content(dir); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// benchBaseline reads and hashes the regular files of dirs, in walk order.
func benchBaseline(b *testing.B, dirs []string) {
	var files []string
	for _, dir := range dirs {
		err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.Type().IsRegular() {
				files = append(files, p)
			}
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(treeSize(b, dirs))
	b.ReportAllocs()
	buf := make([]byte, 128<<10)
	for b.Loop() {
		h := sha256.New()
		for _, name := range files {
			f, err := os.Open(name)
			if err != nil {
				b.Fatal(err)
			}
			_, err = io.CopyBuffer(h, struct{ io.Reader }{f}, buf)
			f.Close()
			if err != nil {
				b.Fatal(err)
			}
		}
		h.Sum(nil)
	}
}

// treeSize returns the total size of the regular files under dirs.
func treeSize(tb testing.TB, dirs []string) int64 {
	tb.Helper()
	var n int64
	for _, dir := range dirs {
		err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil || !d.Type().IsRegular() {
				return err
			}
			fi, err := d.Info()
			n += fi.Size()
			return err
		})
		if err != nil {
			tb.Fatal(err)
		}
	}
	return n
}
