package main

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/openagents/trust/functions"
	"github.com/openagents/trust/shared/trust"
)

// The embedded default's development publisher: created on first start,
// marked KYC-verified by a synthetic event (there is no Stripe locally), its
// token kept in the data directory for `trustctl submit`.
const (
	devPublisher     = "dev"
	devStripeAccount = "acct_devlocal"
	devKYCEvent      = "evt_dev_local_verified"
	devTokenFile     = "publisher-token"
	devBaseDir       = "oci-base"
)

// ensureDevBase makes a tiny OCI base image (one layer with etc/os-release)
// exist in an OCI layout under dataDir and returns the layout and its digest.
// Production bases are pulled and pinned by an operator; this one only lets
// `make run` build images without a network.
func ensureDevBase(dataDir string) (string, string, error) {
	dir := filepath.Join(dataDir, devBaseDir)
	if idx, err := layout.ImageIndexFromPath(dir); err == nil {
		m, err := idx.IndexManifest()
		if err != nil || len(m.Manifests) == 0 {
			return "", "", fmt.Errorf("dev base %s is damaged: delete it to recreate it", dir)
		}
		return dir, m.Manifests[0].Digest.String(), nil
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	body := []byte("ID=openagents-dev-base\nNAME=\"OpenAgents local development base\"\n")
	for _, h := range []*tar.Header{
		{Typeflag: tar.TypeDir, Name: "etc/", Mode: 0o755, ModTime: time.Unix(0, 0)},
		{Typeflag: tar.TypeReg, Name: "etc/os-release", Mode: 0o644, Size: int64(len(body)), ModTime: time.Unix(0, 0)},
	} {
		if err := tw.WriteHeader(h); err != nil {
			return "", "", err
		}
	}
	tw.Write(body)
	if err := tw.Close(); err != nil {
		return "", "", err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(buf.Bytes())), nil },
		tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return "", "", err
	}
	base := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	img, err := mutate.Append(base, mutate.Addendum{Layer: layer, History: v1.History{CreatedBy: "openagents dev base"}})
	if err != nil {
		return "", "", err
	}
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		return "", "", fmt.Errorf("write dev base: %w", err)
	}
	if err := p.AppendImage(img); err != nil {
		return "", "", fmt.Errorf("write dev base: %w", err)
	}
	d, err := img.Digest()
	if err != nil {
		return "", "", err
	}
	return dir, d.String(), nil
}

// ensureDevPublisher makes the development publisher exist, KYC-verified, with
// a token in dataDir/publisher-token (mode 0600).
func ensureDevPublisher(ctx context.Context, c functions.Config, now time.Time) error {
	path := filepath.Join(c.DataDir, devTokenFile)
	if b, err := os.ReadFile(path); err == nil && strings.TrimSpace(string(b)) != "" {
		return nil
	}
	edge := c.Edge()
	var token string
	creds, err := edge.CreatePublisher(ctx, &trust.Publisher{ID: devPublisher, Name: "Local developer", StripeAccount: devStripeAccount})
	switch {
	case err == nil:
		token = creds.Token
	case trust.ErrorCode(err) == trust.ECONFLICT:
		// Created on an earlier start whose token file is gone: a new token.
		if token, err = edge.CreatePublisherToken(ctx, devPublisher); err != nil {
			return fmt.Errorf("dev publisher token: %w", err)
		}
	default:
		return fmt.Errorf("create dev publisher: %w", err)
	}
	_, err = edge.UpdatePublisherKYC(ctx, trust.KYCUpdate{EventID: devKYCEvent, StripeAccount: devStripeAccount,
		State: trust.KYCVerified, EventTime: now.UTC()})
	if err != nil && trust.ErrorCode(err) != trust.ECONFLICT {
		return fmt.Errorf("verify dev publisher: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("write dev publisher token: %w", err)
	}
	_, err = io.WriteString(f, token+"\n")
	return errors.Join(err, f.Close())
}
