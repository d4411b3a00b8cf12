package litefs_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/openagents/trust/edge/litefs"
	"github.com/openagents/trust/shared/trust"
)

func TestParsePos(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want uint64
		ok   bool
	}{
		{"0000000000000003/a1b2c3d4e5f60718\n", 3, true},
		{"00000000000000ff/0000000000000000", 255, true},
		{"", 0, false},
		{"3/abc", 0, false},
		{"zzzzzzzzzzzzzzzz/abc", 0, false},
	} {
		got, err := litefs.ParsePos([]byte(tt.in))
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ParsePos(%q) = %d, %v; want %d, ok=%t", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

// fakeLiteFS is a fake of LiteFS's HTTP API (/info and /events), shaped like
// v0.5.14's answers; the cluster tests run the real one.
func fakeLiteFS(t *testing.T, isPrimary bool, events ...string) *httptest.Server {
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/info":
			fmt.Fprintf(w, `{"clusterID":"LFSC1","isPrimary":%t,"candidate":%t,"path":"/x","primary":{"hostname":"node1"}}`, isPrimary, isPrimary)
		case "/events":
			fmt.Fprintln(w, `{"type":"init","data":{"isPrimary":false,"hostname":"node1"}}`)
			for _, e := range events {
				fmt.Fprintln(w, e)
			}
			w.(http.Flusher).Flush()
			<-r.Context().Done()
		}
	}))
	t.Cleanup(s.Close)
	return s
}

func newNode(t *testing.T, url string) *litefs.Node {
	n := litefs.NewNode()
	n.URL, n.Dir, n.DB = url, t.TempDir(), "catalog.db"
	n.PrimaryURLs = map[string]string{"node1": "http://127.0.0.1:8101"}
	n.MinReplicas = 0
	n.PositionTimeout, n.AckTimeout = 200*time.Millisecond, 200*time.Millisecond
	return n
}

func TestNode_WriteRoute(t *testing.T) {
	ctx := context.Background()
	t.Run("Primary", func(t *testing.T) {
		n := newNode(t, fakeLiteFS(t, true).URL)
		if r, err := n.WriteRoute(ctx); err != nil || !r.Local {
			t.Fatalf("route = %+v, %v; want local", r, err)
		}
	})
	t.Run("Replica", func(t *testing.T) {
		n := newNode(t, fakeLiteFS(t, false).URL)
		os.WriteFile(filepath.Join(n.Dir, ".primary"), []byte("node1"), 0o600)
		if r, err := n.WriteRoute(ctx); err != nil || r.URL != "http://127.0.0.1:8101" {
			t.Fatalf("route = %+v, %v; want node1's URL", r, err)
		}
		n.FlyReplay = true
		if r, err := n.WriteRoute(ctx); err != nil || r.FlyInstance != "node1" {
			t.Fatalf("route = %+v, %v; want fly-replay to node1", r, err)
		}
	})
	t.Run("ErrReplicaDisconnected", func(t *testing.T) {
		// No .primary file on a replica: not "I am primary".
		n := newNode(t, fakeLiteFS(t, false).URL)
		if r, err := n.WriteRoute(ctx); trust.ErrorCode(err) != trust.EUNAVAILABLE || r.Local {
			t.Fatalf("route = %+v, %v; want EUNAVAILABLE", r, err)
		}
	})
	t.Run("ErrLiteFSDown", func(t *testing.T) {
		n := newNode(t, "http://127.0.0.1:1")
		if _, err := n.WriteRoute(ctx); trust.ErrorCode(err) != trust.EUNAVAILABLE {
			t.Fatalf("err = %v, want EUNAVAILABLE", err)
		}
	})
}

func TestNode_WaitPosition(t *testing.T) {
	ctx := context.Background()
	n := newNode(t, "http://127.0.0.1:1")
	pos := filepath.Join(n.Dir, "catalog.db-pos")
	if p, err := n.Position(ctx); err != nil || p != 0 {
		t.Fatalf("position without a database = %d, %v; want 0", p, err)
	}
	os.WriteFile(pos, []byte("0000000000000005/0000000000000000\n"), 0o600)
	go func() {
		time.Sleep(20 * time.Millisecond)
		os.WriteFile(pos, []byte("0000000000000007/0000000000000000\n"), 0o600)
	}()
	if err := n.WaitPosition(ctx, 7); err != nil {
		t.Fatal(err)
	}
	if err := n.WaitPosition(ctx, 8); trust.ErrorCode(err) != trust.EUNAVAILABLE {
		t.Fatalf("err = %v, want EUNAVAILABLE after the timeout", err)
	}
}

func TestNode_WaitReplicas(t *testing.T) {
	ctx := context.Background()
	peer := fakeLiteFS(t, false,
		`{"type":"tx","db":"other.db","data":{"txID":"0000000000000009"}}`,
		`{"type":"tx","db":"catalog.db","data":{"txID":"0000000000000004","postApplyChecksum":"8000000000000000"}}`)
	n := newNode(t, "http://127.0.0.1:1")
	n.Peers, n.MinReplicas = []string{peer.URL, n.URL}, 1
	if err := n.Open(); err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	if err := n.WaitReplicas(ctx, 4); err != nil {
		t.Fatal(err)
	}
	if err := n.WaitReplicas(ctx, 5); trust.ErrorCode(err) != trust.EUNAVAILABLE {
		t.Fatalf("err = %v, want EUNAVAILABLE", err)
	}
	t.Run("ErrTooFewPeers", func(t *testing.T) {
		m := newNode(t, "http://127.0.0.1:1")
		m.Peers, m.MinReplicas = []string{m.URL}, 1 // only itself
		if err := m.Open(); err == nil {
			m.Close()
			t.Fatal("Open accepted 1 required acknowledgement with no peer")
		}
	})
}
