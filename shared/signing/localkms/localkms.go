// Package localkms is a sigstore KMS provider for Ed25519 keys kept in local PEM
// files, under the scheme "localkms://" followed by an absolute path
// ("localkms:///etc/openagents/signing.pem").
//
// It exists so that the KMS path of signing.LoadSigner (sigstore's kms.Get, a
// provider, a kms.SignerVerifier) runs for real where no cloud KMS can be
// reached: in tests, on a developer's machine, in the embedded single-node
// setup. Importing the package registers the provider:
//
//	import _ "github.com/openagents/trust/shared/signing/localkms"
//
// The key file holds one unencrypted PKCS#8 "PRIVATE KEY" PEM block. CreateKey
// writes a new one (mode 0600) when the file does not exist yet.
package localkms

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/openagents/trust/shared/signing"
	"github.com/openagents/trust/shared/trust"
	sigstore "github.com/sigstore/sigstore/pkg/signature"
	"github.com/sigstore/sigstore/pkg/signature/kms"
)

// ReferenceScheme is the URI scheme this provider answers to.
const ReferenceScheme = "localkms://"

// AlgorithmEd25519 is the only algorithm the provider supports, named as
// sigstore's providers name it.
const AlgorithmEd25519 = "ed25519"

func init() {
	kms.AddProvider(ReferenceScheme, func(ctx context.Context, uri string, hashFunc crypto.Hash, _ ...sigstore.RPCOption) (kms.SignerVerifier, error) {
		return LoadSignerVerifier(ctx, uri, hashFunc)
	})
}

// SignerVerifier is a kms.SignerVerifier over one Ed25519 key file. The key is
// read on first use and kept in memory; it is safe for concurrent use.
type SignerVerifier struct {
	path string

	mu   sync.Mutex
	priv ed25519.PrivateKey
}

var _ kms.SignerVerifier = (*SignerVerifier)(nil)

// LoadSignerVerifier returns the SignerVerifier for uri ("localkms:///abs/path").
// hashFunc must be crypto.Hash(0): Ed25519 signs the message itself, with no
// prehash. EINVALID for another scheme, a relative or empty path, or a hash.
// The file is read now if it exists; if it does not, CreateKey can create it.
func LoadSignerVerifier(_ context.Context, uri string, hashFunc crypto.Hash) (*SignerVerifier, error) {
	path, ok := strings.CutPrefix(uri, ReferenceScheme)
	if !ok {
		return nil, trust.Errorf(trust.EINVALID, "localkms: URI must start with %q", ReferenceScheme)
	} else if path == "" || !filepath.IsAbs(path) || strings.ContainsAny(path, "?#") {
		return nil, trust.Errorf(trust.EINVALID, "localkms: URI must be %s followed by an absolute file path", ReferenceScheme)
	} else if hashFunc != crypto.Hash(0) {
		return nil, trust.Errorf(trust.EINVALID, "localkms: Ed25519 takes no prehash: use crypto.Hash(0), not %v", hashFunc)
	}
	sv := &SignerVerifier{path: filepath.Clean(path)}
	if _, err := sv.key(); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	return sv, nil
}

// key returns the private key, reading the file the first time.
func (sv *SignerVerifier) key() (ed25519.PrivateKey, error) {
	sv.mu.Lock()
	defer sv.mu.Unlock()
	if sv.priv != nil {
		return sv.priv, nil
	}
	priv, err := signing.ReadPrivateKeyFile(sv.path)
	if err != nil {
		return nil, fmt.Errorf("localkms: %w", err)
	}
	sv.priv = priv
	return priv, nil
}

// PublicKey returns the Ed25519 public key. Options are ignored.
func (sv *SignerVerifier) PublicKey(_ ...sigstore.PublicKeyOption) (crypto.PublicKey, error) {
	priv, err := sv.key()
	if err != nil {
		return nil, err
	}
	return priv.Public(), nil
}

