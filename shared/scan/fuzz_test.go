package scan

import (
	"strings"
	"testing"
)

func FuzzShell(f *testing.F) {
	for _, tt := range shellCases {
		f.Add(tt.src)
	}
	for _, tt := range flowCases {
		f.Add(tt.src)
	}
	f.Fuzz(func(t *testing.T, src string) {
		newScanner().shell("x.sh", 1, src)
	})
}

func FuzzMarkdown(f *testing.F) {
	for _, tt := range markdownCases {
		f.Add(tt.md)
	}
	f.Fuzz(func(t *testing.T, md string) {
		s := newScanner()
		s.file("SKILL.md", md)
		for _, x := range s.findings {
			if len(x.Evidence) > maxEvidence+len("…") {
				t.Fatalf("evidence too long: %d", len(x.Evidence))
			}
		}
	})
}

func FuzzCode(f *testing.F) {
	for _, tt := range codeCases {
		f.Add(tt.name, tt.src)
	}
	f.Fuzz(func(t *testing.T, name, src string) {
		if !strings.HasSuffix(name, ".py") && !strings.HasSuffix(name, ".js") {
			name += ".py"
		}
		s := newScanner()
		s.file(name, src)
		s.correlate(readDeclared(src))
	})
}

func FuzzBlobs(f *testing.F) {
	for _, tt := range blobCases {
		f.Add(tt.text)
	}
	f.Fuzz(func(t *testing.T, text string) {
		newScanner().blobs("f", 1, text)
	})
}

func BenchmarkScan(b *testing.B) {
	for b.Loop() {
		for _, n := range []string{"benign-notes", "vendor-installer", "paste-prerequisite", "base64-pipe", "persistence"} {
			MustScan(b, n)
		}
	}
}
