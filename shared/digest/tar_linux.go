package digest

import (
	"archive/tar"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// On Linux, WriteTar reads the folder with raw system calls instead of an
// os.Root, which costs several system calls per entry (an lstat of every
// directory entry, a component-by-component walk for every open, poller
// registration for every file). The folder is opened once; every directory and
// file below it is opened from that descriptor with one openat2 call that the
// kernel keeps beneath it and refuses to pass through any symlink
// (RESOLVE_BENEATH, RESOLVE_NO_SYMLINKS), so the guarantee is the os.Root's:
// nothing outside the folder is opened even if the tree changes during the walk.
// File types come from getdents. The tar is byte for byte the one the os.Root
// code writes, and refusals are the same, because both share classify,
// sortEntries, newHeader and writeFileHeader and walk in the same order;
// symlinks, which are rare, are still read and checked through an os.Root,
// opened on first need and checked to be the same folder.
//
// Where openat2 is missing (Linux before 5.6) or forbidden (a seccomp filter),
// WriteTar uses the os.Root code; so it does for a single path openat2 cannot
// take (longer than PATH_MAX, or refused with EPERM or EAGAIN), which the os.Root
// then opens or refuses as it would without this fast path.

// Switches for tests: fastPath off makes WriteTar use only the os.Root code;
// forceLstat makes the walk ignore the types getdents reports and lstat every
// entry, as it must on file systems that report none; openat2 may be replaced to
// fail.
var (
	fastPath   = true
	forceLstat = false
	openat2    = unix.Openat2
)

// openat2Works reports whether this process may call openat2. A filter that
// forbids it fails every call, whatever the path.
var openat2Works = sync.OnceValue(func() bool {
	fd, err := unix.Openat2(unix.AT_FDCWD, ".", &unix.OpenHow{Flags: unix.O_PATH | unix.O_CLOEXEC})
	if err == nil {
		unix.Close(fd)
	}
	return err != unix.ENOSYS && err != unix.EPERM
})

// errUseRoot is returned by fastTree.open for a path that must be opened through
// the os.Root instead.
var errUseRoot = errors.New("use the os.Root")

// resolveBeneath keeps a path resolution beneath the folder and off symlinks.
const resolveBeneath = unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS

// writeTarFast writes the tar of dir as WriteTar documents, and reports
// done=false, having written nothing, when WriteTar should use the os.Root code
// instead: openat2 is unavailable, or dir cannot be opened (the os.Root code
// then reports the error as it always has).
func writeTarFast(w io.Writer, dir string) (done bool, err error) {
	if !fastPath || !openat2Works() {
		return false, nil
	}
	fd, err := ignoringEINTR(func() (int, error) {
		return unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	})
	if err != nil {
		return false, nil
	}
	buf := bufPool.Get().(*[]byte)
	defer bufPool.Put(buf)
	t := &fastTree{dir: dir, fd: fd, buf: *buf}
	defer t.close()

	entries, err := t.walk()
	if err != nil {
		return true, err
	}
	tw := tar.NewWriter(w)
	for _, e := range entries {
		if e.typ == tar.TypeReg {
			err = t.writeFile(tw, e)
		} else {
			err = writeHeader(tw, newHeader(e))
		}
		if err != nil {
			return true, err
		}
	}
	if err := tw.Close(); err != nil {
		return true, fmt.Errorf("write tar: %w", err)
	}
	return true, nil
}

// fastTree is one folder being archived.
type fastTree struct {
	dir  string   // as given to WriteTar
	fd   int      // the folder, opened once
	root *os.Root // the same folder, opened on first need
	buf  []byte   // for getdents while walking, then for copying files
}

func (t *fastTree) close() {
	unix.Close(t.fd)
	if t.root != nil {
		t.root.Close()
	}
}

// osRoot returns an os.Root of the folder, opening it on first call and
// checking that it is the directory t.fd is: dir may be a symlink, retargeted
// since it was opened.
func (t *fastTree) osRoot() (*os.Root, error) {
	if t.root != nil {
		return t.root, nil
	}
	root, err := os.OpenRoot(t.dir)
	if err != nil {
		return nil, fmt.Errorf("open skill folder: %w", err)
	}
	var st unix.Stat_t
	fi, err := root.Stat(".")
	if err == nil {
		err = ignoringEINTR0(func() error { return unix.Fstat(t.fd, &st) })
	}
	if err != nil {
		root.Close()
		return nil, fmt.Errorf("stat skill folder: %w", err)
	}
	if sys, ok := fi.Sys().(*syscall.Stat_t); !ok || uint64(sys.Dev) != uint64(st.Dev) || uint64(sys.Ino) != uint64(st.Ino) {
		root.Close()
		return nil, fmt.Errorf("open skill folder: %w", changed(t.dir))
	}
	t.root = root
	return root, nil
}

// open opens the path p below the folder with flags, following no symlink on
// the way or at the end. errUseRoot if openat2 cannot take p.
func (t *fastTree) open(p string, flags int) (int, error) {
	how := unix.OpenHow{Flags: uint64(flags | unix.O_NOFOLLOW | unix.O_CLOEXEC), Resolve: resolveBeneath}
	fd, err := ignoringEINTR(func() (int, error) { return openat2(t.fd, p, &how) })
	switch err {
	case nil:
		return fd, nil
	case unix.ENOSYS, unix.EPERM, unix.ENAMETOOLONG, unix.EAGAIN:
		// Missing or forbidden after all, a path longer than PATH_MAX (the
		// os.Root walks it a component at a time), a permission refused (the
		// os.Root reports it as before), or a rename during the walk or a
		// lease (the os.Root retries or waits).
		return -1, errUseRoot
	}
	return -1, &os.PathError{Op: "openat2", Path: p, Err: err}
}

// walk lists every entry below the folder, sorted by path, refusing what may
// not be archived, in the order and with the errors of the os.Root walk.
func (t *fastTree) walk() ([]entry, error) {
	var entries []entry
	if err := t.walkDir("", &entries); err != nil {
		return nil, err
	}
	sortEntries(entries)
	return entries, nil
}

// walkDir appends to entries the entries below the directory p ("" for the
// folder itself), depth first and in name order, as fs.WalkDir visits them.
func (t *fastTree) walkDir(p string, entries *[]entry) error {
	dirents, err := t.readDir(p)
	if err != nil {
		if p == "" {
			p = "."
		}
		return fmt.Errorf("read %s: %w", p, err)
	}
	for _, d := range dirents {
		name := d.name
		if p != "" {
			name = p + "/" + d.name
		}
		e, err := classify(name, d.typ, t.osRoot)
		if err != nil {
			return err
		}
		*entries = append(*entries, e)
		if e.typ == tar.TypeDir {
			if err := t.walkDir(name, entries); err != nil {
				return err
			}
		}
	}
	return nil
}

// dirent is one entry of a directory.
type dirent struct {
	name string
	typ  fs.FileMode // as fs.FileMode.Type gives it
}

// Offsets in a struct linux_dirent64, as getdents64 fills it.
const (
	direntReclen = int(unsafe.Offsetof(unix.Dirent{}.Reclen))
	direntType   = int(unsafe.Offsetof(unix.Dirent{}.Type))
	direntName   = int(unsafe.Offsetof(unix.Dirent{}.Name))
)

// readDir returns the entries of the directory p ("" for the folder), sorted
// by name. The directory is closed when it returns, so a walk holds at most
// two descriptors, whatever the depth of the tree.
func (t *fastTree) readDir(p string) ([]dirent, error) {
	fd := t.fd
	if p != "" {
		var err error
		fd, err = t.open(p, unix.O_RDONLY|unix.O_DIRECTORY)
		if err == errUseRoot {
			return t.readDirRoot(p)
		} else if err != nil {
			return nil, err
		}
		defer unix.Close(fd)
	}

	var dirents []dirent
	for {
		n, err := ignoringEINTR(func() (int, error) { return unix.Getdents(fd, t.buf) })
		if err != nil {
			return nil, &os.PathError{Op: "getdents", Path: p, Err: err}
		} else if n <= 0 {
			break
		}
		for b := t.buf[:n]; len(b) > direntName; {
			reclen := int(binary.NativeEndian.Uint16(b[direntReclen:]))
			if reclen <= direntName || reclen > len(b) {
				return nil, &os.PathError{Op: "getdents", Path: p, Err: unix.EIO}
			}
			rec := b[:reclen]
			b = b[reclen:]
			name := rec[direntName:]
			if i := slices.Index(name, 0); i >= 0 {
				name = name[:i]
			}
			if string(name) == "." || string(name) == ".." {
				continue
			}
			d := dirent{name: string(name), typ: dtType(rec[direntType])}
			if d.typ == ^fs.FileMode(0) || forceLstat {
				var st unix.Stat_t
				err := ignoringEINTR0(func() error { return unix.Fstatat(fd, d.name, &st, unix.AT_SYMLINK_NOFOLLOW) })
				if err == unix.ENOENT {
					continue // removed since it was listed, as os.ReadDir treats it
				} else if err != nil {
					return nil, &os.PathError{Op: "lstat", Path: d.name, Err: err}
				}
				d.typ = modeType(st.Mode)
			}
			dirents = append(dirents, d)
		}
	}
	slices.SortFunc(dirents, func(a, b dirent) int { return strings.Compare(a.name, b.name) })
	return dirents, nil
}

// readDirRoot is readDir through the os.Root.
func (t *fastTree) readDirRoot(p string) ([]dirent, error) {
	root, err := t.osRoot()
	if err != nil {
		return nil, err
	}
	des, err := fs.ReadDir(root.FS(), p)
	if err != nil {
		return nil, err
	}
	dirents := make([]dirent, len(des))
	for i, de := range des {
		dirents[i] = dirent{name: de.Name(), typ: de.Type()}
	}
	return dirents, nil
}

// dtType returns the type of a getdents d_type, or ^0 if it does not tell.
func dtType(dt byte) fs.FileMode {
	switch dt {
	case unix.DT_REG:
		return 0
	case unix.DT_DIR:
		return fs.ModeDir
	case unix.DT_LNK:
		return fs.ModeSymlink
	case unix.DT_FIFO:
		return fs.ModeNamedPipe
	case unix.DT_SOCK:
		return fs.ModeSocket
	case unix.DT_CHR:
		return fs.ModeDevice | fs.ModeCharDevice
	case unix.DT_BLK:
		return fs.ModeDevice
	}
	return ^fs.FileMode(0)
}

// modeType returns the type of a stat st_mode.
func modeType(mode uint32) fs.FileMode {
	switch mode & unix.S_IFMT {
	case unix.S_IFREG:
		return 0
	case unix.S_IFDIR:
		return fs.ModeDir
	case unix.S_IFLNK:
		return fs.ModeSymlink
	case unix.S_IFIFO:
		return fs.ModeNamedPipe
	case unix.S_IFSOCK:
		return fs.ModeSocket
	case unix.S_IFCHR:
		return fs.ModeDevice | fs.ModeCharDevice
	case unix.S_IFBLK:
		return fs.ModeDevice
	}
	return fs.ModeIrregular
}

// writeFile writes the regular file e. It is opened without blocking, so that
// a FIFO put in its place since the walk is reported rather than waited on,
// and must still be a regular file once open.
func (t *fastTree) writeFile(tw *tar.Writer, e entry) error {
	fd, err := t.open(e.path, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_NOCTTY)
	if err == errUseRoot {
		root, err := t.osRoot()
		if err != nil {
			return err
		}
		return writeRootFile(tw, root, e, t.buf)
	} else if errors.Is(err, unix.ELOOP) {
		return changed(e.path) // a symlink now, at e.path or above it
	} else if err != nil {
		return fmt.Errorf("open %s: %w", e.path, err)
	}
	defer unix.Close(fd)

	var st unix.Stat_t
	if err := ignoringEINTR0(func() error { return unix.Fstat(fd, &st) }); err != nil {
		return fmt.Errorf("stat %s: %w", e.path, &os.PathError{Op: "fstat", Path: e.path, Err: err})
	} else if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return changed(e.path)
	}
	if err := writeFileHeader(tw, e, st.Size, fs.FileMode(st.Mode&0o777)); err != nil {
		return err
	}
	return copyFD(tw, e.path, st.Size, fd, t.buf)
}

