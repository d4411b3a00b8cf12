package webhook_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	stripewebhook "github.com/stripe/stripe-go/v82/webhook"

	"github.com/openagents/trust/functions/lambdahttp"
	"github.com/openagents/trust/functions/webhook"
	"github.com/openagents/trust/shared/trust"
)

// secret is a canary: it must never appear in a response or a log line.
const secret = "whsec_CANARY_3b9f0c2e7a5d4e18b6c1f0a9d8e7c6b5"

const account = "acct_1QvAcmePublisher01"

// fakeCatalog stands in for the edge's PublisherService.UpdatePublisherKYC:
// events apply once, unknown accounts are not found, and an event older than
// the last applied one is recorded without changing the state.
type fakeCatalog struct {
	mu      sync.Mutex
	pubs    map[string]*trust.Publisher // by Stripe account
	applied map[string]bool             // event IDs
	last    map[string]time.Time        // by Stripe account
	calls   int
	err     error // returned by every call when set
}

func newFakeCatalog() *fakeCatalog {
	return &fakeCatalog{
		pubs:    map[string]*trust.Publisher{account: {ID: "acme", StripeAccount: account, KYCState: trust.KYCPending}},
		applied: map[string]bool{},
		last:    map[string]time.Time{},
	}
}

func (c *fakeCatalog) UpdatePublisherKYC(ctx context.Context, u trust.KYCUpdate) (*trust.Publisher, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls++
	if c.err != nil {
		return nil, c.err
	}
	p, ok := c.pubs[u.StripeAccount]
	if !ok {
		return nil, trust.Errorf(trust.ENOTFOUND, "no publisher with Stripe account %s", u.StripeAccount)
	} else if c.applied[u.EventID] {
		return nil, trust.Errorf(trust.ECONFLICT, "event %s already applied", u.EventID)
	}
	c.applied[u.EventID] = true
	if !u.EventTime.Before(c.last[u.StripeAccount]) {
		p.KYCState, c.last[u.StripeAccount] = u.State, u.EventTime
	}
	cp := *p
	return &cp, nil
}

func (c *fakeCatalog) state() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.pubs[account].KYCState
}

// lockedBuffer collects log lines from concurrent handlers.
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

type env struct {
	handler *webhook.Handler
	catalog *fakeCatalog
	logs    *lockedBuffer
}

func MustEnv(tb testing.TB) *env {
	tb.Helper()
	logs := &lockedBuffer{}
	c := newFakeCatalog()
	h := webhook.NewHandler()
	h.Catalog, h.Secret = c, secret
	h.Logger = slog.New(slog.NewJSONHandler(logs, nil))
	return &env{handler: h, catalog: c, logs: logs}
}

