package notify_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openagents/trust/functions/notify"
	"github.com/openagents/trust/shared/trust"
)

// canary is a publisher's webhook secret: it must never appear in a log line,
// a recorded error, or anything a receiver gets.
const canary = "whsec_CANARY_9d2f6b1c8e4a7f30b5d2c9e1a6f8b3d7"

var now = time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)

// fakeCatalog stands in for the edge's notification and publisher service:
// pending means undelivered with fewer than maxAttempts attempts, oldest first.
type fakeCatalog struct {
	mu        sync.Mutex
	ntfs      map[string]*trust.Notification
	pubs      map[string]*trust.Publisher
	secrets   map[string]string
	secretErr error
	markErr   error
}

func newFakeCatalog() *fakeCatalog {
	return &fakeCatalog{ntfs: map[string]*trust.Notification{}, pubs: map[string]*trust.Publisher{}, secrets: map[string]string{}}
}

func (c *fakeCatalog) addPublisher(id, url, secret string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.pubs[id] = &trust.Publisher{ID: id, WebhookURL: url, KYCState: trust.KYCVerified}
	c.secrets[id] = secret
}

func (c *fakeCatalog) addNotification(id, publisher string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	body := fmt.Sprintf(`{"kind":"submission.rejected","submission_id":"sub_%s","decision":"reject"}`, id)
	c.ntfs[id] = &trust.Notification{ID: id, Publisher: publisher, SubmissionID: "sub_" + id,
		Kind: "submission.rejected", Body: []byte(body), CreatedAt: now.Add(time.Duration(len(c.ntfs)) * time.Second)}
}

func (c *fakeCatalog) get(id string) trust.Notification {
	c.mu.Lock()
	defer c.mu.Unlock()
	return *c.ntfs[id]
}

func (c *fakeCatalog) FindPendingNotifications(ctx context.Context, maxAttempts, limit int) ([]*trust.Notification, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*trust.Notification
	for _, n := range c.ntfs {
		if n.DeliveredAt == nil && n.Attempts < maxAttempts {
			cp := *n
			out = append(out, &cp)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].CreatedAt.Before(out[j].CreatedAt) })
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

func (c *fakeCatalog) MarkNotificationAttempt(ctx context.Context, id string, delivered bool, lastError string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.markErr != nil {
		return c.markErr
	}
	n, ok := c.ntfs[id]
	if !ok {
		return trust.Errorf(trust.ENOTFOUND, "no notification %s", id)
	}
	n.Attempts++
	n.LastError = lastError
	if delivered {
		t := now
		n.DeliveredAt = &t
	}
	return nil
}

func (c *fakeCatalog) FindPublisherByID(ctx context.Context, id string) (*trust.Publisher, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	p, ok := c.pubs[id]
	if !ok {
		return nil, trust.Errorf(trust.ENOTFOUND, "no publisher %s", id)
	}
	cp := *p
	return &cp, nil
}

func (c *fakeCatalog) FindPublisherWebhookSecret(ctx context.Context, id string) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.secretErr != nil {
		return "", c.secretErr
	}
	s, ok := c.secrets[id]
	if !ok {
		return "", trust.Errorf(trust.ENOTFOUND, "no publisher %s", id)
	}
	return s, nil
}

// lockedBuffer collects log lines from concurrent deliveries.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// receiver is a publisher's webhook endpoint that verifies what it gets.
type receiver struct {
	*httptest.Server
	mu       sync.Mutex
	got      []delivery
	secret   string        // what the receiver verifies with
	status   int           // answer; 200 when 0
	received chan struct{} // one value per request, if set
	release  chan struct{} // the handler waits on it (or the request's end), if set
}

type delivery struct {
	header http.Header
	body   []byte
	err    error // Verify's answer
}

