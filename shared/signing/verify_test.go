package signing_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/openagents/trust/shared/signing"
	"github.com/openagents/trust/shared/trust"
	"github.com/secure-systems-lab/go-securesystemslib/dsse"
)

func TestVerify_OK(t *testing.T) {
	env := MustReadVector(t, "envelope.json")
	st, err := signing.Verify(env, MustKeyring(t), Now)
	if err != nil {
		t.Fatal(err)
	}
	if want := MustStatement(t); *st != *want {
		t.Fatalf("statement:\ngot  %+v\nwant %+v", st, want)
	}
	if st.IssuedAt.Location() != time.UTC {
		t.Fatalf("issued_at location %v, want UTC", st.IssuedAt.Location())
	}

	t.Run("Retiring", func(t *testing.T) {
		kr := MustKeyring(t)
		kr.Keys[0].State = trust.KeyRetiring
		if _, err := signing.Verify(env, kr, Now); err != nil {
			t.Fatalf("a retiring key verifies what it signed: %v", err)
		}
	})
	t.Run("WindowBoundsInclusive", func(t *testing.T) {
		kr := MustKeyring(t)
		kr.Keys[0].NotBefore = MustStatement(t).IssuedAt
		if _, err := signing.Verify(env, kr, kr.Keys[0].NotAfter); err != nil {
			t.Fatalf("now = not_after, issued_at = not_before: %v", err)
		}
	})
	t.Run("EnvelopeWhitespace", func(t *testing.T) {
		var buf bytes.Buffer
		if err := json.Indent(&buf, env, "", "  "); err != nil {
			t.Fatal(err)
		}
		if _, err := signing.Verify(buf.Bytes(), MustKeyring(t), Now); err != nil {
			t.Fatalf("the envelope's own JSON layout is free: %v", err)
		}
	})
	t.Run("ReusedVerifier", func(t *testing.T) {
		kr := MustKeyring(t)
		v, err := signing.NewVerifier(kr)
		if err != nil {
			t.Fatal(err)
		}
		kr.Keys[0].State = trust.KeyRevoked // later changes to kr do not reach v
		for range 3 {
			if _, err := v.Verify(env, Now); err != nil {
				t.Fatal(err)
			}
		}
	})
}

// signedWith returns the vector statement, changed by edit, signed by keyFile.
func signedWith(t *testing.T, keyFile string, edit func(*trust.Statement)) []byte {
	t.Helper()
	st := MustStatement(t)
	edit(st)
	return MustSign(t, keyFile, st)
}

// editEnvelope decodes the vector envelope, applies edit and re-encodes it.
func editEnvelope(t *testing.T, edit func(*dsse.Envelope)) []byte {
	t.Helper()
	env := MustDecodeEnvelope(t, MustReadVector(t, "envelope.json"))
	edit(env)
	return MustEncodeEnvelope(t, env)
}

