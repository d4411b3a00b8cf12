package notify_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/openagents/trust/functions/notify"
)

// BenchmarkVerify measures a receiver's check of a 4 KiB notification.
func BenchmarkVerify(b *testing.B) {
	body := bytes.Repeat([]byte(`{"finding":"x"}`), 4096/15)
	at := time.Unix(1795977600, 0)
	header := notify.SignatureHeaderValue(canary, at, body)
	b.SetBytes(int64(len(body)))
	b.ResetTimer()
	for b.Loop() {
		if err := notify.Verify(canary, header, body, 0, at); err != nil {
			b.Fatal(err)
		}
	}
}
