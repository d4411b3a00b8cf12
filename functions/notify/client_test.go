package notify_test

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openagents/trust/functions/notify"
)

func TestPublicAddress(t *testing.T) {
	for _, tc := range []struct {
		addr string
		want bool
	}{
		{"93.184.215.14", true},
		{"2606:4700::6810:84e5", true},
		{"127.0.0.1", false},
		{"::1", false},
		{"::ffff:127.0.0.1", false},
		{"10.1.2.3", false},
		{"172.16.0.1", false},
		{"192.168.1.1", false},
		{"169.254.169.254", false}, // cloud metadata
		{"fd00:ec2::254", false},   // AWS IPv6 metadata
		{"fdaa:0:1::3", false},     // Fly private network
		{"fe80::1", false},
		{"100.64.0.1", false},
		{"0.0.0.0", false},
		{"::", false},
		{"224.0.0.1", false},
		{"255.255.255.255", false},
		{"64:ff9b::a00:1", false}, // NAT64 of 10.0.0.1
		{"2002:a00:1::1", false},  // 6to4 of 10.0.0.1
		{"198.18.0.1", false},
	} {
		t.Run(tc.addr, func(t *testing.T) {
			if got := notify.PublicAddress(netip.MustParseAddr(tc.addr)); got != tc.want {
				t.Fatalf("PublicAddress(%s) = %v, want %v", tc.addr, got, tc.want)
			}
		})
	}
}

func TestNewHTTPClient_RefusesLoopback(t *testing.T) {
	var hit atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hit.Store(true) }))
	defer srv.Close()
	_, err := notify.NewHTTPClient(5 * time.Second).Get(srv.URL)
	if err == nil || !strings.Contains(err.Error(), "destination address not allowed") {
		t.Fatalf("err = %v, want the address refused", err)
	}
	if hit.Load() {
		t.Fatal("the request reached a loopback server")
	}
}

func TestNewDevHTTPClient(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	resp, err := notify.NewDevHTTPClient(5 * time.Second).Get(srv.URL)
	if err != nil {
		t.Fatalf("loopback refused: %v", err)
	}
	resp.Body.Close()
	// Still closed to the private network and the metadata service.
	for _, addr := range []string{"10.0.0.1:80", "169.254.169.254:80", "[fdaa::3]:80"} {
		_, err := notify.NewDevHTTPClient(5 * time.Second).Get("http://" + addr + "/")
		if err == nil || !strings.Contains(err.Error(), "destination address not allowed") {
			t.Errorf("%s: err = %v, want the address refused", addr, err)
		}
	}
}
