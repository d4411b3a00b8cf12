package oci_test

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/google/go-containerregistry/pkg/v1/validate"

	"github.com/openagents/trust/shared/digest"
	"github.com/openagents/trust/shared/oci"
	"github.com/openagents/trust/shared/trust"
)

var opts = oci.BuildOptions{Name: "hello-skill", Version: "1.0.0"}

// MustBase writes a tiny OCI base image (one layer holding etc/os-release) to
// a new layout in a temporary directory and returns the directory and the
// image's digest. No network.
func MustBase(tb testing.TB) (string, string) {
	tb.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	body := []byte("ID=openagents-test-base\n")
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
	img, err := mutate.Append(base, mutate.Addendum{Layer: layer, History: v1.History{CreatedBy: "test base"}})
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

// MustLoadBase returns the test base image.
func MustLoadBase(tb testing.TB) v1.Image {
	tb.Helper()
	dir, d := MustBase(tb)
	img, err := oci.LoadBase(dir, d)
	if err != nil {
		tb.Fatal(err)
	}
	return img
}

// skillFiles is the test skill: path → content; a trailing "*" in the path
// marks an executable file.
var skillFiles = map[string]string{
	"SKILL.md":            "---\nname: hello-skill\nversion: 1.0.0\n---\nSay hello.\n",
	"scripts/hello.sh*":   "#!/bin/sh\necho hello\n",
	"scripts/lib/util.py": "print('util')\n",
	"docs/README.md":      "# Hello\n",
	"docs/" + strings.Repeat("long-name-", 9) + ".md": "a name under 100 bytes that the prefix pushes over\n",
	"docs/ünïcödé.md":                                 "non-ASCII name\n",
}

// MustSkill writes the test skill to a new directory, files in the given order
// of keys (reversed if rev), with file mode perm (plus x for executables) and
// modification time mtime, and returns the directory.
func MustSkill(tb testing.TB, rev bool, perm os.FileMode, mtime time.Time) string {
	tb.Helper()
	dir := tb.TempDir()
	var names []string
	for n := range skillFiles {
		names = append(names, n)
	}
	if rev {
		for i, j := 0, len(names)-1; i < j; i, j = i+1, j-1 {
			names[i], names[j] = names[j], names[i]
		}
	}
	for _, n := range names {
		mode := perm
		p := n
		if strings.HasSuffix(n, "*") {
			p, mode = strings.TrimSuffix(n, "*"), perm|0o111
		}
		full := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o700|perm&0o077|0o100); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(skillFiles[n]), mode); err != nil {
			tb.Fatal(err)
		}
		if err := os.Chmod(full, mode); err != nil {
			tb.Fatal(err)
		}
		if err := os.Chtimes(full, mtime, mtime); err != nil {
			tb.Fatal(err)
		}
	}
	if err := os.Symlink("scripts/hello.sh", filepath.Join(dir, "hello")); err != nil {
		tb.Fatal(err)
	}
	return dir
}

func MustBuild(tb testing.TB, base v1.Image, dir string, o oci.BuildOptions) v1.Image {
	tb.Helper()
	img, err := oci.Build(context.Background(), base, dir, o)
	if err != nil {
		tb.Fatalf("build: %v", err)
	}
	return img
}

func MustDigest(tb testing.TB, img v1.Image) string {
	tb.Helper()
	h, err := img.Digest()
	if err != nil {
		tb.Fatal(err)
	}
	return h.String()
}

