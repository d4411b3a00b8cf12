package bundle_test

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/openagents/trust/shared/bundle"
	"github.com/openagents/trust/shared/digest"
)

var roundTripTree = map[string]string{
	"SKILL.md":              "---\nname: demo\n---\n# Demo\n",
	"x:scripts/install.sh":  "#!/bin/sh\nset -eu\necho ok\n",
	"docs/guide/deep/a.txt": "deep",
	"empty/":                "",
	"ünïcödé/名前.md":         "unicode names",
	"data/zeros.bin":        string(make([]byte, 64<<10)),
	"data/random.bin":       random(32 << 10),
	"scripts/lib/helper.py": "print('hi')\n",
}

// MustArchiveDir archives dir as a tar.gz or zip, the way a publisher's tool
// would: one entry per directory and file, modes from disk.
func MustArchiveDir(tb testing.TB, dir string, format bundle.Format) []byte {
	tb.Helper()
	var buf bytes.Buffer
	var tw *tar.Writer
	var gw *gzip.Writer
	var zw *zip.Writer
	if format == bundle.FormatZip {
		zw = zip.NewWriter(&buf)
	} else {
		gw = gzip.NewWriter(&buf)
		tw = tar.NewWriter(gw)
	}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		fi, err := d.Info()
		if err != nil {
			return err
		}
		if zw != nil {
			fh, err := zip.FileInfoHeader(fi)
			if err != nil {
				return err
			}
			fh.Name = rel
			if d.IsDir() {
				fh.Name += "/"
			} else {
				fh.Method = zip.Deflate
			}
			w, err := zw.CreateHeader(fh)
			if err != nil || d.IsDir() {
				return err
			}
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			defer f.Close()
			_, err = io.Copy(w, f)
			return err
		}
		hdr, err := tar.FileInfoHeader(fi, "")
		if err != nil {
			return err
		}
		hdr.Name = rel
		if d.IsDir() {
			hdr.Name += "/"
		}
		if err := tw.WriteHeader(hdr); err != nil || d.IsDir() {
			return err
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = io.Copy(tw, f)
		return err
	})
	if err != nil {
		tb.Fatal(err)
	}
	if zw != nil {
		err = zw.Close()
	} else if err = tw.Close(); err == nil {
		err = gw.Close()
	}
	if err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

func TestExtract_RoundTripDigest(t *testing.T) {
	src := t.TempDir()
	MustWriteTree(t, src, roundTripTree)
	want, err := digest.Content(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, format := range []bundle.Format{bundle.FormatTarGz, bundle.FormatZip} {
		t.Run(format.String(), func(t *testing.T) {
			dst := filepath.Join(t.TempDir(), "out")
			if _, err := bundle.Extract(context.Background(), bytes.NewReader(MustArchiveDir(t, src, format)), bundle.FormatAuto, dst, bundle.Limits{}); err != nil {
				t.Fatal(err)
			}
			got, err := digest.Content(dst)
			if err != nil {
				t.Fatal(err)
			}
			if got != want {
				t.Errorf("digest: got %s, want %s", got, want)
			}
		})
	}
}

func BenchmarkExtract(b *testing.B) {
	files := map[string]string{}
	for i := range 100 {
		files["dir"+string(rune('a'+i%10))+"/file"+string(rune('a'+i/10))+".txt"] = random(8 << 10)[:4<<10] + string(bytes.Repeat([]byte("lorem ipsum "), 400))
	}
	src := b.TempDir()
	MustWriteTree(b, src, files)
	for _, format := range []bundle.Format{bundle.FormatTarGz, bundle.FormatZip} {
		data := MustArchiveDir(b, src, format)
		b.Run(format.String(), func(b *testing.B) {
			parent := b.TempDir()
			b.SetBytes(int64(len(data)))
			i := 0
			for b.Loop() {
				dst := filepath.Join(parent, "out"+string(rune('a'+i%26))+string(rune('a'+i/26%26))+string(rune('a'+i/676%26)))
				i++
				os.RemoveAll(dst)
				if _, err := bundle.Extract(context.Background(), bytes.NewReader(data), bundle.FormatAuto, dst, bundle.Limits{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