func newReceiver(tb testing.TB, secret string) *receiver {
	tb.Helper()
	rc := &receiver{secret: secret}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		err := notify.Verify(rc.secret, r.Header.Get(notify.SignatureHeader), body, 0, now)
		rc.got = append(rc.got, delivery{header: r.Header.Clone(), body: body, err: err})
		status, received, release := rc.status, rc.received, rc.release
		rc.mu.Unlock()
		if received != nil {
			received <- struct{}{}
		}
		if release != nil {
			select {
			case <-release:
			case <-r.Context().Done():
				return
			}
		}
		if status == 0 {
			status = http.StatusOK
		}
		w.WriteHeader(status)
	}))
	tb.Cleanup(rc.Close)
	return rc
}

func (rc *receiver) deliveries() []delivery {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]delivery(nil), rc.got...)
}

type env struct {
	d       *notify.Deliverer
	catalog *fakeCatalog
	logs    *lockedBuffer
}

func MustEnv(tb testing.TB) *env {
	tb.Helper()
	logs := &lockedBuffer{}
	c := newFakeCatalog()
	d := notify.NewDeliverer()
	d.Catalog = c
	d.HTTPClient = &http.Client{} // loopback receivers; production uses NewHTTPClient
	d.Now = func() time.Time { return now }
	d.MaxAttempts = 3
	d.Logger = slog.New(slog.NewJSONHandler(logs, nil))
	return &env{d: d, catalog: c, logs: logs}
}

// checkNoLeak fails if the canary secret reached a log, a recorded error, or
// a receiver.
func (e *env) checkNoLeak(tb testing.TB, receivers ...*receiver) {
	tb.Helper()
	if strings.Contains(e.logs.String(), canary) {
		tb.Fatalf("the webhook secret reached the logs:\n%s", e.logs)
	}
	e.catalog.mu.Lock()
	for _, n := range e.catalog.ntfs {
		if strings.Contains(n.LastError, canary) {
			tb.Errorf("the webhook secret reached a recorded error: %q", n.LastError)
		}
	}
	e.catalog.mu.Unlock()
	for _, rc := range receivers {
		for _, dl := range rc.deliveries() {
			if strings.Contains(fmt.Sprint(dl.header), canary) || bytes.Contains(dl.body, []byte(canary)) {
				tb.Fatal("the webhook secret was sent to the receiver")
			}
		}
	}
}

func MustDeliver(tb testing.TB, d *notify.Deliverer) notify.Result {
	tb.Helper()
	res, err := d.DeliverPending(context.Background())
	if err != nil {
		tb.Fatal(err)
	}
	return res
}

func TestDeliverPending_OK(t *testing.T) {
	e := MustEnv(t)
	rc := newReceiver(t, canary)
	e.catalog.addPublisher("acme", rc.URL+"/hooks/trust", canary)
	e.catalog.addNotification("ntf_1", "acme")

	if res := MustDeliver(t, e.d); res != (notify.Result{Pending: 1, Delivered: 1}) {
		t.Fatalf("result %+v", res)
	}
	got := rc.deliveries()
	if len(got) != 1 {
		t.Fatalf("%d deliveries, want 1", len(got))
	}
	dl := got[0]
	if dl.err != nil {
		t.Fatalf("the receiver could not verify the signature: %v", dl.err)
	}
	if want := e.catalog.get("ntf_1").Body; !bytes.Equal(dl.body, want) {
		t.Fatalf("body %s, want %s", dl.body, want)
	}
	if dl.header.Get(notify.NotificationIDHeader) != "ntf_1" || dl.header.Get(notify.KindHeader) != "submission.rejected" ||
		dl.header.Get("Content-Type") != "application/json" {
		t.Fatalf("headers %v", dl.header)
	}
	if !strings.HasPrefix(dl.header.Get(notify.SignatureHeader), fmt.Sprintf("t=%d,v1=", now.Unix())) {
		t.Fatalf("signature header %q", dl.header.Get(notify.SignatureHeader))
	}
	// The receiver must refuse the same signature over another body.
	tampered := bytes.Replace(dl.body, []byte("reject"), []byte("approve"), 1)
	if err := notify.Verify(canary, dl.header.Get(notify.SignatureHeader), tampered, 0, now); !errors.Is(err, notify.ErrSignatureMismatch) {
		t.Fatalf("tampered body: Verify = %v, want a mismatch", err)
	}
	n := e.catalog.get("ntf_1")
	if n.DeliveredAt == nil || n.Attempts != 1 || n.LastError != "" {
		t.Fatalf("notification %+v, want delivered on attempt 1", n)
	}
	if res := MustDeliver(t, e.d); res.Pending != 0 || len(rc.deliveries()) != 1 {
		t.Fatal("a delivered notification was sent again")
	}
	e.checkNoLeak(t, rc)
}

