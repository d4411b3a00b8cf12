// Package oci builds each skill into an OCI image and pushes it, with
// github.com/google/go-containerregistry: no Docker daemon, no network but the
// registry pushed to.
//
// An image is a pinned base (LoadBase: an OCI layout on disk, addressed by
// digest) plus exactly one layer holding the skill under /opt/skill/. The layer
// is digest.WriteTar's deterministic tar of the skill folder with every entry
// moved below opt/skill/, so the same folder gives the same image digest on any
// machine with the same base and toolchain. Build hashes the very bytes it puts
// in the layer, so the content digest it records (a config label) is the
// signed content digest of exactly what the image holds; ContentDigest
// re-derives it from an image alone. Push writes to an OCI
// layout directory (the embedded default) or to any registry by URL, and
// returns the manifest digest that goes into SkillVersion.ImageDigest and the
// signed statement's image_digest.
//
// It lives in shared/, not edge/, because the submission pipeline (functions/)
// builds and pushes while the edge may pull, and functions/ and edge/ meet
// only through shared/. The rules are in docs/oci.md.
package oci

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/openagents/trust/shared/digest"
	"github.com/openagents/trust/shared/trust"
)

// Prefix is the directory of the image that holds the skill, as a tar path.
const Prefix = "opt/skill/"

// CompressionLevel is the gzip level of the skill layer. The compressed bytes,
// and so the layer and image digests, depend on it (and on the Go version's
// compress/flate); the uncompressed layer (its diff_id) does not.
const CompressionLevel = gzip.BestCompression

// Labels set in the image config.
const (
	LabelTitle         = "org.opencontainers.image.title"
	LabelVersion       = "org.opencontainers.image.version"
	LabelBaseDigest    = "org.opencontainers.image.base.digest"
	LabelContentDigest = "org.openagents.skill.content-digest"
)

// Epoch is the created time of the image config and of its history entry.
var Epoch = time.Unix(0, 0).UTC()

// BuildOptions name the skill an image holds.
type BuildOptions struct {
	Name    string // skill name: the org.opencontainers.image.title label
	Version string // skill version: the org.opencontainers.image.version label

	// ContentDigest, if set, is the content digest the folder must still
	// have (the one scanned and to be signed); a different folder is refused
	// with ECONFLICT.
	ContentDigest string
}

// Build returns base plus one layer holding the files of skillDir below
// /opt/skill/, with a config whose created time is Epoch and whose labels carry
// the skill's name, version, content digest and the base's digest.
//
// EINVALID if the name or version is invalid or skillDir holds something
// digest.WriteTar refuses (a symlink leaving the folder, a device…); ECONFLICT
// if opts.ContentDigest is set and the folder's digest differs; other errors
// are I/O failures.
func Build(ctx context.Context, base v1.Image, skillDir string, opts BuildOptions) (v1.Image, error) {
	if err := trust.ValidateSkillRef(opts.Name, opts.Version); err != nil {
		return nil, err
	} else if err := ctx.Err(); err != nil {
		return nil, err
	}

	layerTar, contentDigest, err := LayerTar(skillDir)
	if err != nil {
		return nil, err
	} else if opts.ContentDigest != "" && opts.ContentDigest != contentDigest {
		return nil, trust.Errorf(trust.ECONFLICT, "skill folder has content digest %s, want %s: it changed since it was scanned", contentDigest, opts.ContentDigest)
	}

	baseDigest, err := base.Digest()
	if err != nil {
		return nil, fmt.Errorf("base digest: %w", err)
	}
	baseType, err := base.MediaType()
	if err != nil {
		return nil, fmt.Errorf("base media type: %w", err)
	}
	layerType := types.OCILayer
	if baseType == types.DockerManifestSchema2 {
		layerType = types.DockerLayer
	}

	layer, err := tarball.LayerFromOpener(
		func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(layerTar)), nil },
		tarball.WithCompressionLevel(CompressionLevel),
		tarball.WithMediaType(layerType),
	)
	if err != nil {
		return nil, fmt.Errorf("skill layer: %w", err)
	}
	img, err := mutate.Append(base, mutate.Addendum{
		Layer: plainLayer{layer},
		History: v1.History{
			Created:   v1.Time{Time: Epoch},
			CreatedBy: "openagents skill layer " + opts.Name + "@" + opts.Version,
			Comment:   contentDigest,
		},
	})
	if err != nil {
		return nil, fmt.Errorf("append skill layer: %w", err)
	}

	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	cfg = cfg.DeepCopy()
	cfg.Created = v1.Time{Time: Epoch}
	labels := map[string]string{}
	for k, v := range cfg.Config.Labels {
		labels[k] = v
	}
	labels[LabelTitle] = opts.Name
	labels[LabelVersion] = opts.Version
	labels[LabelBaseDigest] = baseDigest.String()
	labels[LabelContentDigest] = contentDigest
	cfg.Config.Labels = labels
	img, err = mutate.ConfigFile(img, cfg)
	if err != nil {
		return nil, fmt.Errorf("set config: %w", err)
	}
	return img, nil
}

// LayerTar returns the uncompressed tar of the skill layer of skillDir and the
// skill's content digest, computed over the very bytes the layer was made
// from: the tar of digest.WriteTar with the directories "opt/" and
// "opt/skill/" first, then each of its entries with Prefix before its name and
// the same type, mode, size, link target and content, a zero modification
// time, uid and gid 0. Errors are those of digest.WriteTar.
func LayerTar(skillDir string) ([]byte, string, error) {
	var src bytes.Buffer
	if err := digest.WriteTar(&src, skillDir); err != nil {
		return nil, "", err
	}
	sum := sha256.Sum256(src.Bytes())
	contentDigest := digest.Prefix + hex.EncodeToString(sum[:])

	var out bytes.Buffer
	tw := tar.NewWriter(&out)
	for _, d := range []string{"opt/", Prefix} {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d, Mode: 0o755, ModTime: time.Unix(0, 0), Format: tar.FormatPAX}); err != nil {
			return nil, "", fmt.Errorf("write layer: %w", err)
		}
	}
	tr := tar.NewReader(bytes.NewReader(src.Bytes()))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return nil, "", fmt.Errorf("read skill tar: %w", err)
		}
		hdr := &tar.Header{
			Typeflag: h.Typeflag,
			Name:     Prefix + h.Name,
			Linkname: h.Linkname,
			Size:     h.Size,
			Mode:     h.Mode,
			ModTime:  time.Unix(0, 0),
			Format:   tar.FormatPAX,
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, "", fmt.Errorf("write layer header %s: %w", hdr.Name, err)
		}
		if _, err := io.Copy(tw, tr); err != nil {
			return nil, "", fmt.Errorf("write layer %s: %w", hdr.Name, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, "", fmt.Errorf("write layer: %w", err)
	}
	return out.Bytes(), contentDigest, nil
}

// plainLayer hides the tarball layer's Descriptor method, whose empty
// annotations map would make the in-memory manifest differ from its JSON
// (validate.Image reports it; the digest is the same either way).
type plainLayer struct{ v1.Layer }