func MustFixture(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// sign returns the Stripe-Signature header stripe-go's test helper computes.
func sign(payload []byte, key string, at time.Time) string {
	return stripewebhook.GenerateTestSignedPayload(&stripewebhook.UnsignedPayload{
		Payload: payload, Secret: key, Timestamp: at}).Header
}

// post serves one event and checks that neither the secret nor the
// signature's value reached the response or the logs.
func (e *env) post(tb testing.TB, body []byte, sigHeader string) *httptest.ResponseRecorder {
	tb.Helper()
	r := httptest.NewRequest("POST", webhook.Path, bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/json; charset=utf-8")
	if sigHeader != "" {
		r.Header.Set("Stripe-Signature", sigHeader)
	}
	w := httptest.NewRecorder()
	e.handler.ServeHTTP(w, r)
	e.checkNoLeak(tb, w.Body.String(), sigHeader)
	return w
}

func (e *env) checkNoLeak(tb testing.TB, resp, sigHeader string) {
	tb.Helper()
	leaks := []string{secret, strings.TrimPrefix(secret, "whsec_")}
	if _, v1, ok := strings.Cut(sigHeader, "v1="); ok && len(v1) >= 16 {
		leaks = append(leaks, v1[:16])
	}
	for _, s := range leaks {
		if strings.Contains(resp, s) || strings.Contains(e.logs.String(), s) {
			tb.Fatalf("the secret or the signature value leaked into the response or the logs:\n%s\n%s", resp, e.logs)
		}
	}
}

func wantStatus(tb testing.TB, w *httptest.ResponseRecorder, status int, body string) {
	tb.Helper()
	if w.Code != status || !strings.Contains(w.Body.String(), body) {
		tb.Fatalf("got %d %s, want %d with %q", w.Code, w.Body, status, body)
	}
}

func TestHandler_AccountUpdated(t *testing.T) {
	for _, tc := range []struct {
		fixture string
		want    string
	}{
		{"account-updated-verified.json", trust.KYCVerified},
		{"account-updated-pending.json", trust.KYCPending},
		{"account-updated-rejected.json", trust.KYCRejected},
	} {
		t.Run(tc.fixture, func(t *testing.T) {
			e := MustEnv(t)
			if tc.want == trust.KYCPending {
				e.catalog.pubs[account].KYCState = trust.KYCVerified // so the change shows
			}
			body := MustFixture(t, tc.fixture)
			w := e.post(t, body, sign(body, secret, time.Now()))
			wantStatus(t, w, 200, `"status":"applied"`)
			if got := e.catalog.state(); got != tc.want {
				t.Fatalf("kyc state %q, want %q", got, tc.want)
			}
			if !strings.Contains(e.logs.String(), `"msg":"publisher kyc updated"`) {
				t.Fatalf("no log line for the update:\n%s", e.logs)
			}
		})
	}
}

func TestHandler_Refused(t *testing.T) {
	verified := func(tb testing.TB) []byte { return MustFixture(tb, "account-updated-verified.json") }
	for _, tc := range []struct {
		name    string
		request func(tb testing.TB) (body []byte, header string)
		reason  string // in the response and the log line
	}{
		{"ErrNoSignature", func(tb testing.TB) ([]byte, string) { return verified(tb), "" },
			"Stripe-Signature header required"},
		{"ErrMalformedHeader", func(tb testing.TB) ([]byte, string) { return verified(tb), "t=now,v1" },
			"malformed Stripe-Signature header"},
		{"ErrBadSecret", func(tb testing.TB) ([]byte, string) {
			b := verified(tb)
			return b, sign(b, "whsec_someone_elses_secret", time.Now())
		}, "no valid signature"},
		{"ErrTamperedBody", func(tb testing.TB) ([]byte, string) {
			b := verified(tb)
			h := sign(b, secret, time.Now())
			return bytes.Replace(b, []byte(`"acct_1QvAcmePublisher01"`), []byte(`"acct_1QvSomeoneElse0001"`), -1), h
		}, "no valid signature"},
		{"ErrSignatureNotHex", func(tb testing.TB) ([]byte, string) {
			return verified(tb), "t=1795977600,v1=zz-not-hex"
		}, "no valid signature"},
		{"ErrOldTimestamp", func(tb testing.TB) ([]byte, string) {
			b := verified(tb)
			return b, sign(b, secret, time.Now().Add(-6*time.Minute))
		}, "possible replay"},
		{"ErrFutureTimestamp", func(tb testing.TB) ([]byte, string) {
			b := verified(tb)
			return b, sign(b, secret, time.Now().Add(10*time.Minute))
		}, "in the future"},
		{"ErrNotJSON", func(tb testing.TB) ([]byte, string) {
			b := []byte(`{"id":"evt_1",` + secret)
			return b, sign(b, secret, time.Now())
		}, "not a Stripe event"},
		{"ErrAccountMismatch", func(tb testing.TB) ([]byte, string) {
			b := bytes.Replace(verified(tb), []byte(`"account": "acct_1QvAcmePublisher01"`), []byte(`"account": "acct_1QvOther000000001"`), 1)
			return b, sign(b, secret, time.Now())
		}, "does not match data.object"},
		{"ErrNoAccountID", func(tb testing.TB) ([]byte, string) {
			b := []byte(`{"id":"evt_1NoAcct","object":"event","type":"account.updated","created":1795977600,"data":{"object":{"object":"account","charges_enabled":true}}}`)
			return b, sign(b, secret, time.Now())
		}, "without an acct_ ID"},
		{"ErrNoEventID", func(tb testing.TB) ([]byte, string) {
			b := bytes.Replace(verified(tb), []byte(`"evt_1QvKycVerified000000001"`), []byte(`""`), 1)
			return b, sign(b, secret, time.Now())
		}, "without an evt_ ID"},
		{"ErrBodyTooLarge", func(tb testing.TB) ([]byte, string) {
			b := append(verified(tb), bytes.Repeat([]byte(" "), webhook.MaxBodySize)...)
			return b, sign(b, secret, time.Now())
		}, "larger than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := MustEnv(t)
			body, header := tc.request(t)
			w := e.post(t, body, header)
			wantStatus(t, w, 400, tc.reason)
			if e.catalog.calls != 0 || e.catalog.state() != trust.KYCPending {
				t.Fatalf("a refused event reached the catalog (%d calls, state %s)", e.catalog.calls, e.catalog.state())
			}
			if !strings.Contains(e.logs.String(), `"msg":"stripe event refused"`) || !strings.Contains(e.logs.String(), tc.reason) {
				t.Fatalf("refusal not logged with its reason:\n%s", e.logs)
			}
		})
	}
}

func TestHandler_Replay(t *testing.T) {
	e := MustEnv(t)
	body := MustFixture(t, "account-updated-verified.json")
	wantStatus(t, e.post(t, body, sign(body, secret, time.Now())), 200, `"status":"applied"`)
	// Stripe's retry, or an attacker replaying a captured request inside
	// the tolerance: acknowledged so Stripe stops, applied only once.
	e.catalog.pubs[account].KYCState = trust.KYCRejected
	w := e.post(t, body, sign(body, secret, time.Now()))
	wantStatus(t, w, 200, `"status":"already applied"`)
	if e.catalog.state() != trust.KYCRejected {
		t.Fatal("a replayed event changed the state again")
	}
	if !strings.Contains(e.logs.String(), "stripe event replayed") {
		t.Fatalf("replay not logged:\n%s", e.logs)
	}
}

func TestHandler_OlderEventDoesNotWin(t *testing.T) {
	e := MustEnv(t)
	rejected, pending := MustFixture(t, "account-updated-rejected.json"), MustFixture(t, "account-updated-pending.json")
	wantStatus(t, e.post(t, rejected, sign(rejected, secret, time.Now())), 200, "applied")
	// Delivered late: created before the rejection.
	wantStatus(t, e.post(t, pending, sign(pending, secret, time.Now())), 200, "applied")
	if got := e.catalog.state(); got != trust.KYCRejected {
		t.Fatalf("state %q: an out-of-order older event overrode a newer one", got)
	}
}

func TestHandler_UnknownAccount(t *testing.T) {
	e := MustEnv(t)
	delete(e.catalog.pubs, account)
	body := MustFixture(t, "account-updated-verified.json")
	w := e.post(t, body, sign(body, secret, time.Now()))
	wantStatus(t, w, 404, account)
	if !strings.Contains(e.logs.String(), "stripe event for an unknown account") {
		t.Fatalf("unknown account not logged:\n%s", e.logs)
	}
}

func TestHandler_OtherEventType(t *testing.T) {
	e := MustEnv(t)
	body := MustFixture(t, "payout-paid.json")
	w := e.post(t, body, sign(body, secret, time.Now()))
	wantStatus(t, w, 200, `"status":"ignored"`)
	if e.catalog.calls != 0 {
		t.Fatal("an ignored event reached the catalog")
	}
	if !strings.Contains(e.logs.String(), `"type":"payout.paid"`) {
		t.Fatalf("ignored event not logged:\n%s", e.logs)
	}
}

func TestHandler_OtherAPIVersion(t *testing.T) {
	// A Connect account pinned to an older API version: accepted, logged.
	e := MustEnv(t)
	body := bytes.Replace(MustFixture(t, "account-updated-verified.json"),
		[]byte(`"2025-08-27.basil"`), []byte(`"2024-06-20"`), 1)
	wantStatus(t, e.post(t, body, sign(body, secret, time.Now())), 200, `"status":"applied"`)
	if e.catalog.state() != trust.KYCVerified || !strings.Contains(e.logs.String(), `"event_api_version":"2024-06-20"`) {
		t.Fatalf("state %s; logs:\n%s", e.catalog.state(), e.logs)
	}
}

func TestHandler_CatalogFailure(t *testing.T) {
	// An edge outage is a 500, so Stripe retries; the cause is logged, not sent.
	e := MustEnv(t)
	e.catalog.err = errors.New("dial tcp 10.0.0.7:8080: connection refused")
	body := MustFixture(t, "account-updated-verified.json")
	w := e.post(t, body, sign(body, secret, time.Now()))
	wantStatus(t, w, 500, `"internal error"`)
	if strings.Contains(w.Body.String(), "10.0.0.7") || !strings.Contains(e.logs.String(), "connection refused") {
		t.Fatalf("body %s; logs:\n%s", w.Body, e.logs)
	}
}

func TestHandler_ServiceCredentialRefused(t *testing.T) {
	// The edge refusing the function's credential is our fault: 500, not 401.
	e := MustEnv(t)
	e.catalog.err = trust.Errorf(trust.EUNAUTHORIZED, "service credential required")
	body := MustFixture(t, "account-updated-verified.json")
	wantStatus(t, e.post(t, body, sign(body, secret, time.Now())), 500, `"internal error"`)
}

func TestHandler_NotConfigured(t *testing.T) {
	// Without a secret nothing verifies: closed, even for a body signed
	// with the empty key.
	e := MustEnv(t)
	e.handler.Secret = ""
	body := MustFixture(t, "account-updated-verified.json")
	wantStatus(t, e.post(t, body, sign(body, "", time.Now())), 500, "internal error")
	if e.catalog.calls != 0 {
		t.Fatal("an unverified event reached the catalog")
	}
}

func TestHandler_Routes(t *testing.T) {
	e := MustEnv(t)
	w := httptest.NewRecorder()
	e.handler.ServeHTTP(w, httptest.NewRequest("GET", webhook.Path, nil))
	if w.Code != http.StatusMethodNotAllowed || w.Header().Get("Allow") != "POST" {
		t.Fatalf("GET: %d %v", w.Code, w.Header())
	}
	w = httptest.NewRecorder()
	e.handler.ServeHTTP(w, httptest.NewRequest("POST", "/v1/webhooks/other", nil))
	wantStatus(t, w, 404, "no such route")
}

// TestHandler_Lambda runs a signed event through API Gateway's HTTP API v2
// event shape and the Lambda runtime's handler wrapper: the body must reach
// the signature check byte for byte.
func TestHandler_Lambda(t *testing.T) {
	e := MustEnv(t)
	body := MustFixture(t, "account-updated-verified.json")
	header := sign(body, secret, time.Now())
	ev := events.APIGatewayV2HTTPRequest{
		Version: "2.0", RouteKey: "POST " + webhook.Path, RawPath: webhook.Path,
		Headers: map[string]string{"content-type": "application/json; charset=utf-8", "stripe-signature": header,
			"user-agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)"},
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			DomainName: "functions.example.com",
			HTTP:       events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: "POST", Path: webhook.Path, SourceIP: "3.18.12.63"},
		},
		Body: string(body),
	}
	raw, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	out, err := lambda.NewHandler(lambdahttp.New(e.handler).Handle).Invoke(context.Background(), raw)
	if err != nil {
		t.Fatal(err)
	}
	var resp events.APIGatewayV2HTTPResponse
	if err := json.Unmarshal(out, &resp); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || !strings.Contains(resp.Body, `"status":"applied"`) || e.catalog.state() != trust.KYCVerified {
		t.Fatalf("got %d %s, state %s", resp.StatusCode, resp.Body, e.catalog.state())
	}
	e.checkNoLeak(t, resp.Body, header)
}

// FuzzHandler posts arbitrary bodies, correctly signed, and arbitrary
// headers: the handler never panics and answers only 200 (applied, replayed
// or ignored), 400 or 404; the secret never reaches a response or a log.
func FuzzHandler(f *testing.F) {
	for _, name := range []string{"account-updated-verified.json", "account-updated-pending.json", "account-updated-rejected.json", "payout-paid.json"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, "")
	}
	f.Add([]byte(`{"type":"account.updated","data":{"object":null}}`), "")
	f.Add([]byte(`{"id":"evt_1","type":"account.updated","created":1,"data":{"object":"acct_1"}}`), "")
	f.Add([]byte(`{}`), "t=1,v1=00")
	f.Fuzz(func(t *testing.T, body []byte, header string) {
		e := MustEnv(t)
		if header == "" {
			header = sign(body, secret, time.Now())
		}
		w := e.post(t, body, header)
		switch w.Code {
		case 200, 400, 404:
		default:
			t.Fatalf("status %d: %s", w.Code, w.Body)
		}
	})
}