// vectorPayload returns the canonical payload of the vector.
func vectorPayload(t *testing.T) []byte {
	t.Helper()
	p, err := base64.StdEncoding.DecodeString(MustDecodeEnvelope(t, MustReadVector(t, "envelope.json")).Payload)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// signedPayload returns an envelope whose payload is text, validly signed by
// test:1 with key ID "test:1".
func signedPayload(t *testing.T, text string) []byte {
	t.Helper()
	return RawEnvelope(t, MustPrivateKey(t, "test-key.pem"), trust.PayloadType, []byte(text), "test:1")
}

func date(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }

func TestVerify_Refusals(t *testing.T) {
	canonical := string(vectorPayload(t))
	replace := func(old, new string) string {
		t.Helper()
		if !strings.Contains(canonical, old) {
			t.Fatalf("payload has no %q", old)
		}
		return strings.Replace(canonical, old, new, 1)
	}

	for _, tt := range []struct {
		name     string
		envelope func(t *testing.T) []byte
		keyring  func(kr *trust.Keyring)
		now      time.Time
		reason   string
	}{
		// Signature and key lookup.
		{name: "ErrEditedPayload", reason: trust.ReasonBadSignature, envelope: func(t *testing.T) []byte {
			return editEnvelope(t, func(e *dsse.Envelope) {
				p := strings.Replace(canonical, `"skill":"weather-report"`, `"skill":"weather-rep0rt"`, 1)
				e.Payload = base64.StdEncoding.EncodeToString([]byte(p))
			})
		}},
		{name: "ErrFlippedSignatureBit", reason: trust.ReasonBadSignature, envelope: func(t *testing.T) []byte {
			return editEnvelope(t, func(e *dsse.Envelope) {
				sig, _ := base64.StdEncoding.DecodeString(e.Signatures[0].Sig)
				sig[10] ^= 1
				e.Signatures[0].Sig = base64.StdEncoding.EncodeToString(sig)
			})
		}},
		{name: "ErrOtherPayloadType", reason: trust.ReasonMalformed, envelope: func(t *testing.T) []byte {
			// The same bytes signed under another payload type: PAE binds the type.
			return RawEnvelope(t, MustPrivateKey(t, "test-key.pem"), "application/vnd.in-toto+json", []byte(canonical), "test:1")
		}},
		{name: "ErrSignedByOtherVersion", reason: trust.ReasonWrongKeyVersion, envelope: func(t *testing.T) []byte {
			return signedWith(t, "test-key-2.pem", func(st *trust.Statement) {}) // claims test:1, signed by test:2's key
		}},
		{name: "ErrVersionNotInKeyring", reason: trust.ReasonWrongKeyVersion, envelope: func(t *testing.T) []byte {
			return signedWith(t, "test-key.pem", func(st *trust.Statement) { st.KeyVersion = 3 })
		}},
		{name: "ErrUnknownKey", reason: trust.ReasonUnknownKey, envelope: func(t *testing.T) []byte {
			return signedWith(t, "test-key.pem", func(st *trust.Statement) { st.KeyID = "other" })
		}},
		{name: "ErrEmptyKeyring", reason: trust.ReasonUnknownKey, keyring: func(kr *trust.Keyring) { kr.Keys = nil }},

		// Key state and windows.
		{name: "ErrRevoked", reason: trust.ReasonRevokedKey, keyring: func(kr *trust.Keyring) { kr.Keys[0].State = trust.KeyRevoked }},
		{name: "ErrRevokedAndExpired", reason: trust.ReasonRevokedKey, now: date(2040, 1, 1), keyring: func(kr *trust.Keyring) { kr.Keys[0].State = trust.KeyRevoked }},
		{name: "ErrBadSignatureBeforeRevoked", reason: trust.ReasonBadSignature, keyring: func(kr *trust.Keyring) { kr.Keys[0].State = trust.KeyRevoked },
			envelope: func(t *testing.T) []byte {
				return editEnvelope(t, func(e *dsse.Envelope) {
					e.Payload = base64.StdEncoding.EncodeToString([]byte(replace(`"version":"1.2.0"`, `"version":"1.2.1"`)))
				})
			}},
		{name: "ErrExpiredNow", reason: trust.ReasonExpiredKey, now: date(2036, 1, 1).Add(time.Second)},
		{name: "ErrIssuedAfterNotAfter", reason: trust.ReasonExpiredKey, now: date(2030, 1, 1), envelope: func(t *testing.T) []byte {
			return signedWith(t, "test-key.pem", func(st *trust.Statement) { st.IssuedAt = date(2037, 1, 1) })
		}},
		{name: "ErrNotYetValidNow", reason: trust.ReasonKeyNotYetValid, now: date(2025, 12, 31)},
		{name: "ErrIssuedBeforeNotBefore", reason: trust.ReasonKeyNotYetValid, envelope: func(t *testing.T) []byte {
			return signedWith(t, "test-key.pem", func(st *trust.Statement) { st.IssuedAt = date(2025, 6, 1) })
		}},

		// Envelope.
		{name: "ErrEmpty", reason: trust.ReasonMalformed, envelope: func(t *testing.T) []byte { return nil }},
		{name: "ErrNotJSON", reason: trust.ReasonMalformed, envelope: func(t *testing.T) []byte { return []byte("not json") }},
		{name: "ErrJSONArray", reason: trust.ReasonMalformed, envelope: func(t *testing.T) []byte { return []byte("[]") }},
		{name: "ErrTrailingData", reason: trust.ReasonMalformed, envelope: func(t *testing.T) []byte {
			return append(MustReadVector(t, "envelope.json"), []byte(` {}`)...)
		}},
		{name: "ErrUnknownEnvelopeField", reason: trust.ReasonMalformed, envelope: func(t *testing.T) []byte {
			env := MustReadVector(t, "envelope.json")
			return append([]byte(`{"extra":1,`), env[1:]...)
		}},
		{name: "ErrTooLarge", reason: trust.ReasonMalformed, envelope: func(t *testing.T) []byte {
			env := MustReadVector(t, "envelope.json")
			return append(env, bytes.Repeat([]byte(" "), signing.MaxEnvelopeSize)...)
		}},
		{name: "ErrWrongPayloadType", reason: trust.ReasonMalformed, envelope: func(t *testing.T) []byte {
			return editEnvelope(t, func(e *dsse.Envelope) { e.PayloadType = "application/json" })
		}},
		{name: "ErrNoSignature", reason: trust.ReasonMalformed, envelope: func(t *testing.T) []byte {
			return editEnvelope(t, func(e *dsse.Envelope) { e.Signatures = nil })
		}},
		{name: "ErrTwoSignatures", reason: trust.ReasonMalformed, envelope: func(t *testing.T) []byte {
			return editEnvelope(t, func(e *dsse.Envelope) { e.Signatures = append(e.Signatures, e.Signatures[0]) })
		}},
		{name: "ErrPayloadNotBase64", reason: trust.ReasonMalformed, envelope: func(t *testing.T) []byte {
			return editEnvelope(t, func(e *dsse.Envelope) { e.Payload = "*" + e.Payload[1:] })
		}},
		{name: "ErrPayloadUnpadded", reason: trust.ReasonMalformed, envelope: func(t *testing.T) []byte {
			return editEnvelope(t, func(e *dsse.Envelope) { e.Payload = base64.RawStdEncoding.EncodeToString([]byte(canonical)) })
		}},
		{name: "ErrSignatureNotBase64", reason: trust.ReasonMalformed, envelope: func(t *testing.T) []byte {
			return editEnvelope(t, func(e *dsse.Envelope) { e.Signatures[0].Sig = "!!" })
		}},
		{name: "ErrSignatureTooShort", reason: trust.ReasonMalformed, envelope: func(t *testing.T) []byte {
			return editEnvelope(t, func(e *dsse.Envelope) { e.Signatures[0].Sig = e.Signatures[0].Sig[:40] + "==" })
		}},
		{name: "ErrKeyIDMismatch", reason: trust.ReasonMalformed, envelope: func(t *testing.T) []byte {
			return editEnvelope(t, func(e *dsse.Envelope) { e.Signatures[0].KeyID = "test:2" })
		}},
		{name: "ErrKeyIDEmpty", reason: trust.ReasonMalformed, envelope: func(t *testing.T) []byte {
			return editEnvelope(t, func(e *dsse.Envelope) { e.Signatures[0].KeyID = "" })
		}},

		// Statement (each validly signed by test:1, so only the statement is wrong).
		{name: "ErrPayloadNotJSON", reason: trust.ReasonMalformed, envelope: func(t *testing.T) []byte { return signedPayload(t, "hello") }},
		{name: "ErrPayloadTrailingData", reason: trust.ReasonMalformed, envelope: func(t *testing.T) []byte { return signedPayload(t, canonical+"{}") }},
		{name: "ErrUnknownStatementField", reason: trust.ReasonMalformed, envelope: func(t *testing.T) []byte {
			return signedPayload(t, replace(`"version":`, `"vers":"x","version":`))
		}},
		{name: "ErrStatementType", reason: trust.ReasonMalformed, envelope: func(t *testing.T) []byte {
			return signedPayload(t, replace("skill-statement/v1", "skill-statement/v2"))
		}},
		{name: "ErrStatementTypeMissing", reason: trust.ReasonMalformed, envelope: func(t *testing.T) []byte {
			return signedPayload(t, replace(`"_type":"https://openagents.dev/trust/skill-statement/v1",`, ``))
		}},
		{name: "ErrInvalidDigest", reason: trust.ReasonMalformed, envelope: func(t *testing.T) []byte {
			return signedPayload(t, replace(`"content_digest":"sha256:`, `"content_digest":"sha512:`))
		}},
		{name: "ErrInvalidSkillName", reason: trust.ReasonMalformed, envelope: func(t *testing.T) []byte {
			return signedPayload(t, replace(`"skill":"weather-report"`, `"skill":"../weather"`))
		}},
		{name: "ErrKeyVersionZero", reason: trust.ReasonMalformed, envelope: func(t *testing.T) []byte {
			return RawEnvelope(t, MustPrivateKey(t, "test-key.pem"), trust.PayloadType, []byte(replace(`"key_version":1`, `"key_version":0`)), "test:0")
		}},
		{name: "ErrKeyVersionFloat", reason: trust.ReasonMalformed, envelope: func(t *testing.T) []byte {
			return signedPayload(t, replace(`"key_version":1`, `"key_version":1.0`))
		}},
		{name: "ErrIssuedAtMissing", reason: trust.ReasonMalformed, envelope: func(t *testing.T) []byte {
			return signedPayload(t, replace(`"issued_at":"2026-03-01T12:00:00Z",`, ``))
		}},
		{name: "ErrNonCanonicalIndented", reason: trust.ReasonMalformed, envelope: func(t *testing.T) []byte {
			var buf bytes.Buffer
			if err := json.Indent(&buf, []byte(canonical), "", " "); err != nil {
				t.Fatal(err)
			}
			return signedPayload(t, buf.String())
		}},
		{name: "ErrNonCanonicalKeyOrder", reason: trust.ReasonMalformed, envelope: func(t *testing.T) []byte {
			b, err := json.Marshal(MustStatement(t)) // struct order, not RFC 8785 order
			if err != nil {
				t.Fatal(err)
			}
			return signedPayload(t, string(b))
		}},
		{name: "ErrNonCanonicalEscape", reason: trust.ReasonMalformed, envelope: func(t *testing.T) []byte {
			return signedPayload(t, replace(`"publisher":"acme-tools"`, `"publisher":"acme\u002dtools"`))
		}},
		{name: "ErrNonCanonicalTimeOffset", reason: trust.ReasonMalformed, envelope: func(t *testing.T) []byte {
			return signedPayload(t, replace(`12:00:00Z`, `12:00:00+00:00`))
		}},
		{name: "ErrNonCanonicalTimeFraction", reason: trust.ReasonMalformed, envelope: func(t *testing.T) []byte {
			return signedPayload(t, replace(`12:00:00Z`, `12:00:00.000Z`))
		}},
		{name: "ErrFractionalSecond", reason: trust.ReasonMalformed, envelope: func(t *testing.T) []byte {
			return signedPayload(t, replace(`12:00:00Z`, `12:00:00.5Z`))
		}},
		{name: "ErrDuplicateKey", reason: trust.ReasonMalformed, envelope: func(t *testing.T) []byte {
			return signedPayload(t, replace(`"skill":"weather-report"`, `"skill":"other","skill":"weather-report"`))
		}},
		{name: "ErrFieldCase", reason: trust.ReasonMalformed, envelope: func(t *testing.T) []byte {
			return signedPayload(t, replace(`"skill":`, `"SKILL":`))
		}},
		{name: "ErrBOM", reason: trust.ReasonMalformed, envelope: func(t *testing.T) []byte { return signedPayload(t, "\ufeff"+canonical) }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			env := MustReadVector(t, "envelope.json")
			if tt.envelope != nil {
				env = tt.envelope(t)
			}
			kr := MustKeyring(t)
			if tt.keyring != nil {
				tt.keyring(kr)
			}
			now := Now
			if !tt.now.IsZero() {
				now = tt.now
			}
			st, err := signing.Verify(env, kr, now)
			t.Log(err)
			if got := ReasonOf(t, err); got != tt.reason {
				t.Fatalf("reason %q (%v), want %q", got, err, tt.reason)
			} else if st != nil {
				t.Fatalf("statement returned with a refusal: %+v", st)
			}
		})
	}
}

