package api

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"sync"
	"testing"

	"github.com/openagents/trust/shared/trust"
)

func TestBatchCache_Bounded(t *testing.T) {
	c := &batchCache{max: 10 * (1000 + batchEntryOverhead)}
	body := bytes.Repeat([]byte("x"), 1000)
	for i := range 100 {
		c.put(1, sha256.Sum256(fmt.Append(nil, i)), body)
		if n, size := c.len(); size > c.max || n > 10 {
			t.Fatalf("after %d answers: %d held in %d bytes, bound %d", i+1, n, size, c.max)
		}
	}
	// The most recent are kept, the oldest evicted.
	if _, ok := c.get(1, sha256.Sum256(fmt.Append(nil, 99))); !ok {
		t.Fatal("most recent answer evicted")
	} else if _, ok := c.get(1, sha256.Sum256(fmt.Append(nil, 0))); ok {
		t.Fatal("oldest answer kept")
	}
	// An answer larger than the bound is not kept at all.
	big := sha256.Sum256([]byte("big"))
	c.put(1, big, make([]byte, c.max))
	if _, ok := c.get(1, big); ok {
		t.Fatal("answer over the bound kept")
	}
}

func TestBatchCache_Version(t *testing.T) {
	c := &batchCache{max: 1 << 20}
	k := sha256.Sum256([]byte("k"))
	c.put(2, k, []byte("v2"))
	if _, ok := c.get(3, k); ok {
		t.Fatal("answer of version 2 served at version 3")
	}
	c.put(1, k, []byte("v1")) // computed before the change: dropped
	if b, ok := c.get(2, k); !ok || string(b) != "v2" {
		t.Fatalf("got %q, %v; want v2", b, ok)
	}
	c.put(3, k, []byte("v3"))
	if _, ok := c.get(2, k); ok {
		t.Fatal("version 2 served after version 3 was stored")
	} else if n, _ := c.len(); n != 1 {
		t.Fatalf("%d answers held after a new version, want 1", n)
	}
}

func TestAuthCache(t *testing.T) {
	var c authCache
	sum := sha256.Sum256([]byte("oamt_token"))
	m := trust.Machine{ID: "m1", TenantID: "t1"}
	c.put(5, sum, m)
	if got, ok := c.get(5, sum); !ok || got != m {
		t.Fatalf("got %v, %v; want %v", got, ok, m)
	}
	if _, ok := c.get(6, sum); ok {
		t.Fatal("token of version 5 accepted at version 6")
	}
	// Same first half, different digest: refused.
	near := sum
	near[31] ^= 1
	if _, ok := c.get(5, near); ok {
		t.Fatal("digest matching on its first half accepted")
	}
	for i := range authCacheEntries + 10 {
		c.put(5, sha256.Sum256(fmt.Append(nil, i)), m)
		if len(c.entries) > authCacheEntries {
			t.Fatalf("%d tokens held, bound %d", len(c.entries), authCacheEntries)
		}
	}
}

func TestBatchCache_Concurrent(t *testing.T) {
	c := &batchCache{max: 50 * (100 + batchEntryOverhead)}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 2000 {
				v := uint64(i / 100)
				k := sha256.Sum256(fmt.Append(nil, i%70))
				want := fmt.Appendf(nil, "%d/%d", v, i%70)
				if b, ok := c.get(v, k); ok && !bytes.Equal(b, want) {
					t.Errorf("goroutine %d: got %q, want %q", g, b, want)
					return
				}
				c.put(v, k, append(want, make([]byte, 100-len(want))...)[:len(want)])
			}
		})
	}
	wg.Wait()
	if _, size := c.len(); size > c.max {
		t.Fatalf("%d bytes held, bound %d", size, c.max)
	}
}

func TestBatchKey(t *testing.T) {
	a := []trust.SkillRef{{Name: "ab", Version: "c"}}
	b := []trust.SkillRef{{Name: "a", Version: "bc"}}
	if batchKey(a) == batchKey(b) {
		t.Fatal("ab@c and a@bc share a key")
	}
	if batchKey(append(a, b...)) == batchKey(append(b, a...)) {
		t.Fatal("order ignored")
	}
}
