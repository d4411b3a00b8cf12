package edgeapi_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openagents/trust/shared/edgeapi"
	"github.com/openagents/trust/shared/httpapi"
	"github.com/openagents/trust/shared/trust"
)

// watchWait bounds every wait; no test here checks timing.
const watchWait = 10 * time.Second

// WatchConn is one connection the fake watch edge received.
type WatchConn struct {
	N                  int // 1 for the first
	After, LastEventID string
	Auth               string
	Done               <-chan struct{} // closed when the client leaves
}

// MustFakeWatchEdge serves GET /v1/keyring/watch with script, called once per
// connection with a writer of SSE text; the stream ends when script returns.
func MustFakeWatchEdge(tb testing.TB, script func(c WatchConn, send func(string))) (*httptest.Server, func() []WatchConn) {
	tb.Helper()
	var mu sync.Mutex
	var conns []WatchConn
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/keyring/watch" || r.Header.Get("Accept") != "text/event-stream" {
			httpapi.WriteJSON(w, http.StatusNotFound, map[string]any{"error": map[string]string{"code": "not_found", "message": "no such route"}})
			return
		}
		mu.Lock()
		c := WatchConn{Done: r.Context().Done(), N: len(conns) + 1, After: r.URL.Query().Get("after"), LastEventID: r.Header.Get("Last-Event-ID"), Auth: r.Header.Get("Authorization")}
		conns = append(conns, c)
		mu.Unlock()
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		script(c, func(s string) {
			io.WriteString(w, s)
			w.(http.Flusher).Flush()
		})
	}))
	tb.Cleanup(srv.Close)
	return srv, func() []WatchConn {
		mu.Lock()
		defer mu.Unlock()
		return append([]WatchConn(nil), conns...)
	}
}

// keyringEvent returns the SSE text of a keyring at seq.
func keyringEvent(seq int64) string {
	return fmt.Sprintf("id: %d\nevent: keyring\ndata: {\"sequence\":%d,\"keys\":[],\"updated_at\":\"2026-07-01T12:00:00Z\"}\n\n", seq, seq)
}

// MustWatcher returns a watcher of srv with fast backoff.
func MustWatcher(srv *httptest.Server) *edgeapi.KeyringWatcher {
	return &edgeapi.KeyringWatcher{Client: edgeapi.NewClient(srv.URL, token), MinBackoff: time.Millisecond, MaxBackoff: 20 * time.Millisecond}
}

// collect watches until fn has seen want keyrings and returns their sequences.
func collect(t *testing.T, w *edgeapi.KeyringWatcher, after int64, want int) []int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), watchWait)
	defer cancel()
	var got []int64
	done := errors.New("done")
	err := w.Watch(ctx, after, func(kr *trust.Keyring) error {
		got = append(got, kr.Sequence)
		if len(got) == want {
			return done
		}
		return nil
	})
	if !errors.Is(err, done) {
		t.Fatalf("watch: %v (got %v)", err, got)
	}
	return got
}

