package api

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/openagents/trust/shared/trust"
)

// Defaults of a KeyringWatch whose fields are zero.
const (
	DefaultWatchPollInterval = 100 * time.Millisecond
	DefaultWatchHeartbeat    = 15 * time.Second
	DefaultMaxWatchers       = 10000
	DefaultMaxWatchEvent     = 1 << 20
	DefaultMaxWatchStream    = 10 * time.Minute
)

// watchWriteTimeout bounds each write to a watch stream: a client that stops
// reading is dropped instead of holding the stream forever.
const watchWriteTimeout = 10 * time.Second

// watchPollTimeout bounds one poll of the catalog.
const watchPollTimeout = 5 * time.Second

// KeyringWatch serves GET /v1/keyring/watch: server-sent events, one per
// keyring change. One goroutine per server polls the catalog's keyring
// sequence — a one-row query — while anyone watches, loads and encodes the
// keyring once per change, and fans it out to every stream. Polling rather than
// in-process notification is what makes a LiteFS replica, whose catalog changes
// by replication and not through this process, see a change within one poll
// interval. Wake skips the wait after a local write.
//
// The zero value is ready; zero fields take the Default* values. Set the
// fields before the server serves.
type KeyringWatch struct {
	// PollInterval is how often the catalog's keyring sequence is read: the
	// floor of the propagation time on a replica.
	PollInterval time.Duration

	// Heartbeat is how often an idle stream gets a comment line, so proxies
	// and the client's idle check keep it open.
	Heartbeat time.Duration

	// MaxWatchers bounds the open streams; more are refused with 503.
	MaxWatchers int

	// MaxEventBytes bounds the JSON of one keyring event; a larger keyring is
	// not sent (and is logged as an error).
	MaxEventBytes int

	// MaxStreamDuration ends a stream after this long (less up to a tenth, at
	// random); the client reconnects and resumes, its credential checked again.
	MaxStreamDuration time.Duration

	mu      sync.Mutex
	subs    map[*watchSub]struct{}
	polling bool
	closed  bool
	latest  *keyringEvent
	done    chan struct{} // closed by close
	wake    chan struct{} // capacity 1
	ctx     context.Context
	cancel  context.CancelFunc
	pollers sync.WaitGroup
}

// keyringEvent is one keyring encoded once as an SSE event, for every stream.
type keyringEvent struct {
	seq  int64
	data []byte
}

// watchSub is one open stream: signaled, without blocking the poller, when a
// newer event is available.
type watchSub struct {
	c chan struct{} // capacity 1
}

// handleKeyringWatch answers GET /v1/keyring/watch?after=N (or Last-Event-ID:
// N) with an event stream: the current keyring at once if its sequence is above
// N, then one event per change, each with id = sequence; comment heartbeats in
// between. A stream never goes back to a lower sequence.
//
// A response writer that cannot take write deadlines (an in-process recorder
// rather than a connection) gets the catch-up event only.
func (s *Server) handleKeyringWatch(w http.ResponseWriter, r *http.Request) {
	after, err := watchAfter(r)
	if err != nil {
		s.error(w, r, err)
		return
	}
	kw := &s.KeyringWatch
	sub, err := kw.subscribe(s.KeyService, s.logger())
	if err != nil {
		w.Header().Set("Retry-After", "5")
		s.error(w, r, err)
		return
	}
	defer kw.unsubscribe(sub)

	// Subscribed first, loaded second: a change between the two still arrives.
	kr, err := s.KeyService.FindKeyring(r.Context())
	if err != nil {
		s.error(w, r, err)
		return
	}
	first, err := kw.encode(kr)
	if err != nil {
		s.error(w, r, err)
		return
	}

	rc := http.NewResponseController(w)
	streaming := rc.SetWriteDeadline(time.Now().Add(watchWriteTimeout)) == nil
	if streaming {
		// The server's ReadTimeout would otherwise end the stream: the
		// background read that detects a client leaving runs under it.
		_ = rc.SetReadDeadline(time.Time{})
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)

	sent := after
	if _, err := io.WriteString(w, ": keyring watch\nretry: 1000\n\n"); err != nil {
		return
	}
	if kr.Sequence > sent {
		if _, err := w.Write(first.data); err != nil {
			return
		}
		sent = kr.Sequence
	}
	if err := rc.Flush(); err != nil || !streaming {
		return
	}

	write := func(b []byte) bool {
		if err := rc.SetWriteDeadline(time.Now().Add(watchWriteTimeout)); err != nil {
			return false
		} else if _, err := w.Write(b); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	heartbeat := time.NewTicker(kw.heartbeat())
	defer heartbeat.Stop()
	// Up to a tenth shorter, so streams opened together do not all reconnect together.
	lifetime := time.NewTimer(kw.maxStream() - rand.N(kw.maxStream()/10+1))
	defer lifetime.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-kw.done:
			return
		case <-lifetime.C:
			return
		case <-heartbeat.C:
			if !write([]byte(": heartbeat\n\n")) {
				return
			}
		case <-sub.c:
			if ev := kw.latestEvent(); ev != nil && ev.seq > sent {
				if !write(ev.data) {
					return
				}
				sent = ev.seq
			}
		}
	}
}

