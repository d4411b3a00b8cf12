package oci

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/match"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/openagents/trust/shared/trust"
)

// AnnotationRefName is the annotation naming an image in an OCI layout's index.
const AnnotationRefName = "org.opencontainers.image.ref.name"

// Push writes img to dest and returns its manifest digest, "sha256:<hex>": the
// value of SkillVersion.ImageDigest and of the statement's image_digest.
//
// dest is either
//   - a registry URL, "http://host[:port]/repo" or "https://host[:port]/repo":
//     the image is pushed by digest and tagged with its version label (when that
//     is a valid tag), with credentials from the default keychain; plain http
//     is for loopback and test registries;
//   - anything else, a directory: the OCI layout there (created if missing)
//     gets the image in its index, annotated with ref.name "<title>:<version>"
//     from the labels. Pushing an image again replaces the entry of that
//     ref.name; blobs already there are kept.
//
// EINVALID if dest is a URL without a repository; other errors are I/O or
// registry failures.
func Push(ctx context.Context, img v1.Image, dest string) (string, error) {
	h, err := img.Digest()
	if err != nil {
		return "", fmt.Errorf("image digest: %w", err)
	}
	if strings.HasPrefix(dest, "http://") || strings.HasPrefix(dest, "https://") {
		err = pushRegistry(ctx, img, h, dest)
	} else {
		err = pushLayout(img, dest)
	}
	if err != nil {
		return "", err
	}
	return h.String(), nil
}

func pushRegistry(ctx context.Context, img v1.Image, h v1.Hash, dest string) error {
	u, err := url.Parse(dest)
	if err != nil || u.Host == "" || strings.Trim(u.Path, "/") == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return trust.Errorf(trust.EINVALID, "registry destination %q: want http(s)://host[:port]/repository", dest)
	}
	var opts []name.Option
	if u.Scheme == "http" {
		opts = append(opts, name.Insecure)
	}
	repo, err := name.NewRepository(u.Host+"/"+strings.Trim(u.Path, "/"), opts...)
	if err != nil {
		return trust.Errorf(trust.EINVALID, "registry destination %q: %v", dest, err)
	}
	ropts := []remote.Option{remote.WithContext(ctx), remote.WithAuthFromKeychain(authn.DefaultKeychain)}
	if err := remote.Write(repo.Digest(h.String()), img, ropts...); err != nil {
		return fmt.Errorf("push %s@%s: %w", repo, h, err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return fmt.Errorf("read config: %w", err)
	}
	if v := cfg.Config.Labels[LabelVersion]; v != "" {
		if tag, err := name.NewTag(repo.String()+":"+v, opts...); err == nil {
			if err := remote.Tag(tag, img, ropts...); err != nil {
				return fmt.Errorf("tag %s: %w", tag, err)
			}
		}
	}
	return nil
}

func pushLayout(img v1.Image, dir string) error {
	p, err := layout.FromPath(dir)
	if errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("create layout %s: %w", dir, err)
		}
		p, err = layout.Write(dir, empty.Index)
	}
	if err != nil {
		return fmt.Errorf("open layout %s: %w", dir, err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return fmt.Errorf("read config: %w", err)
	}
	ref := cfg.Config.Labels[LabelTitle] + ":" + cfg.Config.Labels[LabelVersion]
	ann := map[string]string{AnnotationRefName: ref}
	if err := p.ReplaceImage(img, match.Annotation(AnnotationRefName, ref), layout.WithAnnotations(ann)); err != nil {
		return fmt.Errorf("write %s to layout %s: %w", ref, dir, err)
	}
	return nil
}
