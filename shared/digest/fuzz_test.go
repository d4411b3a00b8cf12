package digest

import (
	"archive/tar"
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/openagents/trust/shared/trust"
)

// fuzzSecret is written outside the tree under test; it must never reach a tar.
var fuzzSecret = "SECRET-" + rand.Text()

// contentSeeds are tree scripts for FuzzContent, one operation a line:
// "f|name|data" a file, "x|name|data" an executable file, "d|name" a directory,
// "l|name|target" a symlink ("@" at the start of a target stands for the
// absolute path of the folder holding the tree and the secret files).
var contentSeeds = []string{
	"f|SKILL.md|---\nx|scripts/run.sh|#!/bin/sh\nd|empty\nl|run|scripts/run.sh",
	"f|a/b.txt|b\nf|a-b.txt|a-b\nf|a.txt|a",
	"l|link|../sentinel",
	"l|abs|@/sentinel",
	"l|dir|../outside\nf|dir/x|x",
	"d|sub\nl|sub/up|..\nl|x|sub/up/sentinel",
	"l|a|.\nl|b|a/../sentinel",
	"l|a|.\nl|b|a/a/a/a",
	"l|loop1|loop2\nl|loop2|loop1",
	"f|f|x\nl|link|f/../../sentinel",
	"l|dangling|missing/../x",
	"f|" + strings.Repeat("n", 150) + "|long\nl|l|" + strings.Repeat("n", 150),
	"f|été/naïve|x\nf|bad\xff|x\nf|tab\there|x",
	"l|win|C:/x\nl|bs|..\\sentinel",
}

// FuzzContent builds a tree from a script in a temporary folder next to secret
// files, and checks that Content never panics, refuses only with EINVALID, is
// deterministic, never puts a byte of the secret files in the tar, never
// accepts a symlink that the operating system resolves outside the tree, and
// that unpacking the tar gives a tree with the same digest.
func FuzzContent(f *testing.F) {
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

		want, err := Content(dir)
		if err != nil {
			var e *trust.Error
			if !errors.As(err, &e) || e.Code != trust.EINVALID {
				t.Fatalf("got %T %v, want an EINVALID *trust.Error", err, err)
			} else if !utf8.ValidString(e.Message) {
				t.Fatalf("message %q is not valid UTF-8", e.Message)
			}
			return
		}

		if got := MustContent(t, dir); got != want {
			t.Fatalf("second digest %s, first %s", got, want)
		}
		var buf bytes.Buffer
		if err := WriteTar(&buf, dir); err != nil {
			t.Fatal(err)
		}
		if sum := sha256.Sum256(buf.Bytes()); "sha256:"+hex.EncodeToString(sum[:]) != want {
			t.Fatal("Content is not the sha256 of WriteTar's bytes")
		} else if bytes.Contains(buf.Bytes(), []byte(fuzzSecret)) {
			t.Fatal("the tar holds the secret from outside the tree")
		}
		checkLinksInside(t, dir)

		copied := t.TempDir()
		extract(t, buf.Bytes(), copied)
		if got := MustContent(t, copied); got != want {
			t.Fatalf("unpacked tar has digest %s, the tree %s", got, want)
		}
	})
}

// buildTree runs a tree script (see contentSeeds) in dir, skipping operations
// that fail. It works through an os.Root so that it cannot write outside dir.
func buildTree(tb testing.TB, dir, base, script string) {
	tb.Helper()
	root, err := os.OpenRoot(dir)
	if err != nil {
		tb.Fatal(err)
	}
	defer root.Close()

	lines := strings.Split(script, "\n")
	if len(lines) > 32 {
		lines = lines[:32]
	}
	for _, line := range lines {
		op, rest, _ := strings.Cut(line, "|")
		name, arg, _ := strings.Cut(rest, "|")
		if len(name) > 300 || len(arg) > 300 || !filepath.IsLocal(name) {
			continue
		}
		if parent := filepath.Dir(name); parent != "." && op != "" {
			_ = root.MkdirAll(parent, 0o755)
		}
		switch op {
		case "f":
			_ = root.WriteFile(name, []byte(arg), 0o644)
		case "x":
			if root.WriteFile(name, []byte(arg), 0o755) == nil {
				_ = root.Chmod(name, 0o755)
			}
		case "d":
			_ = root.Mkdir(name, 0o755)
		case "l":
			if strings.HasPrefix(arg, "@") {
				arg = base + arg[1:]
			}
			_ = root.Symlink(arg, name)
		}
	}
}

// checkLinksInside fails the test if the operating system resolves a symlink
// under dir to a path outside it.
func checkLinksInside(tb testing.TB, dir string) {
	tb.Helper()
	realDir, err := filepath.EvalSymlinks(dir)
	if err != nil {
		tb.Fatal(err)
	}
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.Type()&fs.ModeSymlink == 0 {
			return err
		}
		target, err := filepath.EvalSymlinks(p)
		if err != nil {
			return nil // dangling or a loop: resolves nowhere
		}
		if rel, err := filepath.Rel(realDir, target); err != nil || (rel != "." && !filepath.IsLocal(rel)) {
			tb.Fatalf("accepted symlink %s, which resolves to %s outside the tree", p, target)
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
}

// extract unpacks a tar written by WriteTar into dir.
func extract(tb testing.TB, data []byte, dir string) {
	tb.Helper()
	root, err := os.OpenRoot(dir)
	if err != nil {
		tb.Fatal(err)
	}
	defer root.Close()
	tr := tar.NewReader(bytes.NewReader(data))
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return
		} else if err != nil {
			tb.Fatal(err)
		}
		name := strings.TrimSuffix(hdr.Name, "/")
		switch hdr.Typeflag {
		case tar.TypeDir:
			err = root.Mkdir(name, 0o755)
		case tar.TypeSymlink:
			err = root.Symlink(hdr.Linkname, name)
		case tar.TypeReg:
			var b []byte
			if b, err = io.ReadAll(tr); err == nil {
				if err = root.WriteFile(name, b, fs.FileMode(hdr.Mode)); err == nil {
					err = root.Chmod(name, fs.FileMode(hdr.Mode))
				}
			}
		default:
			tb.Fatalf("%s: unexpected entry type %q", hdr.Name, hdr.Typeflag)
		}
		if err != nil {
			tb.Fatalf("extract %s: %v", hdr.Name, err)
		}
	}
}
