package api_test

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openagents/trust/edge/api"
	"github.com/openagents/trust/shared/edgeapi"
	"github.com/openagents/trust/shared/trust"
)

// watchWait bounds every wait of these tests; none of them is a timing check.
const watchWait = 10 * time.Second

// countingKeys counts the sequence polls that reach the catalog.
type countingKeys struct {
	trust.KeyService
	polls atomic.Int64
}

func (k *countingKeys) FindKeyringSequence(ctx context.Context) (int64, error) {
	k.polls.Add(1)
	return k.KeyService.FindKeyringSequence(ctx)
}

// MustOpenWatchServer returns a listening server with a fast poll and
// heartbeat, its keys counted; it closes when the test ends.
func MustOpenWatchServer(tb testing.TB) (*TestServer, *countingKeys) {
	tb.Helper()
	s := MustOpenServer(tb)
	keys := &countingKeys{KeyService: s.KeyService}
	s.KeyService = keys
	s.KeyringWatch.PollInterval = 20 * time.Millisecond
	s.KeyringWatch.Heartbeat = 50 * time.Millisecond
	if err := s.Open(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s, keys
}

// stream is one open watch response.
type stream struct {
	resp   *http.Response
	events *edgeapi.EventReader
	cancel context.CancelFunc
}

// MustWatch opens GET /v1/keyring/watch with query and headers, and requires 200.
func MustWatch(tb testing.TB, s *TestServer, token, query string, header map[string]string) *stream {
	tb.Helper()
	resp, cancel := doWatch(tb, s, token, query, header)
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		tb.Fatalf("status = %d, want 200: %s", resp.StatusCode, b)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		tb.Fatalf("content type = %q", ct)
	}
	st := &stream{resp: resp, events: edgeapi.NewEventReader(resp.Body, 1<<20), cancel: cancel}
	tb.Cleanup(st.close)
	return st
}

func doWatch(tb testing.TB, s *TestServer, token, query string, header map[string]string) (*http.Response, context.CancelFunc) {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, "GET", s.URL()+"/v1/keyring/watch"+query, nil)
	if err != nil {
		tb.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		tb.Fatal(err)
	}
	return resp, cancel
}

func (st *stream) close() {
	st.cancel()
	st.resp.Body.Close()
}

// next returns the next event, failing the test after watchWait.
func (st *stream) next(tb testing.TB) (edgeapi.Event, *trust.Keyring) {
	tb.Helper()
	type result struct {
		ev  edgeapi.Event
		err error
	}
	c := make(chan result, 1)
	go func() {
		ev, err := st.events.Next()
		c <- result{ev, err}
	}()
	select {
	case r := <-c:
		if r.err != nil {
			tb.Fatalf("read event: %v", r.err)
		}
		var kr trust.Keyring
		if err := json.Unmarshal([]byte(r.ev.Data), &kr); err != nil {
			tb.Fatalf("event data %q: %v", r.ev.Data, err)
		}
		return r.ev, &kr
	case <-time.After(watchWait):
		st.close()
		tb.Fatalf("no event within %s", watchWait)
	}
	panic("unreachable")
}

