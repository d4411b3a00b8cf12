package signing_test

import (
	"context"
	"testing"

	"github.com/openagents/trust/shared/signing"
	_ "github.com/openagents/trust/shared/signing/localkms"
	"github.com/openagents/trust/shared/signing/signingtest"
	"github.com/sigstore/sigstore/pkg/signature"
)

// TestConformance runs the one conformance test against every way this package
// gets a signer for test-key.pem: the same vector must come out of each.
func TestConformance(t *testing.T) {
	abs := signingtest.VectorPath("test-key.pem")
	for _, ref := range []string{
		abs,                         // PEM file (the default)
		"file://" + abs,             // PEM file, explicit
		vectorDir + "/test-key.pem", // relative path
		"localkms://" + abs,         // sigstore kms.Get → localkms provider
	} {
		t.Run(ref, func(t *testing.T) {
			signingtest.TestSigner(t, MustSigner(t, ref))
		})
	}

	t.Run("NewLocalSigner", func(t *testing.T) {
		s, err := signing.NewLocalSigner(MustPrivateKey(t, "test-key.pem"))
		if err != nil {
			t.Fatal(err)
		}
		signingtest.TestSigner(t, s)
	})

	t.Run("NewKMSSigner/sigstoreED25519", func(t *testing.T) {
		sv, err := signature.LoadED25519SignerVerifier(MustPrivateKey(t, "test-key.pem"))
		if err != nil {
			t.Fatal(err)
		}
		s, err := signing.NewKMSSigner(context.Background(), sv)
		if err != nil {
			t.Fatal(err)
		}
		signingtest.TestSigner(t, s)
	})
}