func TestWatchKeyring(t *testing.T) {
	t.Run("ReconnectAndResume", func(t *testing.T) {
		srv, conns := MustFakeWatchEdge(t, func(c WatchConn, send func(string)) {
			switch c.N {
			case 1:
				send(keyringEvent(3)) // then the connection drops
			case 2:
				send(": heartbeat\n\n" + keyringEvent(4))
			}
		})
		if got := collect(t, MustWatcher(srv), 2, 2); !reflect.DeepEqual(got, []int64{3, 4}) {
			t.Fatalf("delivered %v, want [3 4]", got)
		}
		cs := conns()
		if cs[0].After != "2" || cs[0].LastEventID != "2" || cs[1].After != "3" || cs[1].LastEventID != "3" {
			t.Fatalf("connections %+v: want after/Last-Event-ID 2, then 3", cs)
		}
		if cs[0].Auth != "Bearer "+token {
			t.Fatalf("Authorization = %q", cs[0].Auth)
		}
	})

	t.Run("NoRollback", func(t *testing.T) {
		// A lagging replica answers the second connection with older keyrings.
		srv, _ := MustFakeWatchEdge(t, func(c WatchConn, send func(string)) {
			switch c.N {
			case 1:
				send(keyringEvent(5))
			case 2:
				send(keyringEvent(3) + keyringEvent(5) + keyringEvent(4) + keyringEvent(6))
			}
		})
		if got := collect(t, MustWatcher(srv), 0, 2); !reflect.DeepEqual(got, []int64{5, 6}) {
			t.Fatalf("delivered %v, want [5 6]", got)
		}
	})

	t.Run("NothingAtOrBelowAfter", func(t *testing.T) {
		srv, _ := MustFakeWatchEdge(t, func(c WatchConn, send func(string)) {
			send(keyringEvent(7) + keyringEvent(8))
		})
		if got := collect(t, MustWatcher(srv), 7, 1); !reflect.DeepEqual(got, []int64{8}) {
			t.Fatalf("delivered %v, want [8]", got)
		}
	})

	t.Run("RetryUnavailable", func(t *testing.T) {
		var n atomic.Int64
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if n.Add(1) < 3 {
				httpapi.WriteError(w, r, nil, trust.Errorf(trust.EUNAVAILABLE, "too many keyring watchers"))
				return
			}
			w.Header().Set("Content-Type", "text/event-stream")
			io.WriteString(w, keyringEvent(1))
		}))
		defer srv.Close()
		var errs []error
		w := MustWatcher(srv)
		w.OnError = func(err error, _ time.Duration) { errs = append(errs, err) }
		collect(t, w, 0, 1)
		if len(errs) != 2 || trust.ErrorCode(errs[0]) != trust.EUNAVAILABLE {
			t.Fatalf("errors %v: want two unavailable", errs)
		}
	})

	t.Run("IdleTimeout", func(t *testing.T) {
		srv, conns := MustFakeWatchEdge(t, func(c WatchConn, send func(string)) {
			if c.N == 1 {
				<-c.Done // silent: no event, no heartbeat
				return
			}
			send(keyringEvent(1))
		})
		w := MustWatcher(srv)
		w.IdleTimeout = 50 * time.Millisecond
		var idle atomic.Bool
		w.OnError = func(err error, _ time.Duration) { idle.Store(strings.Contains(err.Error(), "nothing received")) }
		collect(t, w, 0, 1)
		if !idle.Load() || len(conns()) != 2 {
			t.Fatalf("want the silent connection dropped for idleness and a second one (%d)", len(conns()))
		}
	})

	t.Run("ErrUnauthorized", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			httpapi.WriteError(w, r, nil, trust.Errorf(trust.EUNAUTHORIZED, "invalid credential"))
		}))
		defer srv.Close()
		err := MustWatcher(srv).Watch(context.Background(), 0, func(*trust.Keyring) error { return nil })
		if trust.ErrorCode(err) != trust.EUNAUTHORIZED {
			t.Fatalf("err = %v, want unauthorized", err)
		} else if strings.Contains(err.Error(), token) {
			t.Fatal("the token is in the error")
		}
	})

	t.Run("ErrNotAStream", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			httpapi.WriteJSON(w, http.StatusOK, map[string]int{"sequence": 1})
		}))
		defer srv.Close()
		if err := MustWatcher(srv).Watch(context.Background(), 0, func(*trust.Keyring) error { return nil }); err == nil || !strings.Contains(err.Error(), "text/event-stream") {
			t.Fatalf("err = %v, want a content type error", err)
		}
	})

	t.Run("ErrCallback", func(t *testing.T) {
		srv, _ := MustFakeWatchEdge(t, func(c WatchConn, send func(string)) { send(keyringEvent(1)) })
		boom := errors.New("boom")
		if err := MustWatcher(srv).Watch(context.Background(), 0, func(*trust.Keyring) error { return boom }); !errors.Is(err, boom) {
			t.Fatalf("err = %v, want boom", err)
		}
	})

	t.Run("Canceled", func(t *testing.T) {
		srv, conns := MustFakeWatchEdge(t, func(c WatchConn, send func(string)) { <-c.Done })
		ctx, cancel := context.WithCancel(context.Background())
		errc := make(chan error, 1)
		go func() {
			errc <- edgeapi.NewClient(srv.URL, token).WatchKeyring(ctx, 0, func(*trust.Keyring) error { return nil })
		}()
		for len(conns()) == 0 {
			time.Sleep(time.Millisecond)
		}
		cancel()
		select {
		case err := <-errc:
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("err = %v, want context.Canceled", err)
			}
		case <-time.After(watchWait):
			t.Fatal("watch did not return after cancel")
		}
	})
}

