package bundle_test

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/flate"
	"compress/gzip"
	"hash/crc32"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// tent is one tar entry to build.
type tent struct {
	name string
	typ  byte // 0 means tar.TypeReg
	body string
	mode int64
	link string
}

// MustTar returns a tar (gzipped if gz) of ents.
func MustTar(tb testing.TB, gz bool, ents ...tent) []byte {
	tb.Helper()
	var buf bytes.Buffer
	var zw *gzip.Writer
	tw := tar.NewWriter(&buf)
	if gz {
		zw = gzip.NewWriter(&buf)
		tw = tar.NewWriter(zw)
	}
	for _, e := range ents {
		hdr := &tar.Header{Name: e.name, Typeflag: e.typ, Mode: e.mode, Linkname: e.link, Format: tar.FormatPAX}
		if hdr.Typeflag == 0 {
			hdr.Typeflag = tar.TypeReg
		}
		if hdr.Mode == 0 {
			hdr.Mode = 0o644
		}
		if hdr.Typeflag == tar.TypeReg {
			hdr.Size = int64(len(e.body))
		}
		if err := tw.WriteHeader(hdr); err != nil {
			tb.Fatal(err)
		}
		if _, err := tw.Write([]byte(e.body)); err != nil {
			tb.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		tb.Fatal(err)
	}
	if zw != nil {
		if err := zw.Close(); err != nil {
			tb.Fatal(err)
		}
	}
	return buf.Bytes()
}

// zent is one zip entry to build. With raw set, the entry is written with
// CreateRaw: body is deflated and the header's sizes and flags are taken as
// given, so tests can lie.
type zent struct {
	name   string
	body   string
	mode   fs.FileMode
	method uint16
	raw    bool
	flags  uint16
	usize  uint64 // declared uncompressed size when raw
}

// MustZip returns a zip of ents.
func MustZip(tb testing.TB, ents ...zent) []byte {
	tb.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range ents {
		fh := &zip.FileHeader{Name: e.name, Method: e.method}
		if e.mode != 0 {
			fh.SetMode(e.mode)
		}
		if e.raw {
			var c bytes.Buffer
			fw, _ := flate.NewWriter(&c, flate.BestCompression)
			fw.Write([]byte(e.body))
			fw.Close()
			if fh.Method == 0 {
				fh.Method = zip.Deflate
			}
			fh.Flags = e.flags
			fh.CRC32 = crc32.ChecksumIEEE([]byte(e.body))
			fh.CompressedSize64 = uint64(c.Len())
			fh.UncompressedSize64 = e.usize
			w, err := zw.CreateRaw(fh)
			if err != nil {
				tb.Fatal(err)
			}
			w.Write(c.Bytes())
			continue
		}
		w, err := zw.CreateHeader(fh)
		if err != nil {
			tb.Fatal(err)
		}
		if _, err := w.Write([]byte(e.body)); err != nil {
			tb.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// random returns n incompressible bytes.
func random(n int) string {
	r := rand.New(rand.NewPCG(1, 2))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return string(b)
}

// MustEntries returns the names in dir.
func MustEntries(tb testing.TB, dir string) []string {
	tb.Helper()
	des, err := os.ReadDir(dir)
	if err != nil {
		tb.Fatal(err)
	}
	var names []string
	for _, de := range des {
		names = append(names, de.Name())
	}
	return names
}

// MustWriteTree creates files (path -> body; a trailing "/" makes a
// directory, a leading "x:" an executable) below dir.
func MustWriteTree(tb testing.TB, dir string, files map[string]string) {
	tb.Helper()
	for p, body := range files {
		mode := fs.FileMode(0o644)
		if len(p) > 2 && p[:2] == "x:" {
			p, mode = p[2:], 0o755
		}
		full := filepath.Join(dir, filepath.FromSlash(p))
		if p[len(p)-1] == '/' {
			if err := os.MkdirAll(full, 0o755); err != nil {
				tb.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(body), mode); err != nil {
			tb.Fatal(err)
		}
		if err := os.Chmod(full, mode); err != nil {
			tb.Fatal(err)
		}
	}
}

func gzipWriter(w *bytes.Buffer) *gzip.Writer { return gzip.NewWriter(w) }