func TestDeliverPending_RetriesCount(t *testing.T) {
	e := MustEnv(t)
	rc := newReceiver(t, canary)
	rc.status = http.StatusServiceUnavailable
	e.catalog.addPublisher("acme", rc.URL, canary)
	e.catalog.addNotification("ntf_1", "acme")

	for attempt := 1; attempt <= e.d.MaxAttempts; attempt++ {
		if res := MustDeliver(t, e.d); res != (notify.Result{Pending: 1, Failed: 1}) {
			t.Fatalf("attempt %d: result %+v", attempt, res)
		}
		n := e.catalog.get("ntf_1")
		if n.Attempts != attempt || n.DeliveredAt != nil || n.LastError != "receiver answered 503 Service Unavailable" {
			t.Fatalf("attempt %d: notification %+v", attempt, n)
		}
	}
	// Given up: no longer pending, the record stays with its last error.
	if res := MustDeliver(t, e.d); res.Pending != 0 {
		t.Fatalf("result %+v after %d attempts, want nothing pending", res, e.d.MaxAttempts)
	}
	if len(rc.deliveries()) != e.d.MaxAttempts || !strings.Contains(e.logs.String(), "notification given up") {
		t.Fatalf("%d deliveries; logs:\n%s", len(rc.deliveries()), e.logs)
	}
	// The receiver recovers: nothing more is sent (the publisher reads the
	// rejection with `trustctl status`).
	rc.mu.Lock()
	rc.status = 0
	rc.mu.Unlock()
	MustDeliver(t, e.d)
	if len(rc.deliveries()) != e.d.MaxAttempts {
		t.Fatal("a notification was retried past MaxAttempts")
	}
	e.checkNoLeak(t, rc)
}

func TestDeliverPending_FailingReceiverDoesNotBlockOthers(t *testing.T) {
	e := MustEnv(t)
	e.d.Concurrency = 2
	hanging := newReceiver(t, canary)
	hanging.received, hanging.release = make(chan struct{}, 1), make(chan struct{})
	failing := newReceiver(t, canary)
	failing.status = http.StatusInternalServerError
	good := newReceiver(t, canary)
	good.received = make(chan struct{}, 4)
	e.catalog.addPublisher("slow", hanging.URL, canary)
	e.catalog.addPublisher("broken", failing.URL, canary)
	e.catalog.addPublisher("acme", good.URL, canary)
	e.catalog.addNotification("ntf_slow", "slow")
	e.catalog.addNotification("ntf_broken", "broken")
	e.catalog.addNotification("ntf_a", "acme")
	e.catalog.addNotification("ntf_b", "acme")

	type outcome struct {
		res notify.Result
		err error
	}
	done := make(chan outcome)
	go func() {
		res, err := e.d.DeliverPending(context.Background())
		done <- outcome{res, err}
	}()
	// The slow receiver holds its request until the others are delivered.
	<-hanging.received
	<-good.received
	<-good.received
	close(hanging.release)
	out := <-done
	if out.err != nil || out.res != (notify.Result{Pending: 4, Delivered: 3, Failed: 1}) {
		t.Fatalf("result %+v, err %v", out.res, out.err)
	}
	for id, delivered := range map[string]bool{"ntf_slow": true, "ntf_broken": false, "ntf_a": true, "ntf_b": true} {
		if n := e.catalog.get(id); (n.DeliveredAt != nil) != delivered || n.Attempts != 1 {
			t.Errorf("%s: %+v, want delivered=%v after 1 attempt", id, n, delivered)
		}
	}
	e.checkNoLeak(t, hanging, failing, good)
}

