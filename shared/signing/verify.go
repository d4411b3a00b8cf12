package signing

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/openagents/trust/shared/trust"
	"github.com/secure-systems-lab/go-securesystemslib/dsse"
)

// Verifier verifies envelopes against a keyring whose public keys it parsed once.
// It is safe for concurrent use and does not see later changes to the keyring it
// was built from.
type Verifier struct {
	byRef map[string]*verifierKey   // "keyID:version"
	byID  map[string][]*verifierKey // every version of a key ID
}

// verifierKey is one keyring version with its public key parsed.
type verifierKey struct {
	ref       string
	pub       ed25519.PublicKey
	state     string
	notBefore time.Time
	notAfter  time.Time
}

// NewVerifier parses every public key of kr. EINVALID for a nil keyring or any
// version that is not well formed: a bad key ID or version number, an algorithm
// other than Ed25519, a public key that is not an Ed25519 PKIX PEM, an unknown
// state, a missing or empty validity window, or a version listed twice. A Machine
// builds its Verifier from a keyring it trusts, so a bad entry fails closed rather
// than being skipped.
func NewVerifier(kr *trust.Keyring) (*Verifier, error) {
	if kr == nil {
		return nil, trust.Errorf(trust.EINVALID, "keyring required")
	}
	v := &Verifier{
		byRef: make(map[string]*verifierKey, len(kr.Keys)),
		byID:  make(map[string][]*verifierKey),
	}
	for i := range kr.Keys {
		k := &kr.Keys[i]
		if err := validateKeyVersion(k); err != nil {
			return nil, err
		}
		pub, err := ParsePublicKey(k.PublicKey)
		if err != nil {
			return nil, trust.Errorf(trust.EINVALID, "key %s: public key is not an Ed25519 PKIX PEM", k.Ref())
		}
		ref := k.Ref()
		if v.byRef[ref] != nil {
			return nil, trust.Errorf(trust.EINVALID, "key %s listed twice", ref)
		}
		vk := &verifierKey{ref: ref, pub: pub, state: k.State, notBefore: k.NotBefore, notAfter: k.NotAfter}
		v.byRef[ref] = vk
		v.byID[k.KeyID] = append(v.byID[k.KeyID], vk)
	}
	// A key revoked under one ref is revoked under every ref it appears as:
	// re-publishing a revoked key must not bring it back.
	revoked := map[string]bool{}
	for _, vk := range v.byRef {
		if vk.state == trust.KeyRevoked {
			revoked[string(vk.pub)] = true
		}
	}
	for _, vk := range v.byRef {
		if revoked[string(vk.pub)] {
			vk.state = trust.KeyRevoked
		}
	}
	return v, nil
}

// validateKeyVersion checks the fields of a keyring entry that verification uses.
func validateKeyVersion(k *trust.KeyVersion) error {
	if err := trust.ValidateKeyID(k.KeyID); err != nil {
		return err
	} else if k.Version < 1 || k.Version > maxKeyVersion {
		return trust.Errorf(trust.EINVALID, "key %q: version must be between 1 and %d", k.KeyID, maxKeyVersion)
	} else if k.Algorithm != trust.AlgorithmEd25519 {
		return trust.Errorf(trust.EINVALID, "key %s: algorithm must be %q", k.Ref(), trust.AlgorithmEd25519)
	} else if !validState(k.State) {
		return trust.Errorf(trust.EINVALID, "key %s: unknown state %q", k.Ref(), k.State)
	} else if k.NotBefore.IsZero() || k.NotAfter.IsZero() || !k.NotAfter.After(k.NotBefore) {
		return trust.Errorf(trust.EINVALID, "key %s: validity window must have not_before before not_after", k.Ref())
	}
	return nil
}

func validState(s string) bool {
	return s == trust.KeyActive || s == trust.KeyRetiring || s == trust.KeyRevoked
}

// Verify is NewVerifier(kr) followed by Verifier.Verify. A keyring NewVerifier
// refuses is reported as its *trust.Error, not as a *trust.VerifyError.
func Verify(envelope []byte, kr *trust.Keyring, now time.Time) (*trust.Statement, error) {
	v, err := NewVerifier(kr)
	if err != nil {
		return nil, err
	}
	return v.Verify(envelope, now)
}

