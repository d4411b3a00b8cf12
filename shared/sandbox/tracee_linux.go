//go:build linux && amd64

package sandbox

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"path"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// readMem reads tracee memory at addr into b, page by page, and returns the
// number of bytes read.
func readMem(pid int, addr uint64, b []byte) int {
	n := 0
	for n < len(b) {
		chunk := min(len(b)-n, 4096-int((addr+uint64(n))%4096))
		local := []unix.Iovec{{Base: &b[n], Len: uint64(chunk)}}
		remote := []unix.RemoteIovec{{Base: uintptr(addr) + uintptr(n), Len: chunk}}
		got, err := unix.ProcessVMReadv(pid, local, remote, 0)
		if err != nil || got <= 0 {
			break
		}
		n += got
	}
	return n
}

// readString reads a NUL-terminated string of at most max bytes.
func readString(pid int, addr uint64, max int) string {
	if addr == 0 {
		return ""
	}
	var sb []byte
	buf := make([]byte, 256)
	for len(sb) < max {
		n := readMem(pid, addr+uint64(len(sb)), buf[:min(len(buf), 4096-int((addr+uint64(len(sb)))%4096))])
		if n <= 0 {
			break
		}
		if i := bytes.IndexByte(buf[:n], 0); i >= 0 {
			sb = append(sb, buf[:i]...)
			break
		}
		sb = append(sb, buf[:n]...)
	}
	return string(sb[:min(len(sb), max)])
}

// readArgv reads a NULL-terminated array of string pointers.
func readArgv(pid int, addr uint64) []string {
	var out []string
	for i := uint64(0); addr != 0 && i < 128; i++ {
		var ptr [8]byte
		if readMem(pid, addr+8*i, ptr[:]) != 8 {
			break
		}
		p := binary.LittleEndian.Uint64(ptr[:])
		if p == 0 {
			break
		}
		out = append(out, readString(pid, p, 1024))
	}
	return out
}

// parseSockaddr fills the address and port of n from a sockaddr.
func parseSockaddr(sa []byte, n *NetAttempt) bool {
	switch binary.LittleEndian.Uint16(sa) {
	case unix.AF_INET:
		if len(sa) < 8 {
			return false
		}
		n.Port = int(binary.BigEndian.Uint16(sa[2:]))
		n.Addr = fmt.Sprintf("%d.%d.%d.%d", sa[4], sa[5], sa[6], sa[7])
	case unix.AF_INET6:
		if len(sa) < 24 {
			return false
		}
		n.Port = int(binary.BigEndian.Uint16(sa[2:]))
		ip := make([]byte, 16)
		copy(ip, sa[8:24])
		n.Addr = net.IP(ip).String()
	case unix.AF_UNIX:
		p := sa[2:]
		if i := bytes.IndexByte(p, 0); i > 0 {
			p = p[:i]
		} else if i == 0 { // abstract socket
			p = bytes.TrimRight(p, "\x00")
		}
		n.Addr = "unix:" + string(p)
		if n.Addr == "unix:/var/run/nscd/socket" {
			return false // glibc asks nscd before every lookup
		}
	default:
		return false
	}
	return true
}

// progOf names the program pid runs.
func progOf(pid int) string {
	exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
	if err != nil {
		return ""
	}
	return path.Base(exe)
}

// absPath makes p absolute against dirfd (or the cwd) of pid.
func (t *tracer) absPath(pid, dirfd int, p string) string {
	if strings.HasPrefix(p, "/") {
		return path.Clean(p)
	}
	var base string
	var err error
	if dirfd == unix.AT_FDCWD {
		base, err = os.Readlink(fmt.Sprintf("/proc/%d/cwd", pid))
	} else {
		base, err = os.Readlink(fmt.Sprintf("/proc/%d/fd/%d", pid, dirfd))
	}
	if err != nil || !strings.HasPrefix(base, "/") {
		base = "/?"
	}
	return path.Join(base, p)
}

// lookPath finds prog in the sandbox PATH.
func lookPath(prog string) string {
	if strings.Contains(prog, "/") {
		return prog
	}
	for _, d := range sandboxPath {
		p := d + "/" + prog
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p
		}
	}
	return ""
}

// cappedBuffer keeps the first max bytes written to it and counts the rest.
type cappedBuffer struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	max  int
	over bool
}

func (c *cappedBuffer) Write(b []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if room := c.max - c.buf.Len(); room < len(b) {
		c.over = true
		c.buf.Write(b[:max(0, room)])
	} else {
		c.buf.Write(b)
	}
	return len(b), nil
}

func (c *cappedBuffer) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.String()
}
