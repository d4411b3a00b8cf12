package signing

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/openagents/trust/shared/trust"
)

// PEM block types written and read by this package.
const (
	pemPrivateKey = "PRIVATE KEY" // PKCS#8
	pemPublicKey  = "PUBLIC KEY"  // PKIX
)

// maxKeyFileSize bounds what LoadSigner reads from a key file.
const maxKeyFileSize = 16 << 10

// GenerateKey returns a new Ed25519 key as PKCS#8 PEM (private) and PKIX PEM
// (public), reading randomness from rand (crypto/rand.Reader when nil).
func GenerateKey(rand io.Reader) (privatePEM, publicPEM []byte, err error) {
	pub, priv, err := ed25519.GenerateKey(rand)
	if err != nil {
		return nil, nil, fmt.Errorf("generate ed25519 key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, nil, fmt.Errorf("marshal private key: %w", err)
	}
	pubText, err := EncodePublicKey(pub)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: pemPrivateKey, Bytes: der}), []byte(pubText), nil
}

// EncodePublicKey returns pub as a PKIX PEM block. EINVALID if pub is not an
// Ed25519 public key.
func EncodePublicKey(pub ed25519.PublicKey) (string, error) {
	if len(pub) != ed25519.PublicKeySize {
		return "", trust.Errorf(trust.EINVALID, "not an Ed25519 public key")
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", fmt.Errorf("marshal public key: %w", err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: pemPublicKey, Bytes: der})), nil
}

// ParsePublicKey parses a PKIX PEM Ed25519 public key: exactly one "PUBLIC KEY"
// block without headers, and nothing but white space around it. EINVALID for
// anything else.
func ParsePublicKey(pemText string) (ed25519.PublicKey, error) {
	block, rest := decodeOnePEM([]byte(pemText))
	if block == nil || block.Type != pemPublicKey || len(block.Headers) != 0 {
		return nil, trust.Errorf(trust.EINVALID, "public key must be one PEM %q block", pemPublicKey)
	} else if len(bytes.TrimSpace(rest)) != 0 {
		return nil, trust.Errorf(trust.EINVALID, "unexpected data after the public key PEM block")
	}
	key, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return nil, trust.Errorf(trust.EINVALID, "public key is not valid PKIX")
	}
	pub, ok := key.(ed25519.PublicKey)
	if !ok {
		return nil, trust.Errorf(trust.EINVALID, "public key is not Ed25519")
	}
	return pub, nil
}

// decodeOnePEM decodes the PEM block that data starts with, after white space.
// Unlike pem.Decode it does not skip text before the block.
func decodeOnePEM(data []byte) (*pem.Block, []byte) {
	data = bytes.TrimLeft(data, " \t\r\n")
	if !bytes.HasPrefix(data, []byte("-----BEGIN ")) {
		return nil, data
	}
	return pem.Decode(data)
}

// ParsePrivateKey parses a PKCS#8 PEM Ed25519 private key (one unencrypted
// "PRIVATE KEY" block). EINVALID for anything else; the message never contains
// key material.
func ParsePrivateKey(pemText []byte) (ed25519.PrivateKey, error) {
	block, rest := decodeOnePEM(pemText)
	if block == nil || block.Type != pemPrivateKey || len(block.Headers) != 0 {
		return nil, trust.Errorf(trust.EINVALID, "private key must be one unencrypted PEM %q block (PKCS#8)", pemPrivateKey)
	} else if len(bytes.TrimSpace(rest)) != 0 {
		return nil, trust.Errorf(trust.EINVALID, "unexpected data after the private key PEM block")
	}
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, trust.Errorf(trust.EINVALID, "private key is not valid PKCS#8")
	}
	priv, ok := key.(ed25519.PrivateKey)
	if !ok {
		return nil, trust.Errorf(trust.EINVALID, "private key is not Ed25519")
	}
	return priv, nil
}

// ReadPrivateKeyFile reads and parses a PKCS#8 PEM Ed25519 private key file.
func ReadPrivateKeyFile(path string) (ed25519.PrivateKey, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open key file %s: %w", path, err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxKeyFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("read key file %s: %w", path, err)
	} else if len(data) > maxKeyFileSize {
		return nil, trust.Errorf(trust.EINVALID, "key file %s is larger than %d bytes", path, maxKeyFileSize)
	}
	priv, err := ParsePrivateKey(data)
	if err != nil {
		return nil, fmt.Errorf("key file %s: %w", path, err)
	}
	return priv, nil
}

// NewLocalSigner returns a Signer for an in-memory Ed25519 private key.
func NewLocalSigner(priv ed25519.PrivateKey) (Signer, error) {
	if len(priv) != ed25519.PrivateKeySize {
		return nil, trust.Errorf(trust.EINVALID, "not an Ed25519 private key")
	}
	return &localSigner{priv: priv, pub: priv.Public().(ed25519.PublicKey)}, nil
}

// localSigner signs with a private key held in memory.
type localSigner struct {
	priv ed25519.PrivateKey
	pub  ed25519.PublicKey
}

func (s *localSigner) PublicKey() ed25519.PublicKey { return s.pub }

func (s *localSigner) Sign(ctx context.Context, message []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return ed25519.Sign(s.priv, message), nil
}

// LoadSigner loads a signer from ref: a PEM file path or "file://path" (a PKCS#8
// Ed25519 private key), or a KMS URI "scheme://…" resolved through sigstore's
// kms.Get. The KMS provider must be registered in the process: import
// shared/signing/localkms for "localkms://" and shared/signing/hashivault for
// "hashivault://"; any other scheme is EINVALID (sigstore's fallback of running a
// "sigstore-kms-<scheme>" program from PATH is never used). EINVALID for an empty
// ref or a key that is not Ed25519. The signer's public key is read once, here.
func LoadSigner(ctx context.Context, ref string) (Signer, error) {
	if ref == "" {
		return nil, trust.Errorf(trust.EINVALID, "key reference required")
	} else if strings.ContainsAny(ref, "\n\r") || strings.Contains(ref, "-----BEGIN") {
		// Never echo what may be key material pasted where a path belongs.
		return nil, trust.Errorf(trust.EINVALID, "key reference must be a file path or a KMS URI, not a key")
	}
	if path, ok := strings.CutPrefix(ref, "file://"); ok {
		return loadFileSigner(path)
	}
	if strings.Contains(ref, "://") {
		return loadKMSSigner(ctx, ref)
	}
	return loadFileSigner(ref)
}

func loadFileSigner(path string) (Signer, error) {
	if path == "" {
		return nil, trust.Errorf(trust.EINVALID, "key file path required")
	}
	priv, err := ReadPrivateKeyFile(path)
	if err != nil {
		return nil, err
	}
	return NewLocalSigner(priv)
}