func TestVerify_ErrorMessageIsBounded(t *testing.T) {
	env := editEnvelope(t, func(e *dsse.Envelope) { e.PayloadType = strings.Repeat("x", 10000) })
	_, err := signing.Verify(env, MustKeyring(t), Now)
	if ReasonOf(t, err) != trust.ReasonMalformed {
		t.Fatalf("got %v", err)
	} else if len(err.Error()) > 300 {
		t.Fatalf("error message is %d bytes: attacker text must be truncated", len(err.Error()))
	}
}

func TestNewVerifier(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		if _, err := signing.NewVerifier(MustKeyring(t)); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("OKEmpty", func(t *testing.T) {
		if _, err := signing.NewVerifier(&trust.Keyring{}); err != nil {
			t.Fatal(err)
		}
	})
	ecdsaPEM := MustECDSAPublicKeyPEM(t)
	for _, tt := range []struct {
		name string
		edit func(kr *trust.Keyring)
	}{
		{"ErrBadPEM", func(kr *trust.Keyring) { kr.Keys[0].PublicKey = "not a key" }},
		{"ErrPEMTrailingData", func(kr *trust.Keyring) { kr.Keys[0].PublicKey += "junk" }},
		{"ErrECDSAKey", func(kr *trust.Keyring) { kr.Keys[0].PublicKey = ecdsaPEM }},
		{"ErrAlgorithm", func(kr *trust.Keyring) { kr.Keys[0].Algorithm = "ecdsa-p256" }},
		{"ErrState", func(kr *trust.Keyring) { kr.Keys[0].State = "suspended" }},
		{"ErrKeyID", func(kr *trust.Keyring) { kr.Keys[0].KeyID = "Test" }},
		{"ErrVersion", func(kr *trust.Keyring) { kr.Keys[0].Version = 0 }},
		{"ErrNoNotAfter", func(kr *trust.Keyring) { kr.Keys[0].NotAfter = time.Time{} }},
		{"ErrEmptyWindow", func(kr *trust.Keyring) { kr.Keys[0].NotAfter = kr.Keys[0].NotBefore }},
		{"ErrDuplicate", func(kr *trust.Keyring) { kr.Keys[1].Version = 1 }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			kr := MustKeyring(t)
			tt.edit(kr)
			if _, err := signing.NewVerifier(kr); trust.ErrorCode(err) != trust.EINVALID {
				t.Fatalf("code %q (%v), want %q", trust.ErrorCode(err), err, trust.EINVALID)
			}
			// Verify reports the keyring's error, not a refusal.
			if _, err := signing.Verify(MustReadVector(t, "envelope.json"), kr, Now); trust.ErrorCode(err) != trust.EINVALID {
				t.Fatalf("Verify: code %q (%v), want %q", trust.ErrorCode(err), err, trust.EINVALID)
			}
		})
	}
	t.Run("RevokedKeyRepublished", func(t *testing.T) {
		// test:1 is revoked; the same public key listed again as other:1
		// (active) must stay revoked, whichever ref signs.
		kr := MustKeyring(t)
		kr.Keys[0].State = trust.KeyRevoked
		again := kr.Keys[0]
		again.KeyID, again.State = "other", trust.KeyActive
		kr.Keys = append(kr.Keys, again)
		st := MustStatement(t)
		st.KeyID, st.KeyVersion = "other", 1
		env := MustSign(t, "test-key.pem", st)
		_, err := signing.Verify(env, kr, Now)
		var ve *trust.VerifyError
		if !errors.As(err, &ve) || ve.Reason != trust.ReasonRevokedKey {
			t.Fatalf("got %v, want %s", err, trust.ReasonRevokedKey)
		}
	})
	t.Run("ErrNil", func(t *testing.T) {
		if _, err := signing.NewVerifier(nil); trust.ErrorCode(err) != trust.EINVALID {
			t.Fatalf("got %v", err)
		}
	})
}
