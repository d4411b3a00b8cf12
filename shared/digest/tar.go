package digest

import (
	"archive/tar"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/openagents/trust/shared/trust"
)

// Modes recorded in the tar. Nothing else about permissions, ownership or time
// is recorded.
const (
	modeFile    = 0o644 // regular file with no executable bit
	modeExec    = 0o755 // regular file with any executable bit, and directories
	modeDir     = 0o755
	modeSymlink = 0o777
)

// maxLinkHops bounds how many symlinks resolving one target may pass through,
// as the kernel's ELOOP limit does.
const maxLinkHops = 40

// epoch is the modification time of every entry.
var epoch = time.Unix(0, 0)

// entry is one file, directory or symlink of the folder, found by the walk.
type entry struct {
	path   string // slash-separated, relative to the folder
	typ    byte   // tar.TypeReg, tar.TypeDir or tar.TypeSymlink
	target string // symlink target, as written
}

// WriteTar writes the deterministic tar of dir to w; Content hashes exactly
// these bytes. The tar holds one entry per file, directory and symlink below dir
// (not dir itself), in byte order of their slash-separated relative paths, each
// with a fixed mode (0755 for directories and for files with any executable bit,
// 0644 for other files, 0777 for symlinks), a zero modification time, uid and
// gid 0, no user or group names and no other metadata. Names and link targets
// longer than 100 bytes or not ASCII are carried in PAX "path" and "linkpath"
// records. Symlinks are recorded, never followed, and must resolve inside dir.
//
// dir itself may be a symlink to a directory. EINVALID for a symlink leaving
// dir, a device file, FIFO or socket, or a path that is not valid UTF-8 or has a
// control character; other errors are I/O failures. On error, w may have been
// given part of the tar.
func WriteTar(w io.Writer, dir string) error {
	if done, err := writeTarFast(w, dir); done {
		return err
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return fmt.Errorf("open skill folder: %w", err)
	}
	defer root.Close()

	entries, err := walk(root)
	if err != nil {
		return err
	}

	buf := bufPool.Get().(*[]byte)
	defer bufPool.Put(buf)

	tw := tar.NewWriter(w)
	for _, e := range entries {
		if err := writeEntry(tw, root, e, *buf); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("write tar: %w", err)
	}
	return nil
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 128<<10); return &b }}

// walk lists every entry below the root, sorted by path, refusing what may not
// be archived. It reads directories through the root, so it cannot leave it,
// and it does not descend into symlinks.
func walk(root *os.Root) ([]entry, error) {
	var entries []entry
	getRoot := func() (*os.Root, error) { return root, nil }
	err := fs.WalkDir(root.FS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("read %s: %w", p, err)
		} else if p == "." {
			return nil
		}
		e, err := classify(p, d.Type(), getRoot)
		if err != nil {
			return err
		}
		entries = append(entries, e)
		return nil
	})
	if err != nil {
		return nil, err
	}
	sortEntries(entries)
	return entries, nil
}

// sortEntries puts entries in the order of the tar. A walk visits "a/b" before
// "a-b"; the tar is in plain byte order.
func sortEntries(entries []entry) {
	slices.SortFunc(entries, func(a, b entry) int { return strings.Compare(a.path, b.path) })
}

// classify returns the entry for the path p, of type t (as fs.FileMode.Type
// gives it), refusing what may not be archived. A symlink is read and checked
// through the os.Root that root returns; it is called only for symlinks.
func classify(p string, t fs.FileMode, root func() (*os.Root, error)) (entry, error) {
	if err := checkName(p); err != nil {
		return entry{}, err
	}
	switch {
	case t.IsDir():
		return entry{path: p, typ: tar.TypeDir}, nil
	case t.IsRegular():
		return entry{path: p, typ: tar.TypeReg}, nil
	case t&fs.ModeSymlink != 0:
		r, err := root()
		if err != nil {
			return entry{}, err
		}
		target, err := r.Readlink(p)
		if err != nil {
			return entry{}, fmt.Errorf("read symlink %s: %w", p, err)
		} else if err := checkLink(r, p, target); err != nil {
			return entry{}, err
		}
		return entry{path: p, typ: tar.TypeSymlink, target: target}, nil
	default:
		return entry{}, refused(p, "%s not allowed: a skill holds only files, directories and symlinks", typeName(t))
	}
}

// writeEntry writes the header of e and, for a regular file, streams its
// content. buf is the copy buffer.
func writeEntry(tw *tar.Writer, root *os.Root, e entry, buf []byte) error {
	if e.typ != tar.TypeReg {
		return writeHeader(tw, newHeader(e))
	}
	return writeRootFile(tw, root, e, buf)
}

// newHeader returns the tar header of e, but for the size and mode of a regular
// file, which writeFileHeader sets.
func newHeader(e entry) *tar.Header {
	hdr := &tar.Header{
		Typeflag: e.typ,
		Name:     e.path,
		ModTime:  epoch,
		Format:   tar.FormatPAX,
	}
	switch e.typ {
	case tar.TypeDir:
		hdr.Name += "/"
		hdr.Mode = modeDir
	case tar.TypeSymlink:
		hdr.Mode = modeSymlink
		hdr.Linkname = e.target
	}
	return hdr
}

