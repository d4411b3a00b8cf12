package seal_test

import (
	"context"
	"testing"

	"github.com/openagents/trust/shared/seal"
)

// BenchmarkSeal and BenchmarkOpen measure one API-key-sized secret (a fresh
// data key, its wrap, and the secret's encryption) with a FileKEK.
func BenchmarkSeal(b *testing.B) {
	s := seal.New(MustKEK(b, 1))
	secret, ad := []byte(canary), seal.Context("tenant", "user-api-key", "openai", "1")
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Seal(ctx, secret, ad); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkOpen(b *testing.B) {
	s := seal.New(MustKEK(b, 1))
	ad := seal.Context("tenant", "user-api-key", "openai", "1")
	ctx := context.Background()
	blob, err := s.Seal(ctx, []byte(canary), ad)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Open(ctx, blob, ad); err != nil {
			b.Fatal(err)
		}
	}
}