// watchAfter returns the sequence the client already holds: the larger of the
// after query parameter and the Last-Event-ID header, 0 when neither is given.
func watchAfter(r *http.Request) (int64, error) {
	var after int64
	for _, v := range []string{r.URL.Query().Get("after"), r.Header.Get("Last-Event-ID")} {
		if v == "" {
			continue
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return 0, trust.Errorf(trust.EINVALID, "after and Last-Event-ID must be a keyring sequence: a non-negative integer")
		}
		after = max(after, n)
	}
	return after, nil
}

// Watchers returns the number of open streams.
func (kw *KeyringWatch) Watchers() int {
	kw.mu.Lock()
	defer kw.mu.Unlock()
	return len(kw.subs)
}

// Wake makes the poller read the catalog now instead of at its next tick. Call
// it after a local keyring write.
func (kw *KeyringWatch) Wake() {
	kw.mu.Lock()
	defer kw.mu.Unlock()
	kw.init()
	select {
	case kw.wake <- struct{}{}:
	default:
	}
}

// init makes the channels and the poll context; kw.mu is held.
func (kw *KeyringWatch) init() {
	if kw.done == nil {
		kw.done = make(chan struct{})
		kw.wake = make(chan struct{}, 1)
		kw.subs = map[*watchSub]struct{}{}
		kw.ctx, kw.cancel = context.WithCancel(context.Background())
	}
}

// subscribe adds a stream and starts the poller if none runs. EUNAVAILABLE
// when full or closed.
func (kw *KeyringWatch) subscribe(ks trust.KeyService, logger *slog.Logger) (*watchSub, error) {
	kw.mu.Lock()
	defer kw.mu.Unlock()
	kw.init()
	if kw.closed {
		return nil, trust.Errorf(trust.EUNAVAILABLE, "the edge node is shutting down")
	} else if len(kw.subs) >= kw.maxWatchers() {
		return nil, trust.Errorf(trust.EUNAVAILABLE, "too many keyring watchers on this node; retry later")
	}
	sub := &watchSub{c: make(chan struct{}, 1)}
	kw.subs[sub] = struct{}{}
	if !kw.polling {
		kw.polling = true
		kw.latest = nil // may be stale: the new poller loads the keyring again
		kw.pollers.Add(1)
		go kw.poll(ks, logger)
	}
	return sub, nil
}

// unsubscribe removes a stream; the poller stops after the last one.
func (kw *KeyringWatch) unsubscribe(sub *watchSub) {
	kw.mu.Lock()
	defer kw.mu.Unlock()
	delete(kw.subs, sub)
}

// latestEvent returns the newest keyring event the poller encoded.
func (kw *KeyringWatch) latestEvent() *keyringEvent {
	kw.mu.Lock()
	defer kw.mu.Unlock()
	return kw.latest
}

