package digest

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/openagents/trust/shared/trust"
)

// walkModes are the ways WriteTar may read a folder on Linux besides the fast
// path: each must give the same tar and the same errors.
var walkModes = []struct {
	name string
	set  func(tb testing.TB)
}{
	// The portable os.Root code, as where openat2 is missing or forbidden.
	{"OSRoot", func(tb testing.TB) { setVar(tb, &fastPath, false) }},
	// A file system whose getdents reports no file types.
	{"Lstat", func(tb testing.TB) { setVar(tb, &forceLstat, true) }},
	// openat2 failing after the probe: every directory below the folder and
	// every file is read through the os.Root.
	{"Openat2ENOSYS", func(tb testing.TB) { setOpenat2(tb, func(int) error { return unix.ENOSYS }) }},
	// openat2 failing one call in two, with each error that sends a path to
	// the os.Root: the two ways mixed in one walk.
	{"Openat2Flaky", func(tb testing.TB) {
		errs := []error{nil, unix.EPERM, nil, unix.ENAMETOOLONG, nil, unix.EAGAIN}
		setOpenat2(tb, func(n int) error { return errs[n%len(errs)] })
	}},
}

func setVar[T any](tb testing.TB, v *T, value T) {
	old := *v
	*v = value
	tb.Cleanup(func() { *v = old })
}

// setOpenat2 makes openat2 fail with fail(n) for its n-th call, when that is
// not nil.
func setOpenat2(tb testing.TB, fail func(n int) error) {
	var calls atomic.Int64
	setVar(tb, &openat2, func(dirfd int, path string, how *unix.OpenHow) (int, error) {
		if err := fail(int(calls.Add(1) - 1)); err != nil {
			return -1, err
		}
		return unix.Openat2(dirfd, path, how)
	})
}

// TestWalkModes_ExistingTests runs the package's tests of Content and WriteTar
// in every other walk mode: the golden digests, the refusals and their
// messages are the same.
func TestWalkModes_ExistingTests(t *testing.T) {
	tests := []struct {
		name string
		f    func(*testing.T)
	}{
		{"Golden", TestContent_Golden},
		{"GoldenTree", TestContent_GoldenTree},
		{"WriteTar", TestWriteTar},
		{"Deterministic", TestContent_Deterministic},
		{"RootSymlink", TestContent_RootSymlink},
		{"SymlinksInside", TestContent_SymlinksInside},
		{"Refused", TestContent_Refused},
		{"ErrNoFolder", TestContent_ErrNoFolder},
		{"Parallel", TestContent_Parallel},
		{"RefusedSpecialFiles", TestContent_RefusedSpecialFiles},
		{"SymlinkToSpecialFile", TestContent_SymlinkToSpecialFile},
		{"DeepTree", TestFastPath_DeepTree},
	}
	for _, m := range walkModes {
		t.Run(m.name, func(t *testing.T) {
			m.set(t)
			for _, tt := range tests {
				t.Run(tt.name, tt.f)
			}
		})
	}
}

// TestFastPath_Used checks that the tests above compare something: on this
// machine the fast path opens files with openat2.
func TestFastPath_Used(t *testing.T) {
	if !openat2Works() {
		t.Skip("openat2 is not available here: only the os.Root code runs")
	}
	var calls atomic.Int64
	setOpenat2(t, func(int) error { calls.Add(1); return nil })
	MustContent(t, filepath.Join(skillsDir, "hello"))
	if n := calls.Load(); n != 4 { // the scripts directory and 3 files
		t.Errorf("got %d openat2 calls, want 4", n)
	}
}

// walkResult is what WriteTar gives for a folder.
type walkResult struct {
	tar []byte
	err string
}

// writeTarResult returns the tar of dir, or its error: a refusal's code and
// message, a system call's error number, or else the whole message.
func writeTarResult(dir string) walkResult {
	var buf bytes.Buffer
	err := WriteTar(&buf, dir)
	var te *trust.Error
	var errno syscall.Errno
	switch {
	case err == nil:
		return walkResult{tar: buf.Bytes()}
	case errors.As(err, &te):
		return walkResult{err: fmt.Sprintf("%s: %s", te.Code, te.Message)}
	case errors.As(err, &errno):
		return walkResult{err: "errno: " + errno.Error()}
	}
	return walkResult{err: err.Error()}
}

