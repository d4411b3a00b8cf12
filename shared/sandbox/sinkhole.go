package sandbox

import (
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// sinkhole answers DNS and accepts TCP on loopback so that a dropper shows its
// next step: every A query resolves to a loopback address of its own (see
// nameMap, so a connection tells which name the client resolved) and every
// request on the
// HTTP ports is recorded and answered with a 200 (HTTPS too, decrypted with
// the run's interception CA).
type sinkhole struct {
	Addr      string        // listen address, 127.0.0.1 in the sandbox
	DNSPort   int           // 53 in the sandbox; 0 picks a free port
	TCPPorts  []int         // sinkholePorts in the sandbox; 0 picks a free port
	ReadLimit int           // bytes of each TCP connection kept
	IdleTime  time.Duration // how long a TCP client may stay silent
	MaxEvents int
	// TLS, when set, terminates TLS clients with the run's interception CA
	// (see interceptCA); nil records only their ClientHello.
	TLS *tls.Config
	// Stage2, when set, is the marker of the stand-in second stage every
	// plain HTTP request is answered with: a shell script that runs
	// `/bin/true MARKER`, so a dropper that executes what it fetched shows it.
	Stage2 string
	stages atomic.Int64

	// ListenAddr is where the TCP listeners bind: "0.0.0.0" in the sandbox,
	// whose only interface is loopback, so that every 127/8 address a name
	// resolved to is answered; Addr when empty.
	ListenAddr string
	names      nameMap

	mu      sync.Mutex
	dns     []DNSQuery
	http    []HTTPRequest
	conns   []io.Closer           // listeners
	active  map[net.Conn]struct{} // connections being handled, at most maxActive
	closed  bool
	dropped map[string]int // events past a limit, per kind (dns, http, connection)
	wg      sync.WaitGroup
}

// sinkholePorts are the TCP ports the sinkhole accepts on: the web ports, and
// the ones remote shells, C2 channels and exfiltration commonly use, so that
// a reverse shell's connect succeeds and the shell it starts is seen.
var sinkholePorts = []int{80, 443, 8080, 8443, 21, 22, 23, 25, 110, 143, 587, 1080, 1337, 2222, 3333, 4443, 4444, 4445,
	5555, 6666, 6667, 7777, 8000, 8001, 8081, 8888, 9000, 9001, 9090, 9999, 12345, 13337, 31337}

func newSinkhole(addr string) *sinkhole {
	return &sinkhole{Addr: addr, DNSPort: 53, TCPPorts: sinkholePorts, ReadLimit: 16 << 10,
		IdleTime: 2 * time.Second, MaxEvents: 500}
}

// Open starts the listeners. It returns the bound DNS address and TCP addresses.
func (s *sinkhole) Open() (dnsAddr string, tcpAddrs []string, err error) {
	pc, err := net.ListenPacket("udp", net.JoinHostPort(s.Addr, strconv.Itoa(s.DNSPort)))
	if err != nil {
		return "", nil, err
	}
	s.conns = append(s.conns, pc)
	s.wg.Add(1)
	go s.serveDNS(pc)
	for _, p := range s.TCPPorts {
		at := s.ListenAddr
		if at == "" {
			at = s.Addr
		}
		ln, err := net.Listen("tcp", net.JoinHostPort(at, strconv.Itoa(p)))
		if err != nil {
			s.Close()
			return "", nil, err
		}
		s.conns = append(s.conns, ln)
		tcpAddrs = append(tcpAddrs, ln.Addr().String())
		s.wg.Add(1)
		go s.serveTCP(ln)
	}
	return pc.LocalAddr().String(), tcpAddrs, nil
}

// Close stops the listeners and the connections being handled and waits for
// the handlers.
func (s *sinkhole) Close() {
	s.mu.Lock()
	cs := s.conns
	s.conns, s.closed = nil, true
	for c := range s.active {
		cs = append(cs, c)
	}
	s.mu.Unlock()
	for _, c := range cs {
		c.Close()
	}
	s.wg.Wait()
}

// Bounds on what clients can make the sinkhole hold: connections handled at
// once (more are closed at accept), and the time one request may take.
const (
	maxActive   = 512
	requestTime = 5 * time.Second
)

// Results returns what the sinkhole recorded so far, and how many events of
// each kind it could not record (past MaxEvents, or connections turned away).
func (s *sinkhole) Results() ([]DNSQuery, []HTTPRequest, map[string]int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]DNSQuery(nil), s.dns...), append([]HTTPRequest(nil), s.http...), maps.Clone(s.dropped)
}

// drop counts an event past a limit; s.mu must be held.
func (s *sinkhole) drop(kind string) {
	if s.dropped == nil {
		s.dropped = map[string]int{}
	}
	s.dropped[kind]++
}