// copyFD is copyFile for a file descriptor, saving copyFile's last read of
// each file. To check that the file does not go on past size, copyFile reads
// once more after the size bytes, and that read must give nothing. copyFD asks
// instead for one byte more than remains: a file that goes on gives that byte,
// one that stops at its size gives a short read, which for a regular file means
// its end. Only if the read is full does it read on to the end.
func copyFD(w io.Writer, p string, size int64, fd int, buf []byte) error {
	for remaining := size; ; {
		b := buf
		if remaining < int64(len(b)) {
			b = b[:remaining+1]
		}
		n, err := ignoringEINTR(func() (int, error) { return unix.Read(fd, b) })
		if err != nil {
			return fmt.Errorf("read %s: %w", p, os.NewSyscallError("read", err))
		} else if int64(n) > remaining {
			return changed(p) // longer than its size
		} else if n == 0 {
			if remaining != 0 {
				return changed(p) // shorter than its size
			}
			return nil
		}
		if _, err := w.Write(b[:n]); err != nil {
			return fmt.Errorf("read %s: %w", p, err)
		}
		if remaining -= int64(n); remaining == 0 && n < len(b) {
			return nil
		}
	}
}

// ignoringEINTR calls f until it fails with another error than EINTR.
func ignoringEINTR(f func() (int, error)) (int, error) {
	for {
		n, err := f()
		if err != unix.EINTR {
			return n, err
		}
	}
}

func ignoringEINTR0(f func() error) error {
	_, err := ignoringEINTR(func() (int, error) { return 0, f() })
	return err
}