func TestDeliverPending_Timeout(t *testing.T) {
	e := MustEnv(t)
	e.d.Timeout = 50 * time.Millisecond
	rc := newReceiver(t, canary)
	rc.release = make(chan struct{}) // never released: waits for the client to give up
	e.catalog.addPublisher("acme", rc.URL, canary)
	e.catalog.addNotification("ntf_1", "acme")
	if res := MustDeliver(t, e.d); res != (notify.Result{Pending: 1, Failed: 1}) {
		t.Fatalf("result %+v", res)
	}
	if n := e.catalog.get("ntf_1"); n.LastError != "timed out after 50ms" || n.Attempts != 1 {
		t.Fatalf("notification %+v", n)
	}
	e.checkNoLeak(t, rc)
}

func TestDeliverPending_Unreachable(t *testing.T) {
	// Each case records one failed attempt with its reason; nothing is sent.
	for _, tc := range []struct {
		name   string
		url    func(tb testing.TB) string
		reason string
	}{
		{"NoWebhook", func(testing.TB) string { return "" }, notify.ReasonNoWebhook},
		{"PlainHTTP", func(testing.TB) string { return "http://hooks.example.com/trust" }, "webhook URL refused: http://hooks.example.com: credentials go over https only"},
		{"UserInURL", func(testing.TB) string { return "https://user:" + canary + "@hooks.example.com/" }, "webhook URL refused: want https://"},
		{"ConnectionRefused", func(tb testing.TB) string { return "http://" + closedAddr(tb) + "/" }, "connection failed"},
		{"Redirect", func(tb testing.TB) string {
			srv := httptest.NewServer(http.RedirectHandler("https://elsewhere.example.com/", http.StatusFound))
			tb.Cleanup(srv.Close)
			return srv.URL
		}, "receiver answered 302 Found (redirects are not followed)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := MustEnv(t)
			e.catalog.addPublisher("acme", tc.url(t), canary)
			e.catalog.addNotification("ntf_1", "acme")
			if res := MustDeliver(t, e.d); res != (notify.Result{Pending: 1, Failed: 1}) {
				t.Fatalf("result %+v", res)
			}
			if n := e.catalog.get("ntf_1"); !strings.HasPrefix(n.LastError, tc.reason) || n.Attempts != 1 || n.DeliveredAt != nil {
				t.Fatalf("notification %+v, want reason %q", n, tc.reason)
			}
			e.checkNoLeak(t)
		})
	}
}

func TestDeliverPending_PublisherNotFound(t *testing.T) {
	e := MustEnv(t)
	e.catalog.addNotification("ntf_1", "gone")
	MustDeliver(t, e.d)
	if n := e.catalog.get("ntf_1"); n.LastError != notify.ReasonPublisherNotFound || n.Attempts != 1 {
		t.Fatalf("notification %+v", n)
	}
	// Removed between the two lookups: the same answer, not a skip forever.
	e.catalog.addPublisher("half", "https://hooks.example.com/", canary)
	delete(e.catalog.secrets, "half")
	e.catalog.addNotification("ntf_2", "half")
	MustDeliver(t, e.d)
	if n := e.catalog.get("ntf_2"); n.LastError != notify.ReasonPublisherNotFound || n.Attempts != 1 {
		t.Fatalf("notification %+v", n)
	}
}

