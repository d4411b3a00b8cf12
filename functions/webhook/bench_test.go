package webhook_test

import (
	"bytes"
	"io"
	"log/slog"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/openagents/trust/functions/webhook"
)

// BenchmarkHandler measures one signed event through the handler: body read,
// signature check, decoding (an ignored event type, so the fake catalog is
// not the subject).
func BenchmarkHandler(b *testing.B) {
	e := MustEnv(b)
	e.handler.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	body := MustFixture(b, "payout-paid.json")
	header := sign(body, secret, time.Now())
	b.SetBytes(int64(len(body)))
	b.ResetTimer()
	for b.Loop() {
		r := httptest.NewRequest("POST", webhook.Path, bytes.NewReader(body))
		r.Header.Set("Stripe-Signature", header)
		w := httptest.NewRecorder()
		e.handler.ServeHTTP(w, r)
		if w.Code != 200 {
			b.Fatalf("status %d: %s", w.Code, w.Body)
		}
	}
}
