package oci_test

import (
	"context"
	"io"
	"log"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/validate"

	"github.com/openagents/trust/shared/oci"
	"github.com/openagents/trust/shared/trust"
)

// MustRegistry starts go-containerregistry's in-process registry on loopback
// and returns its host:port.
func MustRegistry(tb testing.TB) string {
	tb.Helper()
	s := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	tb.Cleanup(s.Close)
	return strings.TrimPrefix(s.URL, "http://")
}

func TestPush_Layout(t *testing.T) {
	img := MustBuild(t, MustLoadBase(t), MustSkill(t, false, 0o644, time.Now()), opts)
	want := MustDigest(t, img)
	dir := filepath.Join(t.TempDir(), "store", "layout") // does not exist yet

	for i := 0; i < 2; i++ { // a second push replaces the entry, not duplicates it
		got, err := oci.Push(context.Background(), img, dir)
		if err != nil {
			t.Fatalf("push %d: %v", i, err)
		} else if got != want {
			t.Fatalf("push %d: got %s, want %s", i, got, want)
		}
	}

	p, err := layout.FromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := p.ImageIndex()
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	} else if len(im.Manifests) != 1 {
		t.Fatalf("index has %d manifests, want 1", len(im.Manifests))
	} else if ref := im.Manifests[0].Annotations[oci.AnnotationRefName]; ref != "hello-skill:1.0.0" {
		t.Fatalf("ref.name %q", ref)
	}
	// Pull back by digest, as a base would be loaded.
	pulled, err := oci.LoadBase(dir, want)
	if err != nil {
		t.Fatal(err)
	} else if got := MustDigest(t, pulled); got != want {
		t.Fatalf("pulled %s, want %s", got, want)
	}
	if err := validate.Image(pulled); err != nil {
		t.Fatalf("validate pulled: %v", err)
	}

	t.Run("SecondVersion", func(t *testing.T) {
		o := opts
		o.Version = "1.1.0"
		img2 := MustBuild(t, MustLoadBase(t), MustSkill(t, false, 0o644, time.Now()), o)
		if _, err := oci.Push(context.Background(), img2, dir); err != nil {
			t.Fatal(err)
		}
		idx, err := p.ImageIndex()
		if err != nil {
			t.Fatal(err)
		}
		im, _ := idx.IndexManifest()
		if len(im.Manifests) != 2 {
			t.Fatalf("index has %d manifests, want 2", len(im.Manifests))
		}
	})
}

func TestPush_Registry(t *testing.T) {
	host := MustRegistry(t)
	img := MustBuild(t, MustLoadBase(t), MustSkill(t, false, 0o644, time.Now()), opts)
	want := MustDigest(t, img)

	got, err := oci.Push(context.Background(), img, "http://"+host+"/skills/hello-skill")
	if err != nil {
		t.Fatal(err)
	} else if got != want {
		t.Fatalf("got %s, want %s", got, want)
	}

	for _, ref := range []string{host + "/skills/hello-skill@" + want, host + "/skills/hello-skill:1.0.0"} {
		r, err := name.ParseReference(ref, name.Insecure)
		if err != nil {
			t.Fatal(err)
		}
		pulled, err := remote.Image(r)
		if err != nil {
			t.Fatalf("pull %s: %v", ref, err)
		} else if d := MustDigest(t, pulled); d != want {
			t.Fatalf("pull %s: got %s, want %s", ref, d, want)
		}
		if err := validate.Image(pulled); err != nil {
			t.Fatalf("validate %s: %v", ref, err)
		}
		cfg, _ := pulled.ConfigFile()
		if cd, err := oci.ContentDigest(pulled); err != nil {
			t.Fatal(err)
		} else if label := cfg.Config.Labels[oci.LabelContentDigest]; cd != label {
			t.Fatalf("pulled %s: content digest %s, label %s", ref, cd, label)
		}
	}
}

func TestPush_ErrBadURL(t *testing.T) {
	img := MustBuild(t, MustLoadBase(t), MustSkill(t, false, 0o644, time.Now()), opts)
	for _, dest := range []string{"http://", "https://example.com", "https://example.com/", "http://u:p@example.com/r", "http://example.com/r?x=1"} {
		if _, err := oci.Push(context.Background(), img, dest); trust.ErrorCode(err) != trust.EINVALID {
			t.Errorf("%q: got %v, want %s", dest, err, trust.EINVALID)
		}
	}
}

func TestPush_ErrCanceled(t *testing.T) {
	host := MustRegistry(t)
	img := MustBuild(t, MustLoadBase(t), MustSkill(t, false, 0o644, time.Now()), opts)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := oci.Push(ctx, img, "http://"+host+"/skills/hello-skill"); err == nil {
		t.Fatal("push with a canceled context succeeded")
	}
}
