//go:build integration

package cluster_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/openagents/trust/shared/edgeapi"
	"github.com/openagents/trust/shared/trust"
)

// One cluster for every property of replication but durability.
func TestIntegration_Replication(t *testing.T) {
	c := MustStart(t, 1)
	ctx := context.Background()
	primary, replica := c.Nodes[0], c.Nodes[1]

	t.Run("ReadYourWrites", func(t *testing.T) {
		// Every write goes through a replica and is read back at once from the
		// same replica: the key, the skill version and the signature.
		s := MustPublishKey(t, replica, "ryw")
		kr, err := Client(replica).FindKeyring(ctx)
		if err != nil {
			t.Fatal(err)
		} else if kr.Find("ryw", s.kv.Version) == nil {
			t.Fatalf("key ryw:%d not readable at %s right after its write", s.kv.Version, replica.Name)
		}
		for i := range 20 {
			n := c.Nodes[1+i%2]
			version := "1.0." + string(rune('a'+i))
			env, err := s.Sign(ctx, Client(n), "ryw-skill", version)
			if err != nil {
				t.Fatalf("sign through %s: %v", n.Name, err)
			}
			sigs, err := Client(n).FindSignatures(ctx, trust.SkillRef{Name: "ryw-skill", Version: version})
			if err != nil {
				t.Fatal(err)
			} else if len(sigs) != 1 || string(sigs[0].Envelope) != string(env) {
				t.Fatalf("write %d: %s returned %d signatures right after the write, want 1", i, n.Name, len(sigs))
			}
		}
	})

	t.Run("TXIDHeader", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodPost, replica.URL()+"/v1/service/keys/ryw/versions/1/retire", nil)
		req.Header.Set("Authorization", "Bearer "+ServiceToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("retire through replica: status %d", resp.StatusCode)
		} else if v := resp.Header.Get("X-Trust-Txid"); len(v) != 16 {
			t.Fatalf("X-Trust-Txid = %q, want 16 hex digits", v)
		}
	})

	t.Run("ErrUnauthorizedForwarded", func(t *testing.T) {
		// The primary authenticates forwarded writes: a wrong token is refused.
		_, err := edgeapi.NewClient(replica.URL(), "wrong-token-wrong-token-wrong-token").RevokeKeyVersion(ctx, "ryw", 1, "x")
		if code := trust.ErrorCode(err); code != trust.EUNAUTHORIZED {
			t.Fatalf("code = %q (%v), want %q", code, err, trust.EUNAUTHORIZED)
		}
	})

	t.Run("MigrationsOnPrimaryOnly", func(t *testing.T) {
		for _, n := range c.Nodes {
			log, err := os.ReadFile(n.EdgeLog())
			if err != nil {
				t.Fatal(err)
			}
			migrated := strings.Contains(string(log), "catalog migrated on the primary")
			replicated := strings.Contains(string(log), "catalog schema replicated from the primary")
			if n.Primary && (!migrated || replicated) {
				t.Errorf("%s (primary): migrated=%t replicated=%t, want migrated only", n.Name, migrated, replicated)
			} else if !n.Primary && (migrated || !replicated) {
				t.Errorf("%s (replica): migrated=%t replicated=%t, want the replicated schema only", n.Name, migrated, replicated)
			}
		}
	})

	t.Run("LiteFSPortLoopbackOnly", func(t *testing.T) {
		ips := nonLoopbackIPs(t)
		if len(ips) == 0 {
			t.Skip("this machine has no non-loopback address to try")
		}
		for _, n := range c.Nodes {
			_, port, _ := net.SplitHostPort(n.LiteFSAddr)
			for _, ip := range ips {
				conn, err := net.DialTimeout("tcp", net.JoinHostPort(ip.String(), port), time.Second)
				if err == nil {
					conn.Close()
					t.Errorf("%s's LiteFS API answers on %s:%s, want loopback only", n.Name, ip, port)
				} else if !errors.Is(err, syscall.ECONNREFUSED) {
					t.Logf("dial %s:%s: %v", ip, port, err)
				}
			}
		}
	})

	t.Run("KeyWatchFromEveryReplica", func(t *testing.T) {
		// A Machine watching any replica hears of a revocation made at the
		// primary (the bound is 2 s; BENCHMARKS has the p99).
		s := MustPublishKey(t, primary, "watched")
		wctx, cancel := context.WithCancel(ctx)
		defer cancel()
		seen := make(chan string, 8)
		for _, n := range c.Nodes[1:] {
			go Client(n).WatchKeyring(wctx, 0, func(kr *trust.Keyring) error {
				if k := kr.Find("watched", s.kv.Version); k != nil && k.State == trust.KeyRevoked {
					seen <- n.Name
					return context.Canceled
				}
				return nil
			})
		}
		time.Sleep(200 * time.Millisecond) // let both streams connect
		start := time.Now()
		if _, err := Client(primary).RevokeKeyVersion(ctx, "watched", s.kv.Version, "rotation test"); err != nil {
			t.Fatal(err)
		}
		for range c.Nodes[1:] {
			select {
			case name := <-seen:
				t.Logf("%s's watcher saw the revocation after %s", name, time.Since(start))
			case <-time.After(10 * time.Second):
				t.Fatal("a replica's watcher did not see the revocation within 10s")
			}
		}
	})

	t.Run("NoCredentialInLogs", func(t *testing.T) {
		for _, n := range c.Nodes {
			for _, path := range []string{n.EdgeLog(), n.LiteFSLog()} {
				log, _ := os.ReadFile(path)
				if strings.Contains(string(log), ServiceToken) {
					t.Errorf("%s contains the service credential", path)
				}
			}
		}
	})
}

// nonLoopbackIPs returns this machine's non-loopback unicast addresses.
func nonLoopbackIPs(t *testing.T) []net.IP {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	var ips []net.IP
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() && !n.IP.IsLinkLocalUnicast() {
			ips = append(ips, n.IP)
		}
	}
	return ips
}