func (s *sinkhole) serveDNS(pc net.PacketConn) {
	defer s.wg.Done()
	buf := make([]byte, 4096)
	for {
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		name, qtype, _, err := parseDNSQuery(buf[:n])
		if err != nil {
			continue
		}
		s.mu.Lock()
		if len(s.dns) < s.MaxEvents {
			s.dns = append(s.dns, DNSQuery{Name: name, Type: dnsTypeName(qtype), Via: "sinkhole"})
		} else {
			s.drop("dns")
		}
		s.mu.Unlock()
		if ans, err := dnsAnswer(buf[:n], s.names.assign(name)); err == nil {
			pc.WriteTo(ans, from)
		}
	}
}

func (s *sinkhole) serveTCP(ln net.Listener) {
	defer s.wg.Done()
	port := ln.Addr().(*net.TCPAddr).Port
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			time.Sleep(10 * time.Millisecond) // EMFILE and the like: do not spin
			continue
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			c.Close()
			return
		}
		if len(s.active) >= maxActive {
			s.drop("connection")
			s.mu.Unlock()
			c.Close()
			continue
		}
		if s.active == nil {
			s.active = map[net.Conn]struct{}{}
		}
		s.active[c] = struct{}{}
		s.mu.Unlock()
		s.wg.Add(1)
		go s.handleTCP(c, port)
	}
}

// handleTCP reads what the client sends until it goes quiet, the limit is
// reached or a full HTTP request head (plus any body it announced) has come,
// then answers with the stand-in second stage and records the request. A TLS
// client is answered by the interception CA's leaf for its SNI when TLS is
// set, and its decrypted request recorded; one that refuses the certificate
// is recorded as its ClientHello.
func (s *sinkhole) handleTCP(c net.Conn, port int) {
	defer s.wg.Done()
	defer func() {
		c.Close()
		s.mu.Lock()
		delete(s.active, c)
		s.mu.Unlock()
	}()
	buf := s.readRequest(c)
	if len(buf) == 0 {
		return
	}
	var dest string
	if a, ok := c.LocalAddr().(*net.TCPAddr); ok {
		dest = s.names.name(a.IP)
	}
	r := HTTPRequest{Port: port, Raw: buf, Dest: dest}
	if buf[0] == 0x16 && s.TLS != nil {
		sni := parseSNI(buf)
		tc := tls.Server(&replayConn{Conn: c, pending: buf}, s.TLS)
		tc.SetDeadline(time.Now().Add(s.IdleTime))
		if err := tc.Handshake(); err == nil {
			tc.SetDeadline(time.Time{})
			plain := s.readRequest(tc)
			r = HTTPRequest{Port: port, Raw: plain, TLS: true, Host: sni, SNI: sni, Dest: dest, Line: "TLS, no request"}
			if len(plain) > 0 {
				r.Stage = s.answer(tc, plain)
			}
		}
	} else if buf[0] != 0x16 {
		r.Stage = s.answer(c, buf)
	}
	if len(r.Raw) > 0 {
		parseHTTP(&r)
	}
	s.mu.Lock()
	if len(s.http) < s.MaxEvents {
		s.http = append(s.http, r)
	} else {
		s.drop("http")
	}
	s.mu.Unlock()
}

// readRequest reads from c until the client goes quiet, ReadLimit bytes have
// come, requestTime has passed, or requestComplete says the request (or
// ClientHello) is whole.
func (s *sinkhole) readRequest(c net.Conn) []byte {
	buf := make([]byte, 0, 4096)
	tmp := make([]byte, 4096)
	end := time.Now().Add(requestTime)
	for len(buf) < s.ReadLimit {
		dl := time.Now().Add(s.IdleTime)
		if dl.After(end) {
			dl = end
		}
		c.SetReadDeadline(dl)
		n, err := c.Read(tmp)
		buf = append(buf, tmp[:min(n, s.ReadLimit-len(buf))]...)
		if err != nil || requestComplete(buf) {
			break
		}
	}
	return buf
}

// answer writes the HTTP answer to the request req (raw bytes): an empty JSON
// object to what looks like an API call, so a client that parses the answer
// goes on to its next step; the stand-in second stage to anything else, so a
// dropper that runs what it fetched shows it. It returns the stage's marker
// when it served one: Stage2 and a sequence number, so that a stage that ran
// names the request, and so the host, it came from.
func (s *sinkhole) answer(w io.Writer, req []byte) (stage string) {
	ctype, body := "text/plain", ""
	if s.Stage2 != "" {
		stage = s.Stage2 + "-" + strconv.FormatInt(s.stages.Add(1), 10)
		body = "#!/bin/sh\n/bin/true " + stage + "\n"
	}
	if wantsJSON(req) {
		ctype, body, stage = "application/json", "{}", ""
	}
	fmt.Fprintf(w, "HTTP/1.1 200 OK\r\nContent-Type: %s\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s", ctype, len(body), body)
	return stage
}