func TestDeliverPending_DefaultClientRefusesInternalAddresses(t *testing.T) {
	// CheckBaseURL lets http://127.0.0.1 through (for tests); the production
	// client still refuses to dial it, as it refuses any internal address a
	// publisher's hostname may resolve to.
	e := MustEnv(t)
	e.d.HTTPClient = notify.NewHTTPClient(5 * time.Second)
	rc := newReceiver(t, canary)
	e.catalog.addPublisher("acme", rc.URL, canary)
	e.catalog.addNotification("ntf_1", "acme")
	MustDeliver(t, e.d)
	if n := e.catalog.get("ntf_1"); !strings.Contains(n.LastError, "non-public address") || len(rc.deliveries()) != 0 {
		t.Fatalf("notification %+v; %d deliveries", n, len(rc.deliveries()))
	}
}

func TestDeliverPending_ReasonPhraseNotRecorded(t *testing.T) {
	// A receiver controls its status line; what is recorded is ours.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		req, err := http.ReadRequest(bufio.NewReader(c))
		if err == nil {
			_, _ = io.Copy(io.Discard, req.Body)
		}
		fmt.Fprintf(c, "HTTP/1.1 418 %s\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", canary)
	}()
	e := MustEnv(t)
	e.catalog.addPublisher("acme", "http://"+l.Addr().String()+"/", canary)
	e.catalog.addNotification("ntf_1", "acme")
	MustDeliver(t, e.d)
	if n := e.catalog.get("ntf_1"); n.LastError != "receiver answered 418 I'm a teapot" {
		t.Fatalf("recorded %q", n.LastError)
	}
	e.checkNoLeak(t)
}

func TestDeliverPending_CatalogFailures(t *testing.T) {
	t.Run("ErrSecretUnavailable", func(t *testing.T) {
		// Our failure, not the publisher's: no attempt is counted.
		e := MustEnv(t)
		rc := newReceiver(t, canary)
		e.catalog.addPublisher("acme", rc.URL, canary)
		e.catalog.addNotification("ntf_1", "acme")
		e.catalog.secretErr = errors.New("edge unreachable")
		res, err := e.d.DeliverPending(context.Background())
		if err == nil || res != (notify.Result{Pending: 1, Skipped: 1}) {
			t.Fatalf("result %+v, err %v", res, err)
		}
		if n := e.catalog.get("ntf_1"); n.Attempts != 0 || len(rc.deliveries()) != 0 {
			t.Fatalf("notification %+v", n)
		}
	})
	t.Run("ErrEmptySecret", func(t *testing.T) {
		// Never sent unsigned.
		e := MustEnv(t)
		rc := newReceiver(t, canary)
		e.catalog.addPublisher("acme", rc.URL, "")
		e.catalog.addNotification("ntf_1", "acme")
		if _, err := e.d.DeliverPending(context.Background()); err == nil || len(rc.deliveries()) != 0 {
			t.Fatalf("err %v, %d deliveries", err, len(rc.deliveries()))
		}
	})
	t.Run("ErrMarkFails", func(t *testing.T) {
		e := MustEnv(t)
		rc := newReceiver(t, canary)
		e.catalog.addPublisher("acme", rc.URL, canary)
		e.catalog.addNotification("ntf_1", "acme")
		e.catalog.addNotification("ntf_2", "acme")
		e.catalog.markErr = errors.New("edge unreachable")
		res, err := e.d.DeliverPending(context.Background())
		if err == nil || res.Skipped != 2 || len(rc.deliveries()) != 2 {
			t.Fatalf("result %+v, err %v, %d deliveries", res, err, len(rc.deliveries()))
		}
	})
	t.Run("ErrCancelled", func(t *testing.T) {
		// A cancelled run (a Lambda deadline) counts no attempt.
		e := MustEnv(t)
		rc := newReceiver(t, canary)
		e.catalog.addPublisher("acme", rc.URL, canary)
		e.catalog.addNotification("ntf_1", "acme")
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		res, err := e.d.DeliverPending(ctx)
		if !errors.Is(err, context.Canceled) || res.Skipped != 1 {
			t.Fatalf("result %+v, err %v", res, err)
		}
		if n := e.catalog.get("ntf_1"); n.Attempts != 0 {
			t.Fatalf("notification %+v", n)
		}
	})
}