func TestBuild_Deterministic(t *testing.T) {
	base := MustLoadBase(t)
	a := MustSkill(t, false, 0o644, time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC))
	b := MustSkill(t, true, 0o600, time.Now())
	da := MustDigest(t, MustBuild(t, base, a, opts))
	db := MustDigest(t, MustBuild(t, base, b, opts))
	if da != db {
		t.Fatalf("copies with different mtimes/modes/order: got %s and %s, want equal", da, db)
	}
	if again := MustDigest(t, MustBuild(t, MustLoadBase(t), a, opts)); again != da {
		t.Fatalf("second build: got %s, want %s", again, da)
	}
	if !trust.ValidDigest(da) {
		t.Fatalf("digest %q is not a valid trust digest", da)
	}

	t.Run("ContentChanges", func(t *testing.T) {
		os.WriteFile(filepath.Join(b, "SKILL.md"), []byte("changed\n"), 0o644)
		if d := MustDigest(t, MustBuild(t, base, b, opts)); d == da {
			t.Fatalf("changed skill kept digest %s", d)
		}
	})
	t.Run("VersionChanges", func(t *testing.T) {
		o := opts
		o.Version = "1.0.1"
		if d := MustDigest(t, MustBuild(t, base, a, o)); d == da {
			t.Fatalf("other version kept digest %s", d)
		}
	})
}

func TestBuild_Image(t *testing.T) {
	base := MustLoadBase(t)
	dir := MustSkill(t, false, 0o644, time.Now())
	img := MustBuild(t, base, dir, opts)
	if err := validate.Image(img); err != nil {
		t.Fatalf("validate: %v", err)
	}
	baseLayers, _ := base.Layers()
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	} else if len(layers) != len(baseLayers)+1 {
		t.Fatalf("got %d layers, want base's %d + 1", len(layers), len(baseLayers))
	}
	if mt, _ := layers[len(layers)-1].MediaType(); mt != types.OCILayer {
		t.Fatalf("layer media type %s, want %s", mt, types.OCILayer)
	}
	if mt, _ := img.MediaType(); mt != types.OCIManifestSchema1 {
		t.Fatalf("manifest media type %s", mt)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.Created.Time.Equal(oci.Epoch) {
		t.Fatalf("created %v, want %v", cfg.Created, oci.Epoch)
	}
	for _, h := range cfg.History {
		if !h.Created.Time.IsZero() && !h.Created.Time.Equal(oci.Epoch) {
			t.Fatalf("history entry created %v", h.Created)
		}
	}
	content, err := digest.Content(dir)
	if err != nil {
		t.Fatal(err)
	}
	baseDigest := MustDigest(t, base)
	for k, want := range map[string]string{
		oci.LabelTitle: "hello-skill", oci.LabelVersion: "1.0.0",
		oci.LabelContentDigest: content, oci.LabelBaseDigest: baseDigest,
	} {
		if got := cfg.Config.Labels[k]; got != want {
			t.Errorf("label %s: got %q, want %q", k, got, want)
		}
	}
}

// TestBuild_LayerIsWriteTar: the skill layer holds digest.WriteTar's entries,
// in order, under opt/skill/, and the content digest label is the sha256 of
// WriteTar's bytes.
func TestBuild_LayerIsWriteTar(t *testing.T) {
	dir := MustSkill(t, false, 0o644, time.Now())
	img := MustBuild(t, MustLoadBase(t), dir, opts)
	layers, _ := img.Layers()
	rc, err := layers[len(layers)-1].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	got := readTar(t, rc)

	var src bytes.Buffer
	if err := digest.WriteTar(&src, dir); err != nil {
		t.Fatal(err)
	}
	want := []tarEntry{
		{Typeflag: tar.TypeDir, Name: "opt/", Mode: 0o755},
		{Typeflag: tar.TypeDir, Name: "opt/skill/", Mode: 0o755},
	}
	for _, e := range readTar(t, bytes.NewReader(src.Bytes())) {
		e.Name = oci.Prefix + e.Name
		want = append(want, e)
	}
	if len(got) != len(want) {
		t.Fatalf("got %d entries, want %d:\n%v\n%v", len(got), len(want), got, want)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Errorf("entry %d: got %+v, want %+v", i, got[i], want[i])
		}
	}

	// The uncompressed layer (diff_id) is LayerTar's bytes; LayerTar's
	// content digest is digest.Content of the folder.
	lt, cd, err := oci.LayerTar(dir)
	if err != nil {
		t.Fatal(err)
	}
	diffID, _ := layers[len(layers)-1].DiffID()
	sum := sha256.Sum256(lt)
	if want := "sha256:" + hex.EncodeToString(sum[:]); diffID.String() != want {
		t.Fatalf("diff_id %s, want sha256 of LayerTar %s", diffID, want)
	}
	if content, _ := digest.Content(dir); cd != content {
		t.Fatalf("LayerTar content digest %s, want digest.Content %s", cd, content)
	}
}

