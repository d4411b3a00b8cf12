//go:build linux && amd64

package sandbox

import (
	"bufio"
	"os"
	"strconv"
	"strings"
)

// tcpStdio returns which of pid's standard streams (0, 1, 2) are TCP
// sockets. A pipe or a Unix socket pair (node and libuv give children those
// for their standard streams) does not count: only a socket found in the
// network namespace's TCP tables does.
func tcpStdio(pid int) []int {
	inodes := map[string]int{}
	for fd := range 3 {
		l, err := os.Readlink("/proc/" + strconv.Itoa(pid) + "/fd/" + strconv.Itoa(fd))
		if err == nil && strings.HasPrefix(l, "socket:[") {
			inodes[strings.TrimSuffix(strings.TrimPrefix(l, "socket:["), "]")] |= 1 << fd
		}
	}
	if len(inodes) == 0 {
		return nil
	}
	mask := 0
	for _, table := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		mask |= tcpInodes(table, inodes)
	}
	var out []int
	for fd := range 3 {
		if mask&(1<<fd) != 0 {
			out = append(out, fd)
		}
	}
	return out
}

// tcpInodes returns the union of the fd masks of the inodes found in a
// /proc/net/tcp-format table (the inode is the tenth column).
func tcpInodes(table string, inodes map[string]int) int {
	f, err := os.Open(table)
	if err != nil {
		return 0
	}
	defer f.Close()
	mask := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 9 {
			mask |= inodes[fields[9]]
		}
	}
	return mask
}
