package signing_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/gowebpki/jcs"
	"github.com/openagents/trust/shared/signing"
	"github.com/openagents/trust/shared/trust"
)

func TestSign_Vector(t *testing.T) {
	s := MustSigner(t, VectorPath(t, "test-key.pem"))
	got, err := signing.Sign(context.Background(), s, MustStatement(t))
	if err != nil {
		t.Fatal(err)
	}
	if want := MustReadVector(t, "envelope.json"); !bytes.Equal(got, want) {
		t.Fatalf("envelope:\ngot  %s\nwant %s", got, want)
	}
}

func TestSign_IssuedAt(t *testing.T) {
	s := MustSigner(t, VectorPath(t, "test-key.pem"))
	st := MustStatement(t)
	orig := *st
	// The same instant in another zone, with nanoseconds: Sign truncates to the
	// second in UTC, so the vector comes out.
	st.IssuedAt = st.IssuedAt.In(time.FixedZone("CET", 3600)).Add(999 * time.Millisecond)
	withZone := *st
	got, err := signing.Sign(context.Background(), s, st)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, MustReadVector(t, "envelope.json")) {
		t.Fatalf("envelope differs from the vector: %s", got)
	}
	if *st != withZone || orig.IssuedAt.Equal(st.IssuedAt) {
		t.Fatal("Sign modified the caller's statement")
	}
}

func TestSign_PayloadIsRFC8785(t *testing.T) {
	payload := vectorPayload(t)
	again, err := jcs.Transform(payload)
	if err != nil {
		t.Fatal(err)
	} else if !bytes.Equal(again, payload) {
		t.Fatalf("payload is not a fixed point of RFC 8785:\ngot  %s\nwant %s", again, payload)
	}
	want := `{"_type":"https://openagents.dev/trust/skill-statement/v1","content_digest":"sha256:729511d10d5e49f5c2023a3fedfa8eaa78f0cbf755afb6c4721d28129e98abb1",` +
		`"image_digest":"sha256:4a55dd9b6400ae47aca3c1c33f46d22247d1342830ae9b4be85e4c61c192d0c3","issued_at":"2026-03-01T12:00:00Z","key_id":"test","key_version":1,` +
		`"permissions_digest":"sha256:48de961f25b1367b06088b31c25de10abdcd64905ab3538803a8c23c4477ce91","publisher":"acme-tools","skill":"weather-report","version":"1.2.0"}`
	if string(payload) != want {
		t.Fatalf("payload:\ngot  %s\nwant %s", payload, want)
	}
}

func TestSign_OKNoImageDigest(t *testing.T) {
	st := MustStatement(t)
	st.ImageDigest = ""
	env := MustSign(t, "test-key.pem", st)
	got, err := signing.Verify(env, MustKeyring(t), Now)
	if err != nil {
		t.Fatal(err)
	} else if got.ImageDigest != "" {
		t.Fatalf("image digest %q", got.ImageDigest)
	}
}

func TestSign_Errors(t *testing.T) {
	s := MustSigner(t, VectorPath(t, "test-key.pem"))
	for _, tt := range []struct {
		name string
		edit func(st *trust.Statement)
	}{
		{"ErrType", func(st *trust.Statement) { st.Type = "" }},
		{"ErrSkillRequired", func(st *trust.Statement) { st.Skill = "" }},
		{"ErrSkillName", func(st *trust.Statement) { st.Skill = "a b" }},
		{"ErrVersion", func(st *trust.Statement) { st.Version = "" }},
		{"ErrPublisher", func(st *trust.Statement) { st.Publisher = "-acme" }},
		{"ErrContentDigest", func(st *trust.Statement) { st.ContentDigest = "sha256:ABC" }},
		{"ErrPermissionsDigest", func(st *trust.Statement) { st.PermissionsDigest = "" }},
		{"ErrImageDigest", func(st *trust.Statement) { st.ImageDigest = "latest" }},
		{"ErrKeyID", func(st *trust.Statement) { st.KeyID = "" }},
		{"ErrKeyIDCase", func(st *trust.Statement) { st.KeyID = "Test" }},
		{"ErrKeyVersion", func(st *trust.Statement) { st.KeyVersion = 0 }},
		{"ErrKeyVersionHuge", func(st *trust.Statement) { st.KeyVersion = 1 << 40 }},
		{"ErrIssuedAt", func(st *trust.Statement) { st.IssuedAt = time.Time{} }},
		{"ErrIssuedAtYear", func(st *trust.Statement) { st.IssuedAt = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			st := MustStatement(t)
			tt.edit(st)
			if _, err := signing.Sign(context.Background(), s, st); trust.ErrorCode(err) != trust.EINVALID {
				t.Fatalf("code %q (%v), want %q", trust.ErrorCode(err), err, trust.EINVALID)
			}
		})
	}
	t.Run("ErrNilStatement", func(t *testing.T) {
		if _, err := signing.Sign(context.Background(), s, nil); trust.ErrorCode(err) != trust.EINVALID {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("ErrNilSigner", func(t *testing.T) {
		if _, err := signing.Sign(context.Background(), nil, MustStatement(t)); trust.ErrorCode(err) != trust.EINVALID {
			t.Fatalf("got %v", err)
		}
	})
}

// lyingSigner reports one public key and signs with another, as a KMS does when
// its key rotates between the two calls.
type lyingSigner struct {
	pub  ed25519.PublicKey
	priv ed25519.PrivateKey
}

func (s lyingSigner) PublicKey() ed25519.PublicKey { return s.pub }
func (s lyingSigner) Sign(_ context.Context, m []byte) ([]byte, error) {
	return ed25519.Sign(s.priv, m), nil
}

// failingSigner fails every signature with an internal error.
type failingSigner struct{ pub ed25519.PublicKey }

func (s failingSigner) PublicKey() ed25519.PublicKey { return s.pub }
func (s failingSigner) Sign(context.Context, []byte) ([]byte, error) {
	return nil, errors.New("kms unreachable: token=SECRET-CANARY")
}

func TestSign_SignerErrors(t *testing.T) {
	priv1, priv2 := MustPrivateKey(t, "test-key.pem"), MustPrivateKey(t, "test-key-2.pem")
	t.Run("ErrPublicKeyMismatch", func(t *testing.T) {
		s := lyingSigner{pub: priv1.Public().(ed25519.PublicKey), priv: priv2}
		_, err := signing.Sign(context.Background(), s, MustStatement(t))
		if trust.ErrorCode(err) != trust.EINVALID {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("ErrNoPublicKey", func(t *testing.T) {
		_, err := signing.Sign(context.Background(), lyingSigner{priv: priv1}, MustStatement(t))
		if trust.ErrorCode(err) != trust.EINVALID {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("ErrSignerFails", func(t *testing.T) {
		_, err := signing.Sign(context.Background(), failingSigner{pub: priv1.Public().(ed25519.PublicKey)}, MustStatement(t))
		if trust.ErrorCode(err) != trust.EINTERNAL {
			t.Fatalf("code %q, want %q", trust.ErrorCode(err), trust.EINTERNAL)
		} else if strings.Contains(trust.ErrorMessage(err), "CANARY") {
			t.Fatal("internal cause reached the user-facing message")
		}
	})
	t.Run("ErrCanceled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := signing.Sign(ctx, MustSigner(t, VectorPath(t, "test-key.pem")), MustStatement(t)); !errors.Is(err, context.Canceled) {
			t.Fatalf("got %v, want context.Canceled", err)
		}
	})
}
