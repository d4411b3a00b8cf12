package scan

import (
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkScanCorpus scans every skill of the labelled corpus once per
// iteration, one goroutine (make eval measures the parallel figure). The
// corpus is SCAN_CORPUS, or ../../../shared/corpus/skills when present.
func BenchmarkScanCorpus(b *testing.B) {
	root := os.Getenv("SCAN_CORPUS")
	if root == "" {
		root = filepath.Join("..", "..", "..", "shared", "corpus", "skills")
	}
	dirs, _ := filepath.Glob(filepath.Join(root, "*", "*", "*"))
	if len(dirs) == 0 {
		b.Skip("no corpus at " + root + " (set SCAN_CORPUS)")
	}
	var size int64
	for _, d := range dirs {
		filepath.WalkDir(d, func(_ string, e os.DirEntry, err error) error {
			if err == nil && e.Type().IsRegular() {
				if info, err := e.Info(); err == nil {
					size += info.Size()
				}
			}
			return nil
		})
	}
	b.SetBytes(size)
	for b.Loop() {
		for _, d := range dirs {
			if _, err := Scan(d); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(len(dirs)*b.N)/b.Elapsed().Seconds(), "skills/s")
}
