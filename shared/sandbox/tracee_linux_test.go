//go:build linux && amd64

package sandbox

import (
	"encoding/binary"
	"os"
	"strings"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

func TestParseSockaddr(t *testing.T) {
	in4 := []byte{unix.AF_INET, 0, 0x01, 0xbb, 203, 0, 113, 7, 0, 0, 0, 0, 0, 0, 0, 0}
	in6 := make([]byte, 28)
	binary.LittleEndian.PutUint16(in6, unix.AF_INET6)
	in6[2], in6[3] = 0, 53
	in6[8], in6[9], in6[23] = 0x20, 0x01, 1
	unixPath := append([]byte{unix.AF_UNIX, 0}, "/run/x.sock\x00garbage"...)
	nscd := append([]byte{unix.AF_UNIX, 0}, "/var/run/nscd/socket\x00"...)
	for _, tt := range []struct {
		name string
		sa   []byte
		addr string
		port int
		ok   bool
	}{
		{"IPv4", in4, "203.0.113.7", 443, true},
		{"IPv6", in6, "2001::1", 53, true},
		{"Unix", unixPath, "unix:/run/x.sock", 0, true},
		{"SkipNscd", nscd, "", 0, false},
		{"ErrShortIPv4", in4[:6], "", 0, false},
		{"ErrFamily", []byte{99, 0, 1, 2}, "", 0, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var n NetAttempt
			ok := parseSockaddr(tt.sa, &n)
			if ok != tt.ok || ok && (n.Addr != tt.addr || n.Port != tt.port) {
				t.Fatalf("got %v %q:%d, want %v %q:%d", ok, n.Addr, n.Port, tt.ok, tt.addr, tt.port)
			}
		})
	}
}

// TestReadTraceeMemory reads strings and argv arrays out of this process,
// across a page boundary.
func TestReadTraceeMemory(t *testing.T) {
	page := make([]byte, 3*4096)
	base := uintptr(unsafe.Pointer(&page[0]))
	off := int(4096-base%4096) + 4096 - 5 // 5 bytes before a page boundary
	s := "crosses-the-page-boundary"
	copy(page[off:], s+"\x00")
	addr := uint64(base) + uint64(off)
	if got := readString(os.Getpid(), addr, 4096); got != s {
		t.Fatalf("readString: got %q, want %q", got, s)
	}
	if got := readString(os.Getpid(), addr, 8); got != s[:8] {
		t.Fatalf("readString with max 8: got %q", got)
	}
	a, b := []byte("curl\x00"), []byte("-d\x00")
	ptrs := []uint64{uint64(uintptr(unsafe.Pointer(&a[0]))), uint64(uintptr(unsafe.Pointer(&b[0]))), 0}
	if got := readArgv(os.Getpid(), uint64(uintptr(unsafe.Pointer(&ptrs[0])))); strings.Join(got, " ") != "curl -d" {
		t.Fatalf("readArgv: got %q", got)
	}
	if got := readString(os.Getpid(), 0, 10); got != "" {
		t.Fatalf("readString(NULL): got %q", got)
	}
}
