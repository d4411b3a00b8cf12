//go:build unix

package digest

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

func TestContent_RefusedSpecialFiles(t *testing.T) {
	for _, tt := range []struct {
		name string
		make func(tb testing.TB, path string)
		err  string
	}{
		{
			name: "ErrFIFO",
			make: func(tb testing.TB, path string) {
				if err := syscall.Mkfifo(path, 0o644); err != nil {
					tb.Fatal(err)
				}
			},
			err: "special: named pipe (FIFO) not allowed: a skill holds only files, directories and symlinks",
		},
		{
			name: "ErrSocket",
			make: func(tb testing.TB, path string) {
				l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
				if err != nil {
					tb.Fatal(err)
				}
				l.SetUnlinkOnClose(false)
				tb.Cleanup(func() { l.Close() })
			},
			err: "special: socket not allowed: a skill holds only files, directories and symlinks",
		},
		{
			name: "ErrCharacterDevice",
			make: func(tb testing.TB, path string) {
				// The device numbers of /dev/null, 1:3 on Linux; creating it needs privileges.
				err := syscall.Mknod(path, syscall.S_IFCHR|0o644, 1<<8|3)
				if errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EACCES) {
					tb.Skip("mknod needs privileges:", err)
				} else if err != nil {
					tb.Fatal(err)
				}
			},
			err: "special: character device not allowed: a skill holds only files, directories and symlinks",
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			// Unix socket paths are short: keep the folder name short too.
			dir, err := os.MkdirTemp("", "d")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { os.RemoveAll(dir) })
			MustWriteFile(t, filepath.Join(dir, "SKILL.md"), "---\nname: x\n---\n", 0o644)
			tt.make(t, filepath.Join(dir, "special"))
			_, err = Content(dir)
			MustInvalid(t, err, tt.err)
		})
	}
}

// TestContent_SymlinkToSpecialFile checks that a symlink is judged by its target
// path and never opened: opening a link to a FIFO would block the walk forever.
func TestContent_SymlinkToSpecialFile(t *testing.T) {
	base := t.TempDir()
	fifo := filepath.Join(base, "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(base, "skill")
	MustMkdir(t, dir)
	MustSymlink(t, "../fifo", filepath.Join(dir, "link"))
	_, err := Content(dir)
	MustInvalid(t, err, `link: symlink target "../fifo" resolves outside the skill folder`)
}
