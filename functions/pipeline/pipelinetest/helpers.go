package pipelinetest

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/openagents/trust/functions/sign"
	"github.com/openagents/trust/shared/signing"
	"github.com/openagents/trust/shared/trust"
)

// Now is the fixed test time: inside the validity window of the test
// keyring's key test:1 (testdata/signing).
var Now = time.Date(2026, 11, 24, 18, 40, 1, 0, time.UTC)

// Clock is a settable test clock, safe for concurrent use.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a clock reading t.
func NewClock(t time.Time) *Clock { return &Clock{t: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Add moves the clock forward by d.
func (c *Clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// Repo returns the repository root, found from the test's working directory.
func Repo(tb testing.TB) string {
	tb.Helper()
	dir, err := os.Getwd()
	if err != nil {
		tb.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			tb.Fatal("no go.mod above the working directory")
		}
		dir = parent
	}
}

// MustKeyring returns the fixed test keyring (testdata/signing/keyring.json).
func MustKeyring(tb testing.TB) *trust.Keyring {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join(Repo(tb), "testdata/signing/keyring.json"))
	if err != nil {
		tb.Fatal(err)
	}
	var kr trust.Keyring
	if err := json.Unmarshal(b, &kr); err != nil {
		tb.Fatal(err)
	}
	return &kr
}

// MustSigner returns the signing function over c with the fixed test key
// test:1, reading clock now.
func MustSigner(tb testing.TB, c sign.Catalog, now func() time.Time) *sign.Handler {
	tb.Helper()
	s, err := signing.LoadSigner(context.Background(), filepath.Join(Repo(tb), "testdata/signing/test-key.pem"))
	if err != nil {
		tb.Fatal(err)
	}
	h := sign.NewHandler()
	h.Catalog, h.Signer, h.OperatorToken, h.Now = c, s, "unused-operator-credential-for-pipeline-tests", now
	return h
}

// MustBase writes a tiny OCI base image (one layer holding etc/os-release)
// to a new OCI layout and returns the layout directory and the image digest.
// No network.
func MustBase(tb testing.TB) (string, string) {
	tb.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	body := []byte("ID=openagents-pipeline-test-base\n")
	for _, h := range []*tar.Header{
		{Typeflag: tar.TypeDir, Name: "etc/", Mode: 0o755, ModTime: time.Unix(0, 0)},
		{Typeflag: tar.TypeReg, Name: "etc/os-release", Mode: 0o644, Size: int64(len(body)), ModTime: time.Unix(0, 0)},
	} {
		if err := tw.WriteHeader(h); err != nil {
			tb.Fatal(err)
		}
	}
	tw.Write(body)
	tw.Close()
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(buf.Bytes())), nil },
		tarball.WithMediaType(types.OCILayer))
	if err != nil {
		tb.Fatal(err)
	}
	base := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	img, err := mutate.Append(base, mutate.Addendum{Layer: layer, History: v1.History{CreatedBy: "pipeline test base"}})
	if err != nil {
		tb.Fatal(err)
	}
	dir := filepath.Join(tb.TempDir(), "base")
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		tb.Fatal(err)
	}
	if err := p.AppendImage(img); err != nil {
		tb.Fatal(err)
	}
	h, err := img.Digest()
	if err != nil {
		tb.Fatal(err)
	}
	return dir, h.String()
}

// Files is a skill as path → content; a path ending in "*" is executable
// (the star is not part of the name).
type Files map[string]string

// ReadFiles reads the regular files under dir (relative to the repository
// root) into Files.
func ReadFiles(tb testing.TB, dir string) Files {
	tb.Helper()
	root := filepath.Join(Repo(tb), dir)
	fs := Files{}
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		info, _ := d.Info()
		if info.Mode()&0o111 != 0 {
			rel += "*"
		}
		fs[filepath.ToSlash(rel)] = string(b)
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	return fs
}

func (fs Files) sorted() []string {
	names := make([]string, 0, len(fs))
	for n := range fs {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// TarGz returns fs as a gzipped tar.
func (fs Files) TarGz(tb testing.TB) []byte {
	tb.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, n := range fs.sorted() {
		name, mode := strings.TrimSuffix(n, "*"), int64(0o644)
		if strings.HasSuffix(n, "*") {
			mode = 0o755
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Size: int64(len(fs[n])), ModTime: Now}); err != nil {
			tb.Fatal(err)
		}
		if _, err := tw.Write([]byte(fs[n])); err != nil {
			tb.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		tb.Fatal(err)
	}
	if err := gz.Close(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// Zip returns fs as a zip archive.
func (fs Files) Zip(tb testing.TB) []byte {
	tb.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, n := range fs.sorted() {
		h := &zip.FileHeader{Name: strings.TrimSuffix(n, "*"), Method: zip.Deflate, Modified: Now}
		if strings.HasSuffix(n, "*") {
			h.SetMode(0o755)
		} else {
			h.SetMode(0o644)
		}
		w, err := zw.CreateHeader(h)
		if err != nil {
			tb.Fatal(err)
		}
		w.Write([]byte(fs[n]))
	}
	if err := zw.Close(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// ArchiveDigest is the "sha256:…" of archive bytes.
func ArchiveDigest(b []byte) string {
	h := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(h[:])
}

// MustSubmit records a submission of archive (tar.gz or zip) by publisher
// and returns it.
func (c *Catalog) MustSubmit(tb testing.TB, publisher string, archive []byte) *trust.Submission {
	tb.Helper()
	format := "tar.gz"
	if bytes.HasPrefix(archive, []byte("PK")) {
		format = "zip"
	}
	s, _, err := c.CreateSubmission(context.Background(), &trust.Submission{
		Publisher: publisher, ArchiveDigest: ArchiveDigest(archive), ArchiveFormat: format, ArchiveSize: int64(len(archive)),
	}, archive)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}