// wantsJSON guesses whether a request is an API call rather than a download:
// a method that sends data; else, unless the path names a script or an
// executable (install.sh?v=2 is a download whatever its query or Accept), a
// .json, /api/ or versioned path, or JSON asked for or sent. A query string
// alone does not make an API call (setup?id=1 is a download).
func wantsJSON(req []byte) bool {
	r := HTTPRequest{Raw: req}
	parseHTTP(&r)
	method, target, _ := strings.Cut(r.Line, " ")
	target, _, _ = strings.Cut(target, " ")
	p, _, _ := strings.Cut(target, "?")
	if i := strings.Index(p, "://"); i >= 0 { // absolute form, through a proxy
		p = p[i+3:]
		if j := strings.IndexByte(p, '/'); j >= 0 {
			p = p[j:]
		}
	}
	lp := strings.ToLower(p)
	if method == "POST" || method == "PUT" || method == "PATCH" {
		return true
	}
	// A script or an executable is a download whatever the client says it
	// accepts: a dropper cannot opt out of the stage by asking for JSON.
	if downloadExt.MatchString(lp) {
		return false
	}
	if strings.HasSuffix(lp, ".json") || strings.HasPrefix(lp, "/api/") || apiVersionRE.MatchString(lp) {
		return true
	}
	for _, h := range r.Headers {
		if k, v, ok := cutHeader(h); ok && (k == "accept" || k == "content-type") && strings.Contains(strings.ToLower(v), "json") {
			return true
		}
	}
	return false
}

// downloadExt are paths that name a script or an executable.
var downloadExt = regexp.MustCompile(`\.(sh|bash|zsh|py|pl|rb|js|mjs|ps1|psm1|bat|cmd|vbs|exe|bin|elf|run|apk|jar|msi|dmg|pkg|deb|rpm|appimage|zip|tgz|gz|xz|7z|rar)$`)

var apiVersionRE = regexp.MustCompile(`^/v[0-9]+(\.[0-9]+)?(/|$)`)

// replayConn is a connection whose first reads return bytes already read
// from it (the ClientHello the sinkhole looked at before choosing TLS).
type replayConn struct {
	net.Conn
	pending []byte
}

func (c *replayConn) Read(p []byte) (int, error) {
	if len(c.pending) > 0 {
		n := copy(p, c.pending)
		c.pending = c.pending[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

// requestComplete reports whether b holds a whole HTTP request: the head and
// as many body bytes as Content-Length says. A TLS ClientHello is complete
// once its record is.
func requestComplete(b []byte) bool {
	if len(b) >= 5 && b[0] == 0x16 {
		return len(b) >= 5+int(b[3])<<8|int(b[4])
	}
	r := HTTPRequest{Raw: b}
	i := indexCRLF2(b)
	if i < 0 {
		return false
	}
	parseHTTP(&r)
	for _, h := range r.Headers {
		if k, v, ok := cutHeader(h); ok && k == "content-length" {
			n, err := strconv.Atoi(v)
			return err != nil || len(b) >= i+4+n
		}
	}
	return true
}

// stage2Marker is the word the stand-in second stage passes to /bin/true in
// a run: derived from the run's canaries (fresh each run, unknown to the
// skill beforehand), and not itself a canary value.
func stage2Marker(cs []Canary) string {
	h := sha256.New()
	h.Write([]byte("oa-sandbox-stage2"))
	for _, c := range cs {
		h.Write([]byte(c.Value))
	}
	return "oa-stage2-" + hex.EncodeToString(h.Sum(nil)[:8])
}

// nameMap gives each name the sinkhole resolves a loopback address of its
// own, 127.1.0.1 upwards, so that the address a client connects to tells
// which name it looked up: a request that claims to be for one host (its SNI
// and Host header) but went to the address of another (curl --connect-to,
// a proxy, a socket opened by hand) shows it.
type nameMap struct {
	mu     sync.Mutex
	byName map[string]net.IP
	byIP   map[string]string
}

// Addresses of the name map.
var (
	unknownName = net.IPv4(127, 0, 0, 2) // every name past maxNames
	localhost   = net.IPv4(127, 0, 0, 1)
)

const maxNames = 16384

func (m *nameMap) assign(name string) net.IP {
	n := strings.TrimSuffix(strings.ToLower(name), ".")
	if n == "localhost" || strings.HasSuffix(n, ".localhost") {
		return localhost
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.byName == nil {
		m.byName, m.byIP = map[string]net.IP{}, map[string]string{}
	}
	if ip, ok := m.byName[n]; ok {
		return ip
	}
	if len(m.byName) >= maxNames {
		return unknownName
	}
	k := len(m.byName) + 1
	ip := net.IPv4(127, 1+byte(k>>16), byte(k>>8), byte(k))
	m.byName[n], m.byIP[ip.String()] = ip, n
	return ip
}

// name returns the name ip was given for, or "" for an address no lookup
// returned.
func (m *nameMap) name(ip net.IP) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.byIP[ip.String()]
}
