package api_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/openagents/trust/shared/trust"
)

// fakeReplication is a fake of a replicated node (the cluster tests run the
// real LiteFS one): every write advances the position by one.
type fakeReplication struct {
	mu       sync.Mutex
	route    trust.WriteRoute
	pos      uint64
	ackErr   error
	ackCalls []uint64
}

func (f *fakeReplication) WriteRoute(context.Context) (trust.WriteRoute, error) { return f.route, nil }
func (f *fakeReplication) Position(context.Context) (uint64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pos++ // read before and after each write: the write committed in between
	return f.pos / 2, nil
}
func (f *fakeReplication) WaitPosition(context.Context, uint64) error { return nil }
func (f *fakeReplication) WaitReplicas(_ context.Context, txid uint64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ackCalls = append(f.ackCalls, txid)
	return f.ackErr
}

func TestServer_Replication(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		s := MustOpenServer(t)
		repl := &fakeReplication{route: trust.WriteRoute{Local: true}}
		s.Replication = repl
		rec := s.Do(t, "PUT", "/v1/service/skills/weather-report/versions/1.2.0", ServiceToken, NewSkillBody(t))
		WantStatus(t, rec, http.StatusCreated)
		if got := rec.Header().Get("X-Trust-Txid"); len(got) != 16 {
			t.Fatalf("X-Trust-Txid = %q, want 16 hex digits", got)
		} else if len(repl.ackCalls) != 1 {
			t.Fatalf("%d acknowledgement waits, want 1", len(repl.ackCalls))
		}
	})
	t.Run("ReadsNotHeld", func(t *testing.T) {
		s := MustOpenServer(t)
		repl := &fakeReplication{route: trust.WriteRoute{Local: true}}
		s.Replication = repl
		WantStatus(t, s.Do(t, "POST", "/v1/signatures/batch", ServiceToken, `{"skills":[{"name":"a","version":"1.0.0"}]}`), http.StatusOK)
		WantStatus(t, s.Do(t, "GET", "/v1/keyring", ServiceToken, nil), http.StatusOK)
		if len(repl.ackCalls) != 0 {
			t.Fatalf("%d acknowledgement waits for reads, want 0", len(repl.ackCalls))
		}
	})
	t.Run("ErrNotAcknowledged", func(t *testing.T) {
		s := MustOpenServer(t)
		s.Replication = &fakeReplication{route: trust.WriteRoute{Local: true},
			ackErr: trust.Errorf(trust.EUNAVAILABLE, "no replica confirmed it in time: it may or may not be durable")}
		msg := WantError(t, s.Do(t, "PUT", "/v1/service/skills/weather-report/versions/1.2.0", ServiceToken, NewSkillBody(t)), http.StatusServiceUnavailable, trust.EUNAVAILABLE)
		if !strings.Contains(msg, "may or may not be durable") {
			t.Fatalf("message = %q", msg)
		}
	})
	t.Run("FlyReplay", func(t *testing.T) {
		s := MustOpenServer(t)
		s.Replication = &fakeReplication{route: trust.WriteRoute{FlyInstance: "148e21"}}
		rec := s.Do(t, "PUT", "/v1/service/skills/weather-report/versions/1.2.0", ServiceToken, NewSkillBody(t))
		if got := rec.Header().Get("Fly-Replay"); got != "instance=148e21" {
			t.Fatalf("Fly-Replay = %q, want instance=148e21", got)
		}
	})
	t.Run("ErrPrimaryUnreachable", func(t *testing.T) {
		s := MustOpenServer(t)
		s.Replication = &fakeReplication{route: trust.WriteRoute{URL: "http://127.0.0.1:1"}}
		req := s.Do(t, "PUT", "/v1/service/skills/weather-report/versions/1.2.0", ServiceToken, NewSkillBody(t))
		WantError(t, req, http.StatusServiceUnavailable, trust.EUNAVAILABLE)
	})
}
