package edgeapi

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/openagents/trust/shared/httpapi"
	"github.com/openagents/trust/shared/trust"
)

// Defaults of a KeyringWatcher whose fields are zero.
const (
	DefaultWatchMinBackoff  = 100 * time.Millisecond
	DefaultWatchMaxBackoff  = 10 * time.Second
	DefaultWatchIdleTimeout = 45 * time.Second // three missed edge heartbeats
)

// MaxWatchEvent bounds one server-sent event (all its lines) read by the
// watcher; the edge sends at most 1 MiB of keyring JSON per event.
const MaxWatchEvent = 4 << 20

// WatchKeyring follows GET /v1/keyring/watch with NewKeyringWatcher's defaults:
// fn gets each keyring whose sequence is above after and above every one it
// got before, so an edge that lags (a replica behind another) never rolls the
// caller back. Errors of the connection are retried with backoff, resuming
// from the last sequence delivered; WatchKeyring returns when ctx ends
// (ctx.Err()), when fn fails (its error), or when the edge refuses the
// request (401, 403, 400, 404: a *trust.Error).
func (c *Client) WatchKeyring(ctx context.Context, after int64, fn func(*trust.Keyring) error) error {
	return (&KeyringWatcher{Client: c}).Watch(ctx, after, fn)
}

// KeyringWatcher is WatchKeyring with its knobs.
type KeyringWatcher struct {
	Client *Client

	// MinBackoff and MaxBackoff bound the wait before a reconnection; it
	// doubles after each failed attempt, with jitter, and starts over once a
	// connection delivers anything.
	MinBackoff, MaxBackoff time.Duration

	// IdleTimeout drops a connection on which nothing — no event, no
	// heartbeat — arrived for this long, and reconnects.
	IdleTimeout time.Duration

	// OnError, when set, is told about each connection error before the
	// reconnection (for a log line). The error never holds the token.
	OnError func(err error, retryIn time.Duration)
}

// errPermanent marks an answer worth no retry.
type errPermanent struct{ err error }

func (e *errPermanent) Error() string { return e.err.Error() }
func (e *errPermanent) Unwrap() error { return e.err }

// Watch runs the watch; see WatchKeyring.
func (w *KeyringWatcher) Watch(ctx context.Context, after int64, fn func(*trust.Keyring) error) error {
	if w.Client == nil {
		return trust.Errorf(trust.EINVALID, "keyring watcher: client required")
	}
	delivered := after
	backoff := w.minBackoff()
	for {
		progressed := false
		err := w.stream(ctx, delivered, func(kr *trust.Keyring) error {
			if kr.Sequence <= delivered {
				return nil // a lagging edge: never roll back
			}
			if err := fn(kr); err != nil {
				return &callbackError{err}
			}
			delivered = kr.Sequence
			return nil
		}, &progressed)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var cbErr *callbackError
		var perm *errPermanent
		switch {
		case errors.As(err, &cbErr):
			return cbErr.err
		case errors.As(err, &perm):
			return perm.err
		}
		if progressed {
			backoff = w.minBackoff()
		}
		wait := backoff/2 + rand.N(backoff/2+1) // jitter: a fleet does not reconnect in step
		if w.OnError != nil {
			if err == nil {
				err = errors.New("edge ended the stream")
			}
			w.OnError(err, wait)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		backoff = min(backoff*2, w.maxBackoff())
	}
}

// callbackError carries fn's error out of the stream untouched.
type callbackError struct{ err error }

func (e *callbackError) Error() string { return e.err.Error() }

// stream runs one connection until it fails or ends, handing each keyring
// event to deliver. *progressed is set once the edge answered 200.
func (w *KeyringWatcher) stream(ctx context.Context, after int64, deliver func(*trust.Keyring) error, progressed *bool) error {
	c := w.Client
	base, err := url.Parse(c.URL)
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return &errPermanent{trust.Errorf(trust.EINVALID, "invalid edge URL: want http(s)://host")}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	u := strings.TrimSuffix(base.String(), "/") + "/v1/keyring/watch?after=" + strconv.FormatInt(after, 10)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return &errPermanent{fmt.Errorf("build keyring watch request: %w", err)}
	}
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Last-Event-ID", strconv.FormatInt(after, 10))
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}

	resp, err := w.httpClient().Do(req)
	if err != nil {
		return fmt.Errorf("edge keyring watch: %w", scrub(err))
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusOK:
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		return httpapi.ReadError(resp)
	default:
		return &errPermanent{httpapi.ReadError(resp)}
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		return &errPermanent{fmt.Errorf("edge keyring watch: content type %q, want text/event-stream", ct)}
	}
	*progressed = true

	body := newIdleReader(resp.Body, w.idleTimeout(), cancel)
	defer body.stop()
	er := NewEventReader(body, MaxWatchEvent)
	for {
		ev, err := er.Next()
		if err != nil {
			if body.timedOut() {
				return fmt.Errorf("edge keyring watch: nothing received for %s", w.idleTimeout())
			}
			return fmt.Errorf("edge keyring watch: %w", scrub(err))
		}
		if ev.Type != "keyring" {
			continue // unknown event types are for newer clients
		}
		var kr trust.Keyring
		if err := json.Unmarshal([]byte(ev.Data), &kr); err != nil {
			return fmt.Errorf("edge keyring watch: decode event %q: %w", ev.ID, err)
		} else if ev.ID != strconv.FormatInt(kr.Sequence, 10) {
			return fmt.Errorf("edge keyring watch: event id %q does not match keyring sequence %d", ev.ID, kr.Sequence)
		}
		if kr.Keys == nil {
			kr.Keys = []trust.KeyVersion{}
		}
		if err := deliver(&kr); err != nil {
			return err
		}
	}
}

