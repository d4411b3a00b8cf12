package functions

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/openagents/trust/shared/signing"
	"github.com/openagents/trust/shared/trust"
)

// DevKeyID is the key ID of the local signing key the embedded default creates.
const DevKeyID = "local"

// EnsureDevKey makes the embedded default's local signing key exist at path
// (creating it, mode 0600, on first start) and be published in the edge's keyring
// as an active version, so it may sign. It is for `make run` only: production
// keys come from a KMS and are published by an operator.
func EnsureDevKey(ctx context.Context, c Config, now time.Time) error {
	path := c.SigningKey
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		priv, _, err := signing.GenerateKey(rand.Reader)
		if err != nil {
			return fmt.Errorf("generate dev key: %w", err)
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return err
		}
		if err := os.WriteFile(path, priv, 0o600); err != nil {
			return fmt.Errorf("write dev key: %w", err)
		}
	} else if err != nil {
		return err
	}
	signer, err := signing.LoadSigner(ctx, path)
	if err != nil {
		return fmt.Errorf("load dev key: %w", err)
	}
	edge := c.Edge()
	kr, err := edge.FindKeyring(ctx)
	if err != nil {
		return fmt.Errorf("fetch keyring: %w", err)
	}
	for _, k := range kr.Keys {
		if pub, err := signing.ParsePublicKey(k.PublicKey); err == nil && pub.Equal(signer.PublicKey()) {
			// Published once already. A key is never published again: if it
			// can no longer sign (revoked, retired, expired), a new key is needed.
			if _, err := signing.SigningKey(kr, signer.PublicKey(), now); err != nil {
				return fmt.Errorf("dev key %s is %s and cannot sign: delete %s to create a new one on the next start (%s)",
					k.Ref(), k.State, path, trust.ErrorMessage(err))
			}
			return nil
		}
	}
	pub, err := signing.EncodePublicKey(signer.PublicKey())
	if err != nil {
		return err
	}
	nb := now.UTC().Truncate(time.Second).Add(-time.Minute)
	_, err = edge.CreateKeyVersion(ctx, &trust.KeyVersion{
		KeyID: DevKeyID, Algorithm: trust.AlgorithmEd25519, PublicKey: pub,
		NotBefore: nb, NotAfter: nb.AddDate(1, 0, 0), State: trust.KeyActive,
	})
	if err != nil {
		return fmt.Errorf("publish dev key: %w", err)
	}
	return nil
}
