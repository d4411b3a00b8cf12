package sandbox

import (
	"net"
	"strings"
	"testing"
)

func FuzzParseDNSQuery(f *testing.F) {
	f.Add(dnsQuery("evil.example.com", 1))
	f.Add(dnsQuery("a.b", 28))
	f.Add([]byte{0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12, 0, 1, 0, 1})
	f.Fuzz(func(t *testing.T, msg []byte) {
		name, _, end, err := parseDNSQuery(msg)
		if err != nil {
			return
		}
		if end > len(msg) || len(name) > 255 {
			t.Fatalf("end %d of %d, name length %d", end, len(msg), len(name))
		}
		if _, err := dnsAnswer(msg, net.IPv4(127, 1, 0, 1)); err != nil {
			t.Fatalf("dnsAnswer refused a query parseDNSQuery accepted: %v", err)
		}
	})
}

func FuzzParseSNI(f *testing.F) {
	f.Add(clientHello(f, "x.example"))
	f.Add([]byte{0x16, 3, 1, 0, 5, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(parseSNI(b)) > len(b) {
			t.Fatal("server name longer than the input")
		}
	})
}

func FuzzParseHTTP(f *testing.F) {
	f.Add([]byte("POST /c HTTP/1.1\r\nHost: a.example\r\nContent-Length: 3\r\n\r\nabc"))
	f.Add([]byte("GET / HTTP/1.0\n\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		r := HTTPRequest{Raw: b}
		parseHTTP(&r)
		requestComplete(b)
		if len(r.Headers) > 32 {
			t.Fatalf("%d headers kept, at most 32", len(r.Headers))
		}
	})
}

func FuzzShellBlocks(f *testing.F) {
	f.Add("```bash\n$ pip install x\n```\n")
	f.Add("```console\n$ a \\\n b\nout\n```")
	f.Fuzz(func(t *testing.T, md string) {
		for _, b := range shellBlocks(md) {
			if strings.TrimSpace(b.text) == "" || b.line < 1 {
				t.Fatalf("empty block or bad line: %+v", b)
			}
		}
	})
}
