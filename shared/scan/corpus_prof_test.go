package scan

import (
	"os"
	"path/filepath"
	"testing"
)

func BenchmarkCorpus(b *testing.B) {
	root := os.Getenv("SCAN_CORPUS")
	if root == "" {
		b.Skip("SCAN_CORPUS not set")
	}
	dirs, _ := filepath.Glob(filepath.Join(root, "*", "*", "*"))
	for b.Loop() {
		for _, d := range dirs {
			Scan(d)
		}
	}
}