// httpClient returns the client's HTTP client without its overall timeout
// (a stream lasts minutes; the idle check bounds it instead), keeping its
// transport and redirect policy.
func (w *KeyringWatcher) httpClient() *http.Client {
	hc := w.Client.HTTPClient
	if hc == nil {
		return &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	cp := *hc
	cp.Timeout = 0
	return &cp
}

func (w *KeyringWatcher) minBackoff() time.Duration {
	if w.MinBackoff > 0 {
		return w.MinBackoff
	}
	return DefaultWatchMinBackoff
}

func (w *KeyringWatcher) maxBackoff() time.Duration {
	if w.MaxBackoff > 0 {
		return max(w.MaxBackoff, w.minBackoff())
	}
	return max(DefaultWatchMaxBackoff, w.minBackoff())
}

func (w *KeyringWatcher) idleTimeout() time.Duration {
	if w.IdleTimeout > 0 {
		return w.IdleTimeout
	}
	return DefaultWatchIdleTimeout
}

// idleReader cancels the connection when no byte arrives for d.
type idleReader struct {
	r     io.Reader
	d     time.Duration
	timer *time.Timer
	mu    sync.Mutex
	fired bool
}

func newIdleReader(r io.Reader, d time.Duration, cancel context.CancelFunc) *idleReader {
	ir := &idleReader{r: r, d: d}
	ir.timer = time.AfterFunc(d, func() {
		ir.mu.Lock()
		ir.fired = true
		ir.mu.Unlock()
		cancel()
	})
	return ir
}

func (ir *idleReader) Read(p []byte) (int, error) {
	n, err := ir.r.Read(p)
	if n > 0 {
		ir.timer.Reset(ir.d)
	}
	return n, err
}

func (ir *idleReader) stop() { ir.timer.Stop() }

func (ir *idleReader) timedOut() bool {
	ir.mu.Lock()
	defer ir.mu.Unlock()
	return ir.fired
}

// Event is one server-sent event.
type Event struct {
	ID   string // the last event ID in force when it was dispatched
	Type string // "message" when the stream named none
	Data string // the data lines joined by "\n"
}

// EventReader parses the text/event-stream format (WHATWG HTML, "Server-sent
// events"): lines ending in CRLF, LF or CR; "field: value" lines; comments
// starting with ':'; an event dispatched at each blank line when it has data.
// The retry field is accepted and ignored: the watcher has its own backoff.
type EventReader struct {
	r       *bufio.Reader
	max     int
	lastID  string
	started bool
	skipLF  bool // the previous line ended in CR: a following LF belongs to it
	line    []byte
}

// NewEventReader returns a reader of the events on r. An event or a line
// longer than max bytes is an error.
func NewEventReader(r io.Reader, max int) *EventReader {
	return &EventReader{r: bufio.NewReaderSize(r, 32<<10), max: max}
}

// ErrEventTooLarge reports an event or line over the reader's limit.
var ErrEventTooLarge = errors.New("server-sent event too large")

// Next returns the next dispatched event. At the end of the stream it returns
// io.EOF; an event not ended by a blank line is discarded, as the format says.
func (p *EventReader) Next() (Event, error) {
	var data strings.Builder
	var typ string
	hasData := false
	for {
		line, err := p.readLine()
		if err != nil {
			return Event{}, err
		}
		if len(line) == 0 {
			if !hasData {
				typ = ""
				continue
			}
			if typ == "" {
				typ = "message"
			}
			d := data.String()
			return Event{ID: p.lastID, Type: typ, Data: d[:len(d)-1]}, nil
		}
		if line[0] == ':' {
			continue // comment: a heartbeat
		}
		field, value := line, []byte(nil)
		if i := bytes.IndexByte(line, ':'); i >= 0 {
			field, value = line[:i], line[i+1:]
			if len(value) > 0 && value[0] == ' ' {
				value = value[1:]
			}
		}
		switch string(field) {
		case "event":
			typ = string(value)
		case "data":
			if data.Len()+len(value)+1 > p.max {
				return Event{}, ErrEventTooLarge
			}
			data.Write(value)
			data.WriteByte('\n')
			hasData = true
		case "id":
			if bytes.IndexByte(value, 0) < 0 {
				p.lastID = string(value)
			}
		}
	}
}

// readLine returns the next line without its terminator, valid until the next
// call. A leading UTF-8 BOM of the stream is dropped.
func (p *EventReader) readLine() ([]byte, error) {
	p.line = p.line[:0]
	for {
		b, err := p.r.ReadByte()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil, io.EOF // a line without terminator is incomplete
			}
			return nil, err
		}
		if p.skipLF {
			p.skipLF = false
			if b == '\n' {
				continue
			}
		}
		switch b {
		case '\n':
			return p.trimBOM(), nil
		case '\r':
			p.skipLF = true
			return p.trimBOM(), nil
		}
		if len(p.line) >= p.max {
			return nil, ErrEventTooLarge
		}
		p.line = append(p.line, b)
	}
}

// trimBOM drops a BOM at the very start of the stream.
func (p *EventReader) trimBOM() []byte {
	line := p.line
	if !p.started {
		p.started = true
		line = bytes.TrimPrefix(line, []byte("\uFEFF"))
	}
	return line
}
