package oci

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"

	"github.com/openagents/trust/shared/trust"
)

// LoadBase returns the pinned base image from the OCI layout in layoutDir.
// digestOrRef is the image's manifest digest, "sha256:<hex>", or a reference
// that ends with it, "name@sha256:<hex>" or "name:tag@sha256:<hex>" (only the
// digest is used). Pinned means a digest: a bare tag or name is refused.
//
// EINVALID if digestOrRef has no valid digest, or if the manifest in the
// layout does not hash to it; ENOTFOUND if the layout has no such image;
// other errors are I/O failures.
func LoadBase(layoutDir, digestOrRef string) (v1.Image, error) {
	d := digestOrRef
	if i := strings.LastIndexByte(d, '@'); i >= 0 {
		d = d[i+1:]
	}
	if !trust.ValidDigest(d) {
		return nil, trust.Errorf(trust.EINVALID, "base %q is not pinned: give its digest, sha256:<64 hex> or name@sha256:<64 hex>", digestOrRef)
	}
	h, err := v1.NewHash(d)
	if err != nil {
		return nil, trust.Errorf(trust.EINVALID, "base %q: invalid digest", digestOrRef)
	}
	p, err := layout.FromPath(layoutDir)
	if err != nil {
		return nil, fmt.Errorf("open base layout %s: %w", layoutDir, err)
	}
	img, err := p.Image(h)
	if errors.Is(err, fs.ErrNotExist) || (err != nil && strings.Contains(err.Error(), "could not find descriptor")) {
		return nil, trust.Errorf(trust.ENOTFOUND, "base %s not found in layout", d)
	} else if err != nil {
		return nil, fmt.Errorf("load base %s: %w", d, err)
	}
	// The layout's index names the manifest by digest, but nothing checks the
	// blob it points to: hash it.
	raw, err := img.RawManifest()
	if err != nil {
		return nil, fmt.Errorf("read base manifest %s: %w", d, err)
	}
	got, _, err := v1.SHA256(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("hash base manifest: %w", err)
	} else if got != h {
		return nil, trust.Errorf(trust.EINVALID, "base %s: manifest in layout hashes to %s", d, got)
	}
	return img, nil
}