// SignMessage returns the Ed25519 signature of the whole message. A digest
// option is refused: pure Ed25519 cannot sign a digest computed elsewhere.
func (sv *SignerVerifier) SignMessage(message io.Reader, opts ...sigstore.SignOption) ([]byte, error) {
	var digest []byte
	ctx := context.Background()
	for _, opt := range opts {
		opt.ApplyDigest(&digest)
		opt.ApplyContext(&ctx)
	}
	if digest != nil {
		return nil, trust.Errorf(trust.EINVALID, "localkms: Ed25519 signs the message, not a digest")
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	priv, err := sv.key()
	if err != nil {
		return nil, err
	}
	msg, err := io.ReadAll(message)
	if err != nil {
		return nil, fmt.Errorf("localkms: read message: %w", err)
	}
	return ed25519.Sign(priv, msg), nil
}

// VerifySignature checks an Ed25519 signature of the whole message.
func (sv *SignerVerifier) VerifySignature(signature, message io.Reader, opts ...sigstore.VerifyOption) error {
	var digest []byte
	for _, opt := range opts {
		opt.ApplyDigest(&digest)
	}
	if digest != nil {
		return trust.Errorf(trust.EINVALID, "localkms: Ed25519 verifies the message, not a digest")
	}
	priv, err := sv.key()
	if err != nil {
		return err
	}
	sig, err := io.ReadAll(io.LimitReader(signature, ed25519.SignatureSize+1))
	if err != nil {
		return fmt.Errorf("localkms: read signature: %w", err)
	}
	msg, err := io.ReadAll(message)
	if err != nil {
		return fmt.Errorf("localkms: read message: %w", err)
	}
	if !ed25519.Verify(priv.Public().(ed25519.PublicKey), msg, sig) {
		return errors.New("localkms: invalid signature")
	}
	return nil
}

// CreateKey creates the key file with a new Ed25519 key if it does not exist,
// and returns its public key either way. EINVALID for an algorithm other than
// AlgorithmEd25519.
func (sv *SignerVerifier) CreateKey(ctx context.Context, algorithm string) (crypto.PublicKey, error) {
	if algorithm != AlgorithmEd25519 {
		return nil, trust.Errorf(trust.EINVALID, "localkms: unsupported algorithm %q (only %q)", algorithm, AlgorithmEd25519)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	privPEM, _, err := signing.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	f, err := os.OpenFile(sv.path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return sv.PublicKey()
	} else if err != nil {
		return nil, fmt.Errorf("localkms: create key file: %w", err)
	}
	if _, err := io.Copy(f, bytes.NewReader(privPEM)); err != nil {
		f.Close()
		return nil, fmt.Errorf("localkms: write key file: %w", err)
	} else if err := f.Close(); err != nil {
		return nil, fmt.Errorf("localkms: write key file: %w", err)
	}
	return sv.PublicKey()
}

// CryptoSigner returns a crypto.Signer for the key, for callers that need the
// standard library interface; its opts are crypto.Hash(0). errFunc is unused:
// a local key has no asynchronous failures to report.
func (sv *SignerVerifier) CryptoSigner(_ context.Context, _ func(error)) (crypto.Signer, crypto.SignerOpts, error) {
	priv, err := sv.key()
	if err != nil {
		return nil, nil, err
	}
	return cryptoSigner{priv: priv}, crypto.Hash(0), nil
}

// cryptoSigner exposes Public and Sign without handing out the key itself.
type cryptoSigner struct{ priv ed25519.PrivateKey }

func (c cryptoSigner) Public() crypto.PublicKey { return c.priv.Public() }

func (c cryptoSigner) Sign(r io.Reader, message []byte, opts crypto.SignerOpts) ([]byte, error) {
	return c.priv.Sign(r, message, opts)
}

// SupportedAlgorithms returns the algorithms CreateKey accepts.
func (sv *SignerVerifier) SupportedAlgorithms() []string { return []string{AlgorithmEd25519} }

// DefaultAlgorithm returns AlgorithmEd25519.
func (sv *SignerVerifier) DefaultAlgorithm() string { return AlgorithmEd25519 }
