package notify

import (
	"errors"
	"net"
	"net/http"
	"net/netip"
	"syscall"
	"time"
)

// errAddressNotAllowed is what the dialer answers for a non-public address.
var errAddressNotAllowed = errors.New("destination address not allowed")

// nonPublic lists special-purpose ranges that netip's predicates do not cover
// and that may reach inside a network, or embed an address that does.
var nonPublic = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),       // "this network"
	netip.MustParsePrefix("100.64.0.0/10"),   // carrier-grade NAT
	netip.MustParsePrefix("192.0.0.0/24"),    // IETF protocol assignments
	netip.MustParsePrefix("192.0.2.0/24"),    // documentation
	netip.MustParsePrefix("198.18.0.0/15"),   // benchmarking
	netip.MustParsePrefix("198.51.100.0/24"), // documentation
	netip.MustParsePrefix("203.0.113.0/24"),  // documentation
	netip.MustParsePrefix("240.0.0.0/4"),     // reserved, and broadcast
	netip.MustParsePrefix("64:ff9b::/96"),    // NAT64: embeds any IPv4 address
	netip.MustParsePrefix("64:ff9b:1::/48"),  // local-use NAT64
	netip.MustParsePrefix("2001:db8::/32"),   // documentation
	netip.MustParsePrefix("2002::/16"),       // 6to4: embeds any IPv4 address
	netip.MustParsePrefix("100::/64"),        // discard
}

// PublicAddress reports whether ip is a public unicast address a publisher's
// webhook may resolve to. Loopback, private (including Fly's fdaa::/16
// network), link-local (the cloud metadata service), multicast, unspecified
// and special-purpose addresses are not.
func PublicAddress(ip netip.Addr) bool {
	ip = ip.Unmap()
	if !ip.IsValid() || ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() ||
		ip.IsLinkLocalMulticast() || ip.IsInterfaceLocalMulticast() || ip.IsMulticast() || ip.IsUnspecified() {
		return false
	}
	for _, p := range nonPublic {
		if p.Contains(ip) {
			return false
		}
	}
	return true
}

// dialOnly returns a net.Dialer Control function admitting the addresses
// allowed reports. It runs after name resolution, on the address actually
// dialled, so a hostname that resolves (or re-resolves) to an internal
// address is refused too.
func dialOnly(allowed func(netip.Addr) bool) func(network, address string, _ syscall.RawConn) error {
	return func(network, address string, _ syscall.RawConn) error {
		host, _, err := net.SplitHostPort(address)
		if err != nil {
			return errAddressNotAllowed
		}
		ip, err := netip.ParseAddr(host)
		if err != nil || !allowed(ip) {
			return errAddressNotAllowed
		}
		return nil
	}
}

// NewHTTPClient returns the client deliveries use in production: it connects
// to public addresses only, ignores proxy settings from the environment (a
// proxy would dial on our behalf, past the address check), follows no
// redirects, and gives up on a request after timeout.
func NewHTTPClient(timeout time.Duration) *http.Client {
	return newHTTPClient(timeout, PublicAddress)
}

// NewDevHTTPClient is NewHTTPClient that may also reach loopback addresses,
// for the embedded local default, where a publisher's test receiver runs on
// the same machine. Private and link-local addresses stay refused.
func NewDevHTTPClient(timeout time.Duration) *http.Client {
	return newHTTPClient(timeout, func(ip netip.Addr) bool { return ip.Unmap().IsLoopback() || PublicAddress(ip) })
}

func newHTTPClient(timeout time.Duration, allowed func(netip.Addr) bool) *http.Client {
	dialer := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second, Control: dialOnly(allowed)}
	return &http.Client{
		Transport: &http.Transport{
			Proxy:                 nil,
			DialContext:           dialer.DialContext,
			ForceAttemptHTTP2:     true,
			MaxIdleConns:          16,
			IdleConnTimeout:       60 * time.Second,
			TLSHandshakeTimeout:   10 * time.Second,
			ResponseHeaderTimeout: timeout,
		},
		Timeout: timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			// A redirect would send the signed body somewhere the publisher
			// did not register; the 3xx is recorded as a failure.
			return http.ErrUseLastResponse
		},
	}
}