// mustSameInAllModes fails the test unless every walk mode gives the tar, or
// the error, that the fast path gives for dir.
func mustSameInAllModes(t *testing.T, dir string) walkResult {
	t.Helper()
	want := writeTarResult(dir)
	for _, m := range walkModes {
		t.Run(m.name, func(t *testing.T) {
			m.set(t)
			got := writeTarResult(dir)
			if got.err != want.err {
				t.Errorf("got error %q, the fast path %q", got.err, want.err)
			} else if !bytes.Equal(got.tar, want.tar) {
				t.Errorf("got a tar of %d bytes, the fast path %d bytes and others", len(got.tar), len(want.tar))
			}
		})
	}
	return want
}

// TestFastPath_SameInAllModes compares the walk modes directly on the test
// trees, the fixtures, the fuzz seeds and trees only this file builds.
func TestFastPath_SameInAllModes(t *testing.T) {
	trees := map[string]func(tb testing.TB, dir, base string){
		"Hello":      func(tb testing.TB, dir, _ string) { copyTree(tb, filepath.Join(skillsDir, "hello"), dir) },
		"DigestTree": func(tb testing.TB, dir, _ string) { copyTree(tb, filepath.Join(skillsDir, "digest-tree"), dir) },
		"GoldenTree": func(tb testing.TB, dir, _ string) { MustTree(tb, dir, goldenTree) },
		"BaseTree":   func(tb testing.TB, dir, _ string) { MustTree(tb, dir, baseTree) },
		"Bench":      func(tb testing.TB, dir, _ string) { MustTree(tb, dir, benchSkill) },
		"Empty":      func(tb testing.TB, dir, _ string) {},
		"ManyFiles": func(tb testing.TB, dir, _ string) {
			// More entries than one getdents call returns.
			for i := range 3000 {
				MustWriteFile(tb, filepath.Join(dir, "d", fmt.Sprintf("file-with-a-longish-name-%04d.txt", i)), fmt.Sprint(i), 0o644)
			}
		},
		"BigFile": func(tb testing.TB, dir, _ string) {
			// Larger than the copy buffer, and exactly its size.
			MustWriteFile(tb, filepath.Join(dir, "big"), strings.Repeat("0123456789abcdef", 20000), 0o644)
			MustWriteFile(tb, filepath.Join(dir, "buf"), strings.Repeat("x", 128<<10), 0o755)
		},
		"FIFO": func(tb testing.TB, dir, _ string) {
			MustWriteFile(tb, filepath.Join(dir, "a"), "a", 0o644)
			MustMkdir(tb, filepath.Join(dir, "b"))
			if err := syscall.Mkfifo(filepath.Join(dir, "b", "fifo"), 0o644); err != nil {
				tb.Fatal(err)
			}
		},
		"Socket": func(tb testing.TB, dir, _ string) {
			l, err := net.ListenUnix("unix", &net.UnixAddr{Name: filepath.Join(dir, "s"), Net: "unix"})
			if err != nil {
				tb.Fatal(err)
			}
			l.SetUnlinkOnClose(false)
			tb.Cleanup(func() { l.Close() })
		},
		"NoPermission": func(tb testing.TB, dir, _ string) {
			MustWriteFile(tb, filepath.Join(dir, "secret"), "x", 0o000)
			MustWriteFile(tb, filepath.Join(dir, "locked", "f"), "x", 0o644)
			MustChmod(tb, filepath.Join(dir, "locked"), 0o000)
			tb.Cleanup(func() { os.Chmod(filepath.Join(dir, "locked"), 0o755) })
		},
		"Deep": func(tb testing.TB, dir, _ string) { makeDeepTree(tb, dir) },
	}
	for i, s := range contentSeeds {
		trees[fmt.Sprintf("Seed%d", i)] = func(tb testing.TB, dir, base string) { buildTree(tb, dir, base, s) }
	}
	for name, build := range trees {
		t.Run(name, func(t *testing.T) {
			base, err := os.MkdirTemp("", "d") // short: unix socket paths are short
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { os.RemoveAll(base) })
			MustWriteFile(t, filepath.Join(base, "sentinel"), fuzzSecret, 0o644)
			dir := filepath.Join(base, "skill")
			MustMkdir(t, dir)
			build(t, dir, base)
			mustSameInAllModes(t, dir)
		})
	}
}

