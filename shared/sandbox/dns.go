package sandbox

import (
	"encoding/binary"
	"errors"
	"net"
	"strconv"
	"strings"
)

var errDNS = errors.New("not a DNS query")

// dnsTypes names the query types worth naming in a report.
var dnsTypes = map[uint16]string{1: "A", 2: "NS", 5: "CNAME", 12: "PTR", 15: "MX", 16: "TXT", 28: "AAAA", 33: "SRV", 65: "HTTPS", 255: "ANY"}

func dnsTypeName(t uint16) string {
	if n, ok := dnsTypes[t]; ok {
		return n
	}
	return "TYPE" + strconv.Itoa(int(t))
}

// parseDNSQuery returns the name and type of the first question of a DNS
// message, and the offset just past that question. Compression pointers are
// refused: a query never needs them.
func parseDNSQuery(msg []byte) (name string, qtype uint16, end int, err error) {
	if len(msg) < 12 || msg[2]&0x80 != 0 || binary.BigEndian.Uint16(msg[4:6]) == 0 {
		return "", 0, 0, errDNS
	}
	var labels []string
	i, total := 12, 0
	for {
		if i >= len(msg) {
			return "", 0, 0, errDNS
		}
		n := int(msg[i])
		i++
		if n == 0 {
			break
		}
		if n > 63 || i+n > len(msg) {
			return "", 0, 0, errDNS
		}
		if total += n + 1; total > 255 {
			return "", 0, 0, errDNS
		}
		labels = append(labels, string(msg[i:i+n]))
		i += n
	}
	if i+4 > len(msg) {
		return "", 0, 0, errDNS
	}
	qtype = binary.BigEndian.Uint16(msg[i : i+2])
	return strings.Join(labels, "."), qtype, i + 4, nil
}

// dnsAnswer builds the sinkhole's reply to a query: one A record ip for A
// queries, an empty NOERROR answer for anything else.
func dnsAnswer(query []byte, ip net.IP) ([]byte, error) {
	ip4 := ip.To4()
	if ip4 == nil {
		return nil, errors.New("dns answer: not an IPv4 address")
	}
	_, qtype, end, err := parseDNSQuery(query)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, end+16)
	out = append(out, query[:2]...)             // ID
	out = append(out, 0x81|query[2]&0x01, 0x80) // QR, RD copied, RA, NOERROR
	out = append(out, 0, 1)                     // QDCOUNT
	if qtype == 1 {
		out = append(out, 0, 1) // ANCOUNT
	} else {
		out = append(out, 0, 0)
	}
	out = append(out, 0, 0, 0, 0) // NSCOUNT, ARCOUNT
	out = append(out, query[12:end]...)
	if qtype == 1 {
		out = append(out, 0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4)
		out = append(out, ip4...)
	}
	return out, nil
}

// parseSNI returns the server name of a TLS ClientHello, or "".
func parseSNI(b []byte) string {
	// record header (5) + handshake header (4) + version (2) + random (32)
	if len(b) < 43 || b[0] != 0x16 || b[5] != 0x01 {
		return ""
	}
	i := 43
	skip := func(lenBytes int) bool {
		if i+lenBytes > len(b) {
			return false
		}
		n := 0
		for k := 0; k < lenBytes; k++ {
			n = n<<8 | int(b[i+k])
		}
		i += lenBytes + n
		return i <= len(b)
	}
	if !skip(1) || !skip(2) || !skip(1) { // session id, cipher suites, compression
		return ""
	}
	if i+2 > len(b) {
		return ""
	}
	end := min(len(b), i+2+int(binary.BigEndian.Uint16(b[i:])))
	i += 2
	for i+4 <= end {
		typ, n := binary.BigEndian.Uint16(b[i:]), int(binary.BigEndian.Uint16(b[i+2:]))
		i += 4
		if i+n > end {
			return ""
		}
		if typ == 0 && n >= 5 { // server_name: list len (2), type (1), name len (2), name
			ln := int(binary.BigEndian.Uint16(b[i+3:]))
			if b[i+2] == 0 && i+5+ln <= end {
				return string(b[i+5 : i+5+ln])
			}
			return ""
		}
		i += n
	}
	return ""
}

// parseHTTP fills the request line, Host and headers of r from its raw bytes.
func parseHTTP(r *HTTPRequest) {
	if h := parseSNI(r.Raw); h != "" || (len(r.Raw) > 0 && r.Raw[0] == 0x16) {
		r.Line, r.Host = "TLS ClientHello", h
		return
	}
	head, _, _ := strings.Cut(string(r.Raw), "\r\n\r\n")
	lines := strings.Split(head, "\n")
	r.Line = strings.TrimRight(lines[0], "\r")
	for _, l := range lines[1:] {
		l = strings.TrimRight(l, "\r")
		if l == "" {
			break
		}
		if len(r.Headers) < 32 {
			r.Headers = append(r.Headers, l)
		}
		if k, v, ok := strings.Cut(l, ":"); ok && strings.EqualFold(strings.TrimSpace(k), "host") {
			r.Host = strings.TrimSpace(v)
		}
	}
}

func indexCRLF2(b []byte) int {
	for i := 0; i+3 < len(b); i++ {
		if b[i] == '\r' && b[i+1] == '\n' && b[i+2] == '\r' && b[i+3] == '\n' {
			return i
		}
	}
	return -1
}

func cutHeader(h string) (key, value string, ok bool) {
	k, v, ok := strings.Cut(h, ":")
	return strings.ToLower(strings.TrimSpace(k)), strings.TrimSpace(v), ok
}