type tarEntry struct {
	Typeflag byte
	Name     string
	Linkname string
	Mode     int64
	Size     int64
	Uid, Gid int
	ModTime  int64
	Body     string
}

func readTar(tb testing.TB, r io.Reader) []tarEntry {
	tb.Helper()
	var out []tarEntry
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		} else if err != nil {
			tb.Fatal(err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, tarEntry{h.Typeflag, h.Name, h.Linkname, h.Mode, h.Size, h.Uid, h.Gid, h.ModTime.Unix(), string(b)})
	}
}

func TestBuild_ErrEscapingSymlink(t *testing.T) {
	dir := MustSkill(t, false, 0o644, time.Now())
	if err := os.Symlink("../../etc/passwd", filepath.Join(dir, "docs", "leak")); err != nil {
		t.Fatal(err)
	}
	_, err := oci.Build(context.Background(), MustLoadBase(t), dir, opts)
	if code := trust.ErrorCode(err); code != trust.EINVALID {
		t.Fatalf("got %v (code %q), want %s", err, code, trust.EINVALID)
	}
}

func TestBuild_ErrContentDigest(t *testing.T) {
	dir := MustSkill(t, false, 0o644, time.Now())
	content, _ := digest.Content(dir)
	t.Run("OK", func(t *testing.T) {
		o := opts
		o.ContentDigest = content
		MustBuild(t, MustLoadBase(t), dir, o)
	})
	t.Run("ErrChanged", func(t *testing.T) {
		o := opts
		o.ContentDigest = "sha256:" + strings.Repeat("0", 64)
		_, err := oci.Build(context.Background(), MustLoadBase(t), dir, o)
		if code := trust.ErrorCode(err); code != trust.ECONFLICT {
			t.Fatalf("got %v, want %s", err, trust.ECONFLICT)
		}
	})
}

func TestBuild_ErrInvalidName(t *testing.T) {
	dir := MustSkill(t, false, 0o644, time.Now())
	_, err := oci.Build(context.Background(), MustLoadBase(t), dir, oci.BuildOptions{Name: "", Version: "1.0.0"})
	if code := trust.ErrorCode(err); code != trust.EINVALID {
		t.Fatalf("got %v, want %s", err, trust.EINVALID)
	}
}

func TestLoadBase(t *testing.T) {
	dir, d := MustBase(t)
	t.Run("OK", func(t *testing.T) {
		for _, ref := range []string{d, "base@" + d, "example.com/base:1@" + d} {
			img, err := oci.LoadBase(dir, ref)
			if err != nil {
				t.Fatalf("%s: %v", ref, err)
			} else if got := MustDigest(t, img); got != d {
				t.Fatalf("%s: got %s, want %s", ref, got, d)
			}
		}
	})
	t.Run("ErrNotPinned", func(t *testing.T) {
		for _, ref := range []string{"", "base", "base:latest", "latest", "sha256:abc", "base@sha256:" + strings.Repeat("Z", 64)} {
			if _, err := oci.LoadBase(dir, ref); trust.ErrorCode(err) != trust.EINVALID {
				t.Errorf("%q: got %v, want %s", ref, err, trust.EINVALID)
			}
		}
	})
	t.Run("ErrNotFound", func(t *testing.T) {
		_, err := oci.LoadBase(dir, "sha256:"+strings.Repeat("1", 64))
		if code := trust.ErrorCode(err); code != trust.ENOTFOUND {
			t.Fatalf("got %v, want %s", err, trust.ENOTFOUND)
		}
	})
	t.Run("ErrTampered", func(t *testing.T) {
		// Rewrite the manifest blob in place: the index still names the old digest.
		blob := filepath.Join(dir, "blobs", "sha256", strings.TrimPrefix(d, "sha256:"))
		b, err := os.ReadFile(blob)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(blob, append(b, ' '), 0o644); err != nil {
			t.Fatal(err)
		}
		defer os.WriteFile(blob, b, 0o644)
		if _, err := oci.LoadBase(dir, d); trust.ErrorCode(err) != trust.EINVALID {
			t.Fatalf("got %v, want %s", err, trust.EINVALID)
		}
	})
}