// FuzzFastPath checks that every walk mode gives the same tar, or the same
// error, as the fast path for a tree built from a FuzzContent script.
func FuzzFastPath(f *testing.F) {
	for _, s := range contentSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, script string) {
		base := t.TempDir()
		MustWriteFile(t, filepath.Join(base, "sentinel"), fuzzSecret, 0o644)
		MustWriteFile(t, filepath.Join(base, "outside", "secret.txt"), fuzzSecret, 0o644)
		dir := filepath.Join(base, "skill")
		MustMkdir(t, dir)
		buildTree(t, dir, base, script)
		if r := mustSameInAllModes(t, dir); bytes.Contains(r.tar, []byte(fuzzSecret)) {
			t.Fatal("the tar holds the secret from outside the tree")
		}
	})
}

// makeDeepTree makes, below dir, paths longer than PATH_MAX, which openat2
// cannot take in one call and the os.Root walks a component at a time.
func makeDeepTree(tb testing.TB, dir string) {
	tb.Helper()
	root, err := os.OpenRoot(dir)
	if err != nil {
		tb.Fatal(err)
	}
	defer root.Close()
	comps := []string{"top"}
	for i := range 24 {
		comps = append(comps, fmt.Sprintf("%02d", i)+strings.Repeat("d", 200))
	}
	p := strings.Join(comps, "/")
	if err := root.MkdirAll(p, 0o755); err != nil {
		tb.Fatal(err)
	}
	for _, f := range []string{"top/f", p + "/f", strings.Join(comps[:12], "/") + "/g"} {
		if err := root.WriteFile(f, []byte(f[len(f)-1:]), 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	if err := root.Symlink(comps[1]+"/f", "top/link"); err != nil {
		tb.Fatal(err)
	}
}

// TestFastPath_DeepTree checks that paths longer than PATH_MAX are archived.
func TestFastPath_DeepTree(t *testing.T) {
	dir := t.TempDir()
	makeDeepTree(t, dir)
	var buf bytes.Buffer
	if err := WriteTar(&buf, dir); err != nil {
		t.Fatal(err)
	}
	n, long := 0, 0
	for tr := tar.NewReader(&buf); ; n++ {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		if len(hdr.Name) > unix.PathMax {
			long++
		}
	}
	if n != 29 || long == 0 {
		t.Errorf("got %d entries, %d longer than PATH_MAX; want 29, some longer", n, long)
	}
}

// copyTree copies the regular files and directories below from to to.
func copyTree(tb testing.TB, from, to string) {
	tb.Helper()
	if err := os.CopyFS(to, os.DirFS(from)); err != nil {
		tb.Fatal(err)
	}
}

// newFastTree opens dir as writeTarFast does.
func newFastTree(tb testing.TB, dir string) *fastTree {
	tb.Helper()
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		tb.Fatal(err)
	}
	t := &fastTree{dir: dir, fd: fd, buf: make([]byte, 128<<10)}
	tb.Cleanup(t.close)
	return t
}

// TestFastPath_FileReplaced checks that a regular file that is something else
// by the time it is opened is reported as changed: the walk listed "f" as a
// regular file. A FIFO must not block the walk.
func TestFastPath_FileReplaced(t *testing.T) {
	for _, tt := range []struct {
		name string
		make func(tb testing.TB, dir string)
	}{
		{"FIFO", func(tb testing.TB, dir string) {
			if err := syscall.Mkfifo(filepath.Join(dir, "f"), 0o644); err != nil {
				tb.Fatal(err)
			}
		}},
		{"Directory", func(tb testing.TB, dir string) { MustMkdir(tb, filepath.Join(dir, "f")) }},
		{"SymlinkToFile", func(tb testing.TB, dir string) {
			MustWriteFile(tb, filepath.Join(dir, "g"), "g", 0o644)
			MustSymlink(tb, "g", filepath.Join(dir, "f"))
		}},
		{"SymlinkOutside", func(tb testing.TB, dir string) { MustSymlink(tb, "../sentinel", filepath.Join(dir, "f")) }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if !openat2Works() {
				t.Skip("openat2 is not available here")
			}
			base := t.TempDir()
			MustWriteFile(t, filepath.Join(base, "sentinel"), fuzzSecret, 0o644)
			dir := filepath.Join(base, "skill")
			MustMkdir(t, dir)
			tt.make(t, dir)
			var buf bytes.Buffer
			err := newFastTree(t, dir).writeFile(tar.NewWriter(&buf), entry{path: "f", typ: tar.TypeReg})
			if err == nil || err.Error() != "f changed while it was being read" {
				t.Errorf("got %v, want f changed", err)
			}
			if bytes.Contains(buf.Bytes(), []byte(fuzzSecret)) {
				t.Error("read the file outside the folder")
			}
		})
	}
}

