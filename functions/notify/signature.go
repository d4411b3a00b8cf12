package notify

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
	"time"

	"github.com/openagents/trust/shared/trust"
)

// Headers on every delivery.
const (
	SignatureHeader      = "X-Trust-Signature"       // t=<unix seconds>,v1=<hex HMAC-SHA256>
	NotificationIDHeader = "X-Trust-Notification-Id" // ntf_…; the same on every retry
	KindHeader           = "X-Trust-Notification-Kind"
)

// DefaultTolerance is how far a signature's timestamp may be from the
// receiver's clock, either way, before Verify refuses it as a replay.
const DefaultTolerance = 5 * time.Minute

// Errors Verify returns, all EUNAUTHORIZED.
var (
	ErrNoSignature       = trust.Errorf(trust.EUNAUTHORIZED, SignatureHeader+" header required")
	ErrMalformedHeader   = trust.Errorf(trust.EUNAUTHORIZED, "malformed "+SignatureHeader+" header")
	ErrSignatureMismatch = trust.Errorf(trust.EUNAUTHORIZED, "no valid v1 signature in "+SignatureHeader)
	ErrTimestamp         = trust.Errorf(trust.EUNAUTHORIZED, SignatureHeader+" timestamp outside the tolerance")
)

// Signature returns the hex HMAC-SHA256 of "<t>.<body>" keyed with secret: the
// v1 value of the signature header for a delivery made at t.
func Signature(secret string, t int64, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(strconv.FormatInt(t, 10)))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return hex.EncodeToString(mac.Sum(nil))
}

// SignatureHeaderValue returns the X-Trust-Signature value for body sent at t.
func SignatureHeaderValue(secret string, t time.Time, body []byte) string {
	ts := t.Unix()
	return "t=" + strconv.FormatInt(ts, 10) + ",v1=" + Signature(secret, ts, body)
}

// Verify checks an X-Trust-Signature header against the raw body a receiver
// got: one of its v1 values must be the HMAC of "<t>.<body>" under secret
// (compared in constant time; several v1 values are accepted so a receiver
// keeps working across a secret rotation), and t must be within tolerance of
// now (DefaultTolerance when tolerance <= 0). Errors are one of ErrNoSignature,
// ErrMalformedHeader, ErrSignatureMismatch and ErrTimestamp; none quotes the
// header or the secret.
func Verify(secret, header string, body []byte, tolerance time.Duration, now time.Time) error {
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	if secret == "" {
		// Nothing verifies against an empty key: closed.
		return ErrSignatureMismatch
	}
	header = strings.TrimSpace(header)
	if header == "" {
		return ErrNoSignature
	}
	var (
		ts      int64
		haveTS  bool
		signed  [][]byte
		badPart bool
	)
	for _, part := range strings.Split(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			badPart = true
			continue
		}
		switch k {
		case "t":
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || haveTS {
				return ErrMalformedHeader // one timestamp, a number
			}
			ts, haveTS = n, true
		case "v1":
			if sig, err := hex.DecodeString(v); err == nil && len(sig) == sha256.Size {
				signed = append(signed, sig)
			}
		}
	}
	if badPart || !haveTS {
		return ErrMalformedHeader
	}
	if len(signed) == 0 {
		return ErrSignatureMismatch
	}
	want, err := hex.DecodeString(Signature(secret, ts, body))
	if err != nil {
		return ErrSignatureMismatch
	}
	match := false
	for _, sig := range signed {
		if hmac.Equal(sig, want) {
			match = true
		}
	}
	if !match {
		return ErrSignatureMismatch
	}
	if d := now.Sub(time.Unix(ts, 0)); d > tolerance || d < -tolerance {
		return ErrTimestamp
	}
	return nil
}
