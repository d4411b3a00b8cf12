package sandbox

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"strings"
	"sync"
	"time"
)

// interceptCA is a certificate authority that exists for one run only: the
// init creates it inside the sandbox, writes its certificate (never its key)
// into the sandbox's trust store, and the sinkhole answers every TLS client
// with a leaf it signs for the name the client asked for. HTTPS requests then
// reach the sinkhole in clear, so a canary sent over HTTPS is seen like one
// sent over HTTP, and a dropper fetching its second stage over HTTPS gets it.
//
// The key lives only in the init's memory; the skill runs as another user and
// can neither trace the init nor read its memory. A client that pins its
// certificates refuses the handshake and is recorded as before (ClientHello
// and SNI only).
type interceptCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte // the CA certificate, PEM

	mu     sync.Mutex
	leaves map[string]*tls.Certificate
}

// maxLeaves bounds the leaf cache: a skill asking for endless names gets the
// same fallback leaf once the cache is full.
const maxLeaves = 256

func newInterceptCA(now time.Time) (*interceptCA, error) {
	key, serial, err := newKeySerial()
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "OpenAgents sandbox interception CA", Organization: []string{"OpenAgents Trust sandbox"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(2 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &interceptCA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		leaves: map[string]*tls.Certificate{}}, nil
}

// newKeySerial returns a fresh P-256 key and a random 127-bit serial number.
func newKeySerial() (*ecdsa.PrivateKey, *big.Int, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	return key, serial, err
}

// leafName normalises the name a client asked for: lower case, no trailing
// dot, "localhost" when it sent none or one no certificate can carry.
func leafName(sni string) string {
	n := strings.TrimSuffix(strings.ToLower(sni), ".")
	if n == "" || len(n) > 253 || strings.ContainsAny(n, " /\\\x00*") {
		return "localhost"
	}
	return n
}

// leaf returns a certificate for name signed by the CA, cached per name.
func (ca *interceptCA) leaf(name string) (*tls.Certificate, error) {
	name = leafName(name)
	ca.mu.Lock()
	defer ca.mu.Unlock()
	if c := ca.leaves[name]; c != nil {
		return c, nil
	}
	if len(ca.leaves) >= maxLeaves {
		if c := ca.leaves["localhost"]; c != nil {
			return c, nil
		}
		name = "localhost"
	}
	key, serial, err := newKeySerial()
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    ca.cert.NotBefore,
		NotAfter:     ca.cert.NotAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	if ip := net.ParseIP(name); ip != nil {
		tmpl.IPAddresses = []net.IP{ip}
	} else {
		tmpl.DNSNames = []string{name}
	}
	if name == "localhost" {
		tmpl.IPAddresses = append(tmpl.IPAddresses, net.IPv4(127, 0, 0, 1), net.IPv6loopback)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		return nil, err
	}
	c := &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	ca.leaves[name] = c
	return c, nil
}

// serverConfig returns the sinkhole's TLS configuration: a leaf for whatever
// name the client sends, HTTP/1.1 only (so the request that follows is one the
// sinkhole can read).
func (ca *interceptCA) serverConfig() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS10,
		NextProtos: []string{"http/1.1"},
		GetCertificate: func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
			if ca == nil {
				return nil, errors.New("no interception CA")
			}
			return ca.leaf(hello.ServerName)
		},
	}
}

// caBundlePaths are where the sandbox's /etc gets the CA certificate: the
// Debian and Red Hat system bundles that curl, wget, OpenSSL, Python and Go
// read. caEnv points the runtimes that carry their own bundle at it too.
var caBundlePaths = []string{"ssl/certs/ca-certificates.crt", "ssl/cert.pem", "pki/tls/certs/ca-bundle.crt"}

const caBundle = "/etc/ssl/certs/ca-certificates.crt"

var caEnv = []string{
	"SSL_CERT_FILE=" + caBundle,       // OpenSSL, Go
	"NODE_EXTRA_CA_CERTS=" + caBundle, // node's bundled store
	"REQUESTS_CA_BUNDLE=" + caBundle,  // python requests (certifi otherwise)
	"CURL_CA_BUNDLE=" + caBundle,
	"PIP_CERT=" + caBundle,
	"GIT_SSL_CAINFO=" + caBundle,
	"DENO_CERT=" + caBundle,
}
