package signing_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/openagents/trust/shared/signing"
	"github.com/openagents/trust/shared/trust"
	"github.com/secure-systems-lab/go-securesystemslib/dsse"
)

// vectorDir holds the fixed signing test vectors.
const vectorDir = "../../testdata/signing"

// Now is a time inside both test key windows.
var Now = time.Date(2026, 6, 15, 0, 0, 0, 0, time.UTC)

// MustReadVector returns the bytes of a file in testdata/signing.
func MustReadVector(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join(vectorDir, name))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// VectorPath returns the absolute path of a file in testdata/signing.
func VectorPath(tb testing.TB, name string) string {
	tb.Helper()
	p, err := filepath.Abs(filepath.Join(vectorDir, name))
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

// MustKeyring returns a fresh copy of keyring.json.
func MustKeyring(tb testing.TB) *trust.Keyring {
	tb.Helper()
	var kr trust.Keyring
	if err := json.Unmarshal(MustReadVector(tb, "keyring.json"), &kr); err != nil {
		tb.Fatal(err)
	}
	return &kr
}

// MustStatement returns a fresh copy of statement.json.
func MustStatement(tb testing.TB) *trust.Statement {
	tb.Helper()
	var st trust.Statement
	if err := json.Unmarshal(MustReadVector(tb, "statement.json"), &st); err != nil {
		tb.Fatal(err)
	}
	return &st
}

// MustPrivateKey reads a test private key (test-key.pem or test-key-2.pem).
func MustPrivateKey(tb testing.TB, name string) ed25519.PrivateKey {
	tb.Helper()
	priv, err := signing.ReadPrivateKeyFile(filepath.Join(vectorDir, name))
	if err != nil {
		tb.Fatal(err)
	}
	return priv
}

// MustSigner loads a signer through LoadSigner.
func MustSigner(tb testing.TB, ref string) signing.Signer {
	tb.Helper()
	s, err := signing.LoadSigner(context.Background(), ref)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// MustSign signs st with the private key in the named vector file.
func MustSign(tb testing.TB, keyFile string, st *trust.Statement) []byte {
	tb.Helper()
	s, err := signing.NewLocalSigner(MustPrivateKey(tb, keyFile))
	if err != nil {
		tb.Fatal(err)
	}
	env, err := signing.Sign(context.Background(), s, st)
	if err != nil {
		tb.Fatal(err)
	}
	return env
}

// RawEnvelope builds an envelope around any payload, signing PAE(payloadType,
// payload) with priv: it makes validly signed envelopes whose content Sign
// would refuse to produce.
func RawEnvelope(tb testing.TB, priv ed25519.PrivateKey, payloadType string, payload []byte, keyID string) []byte {
	tb.Helper()
	env := dsse.Envelope{
		PayloadType: payloadType,
		Payload:     base64.StdEncoding.EncodeToString(payload),
		Signatures: []dsse.Signature{{
			KeyID: keyID,
			Sig:   base64.StdEncoding.EncodeToString(ed25519.Sign(priv, dsse.PAE(payloadType, payload))),
		}},
	}
	b, err := json.Marshal(&env)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// MustDecodeEnvelope decodes envelope JSON without any of Verify's checks.
func MustDecodeEnvelope(tb testing.TB, b []byte) *dsse.Envelope {
	tb.Helper()
	var env dsse.Envelope
	if err := json.Unmarshal(b, &env); err != nil {
		tb.Fatal(err)
	}
	return &env
}

// MustEncodeEnvelope encodes env as JSON.
func MustEncodeEnvelope(tb testing.TB, env *dsse.Envelope) []byte {
	tb.Helper()
	b, err := json.Marshal(env)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// ReasonOf returns the reason of a *trust.VerifyError, or "" with a test error
// for any other error.
func ReasonOf(tb testing.TB, err error) string {
	tb.Helper()
	var ve *trust.VerifyError
	if err == nil {
		return ""
	} else if !errors.As(err, &ve) {
		tb.Errorf("error %v (%T) is not a *trust.VerifyError", err, err)
		return ""
	}
	return ve.Reason
}

// MustECDSAPublicKeyPEM returns a PKIX PEM public key that is not Ed25519.
func MustECDSAPublicKeyPEM(tb testing.TB) string {
	tb.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		tb.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}