func TestDeliverer_NotifyLogs(t *testing.T) {
	e := MustEnv(t)
	rc := newReceiver(t, canary)
	e.catalog.addPublisher("acme", rc.URL, canary)
	e.catalog.addNotification("ntf_1", "acme")
	e.d.Notify(context.Background())
	if !strings.Contains(e.logs.String(), `"msg":"notification delivery run","pending":1,"delivered":1`) {
		t.Fatalf("logs:\n%s", e.logs)
	}
	e.checkNoLeak(t, rc)
}

func TestDeliverPending_QueryInURL(t *testing.T) {
	// A receiver may route on the query; it may hold the receiver's own token,
	// which stays out of the logs when a delivery fails.
	const receiverToken = "CANARY-receiver-token-5e1f"
	e := MustEnv(t)
	rc := newReceiver(t, canary)
	rc.status = http.StatusBadGateway
	e.catalog.addPublisher("acme", rc.URL+"/hook?token="+receiverToken, canary)
	e.catalog.addNotification("ntf_1", "acme")
	if res := MustDeliver(t, e.d); res != (notify.Result{Pending: 1, Failed: 1}) || len(rc.deliveries()) != 1 {
		t.Fatalf("result %+v", res)
	}
	e.catalog.addPublisher("gone", "http://"+closedAddr(t)+"/hook?token="+receiverToken, canary)
	e.catalog.addNotification("ntf_2", "gone")
	MustDeliver(t, e.d)
	if n := e.catalog.get("ntf_2"); n.LastError != "connection failed" {
		t.Fatalf("notification %+v", n)
	}
	if strings.Contains(e.logs.String(), receiverToken) {
		t.Fatalf("the webhook URL's query reached the logs:\n%s", e.logs)
	}
	e.checkNoLeak(t, rc)
}

// closedAddr returns a loopback address nothing listens on.
func closedAddr(tb testing.TB) string {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func TestDeliverer_NotifyDoesNotQueue(t *testing.T) {
	// While a run holds a slow receiver, the pipeline's hook returns at once.
	e := MustEnv(t)
	slow := newReceiver(t, canary)
	slow.received, slow.release = make(chan struct{}, 1), make(chan struct{})
	e.catalog.addPublisher("slow", slow.URL, canary)
	e.catalog.addNotification("ntf_slow", "slow")
	done := make(chan error)
	go func() {
		_, err := e.d.DeliverPending(context.Background())
		done <- err
	}()
	<-slow.received
	e.d.Notify(context.Background()) // would block until release if it queued
	close(slow.release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(e.logs.String(), "notification delivery already running") {
		t.Fatalf("logs:\n%s", e.logs)
	}
}

func TestDeliverer_Deliver(t *testing.T) {
	e := MustEnv(t)
	rc := newReceiver(t, canary)
	e.catalog.addPublisher("acme", rc.URL, canary)
	e.catalog.addNotification("ntf_1", "acme")
	n := e.catalog.get("ntf_1")
	delivered, err := e.d.Deliver(context.Background(), &n)
	if err != nil || !delivered {
		t.Fatalf("delivered=%v err=%v", delivered, err)
	}
	if got := e.catalog.get("ntf_1"); got.DeliveredAt == nil || got.Attempts != 1 || len(rc.deliveries()) != 1 || rc.deliveries()[0].err != nil {
		t.Fatalf("notification %+v, %d deliveries", got, len(rc.deliveries()))
	}
	e.checkNoLeak(t, rc)
}
