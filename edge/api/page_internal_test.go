package api

import (
	"net/http/httptest"
	"testing"

	"github.com/openagents/trust/shared/trust"
)

func TestCheckPageOrigin(t *testing.T) {
	for _, tc := range []struct {
		name, origin, referer string
		ok                    bool
	}{
		{"OK", "http://edge.example", "", true},
		{"OKHTTPS", "https://edge.example", "", true},
		{"OKReferer", "", "https://edge.example/status?x=1", true},
		{"ErrNone", "", "", false},
		{"ErrOtherHost", "https://evil.example", "", false},
		{"ErrOtherPort", "https://edge.example:8443", "", false},
		{"ErrNullOrigin", "null", "https://edge.example/status", false},
		{"ErrSubdomain", "https://edge.example.evil.example", "", false},
		{"ErrScheme", "javascript://edge.example", "", false},
		{"ErrRefererElsewhere", "", "https://evil.example/edge.example", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "http://edge.example/status/login", nil)
			if tc.origin != "" {
				r.Header.Set("Origin", tc.origin)
			}
			if tc.referer != "" {
				r.Header.Set("Referer", tc.referer)
			}
			err := checkPageOrigin(r)
			if tc.ok && err != nil {
				t.Fatalf("got %v, want accepted", err)
			} else if !tc.ok && trust.ErrorCode(err) != trust.EFORBIDDEN {
				t.Fatalf("got %v, want forbidden", err)
			}
		})
	}
}

func TestPageCSRF(t *testing.T) {
	a, b := pageCSRF("oaus_session-a"), pageCSRF("oaus_session-b")
	if a == b || len(a) != 64 || a != pageCSRF("oaus_session-a") {
		t.Fatalf("tokens %q, %q: want stable per session and distinct across sessions", a, b)
	}
}
