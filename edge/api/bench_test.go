package api_test

import (
	"context"
	"net/http"
	"runtime"
	"testing"
	"time"

	"github.com/openagents/trust/shared/edgeapi"
)

// BenchmarkBatchLookup measures batch signature lookups of 50 skill versions
// (what a Machine asks at boot), reported as requests per second:
//
//   - Loopback: the client against the server over a real loopback listener,
//     keep-alive connections, requests from GOMAXPROCS goroutines;
//   - LoopbackSerial: the same, one request at a time (latency);
//   - Catalog: the baseline, SignatureService.FindSignatures without HTTP.
func BenchmarkBatchLookup(b *testing.B) {
	s := MustOpenServer(b)
	s.MustPublishTestKeys(b)
	refs := s.MustSignSkills(b, 50)
	if err := s.Open(); err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	token := s.MustMachineToken(b, "bench")

	client := edgeapi.NewClient(s.URL(), token)
	client.HTTPClient.Transport = &http.Transport{
		MaxIdleConns:        256,
		MaxIdleConnsPerHost: 256,
		IdleConnTimeout:     time.Minute,
	}
	lookup := func(ctx context.Context) error {
		m, err := client.FindSignaturesBatch(ctx, refs)
		if err == nil && len(m[refs[0]]) != 1 {
			b.Fatalf("got %d signatures for %s, want 1", len(m[refs[0]]), refs[0])
		}
		return err
	}

	b.Run("Loopback", func(b *testing.B) {
		ctx := context.Background()
		b.ReportAllocs()
		start := time.Now()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := lookup(ctx); err != nil {
					b.Error(err)
					return
				}
			}
		})
		b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "req/s")
		b.ReportMetric(float64(runtime.GOMAXPROCS(0)), "clients")
	})

	b.Run("LoopbackSerial", func(b *testing.B) {
		ctx := context.Background()
		b.ReportAllocs()
		start := time.Now()
		for b.Loop() {
			if err := lookup(ctx); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "req/s")
	})

	b.Run("Catalog", func(b *testing.B) {
		ctx := context.Background()
		b.ReportAllocs()
		start := time.Now()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := s.SignatureService.FindSignatures(ctx, refs); err != nil {
					b.Error(err)
					return
				}
			}
		})
		b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "req/s")
	})
}