// Verify checks envelope and returns its statement, or a *trust.VerifyError with
// exactly one reason. The checks run in this order, and the first that fails
// names the reason:
//
//  1. malformed: the envelope is larger than MaxEnvelopeSize, is not one JSON
//     object with exactly the DSSE fields, has another payload type, has not
//     exactly one signature, or its payload or signature is not standard base64;
//     the payload is not a statement (unknown fields, wrong _type, invalid fields)
//     or not that statement's canonical encoding; the signature's key ID is not
//     the statement's "keyID:version"; the signature is not 64 bytes.
//  2. unknown_key: no version of the key ID is in the keyring.
//  3. wrong_key_version: the version is not in the keyring.
//  4. bad_signature, or wrong_key_version when the signature verifies with another
//     version of the same key ID.
//  5. revoked_key: the version is revoked.
//  6. expired_key: now or the issue time is after the version's not_after.
//  7. key_not_yet_valid: now or the issue time is before its not_before.
func (v *Verifier) Verify(envelope []byte, now time.Time) (*trust.Statement, error) {
	env, payload, sig, err := decodeEnvelope(envelope)
	if err != nil {
		return nil, err
	}
	st, err := decodeStatement(payload)
	if err != nil {
		return nil, err
	}
	ref := trust.KeyRef(st.KeyID, st.KeyVersion)
	if env.Signatures[0].KeyID != ref {
		return nil, refuse(trust.ReasonMalformed, "signature key ID %q does not match the statement's key %s", truncate(env.Signatures[0].KeyID), ref)
	}

	versions := v.byID[st.KeyID]
	if len(versions) == 0 {
		return nil, refuse(trust.ReasonUnknownKey, "key %q is not in the keyring", st.KeyID)
	}
	k := v.byRef[ref]
	if k == nil {
		return nil, refuse(trust.ReasonWrongKeyVersion, "key %s is not in the keyring", ref)
	}

	pae := dsse.PAE(trust.PayloadType, payload)
	if !ed25519.Verify(k.pub, pae, sig) {
		for _, other := range versions {
			if other != k && ed25519.Verify(other.pub, pae, sig) {
				return nil, refuse(trust.ReasonWrongKeyVersion, "signature was made by %s, not %s", other.ref, ref)
			}
		}
		return nil, refuse(trust.ReasonBadSignature, "signature does not verify with key %s", ref)
	}

	if k.state == trust.KeyRevoked {
		return nil, refuse(trust.ReasonRevokedKey, "key %s is revoked", ref)
	}
	if now.After(k.notAfter) {
		return nil, refuse(trust.ReasonExpiredKey, "key %s expired at %s", ref, k.notAfter.UTC().Format(time.RFC3339))
	} else if st.IssuedAt.After(k.notAfter) {
		return nil, refuse(trust.ReasonExpiredKey, "statement issued at %s, after key %s expired", st.IssuedAt.Format(time.RFC3339), ref)
	} else if now.Before(k.notBefore) {
		return nil, refuse(trust.ReasonKeyNotYetValid, "key %s is not valid before %s", ref, k.notBefore.UTC().Format(time.RFC3339))
	} else if st.IssuedAt.Before(k.notBefore) {
		return nil, refuse(trust.ReasonKeyNotYetValid, "statement issued at %s, before key %s became valid", st.IssuedAt.Format(time.RFC3339), ref)
	}
	return st, nil
}

// decodeEnvelope reads the DSSE envelope and returns it with its decoded payload
// and its one signature. Every failure is ReasonMalformed.
func decodeEnvelope(data []byte) (*dsse.Envelope, []byte, []byte, error) {
	if len(data) == 0 {
		return nil, nil, nil, refuse(trust.ReasonMalformed, "empty envelope")
	} else if len(data) > MaxEnvelopeSize {
		return nil, nil, nil, refuse(trust.ReasonMalformed, "envelope larger than %d bytes", MaxEnvelopeSize)
	}
	var env dsse.Envelope
	if pt, p, keyID, sig, ok := fastEnvelope(data); ok {
		env = dsse.Envelope{PayloadType: pt, Payload: p, Signatures: []dsse.Signature{{KeyID: keyID, Sig: sig}}}
	} else if err := decodeStrict(data, &env); err != nil {
		return nil, nil, nil, refuse(trust.ReasonMalformed, "envelope is not DSSE JSON")
	}
	if env.PayloadType != trust.PayloadType {
		return nil, nil, nil, refuse(trust.ReasonMalformed, "payload type %q, want %q", truncate(env.PayloadType), trust.PayloadType)
	}
	if len(env.Signatures) == 0 {
		return nil, nil, nil, refuse(trust.ReasonMalformed, "envelope has no signature")
	} else if len(env.Signatures) > 1 {
		return nil, nil, nil, refuse(trust.ReasonMalformed, "envelope has %d signatures, want one", len(env.Signatures))
	}
	payload, err := base64.StdEncoding.Strict().DecodeString(env.Payload)
	if err != nil || len(payload) == 0 {
		return nil, nil, nil, refuse(trust.ReasonMalformed, "payload is not standard base64")
	}
	sig, err := base64.StdEncoding.Strict().DecodeString(env.Signatures[0].Sig)
	if err != nil {
		return nil, nil, nil, refuse(trust.ReasonMalformed, "signature is not standard base64")
	} else if len(sig) != ed25519.SignatureSize {
		return nil, nil, nil, refuse(trust.ReasonMalformed, "signature is %d bytes, want %d", len(sig), ed25519.SignatureSize)
	}
	return &env, payload, sig, nil
}

// decodeStatement reads a payload that must be the canonical encoding of a valid
// statement. Every failure is ReasonMalformed.
func decodeStatement(payload []byte) (*trust.Statement, error) {
	if st, ok := fastStatement(payload); ok {
		return st, nil
	}
	var st trust.Statement
	if err := decodeStrict(payload, &st); err != nil {
		return nil, refuse(trust.ReasonMalformed, "payload is not a statement")
	}
	if st.Type != trust.StatementType {
		return nil, refuse(trust.ReasonMalformed, "statement _type %q, want %q", truncate(st.Type), trust.StatementType)
	}
	if err := ValidateStatement(&st); err != nil {
		return nil, refuse(trust.ReasonMalformed, "invalid statement: %s", trust.ErrorMessage(err))
	}
	if !equalCanonical(payload, &st) {
		return nil, refuse(trust.ReasonMalformed, "payload is not the canonical (RFC 8785) encoding of its statement")
	}
	return &st, nil
}

// decodeStrict decodes exactly one JSON value with no unknown fields and nothing
// after it.
func decodeStrict(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("data after JSON value")
	}
	return nil
}

func refuse(reason, format string, args ...any) *trust.VerifyError {
	return &trust.VerifyError{Reason: reason, Message: fmt.Sprintf(format, args...)}
}

// truncate shortens attacker-controlled text before it goes in an error message.
func truncate(s string) string {
	const max = 64
	if len(s) > max {
		return s[:max] + "…"
	}
	return s
}