// Golden values for the test skill on the test base. goldenDiffID depends only
// on the layer rules (and on digest.WriteTar); goldenImage also on gzip at
// oci.CompressionLevel as this Go toolchain's compress/flate writes it. A
// change to either means images signed before can no longer be rebuilt to the
// same digest: say so in docs/oci.md before updating them.
const (
	goldenDiffID = "sha256:f435ef5467c9302265504b5933c1a575c89da9d15391d6991aebe631a3724166"
	goldenImage  = "sha256:00e867869954429b412647a28394cc0ea84ce3cb624ff9ff43c13c243a92076c"
)

func TestBuild_Golden(t *testing.T) {
	img := MustBuild(t, MustLoadBase(t), MustSkill(t, false, 0o644, time.Now()), opts)
	layers, _ := img.Layers()
	diffID, err := layers[len(layers)-1].DiffID()
	if err != nil {
		t.Fatal(err)
	}
	if diffID.String() != goldenDiffID {
		t.Errorf("skill layer diff_id: got %s, want %s", diffID, goldenDiffID)
	}
	if got := MustDigest(t, img); got != goldenImage {
		t.Errorf("image digest: got %s, want %s", got, goldenImage)
	}
}

// TestBuild_DockerBase: on a base with Docker media types the skill layer is a
// Docker layer, so the manifest does not mix the two.
func TestBuild_DockerBase(t *testing.T) {
	img := MustBuild(t, empty.Image, MustSkill(t, false, 0o644, time.Now()), opts)
	if mt, _ := img.MediaType(); mt != types.DockerManifestSchema2 {
		t.Fatalf("manifest media type %s", mt)
	}
	layers, _ := img.Layers()
	if mt, _ := layers[0].MediaType(); mt != types.DockerLayer {
		t.Fatalf("layer media type %s, want %s", mt, types.DockerLayer)
	}
	if err := validate.Image(img); err != nil {
		t.Fatal(err)
	}
}

// TestContentDigest: the content digest re-derived from the image alone is
// digest.Content of the folder, for the test skill and the repository's
// sample skill.
func TestContentDigest(t *testing.T) {
	for _, dir := range []string{MustSkill(t, false, 0o644, time.Now()), "../../testdata/skills/hello"} {
		want, err := digest.Content(dir)
		if err != nil {
			t.Fatal(err)
		}
		got, err := oci.ContentDigest(MustBuild(t, MustLoadBase(t), dir, opts))
		if err != nil {
			t.Fatal(err)
		} else if got != want {
			t.Fatalf("%s: got %s, want %s", dir, got, want)
		}
	}

	t.Run("ErrNotSkillLayer", func(t *testing.T) {
		if _, err := oci.ContentDigest(MustLoadBase(t)); trust.ErrorCode(err) != trust.EINVALID {
			t.Fatalf("got %v, want %s", err, trust.EINVALID)
		}
		if _, err := oci.LayerContentDigest(bytes.NewReader(make([]byte, 1024))); trust.ErrorCode(err) != trust.EINVALID {
			t.Fatalf("empty tar: got %v, want %s", err, trust.EINVALID)
		}
	})
}
