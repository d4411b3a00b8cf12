package oci

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/openagents/trust/shared/digest"
	"github.com/openagents/trust/shared/trust"
)

// ContentDigest re-derives the skill's content digest from img's last layer,
// without the folder: it strips Prefix from the layer's entries and re-encodes
// them as digest.WriteTar does, so the result equals digest.Content of the
// folder the image was built from. It does not trust the label; compare the
// two, or compare it with a signed statement's content_digest.
//
// EINVALID if the last layer is not a skill layer as Build writes it; other
// errors are I/O failures.
func ContentDigest(img v1.Image) (string, error) {
	layers, err := img.Layers()
	if err != nil {
		return "", fmt.Errorf("read layers: %w", err)
	} else if len(layers) == 0 {
		return "", trust.Errorf(trust.EINVALID, "image has no layers")
	}
	rc, err := layers[len(layers)-1].Uncompressed()
	if err != nil {
		return "", fmt.Errorf("open skill layer: %w", err)
	}
	defer rc.Close()
	return LayerContentDigest(rc)
}

// LayerContentDigest is ContentDigest for an uncompressed skill layer read
// from r: the directories "opt/" and "opt/skill/", then only entries below
// Prefix.
func LayerContentDigest(r io.Reader) (string, error) {
	h := sha256.New()
	tw := tar.NewWriter(h)
	tr := tar.NewReader(r)
	for i := 0; ; i++ {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) && i < 2 {
			return "", trust.Errorf(trust.EINVALID, "not a skill layer: no %s directory", Prefix)
		} else if errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return "", fmt.Errorf("read skill layer: %w", err)
		}
		if i < 2 {
			if want := []string{"opt/", Prefix}[i]; hdr.Name != want || hdr.Typeflag != tar.TypeDir {
				return "", trust.Errorf(trust.EINVALID, "not a skill layer: entry %d is %q, want directory %q", i, hdr.Name, want)
			}
			continue
		}
		name, ok := strings.CutPrefix(hdr.Name, Prefix)
		if !ok || name == "" {
			return "", trust.Errorf(trust.EINVALID, "not a skill layer: entry %q is outside %s", hdr.Name, Prefix)
		}
		out := &tar.Header{
			Typeflag: hdr.Typeflag,
			Name:     name,
			Linkname: hdr.Linkname,
			Size:     hdr.Size,
			Mode:     hdr.Mode,
			ModTime:  time.Unix(0, 0),
			Format:   tar.FormatPAX,
		}
		if err := tw.WriteHeader(out); err != nil {
			return "", fmt.Errorf("re-encode %s: %w", name, err)
		} else if _, err := io.Copy(tw, tr); err != nil {
			return "", fmt.Errorf("re-encode %s: %w", name, err)
		}
	}
	if err := tw.Close(); err != nil {
		return "", fmt.Errorf("re-encode: %w", err)
	}
	return digest.Prefix + hex.EncodeToString(h.Sum(nil)), nil
}
