package signing

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ed25519"
	"fmt"
	"strings"

	"github.com/openagents/trust/shared/trust"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/sigstore/sigstore/pkg/signature/kms"
	"github.com/sigstore/sigstore/pkg/signature/options"
)

// KMSHash is the hash passed to kms.Get. Pure Ed25519 hashes the message itself,
// so sigstore's Ed25519 signers take crypto.Hash(0): no prehash, no digest option.
const KMSHash = crypto.Hash(0)

// loadKMSSigner resolves uri through sigstore's kms.Get and reads its public key
// once: that key is the one Sign checks every signature against, and the one
// SigningKey checks against the keyring.
//
// Only providers registered in this process are used. For any other scheme
// kms.Get would run a plugin program named "sigstore-kms-<scheme>" found on
// PATH; a signing service must not execute whatever a key reference names.
func loadKMSSigner(ctx context.Context, uri string) (Signer, error) {
	if !registeredProvider(uri) {
		scheme, _, _ := strings.Cut(uri, "://")
		return nil, trust.Errorf(trust.EINVALID, "no KMS provider registered for %q (import shared/signing/localkms or shared/signing/hashivault)", truncate(scheme)+"://")
	}
	sv, err := kms.Get(ctx, uri, KMSHash)
	if err != nil {
		return nil, fmt.Errorf("load kms key %s: %w", redactURI(uri), err)
	}
	s, err := NewKMSSigner(ctx, sv)
	if err != nil {
		return nil, fmt.Errorf("load kms key %s: %w", redactURI(uri), err)
	}
	return s, nil
}

// registeredProvider reports whether a KMS provider added with kms.AddProvider
// answers uri.
func registeredProvider(uri string) bool {
	for _, prefix := range kms.SupportedProviders() {
		if strings.HasPrefix(uri, prefix) {
			return true
		}
	}
	return false
}

// NewKMSSigner adapts a sigstore signer (a kms.SignerVerifier or any
// signature.Signer) to Signer. EINVALID if its public key is not Ed25519.
func NewKMSSigner(ctx context.Context, sv signature.Signer) (Signer, error) {
	key, err := withContext(ctx, func() (crypto.PublicKey, error) {
		return sv.PublicKey(options.WithContext(ctx))
	})
	if err != nil {
		return nil, fmt.Errorf("read kms public key: %w", err)
	}
	pub, ok := key.(ed25519.PublicKey)
	if !ok || len(pub) != ed25519.PublicKeySize {
		return nil, trust.Errorf(trust.EINVALID, "kms key is not Ed25519 (got %T)", key)
	}
	return &kmsSigner{sv: sv, pub: pub}, nil
}

// kmsSigner signs through a sigstore signature.Signer.
type kmsSigner struct {
	sv  signature.Signer
	pub ed25519.PublicKey
}

func (s *kmsSigner) PublicKey() ed25519.PublicKey { return s.pub }

func (s *kmsSigner) Sign(ctx context.Context, message []byte) ([]byte, error) {
	sig, err := withContext(ctx, func() ([]byte, error) {
		return s.sv.SignMessage(bytes.NewReader(message), options.WithContext(ctx))
	})
	if err != nil {
		return nil, fmt.Errorf("kms sign: %w", err)
	}
	return sig, nil
}

// withContext runs a KMS call and returns when it does or when ctx is done,
// whichever comes first. Some providers ignore the context they are given
// (sigstore's Vault provider makes its HTTP requests without it, and with no
// request timeout), so a hung KMS would otherwise hang the caller forever. An
// abandoned call finishes in the background; its result is dropped.
func withContext[T any](ctx context.Context, call func() (T, error)) (T, error) {
	var zero T
	if err := ctx.Err(); err != nil {
		return zero, err
	}
	type result struct {
		v   T
		err error
	}
	done := make(chan result, 1)
	go func() {
		v, err := call()
		done <- result{v, err}
	}()
	select {
	case r := <-done:
		return r.v, r.err
	case <-ctx.Done():
		return zero, ctx.Err()
	}
}

// redactURI drops any query string, fragment and user info from a KMS URI
// before it goes in an error message: some providers accept tokens there.
func redactURI(uri string) string {
	if i := strings.IndexAny(uri, "?#"); i >= 0 {
		uri = uri[:i]
	}
	scheme, rest, ok := strings.Cut(uri, "://")
	if !ok {
		return uri
	}
	authority, path, hasPath := strings.Cut(rest, "/")
	if j := strings.LastIndexByte(authority, '@'); j >= 0 {
		authority = "REDACTED@" + authority[j+1:]
	}
	if hasPath {
		return scheme + "://" + authority + "/" + path
	}
	return scheme + "://" + authority
}
