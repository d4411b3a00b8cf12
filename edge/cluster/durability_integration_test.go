//go:build integration

package cluster_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/openagents/trust/edge/cluster"
	"github.com/openagents/trust/shared/trust"
)

// Kill -9 the primary while signatures are being written through every node,
// restart it, and find every acknowledged signature on every node. Before the
// restart, each acknowledged signature must already be on at least one
// replica: that is what the acknowledgement promised.
func TestIntegration_Durability(t *testing.T) {
	c := MustStart(t, 1)
	primary, replicas := c.Nodes[0], c.Nodes[1:]
	s := MustPublishKey(t, replicas[0], "durable")

	var (
		mu    sync.Mutex
		acked []trust.SkillRef
	)
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ctx.Err() == nil; i++ {
				n := c.Nodes[(w+i)%len(c.Nodes)]
				ref := trust.SkillRef{Name: fmt.Sprintf("durable-%d", w), Version: fmt.Sprintf("1.0.%d", i)}
				if _, err := s.Sign(context.Background(), Client(n), ref.Name, ref.Version); err != nil {
					time.Sleep(20 * time.Millisecond) // the primary is down: not acknowledged
					continue
				}
				mu.Lock()
				acked = append(acked, ref)
				mu.Unlock()
			}
		}()
	}

	time.Sleep(1500 * time.Millisecond)
	primary.Kill()
	killedAt := len(snapshot(&mu, &acked))
	time.Sleep(500 * time.Millisecond)
	stop()
	wg.Wait()
	refs := snapshot(&mu, &acked)
	if killedAt < 20 {
		t.Fatalf("only %d signatures acknowledged before the kill; the test needs writes in flight", killedAt)
	}
	t.Logf("%d signatures acknowledged (%d before the kill)", len(refs), killedAt)

	// The primary is down: every acknowledged signature is on a replica.
	have := make(map[trust.SkillRef]int)
	for _, n := range replicas {
		for _, ref := range mustFind(t, n, refs) {
			have[ref]++
		}
	}
	for _, ref := range refs {
		if have[ref] < 1 {
			t.Errorf("acknowledged signature %s is on no replica while the primary is down", ref)
		}
	}

	// Restart the primary; then every node holds every acknowledged signature.
	rctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := primary.StartLiteFS(rctx); err != nil {
		t.Fatal(err)
	}
	if err := primary.StartEdge(rctx); err != nil {
		t.Fatal(err)
	}
	for _, n := range c.Nodes {
		deadline := time.Now().Add(30 * time.Second)
		for {
			found := mustFind(t, n, refs)
			if len(found) == len(refs) {
				break
			} else if time.Now().After(deadline) {
				t.Fatalf("%s holds %d of %d acknowledged signatures after the restart", n.Name, len(found), len(refs))
			}
			time.Sleep(100 * time.Millisecond)
		}
	}

	// And the cluster takes writes again, through a replica, once it has
	// reconnected to the primary.
	for deadline := time.Now().Add(30 * time.Second); ; {
		_, err := s.Sign(rctx, Client(replicas[1]), "after-restart", "1.0.0")
		if err == nil {
			break
		} else if trust.ErrorCode(err) != trust.EUNAVAILABLE || time.Now().After(deadline) {
			t.Fatalf("write after the restart: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func snapshot(mu *sync.Mutex, refs *[]trust.SkillRef) []trust.SkillRef {
	mu.Lock()
	defer mu.Unlock()
	return append([]trust.SkillRef(nil), *refs...)
}

// mustFind returns the refs that have a signature at node n.
func mustFind(t *testing.T, n *cluster.Node, refs []trust.SkillRef) []trust.SkillRef {
	t.Helper()
	m, err := Client(n).FindSignaturesBatch(context.Background(), refs)
	if err != nil {
		t.Fatalf("batch lookup at %s: %v", n.Name, err)
	}
	var found []trust.SkillRef
	for _, ref := range refs {
		if len(m[ref]) > 0 {
			found = append(found, ref)
		}
	}
	return found
}
