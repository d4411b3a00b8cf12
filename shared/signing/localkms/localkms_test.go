package localkms_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/sha256"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/openagents/trust/shared/signing"
	"github.com/openagents/trust/shared/signing/localkms"
	"github.com/openagents/trust/shared/signing/signingtest"
	"github.com/openagents/trust/shared/trust"
	"github.com/sigstore/sigstore/pkg/signature/kms"
	"github.com/sigstore/sigstore/pkg/signature/options"
)

func vectorURI() string { return localkms.ReferenceScheme + signingtest.VectorPath("test-key.pem") }

// TestConformance signs the vector through sigstore's kms.Get.
func TestConformance(t *testing.T) {
	s, err := signing.LoadSigner(context.Background(), vectorURI())
	if err != nil {
		t.Fatal(err)
	}
	signingtest.TestSigner(t, s)
}

func TestKMSGet(t *testing.T) {
	ctx := context.Background()
	sv, err := kms.Get(ctx, vectorURI(), signing.KMSHash)
	if err != nil {
		t.Fatal(err)
	}
	msg := []byte("hello")

	t.Run("SignVerify", func(t *testing.T) {
		sig, err := sv.SignMessage(bytes.NewReader(msg), options.WithContext(ctx))
		if err != nil {
			t.Fatal(err)
		}
		if err := sv.VerifySignature(bytes.NewReader(sig), bytes.NewReader(msg)); err != nil {
			t.Fatal(err)
		}
		if err := sv.VerifySignature(bytes.NewReader(sig), bytes.NewReader([]byte("hellO"))); err == nil {
			t.Fatal("verified a signature over another message")
		}
		pub, err := sv.PublicKey()
		if err != nil {
			t.Fatal(err)
		} else if !ed25519.Verify(pub.(ed25519.PublicKey), msg, sig) {
			t.Fatal("signature does not verify with the public key")
		}
	})
	t.Run("ErrDigestOption", func(t *testing.T) {
		d := sha256.Sum256(msg)
		if _, err := sv.SignMessage(bytes.NewReader(msg), options.WithDigest(d[:])); trust.ErrorCode(err) != trust.EINVALID {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("ErrCanceled", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := sv.SignMessage(bytes.NewReader(msg), options.WithContext(cctx)); err == nil {
			t.Fatal("signed with a canceled context")
		}
	})
	t.Run("CryptoSigner", func(t *testing.T) {
		cs, opts, err := sv.CryptoSigner(ctx, nil)
		if err != nil {
			t.Fatal(err)
		} else if opts.HashFunc() != crypto.Hash(0) {
			t.Fatalf("opts %v, want crypto.Hash(0)", opts.HashFunc())
		}
		sig, err := cs.Sign(nil, msg, opts)
		if err != nil {
			t.Fatal(err)
		} else if !ed25519.Verify(cs.Public().(ed25519.PublicKey), msg, sig) {
			t.Fatal("crypto.Signer signature does not verify")
		}
		if _, ok := cs.(ed25519.PrivateKey); ok {
			t.Fatal("CryptoSigner hands out the private key itself")
		}
	})
	t.Run("Algorithms", func(t *testing.T) {
		if got := sv.SupportedAlgorithms(); len(got) != 1 || got[0] != "ed25519" || sv.DefaultAlgorithm() != "ed25519" {
			t.Fatalf("got %v / %s", got, sv.DefaultAlgorithm())
		}
	})
}

func TestLoadSignerVerifier_Errors(t *testing.T) {
	ctx := context.Background()
	abs := signingtest.VectorPath("test-key.pem")
	for _, tt := range []struct {
		name string
		uri  string
		hash crypto.Hash
	}{
		{"ErrRelativePath", "localkms://testdata/key.pem", 0},
		{"ErrEmptyPath", "localkms://", 0},
		{"ErrQuery", "localkms://" + abs + "?version=2", 0},
		{"ErrOtherScheme", "file://" + abs, 0},
		{"ErrPrehash", "localkms://" + abs, crypto.SHA256},
		{"ErrNotAKey", "localkms://" + signingtest.VectorPath("keyring.json"), 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := localkms.LoadSignerVerifier(ctx, tt.uri, tt.hash); trust.ErrorCode(err) != trust.EINVALID {
				t.Fatalf("code %q (%v), want %q", trust.ErrorCode(err), err, trust.EINVALID)
			}
		})
	}
}

func TestCreateKey(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "new.pem")
	uri := localkms.ReferenceScheme + path

	sv, err := kms.Get(ctx, uri, signing.KMSHash)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sv.PublicKey(); err == nil {
		t.Fatal("public key of a key that does not exist yet")
	}
	if _, err := signing.LoadSigner(ctx, uri); err == nil {
		t.Fatal("LoadSigner succeeded without a key")
	}
	if _, err := sv.CreateKey(ctx, "ecdsa-p256"); trust.ErrorCode(err) != trust.EINVALID {
		t.Fatalf("other algorithm: got %v", err)
	}

	pub, err := sv.CreateKey(ctx, localkms.AlgorithmEd25519)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	} else if fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v, want 0600", fi.Mode().Perm())
	}
	before, _ := os.ReadFile(path)

	// Creating again keeps the existing key.
	again, err := sv.CreateKey(ctx, localkms.AlgorithmEd25519)
	if err != nil {
		t.Fatal(err)
	} else if !again.(ed25519.PublicKey).Equal(pub) {
		t.Fatal("CreateKey replaced an existing key")
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Fatal("CreateKey rewrote an existing key file")
	}

	s, err := signing.LoadSigner(ctx, uri)
	if err != nil {
		t.Fatal(err)
	} else if !s.PublicKey().Equal(pub) {
		t.Fatal("LoadSigner found another key")
	}
	if strings.Contains(string(before), "PUBLIC") {
		t.Fatal("key file is not a private key")
	}
}
