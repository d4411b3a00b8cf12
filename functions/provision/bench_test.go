package provision_test

import (
	"context"
	"strconv"
	"testing"
)

// BenchmarkProvisionAgent provisions a new agent per iteration (app lookup,
// list, launch, token, update, start) against the fake and the SQLite token
// store: the function's own overhead, not Fly's latency.
func BenchmarkProvisionAgent(b *testing.B) {
	e := mustEnv(b)
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, _, err := e.p.ProvisionAgent(ctx, "tenant-1", "agent-"+strconv.Itoa(i)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkProvisionAgent_Again re-provisions one agent: the idempotent path
// (app lookup and list only).
func BenchmarkProvisionAgent_Again(b *testing.B) {
	e := mustEnv(b)
	ctx := context.Background()
	e.MustProvision(b, "tenant-1", "agent-1")
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, _, err := e.p.ProvisionAgent(ctx, "tenant-1", "agent-1"); err != nil {
			b.Fatal(err)
		}
	}
}