// writeRootFile writes the regular file e, opened through root.
func writeRootFile(tw *tar.Writer, root *os.Root, e entry, buf []byte) error {
	f, err := root.Open(e.path)
	if err != nil {
		return fmt.Errorf("open %s: %w", e.path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("stat %s: %w", e.path, err)
	} else if !fi.Mode().IsRegular() {
		return changed(e.path)
	}
	if err := writeFileHeader(tw, e, fi.Size(), fi.Mode().Perm()); err != nil {
		return err
	}
	return copyFile(tw, e.path, fi.Size(), f, buf)
}

// writeFileHeader writes the header of the regular file e, of the given size
// and permission bits.
func writeFileHeader(tw *tar.Writer, e entry, size int64, perm fs.FileMode) error {
	hdr := newHeader(e)
	hdr.Size = size
	hdr.Mode = modeFile
	if perm&0o111 != 0 {
		hdr.Mode = modeExec
	}
	return writeHeader(tw, hdr)
}

// copyFile copies the content of the file at p from r to w through buf: exactly
// size bytes, and the file is reported changed if r ends sooner or goes on.
func copyFile(w io.Writer, p string, size int64, r io.Reader, buf []byte) error {
	// The LimitedReader hides (*os.File).WriteTo, which would allocate a
	// buffer of its own.
	n, err := io.CopyBuffer(w, &io.LimitedReader{R: r, N: size}, buf)
	if err != nil {
		return fmt.Errorf("read %s: %w", p, err)
	} else if n != size {
		return changed(p)
	}
	if n, _ := r.Read(buf[:1]); n != 0 {
		return changed(p)
	}
	return nil
}

func writeHeader(tw *tar.Writer, hdr *tar.Header) error {
	if err := tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("write tar header for %s: %w", hdr.Name, err)
	}
	return nil
}

// changed reports a file that changed while it was being read; digesting it
// again gives an answer.
func changed(p string) error {
	return fmt.Errorf("%s changed while it was being read", p)
}

// checkName refuses a path that is not valid UTF-8 or has a control character:
// such names display ambiguously and survive copies differently.
func checkName(p string) error {
	if !utf8.ValidString(p) {
		return refused(p, "path is not valid UTF-8")
	}
	for _, r := range p {
		if unicode.IsControl(r) {
			return refused(p, "path has control character %U", r)
		}
	}
	return nil
}

// checkLink refuses a symlink at p whose target is absolute or resolves outside
// the root. It resolves the target as the kernel would, component by component,
// following symlinks met on the way (these too must stay inside), so that a
// chain such as "a -> ." and "b -> a/.." is caught. Components that do not exist
// are taken lexically: the kernel could not resolve a ".." after them.
func checkLink(root *os.Root, p, target string) error {
	if target == "" {
		return refused(p, "symlink with an empty target not allowed")
	} else if err := checkName(target); err != nil {
		return refused(p, "symlink target %+q: not valid UTF-8 or has a control character", target)
	} else if strings.Contains(target, `\`) {
		return refused(p, "symlink target %+q has a backslash: write targets with '/'", target)
	} else if isAbs(target) {
		return refused(p, "symlink to absolute path %+q not allowed: links must stay inside the skill folder", target)
	}

	dir := strings.Split(p, "/")
	dir = dir[:len(dir)-1]                // the real directories from the root down to the link's folder
	pending := strings.Split(target, "/") // components still to resolve
	hops, exists := 0, true
	for len(pending) > 0 {
		c := pending[0]
		pending = pending[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			if len(dir) == 0 {
				return refused(p, "symlink target %+q resolves outside the skill folder", target)
			}
			dir = dir[:len(dir)-1]
			continue
		}
		dir = append(dir, c)
		if !exists {
			continue
		}
		fi, err := root.Lstat(strings.Join(dir, "/"))
		if err != nil {
			exists = false // missing or not a directory: resolve the rest lexically
			continue
		} else if fi.Mode()&fs.ModeSymlink == 0 {
			continue
		}
		if hops++; hops > maxLinkHops {
			return refused(p, "symlink target %+q: too many levels of symbolic links", target)
		}
		next, err := root.Readlink(strings.Join(dir, "/"))
		if err != nil {
			return fmt.Errorf("read symlink %s: %w", strings.Join(dir, "/"), err)
		} else if isAbs(next) {
			return refused(p, "symlink target %+q passes through a symlink to absolute path %+q", target, next)
		}
		dir = dir[:len(dir)-1]
		pending = append(strings.Split(next, "/"), pending...)
	}
	return nil
}

// isAbs reports whether a link target is absolute on a system the folder might
// be unpacked on: "/x", or a Windows drive path such as "C:/x" or "C:x".
func isAbs(target string) bool {
	return strings.HasPrefix(target, "/") ||
		len(target) >= 2 && target[1] == ':' && (target[0]|0x20 >= 'a' && target[0]|0x20 <= 'z')
}

// refused returns the EINVALID error for a path that may not be archived.
func refused(p, format string, args ...any) error {
	return trust.Errorf(trust.EINVALID, "%s: %s", displayPath(p), fmt.Sprintf(format, args...))
}

// displayPath returns p as is when it is printable ASCII without spaces or
// quotes, and quoted in ASCII otherwise, so that an error never carries raw
// control characters or invalid UTF-8.
func displayPath(p string) string {
	for i := 0; i < len(p); i++ {
		if c := p[i]; c <= ' ' || c >= 0x7f || c == '"' || c == '\\' {
			return strconv.QuoteToASCII(p)
		}
	}
	return p
}

func typeName(t fs.FileMode) string {
	switch {
	case t&fs.ModeCharDevice != 0:
		return "character device"
	case t&fs.ModeDevice != 0:
		return "device file"
	case t&fs.ModeNamedPipe != 0:
		return "named pipe (FIFO)"
	case t&fs.ModeSocket != 0:
		return "socket"
	default:
		return "irregular file"
	}
}
