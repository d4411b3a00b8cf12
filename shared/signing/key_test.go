package signing_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/openagents/trust/shared/signing"
	"github.com/openagents/trust/shared/trust"
)

func TestGenerateKey(t *testing.T) {
	privPEM, pubPEM, err := signing.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	priv, err := signing.ParsePrivateKey(privPEM)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := signing.ParsePublicKey(string(pubPEM))
	if err != nil {
		t.Fatal(err)
	} else if !pub.Equal(priv.Public()) {
		t.Fatal("public key does not match the private key")
	}
	if !bytes.HasPrefix(privPEM, []byte("-----BEGIN PRIVATE KEY-----\n")) || !bytes.HasPrefix(pubPEM, []byte("-----BEGIN PUBLIC KEY-----\n")) {
		t.Fatalf("PEM types:\n%s\n%s", privPEM, pubPEM)
	}
}

func TestEncodePublicKey(t *testing.T) {
	t.Run("OKVector", func(t *testing.T) {
		want := string(MustReadVector(t, "test-key.pub.pem"))
		got, err := signing.EncodePublicKey(MustPrivateKey(t, "test-key.pem").Public().(ed25519.PublicKey))
		if err != nil {
			t.Fatal(err)
		} else if got != want {
			t.Fatalf("got %q, want %q", got, want)
		}
	})
	t.Run("ErrShort", func(t *testing.T) {
		if _, err := signing.EncodePublicKey(ed25519.PublicKey{1, 2, 3}); trust.ErrorCode(err) != trust.EINVALID {
			t.Fatalf("got %v", err)
		}
	})
}

func TestParsePublicKey(t *testing.T) {
	vector := string(MustReadVector(t, "test-key.pub.pem"))
	t.Run("OK", func(t *testing.T) {
		if _, err := signing.ParsePublicKey(vector); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("OKSurroundingSpace", func(t *testing.T) {
		if _, err := signing.ParsePublicKey("\n \t\r\n" + vector + "\n\n"); err != nil {
			t.Fatal(err)
		}
	})
	block, _ := pem.Decode([]byte(vector))
	for _, tt := range []struct{ name, text string }{
		{"ErrEmpty", ""},
		{"ErrNotPEM", "ed25519 AAAA"},
		{"ErrPrivateKey", string(MustReadVector(t, "test-key.pem"))},
		{"ErrECDSA", MustECDSAPublicKeyPEM(t)},
		{"ErrTwoBlocks", vector + vector},
		{"ErrTrailingText", vector + "x"},
		{"ErrLeadingText", "comment\n" + vector},
		{"ErrWrongType", string(pem.EncodeToMemory(&pem.Block{Type: "ED25519 PUBLIC KEY", Bytes: block.Bytes}))},
		{"ErrHeaders", string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Headers: map[string]string{"Proc-Type": "4,ENCRYPTED"}, Bytes: block.Bytes}))},
		{"ErrTruncatedDER", string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: block.Bytes[:20]}))},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := signing.ParsePublicKey(tt.text); trust.ErrorCode(err) != trust.EINVALID {
				t.Fatalf("code %q (%v), want %q", trust.ErrorCode(err), err, trust.EINVALID)
			}
		})
	}
}

func TestLoadSigner_Errors(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	ek, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(ek)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, ref, code string
	}{
		{"ErrEmpty", "", trust.EINVALID},
		{"ErrEmptyFileURI", "file://", trust.EINVALID},
		{"ErrMissingFile", filepath.Join(dir, "nope.pem"), trust.EINTERNAL},
		{"ErrPublicKeyFile", VectorPath(t, "test-key.pub.pem"), trust.EINVALID},
		{"ErrECDSAKey", write("ec.pem", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})), trust.EINVALID},
		{"ErrTooLarge", write("big.pem", bytes.Repeat([]byte("A"), 1<<20)), trust.EINVALID},
		{"ErrGarbage", write("garbage.pem", []byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")), trust.EINVALID},
		{"ErrUnregisteredScheme", "awskms:///alias/signing", trust.EINVALID},
		{"ErrLocalKMSRelative", "localkms://testdata/key.pem", trust.EINVALID},
		{"ErrLocalKMSMissing", "localkms://" + filepath.Join(dir, "nope.pem"), trust.EINTERNAL},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s, err := signing.LoadSigner(context.Background(), tt.ref)
			if s != nil || err == nil {
				t.Fatalf("got signer %v, err %v", s, err)
			} else if code := trust.ErrorCode(err); code != tt.code {
				t.Fatalf("code %q (%v), want %q", code, err, tt.code)
			}
		})
	}

	t.Run("ErrMessageHasNoKeyMaterial", func(t *testing.T) {
		// A private key PEM passed where a path belongs must not echo back.
		key := string(MustReadVector(t, "test-key.pem"))
		_, err := signing.LoadSigner(context.Background(), key)
		if err == nil {
			t.Fatal("loaded a signer from PEM text")
		}
		body := strings.Split(key, "\n")[1]
		if strings.Contains(err.Error(), body) {
			t.Fatalf("error contains key material: %v", err)
		}
	})
	t.Run("ErrURIIsRedacted", func(t *testing.T) {
		_, err := signing.LoadSigner(context.Background(), "localkms://user:CANARY-PW@/x.pem?token=CANARY-TOKEN")
		if err == nil || strings.Contains(err.Error(), "CANARY") {
			t.Fatalf("got %v", err)
		}
	})
}