// waitFor polls cond until it holds, failing after watchWait.
func waitFor(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(watchWait)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// revoke revokes a fixture key through the API.
func revoke(tb testing.TB, s *TestServer, ref string) {
	tb.Helper()
	id, version, _ := strings.Cut(ref, ":")
	WantStatus(tb, s.Do(tb, "POST", "/v1/service/keys/"+id+"/versions/"+version+"/revoke", ServiceToken, map[string]string{"reason": "leaked"}), http.StatusOK)
}

func TestKeyringWatch(t *testing.T) {
	t.Run("InitialEvent", func(t *testing.T) {
		s, _ := MustOpenWatchServer(t)
		s.MustPublishTestKeys(t)
		st := MustWatch(t, s, s.MustMachineToken(t, "m1"), "", nil)
		ev, kr := st.next(t)
		if ev.ID != "2" || ev.Type != "keyring" || kr.Sequence != 2 || len(kr.Keys) != 2 {
			t.Fatalf("got event %q %q keyring %d with %d keys, want id 2 with 2 keys", ev.ID, ev.Type, kr.Sequence, len(kr.Keys))
		}
	})

	t.Run("ChangeEvents", func(t *testing.T) {
		s, _ := MustOpenWatchServer(t)
		s.MustPublishTestKeys(t)
		st := MustWatch(t, s, ServiceToken, "?after=2", nil)
		waitFor(t, "the stream", func() bool { return s.KeyringWatch.Watchers() == 1 })
		revoke(t, s, "test:1")
		if ev, kr := st.next(t); ev.ID != "3" || kr.Find("test", 1).State != trust.KeyRevoked {
			t.Fatalf("got event %q, want 3 with test:1 revoked", ev.ID)
		}
		WantStatus(t, s.Do(t, "POST", "/v1/service/keys/test/versions/2/retire", ServiceToken, nil), http.StatusOK)
		if ev, kr := st.next(t); ev.ID != "4" || kr.Find("test", 2).State != trust.KeyRetiring {
			t.Fatalf("got event %q, want 4 with test:2 retiring", ev.ID)
		}
	})

	t.Run("LastEventID", func(t *testing.T) {
		s, _ := MustOpenWatchServer(t)
		s.MustPublishTestKeys(t)
		// The client holds 2: nothing until the next change, which is 3.
		st := MustWatch(t, s, ServiceToken, "?after=1", map[string]string{"Last-Event-ID": "2"})
		waitFor(t, "the stream", func() bool { return s.KeyringWatch.Watchers() == 1 })
		revoke(t, s, "test:2")
		if ev, _ := st.next(t); ev.ID != "3" {
			t.Fatalf("got event %q, want 3", ev.ID)
		}
	})

	t.Run("ErrBadAfter", func(t *testing.T) {
		s, _ := MustOpenWatchServer(t)
		for _, q := range []string{"?after=-1", "?after=x", "?after=99999999999999999999"} {
			WantError(t, s.Do(t, "GET", "/v1/keyring/watch"+q, ServiceToken, nil), http.StatusBadRequest, trust.EINVALID)
		}
	})

	t.Run("Heartbeat", func(t *testing.T) {
		s, _ := MustOpenWatchServer(t)
		st := MustWatch(t, s, ServiceToken, "", nil)
		lines := make(chan string, 16)
		go func() {
			r := bufio.NewReader(st.resp.Body)
			for {
				line, err := r.ReadString('\n')
				if err != nil {
					close(lines)
					return
				}
				lines <- line
			}
		}()
		timeout := time.After(watchWait)
		for {
			select {
			case line := <-lines:
				if line == ": heartbeat\n" {
					return
				}
			case <-timeout:
				t.Fatal("no heartbeat")
			}
		}
	})

	t.Run("Disconnect", func(t *testing.T) {
		s, _ := MustOpenWatchServer(t)
		st := MustWatch(t, s, ServiceToken, "", nil)
		waitFor(t, "the stream", func() bool { return s.KeyringWatch.Watchers() == 1 })
		st.close()
		waitFor(t, "the stream to end", func() bool { return s.KeyringWatch.Watchers() == 0 })
	})

	t.Run("ShutdownWithOpenStreams", func(t *testing.T) {
		s, _ := MustOpenWatchServer(t)
		var streams []*stream
		for range 5 {
			streams = append(streams, MustWatch(t, s, ServiceToken, "", nil))
		}
		waitFor(t, "the streams", func() bool { return s.KeyringWatch.Watchers() == 5 })
		// Shutdown returns an error when streams outlive ShutdownTimeout.
		if err := s.Close(); err != nil {
			t.Fatalf("close with open streams: %v", err)
		}
		for _, st := range streams {
			if _, err := io.ReadAll(st.resp.Body); err != nil {
				t.Fatalf("stream did not end cleanly: %v", err)
			}
		}
		if resp, err := http.Get(s.URL() + "/v1/keyring/watch"); err == nil {
			resp.Body.Close()
			t.Fatalf("the server answers after Close: %d", resp.StatusCode)
		}
	})

	t.Run("SubscribersShareOnePoller", func(t *testing.T) {
		s, keys := MustOpenWatchServer(t)
		s.MustPublishTestKeys(t)
		const n = 50
		var streams []*stream
		for range n {
			streams = append(streams, MustWatch(t, s, ServiceToken, "?after=2", nil))
		}
		waitFor(t, "the streams", func() bool { return s.KeyringWatch.Watchers() == n })
		start, before := time.Now(), keys.polls.Load()
		time.Sleep(300 * time.Millisecond)
		revoke(t, s, "test:1")
		var wg sync.WaitGroup
		for _, st := range streams {
			wg.Go(func() {
				if ev, _ := st.next(t); ev.ID != "3" {
					t.Errorf("got event %q, want 3", ev.ID)
				}
			})
		}
		wg.Wait()
		polls, ticks := keys.polls.Load()-before, int64(time.Since(start)/s.KeyringWatch.PollInterval)
		// One poller reads once a tick; one per stream would read n times as often.
		if polls > 2*ticks+10 {
			t.Fatalf("%d polls in %d ticks with %d streams: more than one poller", polls, ticks, n)
		}
		for _, st := range streams {
			st.close()
		}
		waitFor(t, "the streams to end", func() bool { return s.KeyringWatch.Watchers() == 0 })
		idle := keys.polls.Load()
		time.Sleep(10 * s.KeyringWatch.PollInterval)
		if after := keys.polls.Load(); after > idle+1 {
			t.Fatalf("%d polls with nobody watching: the poller did not stop", after-idle)
		}
	})

	t.Run("ErrTooManyWatchers", func(t *testing.T) {
		s, _ := MustOpenWatchServer(t)
		s.KeyringWatch.MaxWatchers = 2
		MustWatch(t, s, ServiceToken, "", nil)
		MustWatch(t, s, ServiceToken, "", nil)
		waitFor(t, "the streams", func() bool { return s.KeyringWatch.Watchers() == 2 })
		resp, cancel := doWatch(t, s, ServiceToken, "", nil)
		defer cancel()
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
			t.Fatalf("status = %d, Retry-After %q; want 503 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
		}
	})

	t.Run("ErrEventTooLarge", func(t *testing.T) {
		s, _ := MustOpenWatchServer(t)
		s.MustPublishTestKeys(t)
		s.KeyringWatch.MaxEventBytes = 100
		WantError(t, s.Do(t, "GET", "/v1/keyring/watch", ServiceToken, nil), http.StatusInternalServerError, trust.EINTERNAL)
	})

	t.Run("InProcessRecorder", func(t *testing.T) {
		// Without a connection the answer is the catch-up event alone.
		s := MustOpenServer(t)
		s.MustPublishTestKeys(t)
		rec := s.Do(t, "GET", "/v1/keyring/watch?after=1", ServiceToken, nil)
		WantStatus(t, rec, http.StatusOK)
		ev, err := edgeapi.NewEventReader(rec.Body, 1<<20).Next()
		if err != nil || ev.ID != "2" {
			t.Fatalf("event %+v, %v; want id 2", ev, err)
		}
	})
}

// TestKeyringWatch_Auth: no, bad, near-miss and revoked credentials are 401
// with a challenge; a Machine token and the service credential both stream
// (the route is a Machine read, so no credential is 403); no credential
// reaches the log.
func TestKeyringWatch_Auth(t *testing.T) {
	s, _ := MustOpenWatchServer(t)
	machine := s.MustMachineToken(t, "m-watch")
	revoked := s.MustMachineToken(t, "m-watch-revoked")
	if err := s.MachineTokenService.RevokeMachineTokens(t.Context(), "m-watch-revoked"); err != nil {
		t.Fatal(err)
	}
	for name, token := range map[string]string{
		"NoToken": "", "BadToken": "not-a-token", "NearService": ServiceToken + "x",
		"NearMachine": machine + "x", "RevokedToken": revoked,
	} {
		t.Run(name, func(t *testing.T) {
			resp, cancel := doWatch(t, s, token, "", nil)
			defer cancel()
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") == "" {
				t.Fatalf("status = %d, want 401 with a challenge", resp.StatusCode)
			}
		})
	}
	t.Run("MachineToken", func(t *testing.T) { MustWatch(t, s, machine, "", nil).close() })
	t.Run("ServiceToken", func(t *testing.T) { MustWatch(t, s, ServiceToken, "", nil).close() })

	waitFor(t, "the streams to end", func() bool { return s.KeyringWatch.Watchers() == 0 })
	logs := s.Logs.String()
	if !strings.Contains(logs, `"/v1/keyring/watch"`) {
		t.Fatal("no watch request was logged")
	}
	for _, secret := range []string{ServiceToken, machine, revoked, machine[5:]} {
		if strings.Contains(logs, secret) {
			t.Fatal("a credential reached the log")
		}
	}
}