// close ends every stream and the poller, and refuses new streams. It waits
// for the poller, so the catalog can be closed after it.
func (kw *KeyringWatch) close() {
	kw.mu.Lock()
	kw.init()
	if !kw.closed {
		kw.closed = true
		close(kw.done)
		kw.cancel()
	}
	kw.mu.Unlock()
	kw.pollers.Wait()
}

// poll reads the keyring sequence every PollInterval (or on Wake) while
// anyone watches, and publishes each change to every stream.
func (kw *KeyringWatch) poll(ks trust.KeyService, logger *slog.Logger) {
	defer kw.pollers.Done()
	ticker := time.NewTicker(kw.pollInterval())
	defer ticker.Stop()
	last, failing := int64(-1), false
	for {
		err := kw.pollOnce(ks, &last)
		switch {
		case err != nil && !failing && kw.ctx.Err() == nil:
			logger.Error("keyring watch: poll the catalog", "err", err)
			failing = true
		case err == nil && failing:
			logger.Info("keyring watch: polling the catalog again")
			failing = false
		}
		select {
		case <-ticker.C:
		case <-kw.wake:
		case <-kw.done:
			return
		}
		kw.mu.Lock()
		if len(kw.subs) == 0 {
			kw.polling = false
			kw.mu.Unlock()
			return
		}
		kw.mu.Unlock()
	}
}

// pollOnce reads the sequence and, when it differs from *last, loads, encodes
// and publishes the keyring.
func (kw *KeyringWatch) pollOnce(ks trust.KeyService, last *int64) error {
	ctx, cancel := context.WithTimeout(kw.ctx, watchPollTimeout)
	defer cancel()
	seq, err := ks.FindKeyringSequence(ctx)
	if err != nil {
		return err
	} else if seq == *last {
		return nil
	}
	kr, err := ks.FindKeyring(ctx)
	if err != nil {
		return err
	}
	*last = kr.Sequence
	ev, err := kw.encode(kr)
	if err != nil {
		return err
	}
	kw.mu.Lock()
	defer kw.mu.Unlock()
	kw.latest = ev
	for sub := range kw.subs {
		select {
		case sub.c <- struct{}{}:
		default: // already signaled; it reads the latest event
		}
	}
	return nil
}

// encode renders kr as one SSE event. The JSON is compact, so one data line.
func (kw *KeyringWatch) encode(kr *trust.Keyring) (*keyringEvent, error) {
	data, err := json.Marshal(kr)
	if err != nil {
		return nil, fmt.Errorf("encode keyring %d: %w", kr.Sequence, err)
	} else if len(data) > kw.maxEvent() {
		return nil, fmt.Errorf("keyring %d is %d bytes of JSON, more than the %d a watch event may carry", kr.Sequence, len(data), kw.maxEvent())
	}
	b := make([]byte, 0, len(data)+64)
	b = fmt.Appendf(b, "id: %d\nevent: keyring\ndata: ", kr.Sequence)
	b = append(b, data...)
	b = append(b, "\n\n"...)
	return &keyringEvent{seq: kr.Sequence, data: b}, nil
}

func (kw *KeyringWatch) pollInterval() time.Duration {
	return orDefault(kw.PollInterval, DefaultWatchPollInterval)
}

func (kw *KeyringWatch) heartbeat() time.Duration {
	return orDefault(kw.Heartbeat, DefaultWatchHeartbeat)
}

func (kw *KeyringWatch) maxStream() time.Duration {
	return orDefault(kw.MaxStreamDuration, DefaultMaxWatchStream)
}

func (kw *KeyringWatch) maxWatchers() int { return orDefault(kw.MaxWatchers, DefaultMaxWatchers) }

func (kw *KeyringWatch) maxEvent() int { return orDefault(kw.MaxEventBytes, DefaultMaxWatchEvent) }

// orDefault returns v, or def when v is not positive.
func orDefault[T int | time.Duration](v, def T) T {
	if v <= 0 {
		return def
	}
	return v
}
