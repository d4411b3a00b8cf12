package digest

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openagents/trust/shared/trust"
)

// skillsDir holds the committed fixture skills.
var skillsDir = filepath.Join("..", "..", "testdata", "skills")

func TestContent_Golden(t *testing.T) {
	for _, tt := range []struct {
		name string
		dir  string
		want string
	}{
		// The walkthrough's sample skill.
		{"OKHello", filepath.Join(skillsDir, "hello"), "sha256:1c2ab10f8a77c2ab64f4760ff83302ac6492a85493d852d024a52e363faa841b"},
		// Paths that sort differently by directory walk and by full path,
		// an executable, an empty file and a hidden file.
		{"OKDigestTree", filepath.Join(skillsDir, "digest-tree"), "sha256:8c2d4749d2b34f77ca16225d694a1afec24e2ceb4e3efba0b2792a76ae62d72c"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := MustContent(t, tt.dir); got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
}

// goldenTree has what a committed fixture cannot hold reliably: long and
// non-ASCII names, symlinks and an empty directory.
var goldenTree = []node{
	{path: "SKILL.md", data: "---\nname: golden\n---\n"},
	{path: "empty-dir", dir: true},
	{path: "long/" + strings.Repeat("d", 120) + "/file.txt", data: "deep\n"},
	{path: "long-link", link: "long/" + strings.Repeat("d", 120) + "/file.txt"},
	{path: "run.sh", data: "#!/bin/sh\n", mode: 0o700},
	{path: "scripts", link: "long"},
	{path: "été/naïve.txt", data: "unicode\n"},
}

func TestContent_GoldenTree(t *testing.T) {
	dir := t.TempDir()
	MustTree(t, dir, goldenTree)
	want := "sha256:7d8d6fb7ed741079f215a6ac8cc875e61a3bd600105df1c22fe194f3185017ed"
	if got := MustContent(t, dir); got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

func TestWriteTar(t *testing.T) {
	dir := t.TempDir()
	MustTree(t, dir, goldenTree)

	var buf bytes.Buffer
	if err := WriteTar(&buf, dir); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(buf.Bytes())
	if got, want := MustContent(t, dir), "sha256:"+hex.EncodeToString(sum[:]); got != want {
		t.Errorf("Content gave %s, the sha256 of WriteTar's bytes is %s", got, want)
	}

	long := "long/" + strings.Repeat("d", 120)
	type header struct {
		name     string
		typ      byte
		mode     int64
		size     int64
		linkname string
		pax      map[string]string
	}
	want := []header{
		{name: "SKILL.md", typ: tar.TypeReg, mode: 0o644, size: 21},
		{name: "empty-dir/", typ: tar.TypeDir, mode: 0o755},
		{name: "long/", typ: tar.TypeDir, mode: 0o755},
		{name: "long-link", typ: tar.TypeSymlink, mode: 0o777, linkname: long + "/file.txt", pax: map[string]string{"linkpath": long + "/file.txt"}},
		{name: long + "/", typ: tar.TypeDir, mode: 0o755, pax: map[string]string{"path": long + "/"}},
		// Split into USTAR's prefix and name fields: no PAX record needed.
		{name: long + "/file.txt", typ: tar.TypeReg, mode: 0o644, size: 5},
		{name: "run.sh", typ: tar.TypeReg, mode: 0o755, size: 10},
		{name: "scripts", typ: tar.TypeSymlink, mode: 0o777, linkname: "long"},
		{name: "été/", typ: tar.TypeDir, mode: 0o755, pax: map[string]string{"path": "été/"}},
		{name: "été/naïve.txt", typ: tar.TypeReg, mode: 0o644, size: 8, pax: map[string]string{"path": "été/naïve.txt"}},
	}

	tr := tar.NewReader(&buf)
	for i := 0; ; i++ {
		hdr, err := tr.Next()
		if err == io.EOF {
			if i != len(want) {
				t.Errorf("got %d entries, want %d", i, len(want))
			}
			break
		} else if err != nil {
			t.Fatal(err)
		} else if i >= len(want) {
			t.Fatalf("unexpected entry %q", hdr.Name)
		}
		w := want[i]
		got := header{name: hdr.Name, typ: hdr.Typeflag, mode: hdr.Mode, size: hdr.Size, linkname: hdr.Linkname, pax: hdr.PAXRecords}
		if got.name != w.name || got.typ != w.typ || got.mode != w.mode || got.size != w.size || got.linkname != w.linkname || !equalMaps(got.pax, w.pax) {
			t.Errorf("entry %d:\ngot  %+v\nwant %+v", i, got, w)
		}
		if hdr.Uid != 0 || hdr.Gid != 0 || hdr.Uname != "" || hdr.Gname != "" {
			t.Errorf("%s: got owner %d:%d (%q:%q), want 0:0 with no names", hdr.Name, hdr.Uid, hdr.Gid, hdr.Uname, hdr.Gname)
		}
		if !hdr.ModTime.Equal(time.Unix(0, 0)) || !hdr.AccessTime.IsZero() || !hdr.ChangeTime.IsZero() {
			t.Errorf("%s: got times %v %v %v, want the epoch and no others", hdr.Name, hdr.ModTime, hdr.AccessTime, hdr.ChangeTime)
		}
		if hdr.Devmajor != 0 || hdr.Devminor != 0 || len(hdr.Xattrs) != 0 { //nolint:staticcheck // Xattrs must stay empty
			t.Errorf("%s: got device numbers or xattrs", hdr.Name)
		}
		if hdr.Typeflag == tar.TypeReg {
			data, _ := io.ReadAll(tr)
			if want := MustReadFile(t, filepath.Join(dir, filepath.FromSlash(hdr.Name))); string(data) != want {
				t.Errorf("%s: got content %q, want %q", hdr.Name, data, want)
			}
		}
	}
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// baseTree is the tree the determinism tests vary.
var baseTree = []node{
	{path: "SKILL.md", data: "---\nname: base\nversion: 1.0.0\n---\n# Base\n"},
	{path: "README.md", data: "readme\n"},
	{path: "scripts/run.sh", data: "#!/bin/sh\necho run\n", mode: 0o755},
	{path: "scripts/lib/util.py", data: "def f(): pass\n"},
	{path: "data/empty", data: ""},
	{path: "data/table.csv", data: "a,b\n1,2\n"},
	{path: "assets", dir: true},
	{path: "run", link: "scripts/run.sh"},
}

func TestContent_Deterministic(t *testing.T) {
	want := MustContent(t, MustNewTree(t, baseTree))

	t.Run("OKSameFilesOtherwiseMade", func(t *testing.T) {
		// Reverse creation order, other modes without changing any exec bit, other
		// times, and other owners when the test may change them.
		dir := t.TempDir()
		rev := slices.Clone(baseTree)
		slices.Reverse(rev)
		for i := range rev {
			switch {
			case rev[i].dir || rev[i].link != "":
			case rev[i].mode&0o111 != 0:
				rev[i].mode = 0o700
			default:
				rev[i].mode = 0o600
			}
		}
		MustTree(t, dir, rev)
		when := time.Date(2001, 2, 3, 4, 5, 6, 7, time.UTC)
		err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.Type()&fs.ModeSymlink != 0 {
				return err
			}
			if d.IsDir() {
				if err := os.Chmod(p, 0o700); err != nil {
					return err
				}
			}
			if os.Geteuid() == 0 {
				if err := os.Lchown(p, 1234, 5678); err != nil {
					return err
				}
			}
			return os.Chtimes(p, when, when)
		})
		if err != nil {
			t.Fatal(err)
		}
		if got := MustContent(t, dir); got != want {
			t.Errorf("got %s, want %s", got, want)
		}
	})

	for _, tt := range []struct {
		name   string
		change func(tb testing.TB, dir string)
	}{
		{"OneByteChanged", func(tb testing.TB, dir string) { MustWriteFile(tb, filepath.Join(dir, "README.md"), "readmE\n", 0o644) }},
		{"FileRenamed", func(tb testing.TB, dir string) {
			MustRename(tb, filepath.Join(dir, "README.md"), filepath.Join(dir, "README.txt"))
		}},
		{"DirectoryRenamed", func(tb testing.TB, dir string) { MustRename(tb, filepath.Join(dir, "data"), filepath.Join(dir, "dat")) }},
		{"EmptyFileAdded", func(tb testing.TB, dir string) { MustWriteFile(tb, filepath.Join(dir, "new"), "", 0o644) }},
		{"EmptyDirectoryAdded", func(tb testing.TB, dir string) { MustMkdir(tb, filepath.Join(dir, "new")) }},
		{"EmptyFileRemoved", func(tb testing.TB, dir string) { MustRemove(tb, filepath.Join(dir, "data", "empty")) }},
		{"ExecBitSet", func(tb testing.TB, dir string) { MustChmod(tb, filepath.Join(dir, "README.md"), 0o744) }},
		{"ExecBitCleared", func(tb testing.TB, dir string) { MustChmod(tb, filepath.Join(dir, "scripts", "run.sh"), 0o644) }},
		{"SymlinkRetargeted", func(tb testing.TB, dir string) {
			MustRemove(tb, filepath.Join(dir, "run"))
			MustSymlink(tb, "./scripts/run.sh", filepath.Join(dir, "run"))
		}},
		{"SymlinkReplacedByFile", func(tb testing.TB, dir string) {
			MustRemove(tb, filepath.Join(dir, "run"))
			MustWriteFile(tb, filepath.Join(dir, "run"), "scripts/run.sh", 0o644)
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := MustNewTree(t, baseTree)
			tt.change(t, dir)
			if got := MustContent(t, dir); got == want {
				t.Errorf("got the same digest %s after the change", got)
			}
		})
	}
}

func TestContent_RootSymlink(t *testing.T) {
	dir := MustNewTree(t, baseTree)
	link := filepath.Join(t.TempDir(), "link")
	MustSymlink(t, dir, link)
	if got, want := MustContent(t, link), MustContent(t, dir); got != want {
		t.Errorf("got %s through the symlink, want %s", got, want)
	}
}

func TestContent_SymlinksInside(t *testing.T) {
	seen := make(map[string]string)
	for _, tt := range []struct {
		name  string
		nodes []node
	}{
		{"OKFile", []node{{path: "f", data: "x"}, {path: "link", link: "f"}}},
		{"OKParentFile", []node{{path: "f", data: "x"}, {path: "sub/link", link: "../f"}}},
		{"OKDirectory", []node{{path: "d/f", data: "x"}, {path: "link", link: "d"}}},
		{"OKRoot", []node{{path: "link", link: "."}}},
		{"OKDotDotThenDown", []node{{path: "a/b/f", data: "x"}, {path: "a/link", link: "../a/./b//f"}}},
		{"OKDangling", []node{{path: "link", link: "missing/file"}}},
		{"OKChain", []node{{path: "d/f", data: "x"}, {path: "a", link: "d"}, {path: "b", link: "a/f"}}},
		{"OKThroughLinkBackIn", []node{{path: "d/e/f", data: "x"}, {path: "a", link: "d/e"}, {path: "b", link: "a/../e/f"}}},
		{"OKDanglingDotDot", []node{{path: "link", link: "missing/../x"}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := MustContent(t, MustNewTree(t, tt.nodes))
			if other, ok := seen[got]; ok {
				t.Errorf("same digest as %s", other)
			}
			seen[got] = tt.name
		})
	}
}

func TestContent_Refused(t *testing.T) {
	for _, tt := range []struct {
		name  string
		nodes []node
		err   string
	}{
		{
			name:  "ErrSymlinkAbsolute",
			nodes: []node{{path: "link", link: "/etc/passwd"}},
			err:   `link: symlink to absolute path "/etc/passwd" not allowed: links must stay inside the skill folder`,
		},
		{
			name:  "ErrSymlinkWindowsDrive",
			nodes: []node{{path: "link", link: "C:/Windows"}},
			err:   `link: symlink to absolute path "C:/Windows" not allowed: links must stay inside the skill folder`,
		},
		{
			name:  "ErrSymlinkOutside",
			nodes: []node{{path: "link", link: "../secret"}},
			err:   `link: symlink target "../secret" resolves outside the skill folder`,
		},
		{
			name:  "ErrSymlinkOutsideFromSubdirectory",
			nodes: []node{{path: "a/b/link", link: "../../../secret"}},
			err:   `a/b/link: symlink target "../../../secret" resolves outside the skill folder`,
		},
		{
			name:  "ErrSymlinkOutsideAndBack",
			nodes: []node{{path: "d/f", data: "x"}, {path: "link", link: "../skill/d/f"}},
			err:   `link: symlink target "../skill/d/f" resolves outside the skill folder`,
		},
		{
			name:  "ErrSymlinkOutsideThroughFile",
			nodes: []node{{path: "f", data: "x"}, {path: "link", link: "f/../../secret"}},
			err:   `link: symlink target "f/../../secret" resolves outside the skill folder`,
		},
		{
			name:  "ErrSymlinkOutsideThroughMissing",
			nodes: []node{{path: "link", link: "missing/../../secret"}},
			err:   `link: symlink target "missing/../../secret" resolves outside the skill folder`,
		},
		{
			name:  "ErrSymlinkChainThroughRoot",
			nodes: []node{{path: "a", link: "."}, {path: "b", link: "a/.."}},
			err:   `b: symlink target "a/.." resolves outside the skill folder`,
		},
		{
			name:  "ErrSymlinkChainThroughParent",
			nodes: []node{{path: "sub/up", link: ".."}, {path: "x", link: "sub/up/../secret"}},
			err:   `x: symlink target "sub/up/../secret" resolves outside the skill folder`,
		},
		{
			name:  "ErrSymlinkLoop",
			nodes: []node{{path: "a", link: "b"}, {path: "b", link: "a"}},
			err:   `a: symlink target "b": too many levels of symbolic links`,
		},
		{
			name:  "ErrSymlinkBackslash",
			nodes: []node{{path: "link", link: `..\secret`}},
			err:   `link: symlink target "..\\secret" has a backslash: write targets with '/'`,
		},
		{
			name:  "ErrSymlinkTargetControl",
			nodes: []node{{path: "link", link: "a\x01b"}},
			err:   `link: symlink target "a\x01b": not valid UTF-8 or has a control character`,
		},
		{
			name:  "ErrNameInvalidUTF8",
			nodes: []node{{path: "ok", data: "x"}, {path: "bad\xff.txt", data: "x"}},
			err:   `"bad\xff.txt": path is not valid UTF-8`,
		},
		{
			name:  "ErrNameControl",
			nodes: []node{{path: "dir/a\tb", data: "x"}},
			err:   `"dir/a\tb": path has control character U+0009`,
		},
		{
			name:  "ErrNameNewline",
			nodes: []node{{path: "a\nb", dir: true}},
			err:   `"a\nb": path has control character U+000A`,
		},
		{
			name:  "ErrNameC1Control",
			nodes: []node{{path: "a\u009bb", data: "x"}},
			err:   `"a\u009bb": path has control character U+009B`,
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			base := t.TempDir()
			MustWriteFile(t, filepath.Join(base, "secret"), "secret\n", 0o644)
			dir := filepath.Join(base, "skill")
			MustTree(t, dir, tt.nodes)
			_, err := Content(dir)
			MustInvalid(t, err, tt.err)
			err = WriteTar(io.Discard, dir)
			MustInvalid(t, err, tt.err)
		})
	}
}

func TestContent_ErrNoFolder(t *testing.T) {
	_, err := Content(filepath.Join(t.TempDir(), "missing"))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("got %v, want a not-exist error", err)
	} else if code := trust.ErrorCode(err); code != trust.EINTERNAL {
		t.Errorf("got code %q, want %q", code, trust.EINTERNAL)
	}
}