// eventReaderTests are the parser's table, also the fuzz seeds.
var eventReaderTests = []struct {
	name, in string
	want     []edgeapi.Event
}{
	{"Empty", "", nil},
	{"OneEvent", "id: 1\nevent: keyring\ndata: {}\n\n", []edgeapi.Event{{ID: "1", Type: "keyring", Data: "{}"}}},
	{"DefaultType", "data: x\n\n", []edgeapi.Event{{Type: "message", Data: "x"}}},
	{"MultiLineData", "data: a\ndata:b\ndata\n\n", []edgeapi.Event{{Type: "message", Data: "a\nb\n"}}},
	{"CRLF", "id: 2\r\ndata: x\r\n\r\n", []edgeapi.Event{{ID: "2", Type: "message", Data: "x"}}},
	{"CR", "id: 3\rdata: x\r\r", []edgeapi.Event{{ID: "3", Type: "message", Data: "x"}}},
	{"Comments", ": heartbeat\n\n:x\ndata: y\n\n", []edgeapi.Event{{Type: "message", Data: "y"}}},
	{"IDPersists", "id: 4\ndata: a\n\ndata: b\n\n", []edgeapi.Event{{ID: "4", Type: "message", Data: "a"}, {ID: "4", Type: "message", Data: "b"}}},
	{"IDWithoutDataNoEvent", "id: 5\nevent: keyring\n\ndata: c\n\n", []edgeapi.Event{{ID: "5", Type: "message", Data: "c"}}},
	{"IDWithNULIgnored", "id: 6\ndata: a\n\nid: 7\x00\ndata: b\n\n", []edgeapi.Event{{ID: "6", Type: "message", Data: "a"}, {ID: "6", Type: "message", Data: "b"}}},
	{"OnlyOneSpaceStripped", "data:  two\n\n", []edgeapi.Event{{Type: "message", Data: " two"}}},
	{"UnknownFieldAndRetry", "retry: 1000\nfoo: bar\ndata: z\n\n", []edgeapi.Event{{Type: "message", Data: "z"}}},
	{"BOM", "\uFEFFdata: bom\n\n", []edgeapi.Event{{Type: "message", Data: "bom"}}},
	{"UnterminatedEventDropped", "data: a\n\ndata: b\n", []edgeapi.Event{{Type: "message", Data: "a"}}},
	{"EmptyData", "data\n\n", []edgeapi.Event{{Type: "message", Data: ""}}},
}

// readAll parses every event of in, up to the first error.
func readAll(in string, max int) ([]edgeapi.Event, error) {
	r := edgeapi.NewEventReader(strings.NewReader(in), max)
	var evs []edgeapi.Event
	for {
		ev, err := r.Next()
		if errors.Is(err, io.EOF) {
			return evs, nil
		} else if err != nil {
			return evs, err
		}
		evs = append(evs, ev)
	}
}

func TestEventReader(t *testing.T) {
	for _, tt := range eventReaderTests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := readAll(tt.in, 1<<10)
			if err != nil {
				t.Fatal(err)
			} else if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
	t.Run("ErrTooLarge", func(t *testing.T) {
		for _, in := range []string{"data: " + strings.Repeat("x", 100) + "\n\n", strings.Repeat("data: 0123456789\n", 10) + "\n", ":" + strings.Repeat("c", 200)} {
			if _, err := readAll(in, 64); !errors.Is(err, edgeapi.ErrEventTooLarge) {
				t.Fatalf("err = %v, want ErrEventTooLarge", err)
			}
		}
	})
}

// encodeEvents writes events as the edge does: every field on its own line.
func encodeEvents(evs []edgeapi.Event) string {
	var b strings.Builder
	for _, ev := range evs {
		fmt.Fprintf(&b, "id: %s\nevent: %s\n", ev.ID, ev.Type)
		for _, line := range strings.Split(ev.Data, "\n") {
			fmt.Fprintf(&b, "data: %s\n", line)
		}
		b.WriteString("\n")
	}
	return b.String()
}

// FuzzEventReader: any input parses without panicking, within the limit, and
// whatever it parses to survives encoding and parsing again unchanged.
func FuzzEventReader(f *testing.F) {
	for _, tt := range eventReaderTests {
		f.Add([]byte(tt.in))
	}
	const max = 1 << 10
	f.Fuzz(func(t *testing.T, in []byte) {
		evs, _ := readAll(string(in), max)
		for _, ev := range evs {
			if len(ev.Data) > max || strings.ContainsRune(ev.ID, 0) || strings.ContainsAny(ev.ID+ev.Type, "\r\n") || ev.Type == "" {
				t.Fatalf("bad event %q", ev)
			}
		}
		again, err := readAll(encodeEvents(evs), 4*max)
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) == 0 {
			evs = nil
		}
		if !reflect.DeepEqual(again, evs) {
			t.Fatalf("round trip: %q became %q", evs, again)
		}
	})
}