// TestFastPath_DirectoryReplaced checks that the walk does not list a
// directory replaced by a symlink since its parent was read, nor one below it.
func TestFastPath_DirectoryReplaced(t *testing.T) {
	if !openat2Works() {
		t.Skip("openat2 is not available here")
	}
	base := t.TempDir()
	MustWriteFile(t, filepath.Join(base, "outside", "sub", "secret"), fuzzSecret, 0o644)
	dir := filepath.Join(base, "skill")
	MustMkdir(t, dir)
	MustSymlink(t, "../outside", filepath.Join(dir, "d"))
	ft := newFastTree(t, dir)
	if _, err := ft.readDir("d"); !errors.Is(err, unix.ENOTDIR) && !errors.Is(err, unix.ELOOP) {
		t.Errorf("d: got %v, want ENOTDIR or ELOOP", err)
	}
	if _, err := ft.readDir("d/sub"); !errors.Is(err, unix.ELOOP) {
		t.Errorf("d/sub: got %v, want ELOOP", err)
	}
}

// TestFastPath_FolderRetargeted checks that the os.Root opened for symlinks is
// refused if the folder, given as a symlink, now names another directory.
func TestFastPath_FolderRetargeted(t *testing.T) {
	base := t.TempDir()
	MustMkdir(t, filepath.Join(base, "a"))
	MustMkdir(t, filepath.Join(base, "b"))
	link := filepath.Join(base, "link")
	MustSymlink(t, "a", link)
	ft := newFastTree(t, link)
	MustRemove(t, link)
	MustSymlink(t, "b", link)
	if _, err := ft.osRoot(); err == nil || !strings.Contains(err.Error(), "changed while it was being read") {
		t.Errorf("got %v, want the folder changed", err)
	}
}

// TestCopyFD checks that copyFD copies and reports a file of another size than
// its header's exactly as copyFile does, with copy buffers smaller than, as
// large as and larger than the file.
func TestCopyFD(t *testing.T) {
	dir := t.TempDir()
	for _, content := range []string{"", "x", "hello", "0123456789"} {
		name := filepath.Join(dir, "f")
		MustWriteFile(t, name, content, 0o644)
		for size := int64(0); size <= int64(len(content))+2; size++ {
			for _, bufLen := range []int{1, 2, 3, 5, 10, 11, 64} {
				want, wantErr := copyWith(t, name, func(w io.Writer, f *os.File) error {
					return copyFile(w, "f", size, f, make([]byte, bufLen))
				})
				got, gotErr := copyWith(t, name, func(w io.Writer, f *os.File) error {
					return copyFD(w, "f", size, int(f.Fd()), make([]byte, bufLen))
				})
				if gotErr != wantErr || gotErr == "" && got != want {
					t.Errorf("%q as %d bytes through %d: got %q, %q; copyFile gives %q, %q", content, size, bufLen, got, gotErr, want, wantErr)
				}
				if size == int64(len(content)) && (gotErr != "" || got != content) {
					t.Errorf("%q: got %q, %q", content, got, gotErr)
				}
			}
		}
	}
}

func copyWith(tb testing.TB, name string, copy func(io.Writer, *os.File) error) (string, string) {
	tb.Helper()
	f, err := os.Open(name)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	var buf bytes.Buffer
	if err := copy(&buf, f); err != nil {
		return buf.String(), err.Error()
	}
	return buf.String(), ""
}
