//go:build integration && linux && amd64

package sandbox

import (
	"context"
	"sort"
	"testing"
	"time"
)

// BenchmarkDetonate detonates every test skill of testdata/sandbox per
// iteration and reports the median and p95 seconds per skill. The sleeper
// and the fork bomb run into the 3 s wall limit by design.
func BenchmarkDetonate(b *testing.B) {
	requireRoot(b)
	dirs := []string{"benign", "dropper", "exfil", "keystealer", "forkbomb", "sleeper", "bashrc", "probe", "https-exfil", "usage", "revshell", "apiuse"}
	s := New()
	s.EntryTimeout = 3 * time.Second
	var secs []float64
	for b.Loop() {
		for _, d := range dirs {
			start := time.Now()
			if _, err := s.Detonate(context.Background(), skills+d); err != nil {
				b.Fatal(err)
			}
			secs = append(secs, time.Since(start).Seconds())
		}
	}
	sort.Float64s(secs)
	b.ReportMetric(secs[len(secs)/2], "median-s/skill")
	b.ReportMetric(secs[min(len(secs)-1, len(secs)*95/100)], "p95-s/skill")
	b.ReportMetric(0, "ns/op")
}