func TestContent_Parallel(t *testing.T) {
	dir := MustNewTree(t, baseTree)
	want := MustContent(t, dir)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if got, err := Content(dir); err != nil || got != want {
				t.Errorf("got %s, %v; want %s", got, err, want)
			}
		})
	}
	wg.Wait()
}

// node is one entry of a test tree: a file (data, mode 0644 unless given), a
// directory or a symlink to link.
type node struct {
	path string
	data string
	mode os.FileMode
	dir  bool
	link string
}

// MustNewTree creates nodes in a new temporary directory and returns it.
func MustNewTree(tb testing.TB, nodes []node) string {
	tb.Helper()
	dir := tb.TempDir()
	MustTree(tb, dir, nodes)
	return dir
}

// MustTree creates nodes under dir, in order, with their parent directories.
func MustTree(tb testing.TB, dir string, nodes []node) {
	tb.Helper()
	for _, n := range nodes {
		p := filepath.Join(dir, filepath.FromSlash(n.path))
		switch {
		case n.dir:
			MustMkdir(tb, p)
		case n.link != "":
			MustMkdir(tb, filepath.Dir(p))
			MustSymlink(tb, n.link, p)
		default:
			mode := n.mode
			if mode == 0 {
				mode = 0o644
			}
			MustWriteFile(tb, p, n.data, mode)
		}
	}
}

