package notify_test

import (
	"encoding/json"
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/openagents/trust/functions/notify"
)

// vector is a fixed HMAC test vector computed with openssl (testdata/vector.json).
type vector struct {
	Secret    string `json:"secret"`
	Timestamp int64  `json:"timestamp"`
	Body      string `json:"body"`
	Header    string `json:"header"`
}

func MustVector(tb testing.TB) vector {
	tb.Helper()
	b, err := os.ReadFile("testdata/vector.json")
	if err != nil {
		tb.Fatal(err)
	}
	var v vector
	if err := json.Unmarshal(b, &v); err != nil {
		tb.Fatal(err)
	}
	return v
}

func TestSignatureHeaderValue_Vector(t *testing.T) {
	v := MustVector(t)
	if got := notify.SignatureHeaderValue(v.Secret, time.Unix(v.Timestamp, 0), []byte(v.Body)); got != v.Header {
		t.Fatalf("header %q, want %q", got, v.Header)
	}
	if err := notify.Verify(v.Secret, v.Header, []byte(v.Body), 0, time.Unix(v.Timestamp, 0).Add(time.Minute)); err != nil {
		t.Fatalf("the vector does not verify: %v", err)
	}
}

func TestVerify(t *testing.T) {
	v := MustVector(t)
	at := time.Unix(v.Timestamp, 0)
	sig := strings.TrimPrefix(v.Header, "t="+strconv.FormatInt(v.Timestamp, 10)+",v1=")
	other := notify.Signature("whsec_old_key", v.Timestamp, []byte(v.Body))
	for _, tc := range []struct {
		name   string
		secret string
		header string
		body   string
		now    time.Time
		want   error
	}{
		{"OK", v.Secret, v.Header, v.Body, at, nil},
		{"OKSpaces", v.Secret, " t=1795977600, v1=" + sig + " ", v.Body, at, nil},
		{"OKRotationSecondSignature", v.Secret, "t=1795977600,v1=" + other + ",v1=" + sig, v.Body, at, nil},
		{"OKUnknownScheme", v.Secret, "t=1795977600,v0=abc,v1=" + sig, v.Body, at, nil},
		{"OKEdgeOfTolerance", v.Secret, v.Header, v.Body, at.Add(notify.DefaultTolerance), nil},
		{"ErrNoSignature", v.Secret, "", v.Body, at, notify.ErrNoSignature},
		{"ErrNoTimestamp", v.Secret, "v1=" + sig, v.Body, at, notify.ErrMalformedHeader},
		{"ErrTimestampNotNumber", v.Secret, "t=soon,v1=" + sig, v.Body, at, notify.ErrMalformedHeader},
		{"ErrTwoTimestamps", v.Secret, "t=1795977600,t=1795977601,v1=" + sig, v.Body, at, notify.ErrMalformedHeader},
		{"ErrPartWithoutEquals", v.Secret, "t=1795977600,v1" + sig, v.Body, at, notify.ErrMalformedHeader},
		{"ErrTamperedBody", v.Secret, v.Header, strings.Replace(v.Body, "reject", "approve", 1), at, notify.ErrSignatureMismatch},
		{"ErrWrongSecret", "whsec_someone_else", v.Header, v.Body, at, notify.ErrSignatureMismatch},
		{"ErrEmptySecret", "", v.Header, v.Body, at, notify.ErrSignatureMismatch},
		{"ErrOtherTimestamp", v.Secret, "t=1795977601,v1=" + sig, v.Body, at, notify.ErrSignatureMismatch},
		{"ErrNotHex", v.Secret, "t=1795977600,v1=zz" + sig[2:], v.Body, at, notify.ErrSignatureMismatch},
		{"ErrTruncated", v.Secret, "t=1795977600,v1=" + sig[:32], v.Body, at, notify.ErrSignatureMismatch},
		{"ErrOnlyOldScheme", v.Secret, "t=1795977600,v0=" + sig, v.Body, at, notify.ErrSignatureMismatch},
		{"ErrTooOld", v.Secret, v.Header, v.Body, at.Add(notify.DefaultTolerance + time.Second), notify.ErrTimestamp},
		{"ErrFuture", v.Secret, v.Header, v.Body, at.Add(-notify.DefaultTolerance - time.Second), notify.ErrTimestamp},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := notify.Verify(tc.secret, tc.header, []byte(tc.body), 0, tc.now)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Verify = %v, want %v", err, tc.want)
			}
			if err != nil && (strings.Contains(err.Error(), v.Secret) || strings.Contains(err.Error(), sig[:16])) {
				t.Fatalf("error quotes the secret or the signature: %v", err)
			}
		})
	}
}

func FuzzVerify(f *testing.F) {
	v := MustVector(f)
	f.Add(v.Secret, v.Header, v.Body)
	f.Add(v.Secret, "t=1795977600,v1=", v.Body)
	f.Add("", "t=,v1=00", "")
	f.Add(v.Secret, "t=-9223372036854775808,v1="+strings.Repeat("0", 64), "{}")
	now := time.Unix(v.Timestamp, 0)
	f.Fuzz(func(t *testing.T, secret, header, body string) {
		if notify.Verify(secret, header, []byte(body), 0, now) != nil {
			return
		}
		// Accepted: the header must carry the HMAC of its timestamp and this
		// body under this secret.
		var ts int64 = -1
		for _, part := range strings.Split(header, ",") {
			if n, ok := strings.CutPrefix(strings.TrimSpace(part), "t="); ok {
				ts, _ = strconv.ParseInt(n, 10, 64)
			}
		}
		mac := notify.Signature(secret, ts, []byte(body))
		if secret == "" || !strings.Contains(header, "v1="+mac) {
			t.Fatalf("Verify accepted %q for body %q without its signature", header, body)
		}
	})
}
