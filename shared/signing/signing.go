// Package signing signs skill statements and verifies them against a keyring.
//
// A trust.Statement is encoded as RFC 8785 canonical JSON and carried in a DSSE
// envelope (payload type trust.PayloadType) with exactly one Ed25519 signature
// whose key ID is "keyID:version" (trust.KeyRef). Signing keys come from a local
// PEM file or from a KMS by URI through sigstore's kms.Get (see LoadSigner).
//
// Verify refuses an envelope with a *trust.VerifyError naming exactly one
// trust.Reason*; docs/signing.md lists the order of the checks.
package signing

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"time"

	"github.com/gowebpki/jcs"
	"github.com/openagents/trust/shared/trust"
	"github.com/secure-systems-lab/go-securesystemslib/dsse"
)

// MaxEnvelopeSize is the largest envelope Verify reads. A signed statement is
// well under 2 KiB; anything near this size is refused as malformed.
const MaxEnvelopeSize = 64 << 10

// Signer is an Ed25519 signing key, local or in a KMS.
type Signer interface {
	// PublicKey returns the public half of the key that Sign uses.
	PublicKey() ed25519.PublicKey

	// Sign returns the Ed25519 signature of message (pure Ed25519, no prehash).
	Sign(ctx context.Context, message []byte) ([]byte, error)
}

// Sign validates st, encodes it as RFC 8785 canonical JSON and returns a DSSE
// envelope (JSON) with one signature whose key ID is trust.KeyRef(st.KeyID,
// st.KeyVersion). IssuedAt is truncated to whole seconds in UTC; st itself is not
// modified. EINVALID for an invalid statement or a signer whose signature does
// not verify with its own public key.
//
// Sign does not know the keyring: use SigningKey to check that the signer's key
// is the published, active version the statement names.
func Sign(ctx context.Context, s Signer, st *trust.Statement) ([]byte, error) {
	if s == nil {
		return nil, trust.Errorf(trust.EINVALID, "signer required")
	} else if st == nil {
		return nil, trust.Errorf(trust.EINVALID, "statement required")
	}
	c := *st
	c.IssuedAt = c.IssuedAt.UTC().Truncate(time.Second)
	if err := ValidateStatement(&c); err != nil {
		return nil, err
	}

	payload, err := CanonicalStatement(&c)
	if err != nil {
		return nil, err
	}
	pae := dsse.PAE(trust.PayloadType, payload)

	pub := s.PublicKey()
	if len(pub) != ed25519.PublicKeySize {
		return nil, trust.Errorf(trust.EINVALID, "signer has no Ed25519 public key")
	}
	sig, err := s.Sign(ctx, pae)
	if err != nil {
		return nil, fmt.Errorf("sign statement %s: %w", c.Ref(), err)
	}
	// A KMS may sign with another version than the one whose public key it
	// reported (Vault signs with the latest): never emit a signature that does not
	// verify with the key the caller checked against the keyring.
	if len(sig) != ed25519.SignatureSize || !ed25519.Verify(pub, pae, sig) {
		return nil, trust.Errorf(trust.EINVALID, "signer's signature does not verify with its public key")
	}

	env := dsse.Envelope{
		PayloadType: trust.PayloadType,
		Payload:     base64.StdEncoding.EncodeToString(payload),
		Signatures: []dsse.Signature{{
			KeyID: trust.KeyRef(c.KeyID, c.KeyVersion),
			Sig:   base64.StdEncoding.EncodeToString(sig),
		}},
	}
	out, err := json.Marshal(&env)
	if err != nil {
		return nil, fmt.Errorf("encode envelope: %w", err)
	}
	return out, nil
}

// ValidateStatement reports, as an EINVALID error, a statement that cannot be
// signed or trusted: wrong _type, bad skill ref or publisher, bad digests (the
// image digest may be empty), bad key ID or version, or an issue time that is
// zero, not UTC or not a whole second.
func ValidateStatement(st *trust.Statement) error {
	if st.Type != trust.StatementType {
		return trust.Errorf(trust.EINVALID, "statement _type must be %q", trust.StatementType)
	} else if err := trust.ValidateSkillRef(st.Skill, st.Version); err != nil {
		return err
	} else if err := trust.ValidatePublisher(st.Publisher); err != nil {
		return err
	} else if !trust.ValidDigest(st.ContentDigest) {
		return trust.Errorf(trust.EINVALID, "invalid content digest %q", st.ContentDigest)
	} else if !trust.ValidDigest(st.PermissionsDigest) {
		return trust.Errorf(trust.EINVALID, "invalid permissions digest %q", st.PermissionsDigest)
	} else if st.ImageDigest != "" && !trust.ValidDigest(st.ImageDigest) {
		return trust.Errorf(trust.EINVALID, "invalid image digest %q", st.ImageDigest)
	} else if err := trust.ValidateKeyID(st.KeyID); err != nil {
		return err
	} else if st.KeyVersion < 1 || st.KeyVersion > maxKeyVersion {
		return trust.Errorf(trust.EINVALID, "key version must be between 1 and %d", maxKeyVersion)
	} else if st.IssuedAt.IsZero() {
		return trust.Errorf(trust.EINVALID, "issued time required")
	} else if st.IssuedAt.Location() != time.UTC || st.IssuedAt.Nanosecond() != 0 {
		return trust.Errorf(trust.EINVALID, "issued time must be a whole second in UTC")
	} else if y := st.IssuedAt.Year(); y < 2000 || y > 9999 {
		return trust.Errorf(trust.EINVALID, "issued time out of range")
	}
	return nil
}

// maxKeyVersion keeps key versions well inside the integers every JSON reader
// represents exactly (RFC 8785 numbers are IEEE doubles).
const maxKeyVersion = 1 << 30

// CanonicalStatement returns the RFC 8785 canonical JSON encoding of st, the
// exact bytes Sign puts in the envelope payload.
func CanonicalStatement(st *trust.Statement) ([]byte, error) {
	raw, err := json.Marshal(st)
	if err != nil {
		return nil, fmt.Errorf("encode statement: %w", err)
	}
	out, err := jcs.Transform(raw)
	if err != nil {
		return nil, fmt.Errorf("canonicalize statement: %w", err)
	}
	return out, nil
}

// equalCanonical reports whether payload is the canonical encoding of st, which
// must already have passed ValidateStatement.
func equalCanonical(payload []byte, st *trust.Statement) bool {
	var buf [512]byte
	return bytes.Equal(payload, appendCanonical(buf[:0], st))
}