// MustContent returns the content digest of dir, failing the test on error.
func MustContent(tb testing.TB, dir string) string {
	tb.Helper()
	d, err := Content(dir)
	if err != nil {
		tb.Fatal(err)
	} else if !trust.ValidDigest(d) {
		tb.Fatalf("got malformed digest %q", d)
	}
	return d
}

// MustInvalid fails the test unless err is an EINVALID *trust.Error with the
// message want.
func MustInvalid(tb testing.TB, err error, want string) {
	tb.Helper()
	var e *trust.Error
	if err == nil {
		tb.Fatalf("got no error, want %q", want)
	} else if !errors.As(err, &e) {
		tb.Fatalf("got %T %v, want a *trust.Error", err, err)
	} else if e.Code != trust.EINVALID {
		tb.Errorf("got code %q, want %q", e.Code, trust.EINVALID)
	}
	if e.Message != want {
		tb.Errorf("got message  %q\nwant message %q", e.Message, want)
	}
}

// MustWriteFile writes data to name with the given mode (whatever the umask),
// creating its parent directories.
func MustWriteFile(tb testing.TB, name, data string, mode os.FileMode) {
	tb.Helper()
	MustMkdir(tb, filepath.Dir(name))
	if err := os.WriteFile(name, []byte(data), mode); err != nil {
		tb.Fatal(err)
	}
	MustChmod(tb, name, mode)
}

// MustReadFile returns the content of name.
func MustReadFile(tb testing.TB, name string) string {
	tb.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}

// MustMkdir creates the directory name and its parents.
func MustMkdir(tb testing.TB, name string) {
	tb.Helper()
	if err := os.MkdirAll(name, 0o755); err != nil {
		tb.Fatal(err)
	}
}

// MustSymlink creates the symlink name pointing at target.
func MustSymlink(tb testing.TB, target, name string) {
	tb.Helper()
	if err := os.Symlink(target, name); err != nil {
		tb.Fatal(err)
	}
}

// MustChmod sets the mode of name.
func MustChmod(tb testing.TB, name string, mode os.FileMode) {
	tb.Helper()
	if err := os.Chmod(name, mode); err != nil {
		tb.Fatal(err)
	}
}

// MustRename renames a file or directory.
func MustRename(tb testing.TB, from, to string) {
	tb.Helper()
	if err := os.Rename(from, to); err != nil {
		tb.Fatal(err)
	}
}

// MustRemove removes a file, symlink or empty directory.
func MustRemove(tb testing.TB, name string) {
	tb.Helper()
	if err := os.Remove(name); err != nil {
		tb.Fatal(err)
	}
}