// BenchmarkKeyringPropagation measures the time from the commit of a
// revocation (RevokeKeyVersion returning) to a watching client
// (edgeapi.Client.WatchKeyring over a loopback listener) receiving the keyring
// that holds it, one revocation per iteration, on one node with the default
// poll interval. Each revocation waits a random part of a poll interval first,
// so the changes fall at every phase of the poller. Reported: p50, p99 and max
// in ms; run with -benchtime 300x for ≥ 200 changes.
//
//   - Poll: the change found by the poller, as on a LiteFS replica where it
//     arrives by replication — the propagation floor is the poll interval;
//   - LocalWake: KeyringWatch.Wake called after the commit, as a local write
//     could, so the poller reads at once.
func BenchmarkKeyringPropagation(b *testing.B) {
	b.Run("Poll", func(b *testing.B) { benchmarkPropagation(b, false) })
	b.Run("LocalWake", func(b *testing.B) { benchmarkPropagation(b, true) })
}

func benchmarkPropagation(b *testing.B, wake bool) {
	s := MustOpenServer(b)
	if err := s.Open(); err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	for i := range b.N {
		pub, _, err := ed25519.GenerateKey(nil)
		if err != nil {
			b.Fatal(err)
		}
		der, _ := x509.MarshalPKIXPublicKey(pub)
		if err := s.KeyService.CreateKeyVersion(ctx, &trust.KeyVersion{
			KeyID: "bench", Version: i + 1, Algorithm: trust.AlgorithmEd25519,
			PublicKey: string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})),
			NotBefore: Now.Add(-time.Hour), NotAfter: Now.Add(time.Hour),
		}); err != nil {
			b.Fatal(err)
		}
	}
	base, err := s.KeyService.FindKeyringSequence(ctx)
	if err != nil {
		b.Fatal(err)
	}

	type arrival struct {
		seq int64
		at  time.Time
	}
	arrivals := make(chan arrival, 16)
	wctx, stop := context.WithCancel(ctx)
	defer stop()
	go edgeapi.NewClient(s.URL(), s.MustMachineToken(b, "bench")).WatchKeyring(wctx, base, func(kr *trust.Keyring) error {
		arrivals <- arrival{kr.Sequence, time.Now()}
		return nil
	})
	for s.KeyringWatch.Watchers() == 0 {
		time.Sleep(time.Millisecond)
	}

	poll := DefaultPollInterval(s)
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		time.Sleep(rand.N(poll))
		if _, err := s.KeyService.RevokeKeyVersion(ctx, "bench", i+1, "benchmark"); err != nil {
			b.Fatal(err)
		}
		committed := time.Now()
		if wake {
			s.KeyringWatch.Wake()
		}
		for a := range arrivals {
			if a.seq >= base+int64(i)+1 {
				lat = append(lat, max(a.at.Sub(committed), 0))
				break
			}
		}
	}
	b.StopTimer()
	slices.Sort(lat)
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	b.ReportMetric(ms(lat[len(lat)/2]), "p50-ms")
	b.ReportMetric(ms(lat[min(len(lat)-1, len(lat)*99/100)]), "p99-ms")
	b.ReportMetric(ms(lat[len(lat)-1]), "max-ms")
	b.ReportMetric(ms(poll), "poll-ms")
}

// DefaultPollInterval returns the poll interval s's watch uses.
func DefaultPollInterval(s *TestServer) time.Duration {
	if s.KeyringWatch.PollInterval > 0 {
		return s.KeyringWatch.PollInterval
	}
	return api.DefaultWatchPollInterval
}
