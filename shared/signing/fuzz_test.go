package signing_test

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"testing"
	"time"

	"github.com/openagents/trust/shared/signing"
	"github.com/openagents/trust/shared/trust"
	"github.com/secure-systems-lab/go-securesystemslib/dsse"
)

var knownReasons = map[string]bool{
	trust.ReasonMalformed: true, trust.ReasonUnknownKey: true, trust.ReasonWrongKeyVersion: true,
	trust.ReasonBadSignature: true, trust.ReasonRevokedKey: true, trust.ReasonExpiredKey: true,
	trust.ReasonKeyNotYetValid: true,
}

// FuzzVerify: Verify never panics; a refusal is a *trust.VerifyError with a known
// reason and no statement; an acceptance is a statement whose canonical encoding
// is the payload, signed by the keyring key it names, inside that key's window.
func FuzzVerify(f *testing.F) {
	vector := MustReadVector(f, "envelope.json")
	priv1 := MustPrivateKey(f, "test-key.pem")
	payload := func() []byte {
		env := MustDecodeEnvelope(f, vector)
		p, _ := base64.StdEncoding.DecodeString(env.Payload)
		return p
	}()

	f.Add(vector)
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"payloadType":"","payload":"","signatures":[]}`))
	f.Add(bytes.Replace(vector, []byte(`"keyid":"test:1"`), []byte(`"keyid":"test:2"`), 1))
	f.Add(bytes.Replace(vector, []byte(`"sig":"oC`), []byte(`"sig":"oD`), 1))
	f.Add(RawEnvelope(f, priv1, trust.PayloadType, bytes.Replace(payload, []byte(`"key_version":1`), []byte(`"key_version":2`), 1), "test:2"))
	f.Add(RawEnvelope(f, priv1, trust.PayloadType, bytes.Replace(payload, []byte(`12:00:00Z`), []byte(`12:00:00+00:00`), 1), "test:1"))
	f.Add(RawEnvelope(f, priv1, trust.PayloadType, append([]byte(" "), payload...), "test:1"))
	f.Add(RawEnvelope(f, priv1, trust.PayloadType, []byte(`{"_type":1}`), "test:1"))
	f.Add(MustSign(f, "test-key-2.pem", MustStatement(f)))

	kr := MustKeyring(f)
	v, err := signing.NewVerifier(kr)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		st, err := v.Verify(data, Now)
		if err != nil {
			if st != nil {
				t.Fatalf("statement with error %v", err)
			}
			if r := ReasonOf(t, err); !knownReasons[r] {
				t.Fatalf("unknown reason %q", r)
			}
			return
		}
		if st == nil {
			t.Fatal("nil statement and nil error")
		}
		// Check the acceptance independently of Verify's code path.
		var env dsse.Envelope
		if err := json.Unmarshal(data, &env); err != nil || len(env.Signatures) != 1 {
			t.Fatalf("accepted an envelope a plain decoder reads differently: %v", err)
		}
		p, err := base64.StdEncoding.DecodeString(env.Payload)
		if err != nil {
			t.Fatal(err)
		}
		canon, err := signing.CanonicalStatement(st)
		if err != nil || !bytes.Equal(canon, p) {
			t.Fatalf("accepted payload is not the canonical statement:\n%s\n%s", p, canon)
		}
		k := kr.Find(st.KeyID, st.KeyVersion)
		if k == nil || env.Signatures[0].KeyID != k.Ref() || k.State == trust.KeyRevoked {
			t.Fatalf("accepted a statement for key %s:%d", st.KeyID, st.KeyVersion)
		}
		pub, err := signing.ParsePublicKey(k.PublicKey)
		if err != nil {
			t.Fatal(err)
		}
		sig, err := base64.StdEncoding.DecodeString(env.Signatures[0].Sig)
		if err != nil || !ed25519.Verify(pub, dsse.PAE(env.PayloadType, p), sig) {
			t.Fatal("accepted a signature that does not verify")
		}
		if st.IssuedAt.Before(k.NotBefore) || st.IssuedAt.After(k.NotAfter) {
			t.Fatal("accepted a statement issued outside the key's window")
		}
	})
}

// FuzzCanonical holds Verify's reflection-free encoder to CanonicalStatement
// (encoding/json + RFC 8785) for any statement.
func FuzzCanonical(f *testing.F) {
	st := MustStatement(f)
	f.Add(st.Type, st.Skill, st.Version, st.Publisher, st.ContentDigest, st.PermissionsDigest, st.ImageDigest, st.KeyID, int32(st.KeyVersion), st.IssuedAt.Unix())
	f.Add("", "", "", "", "", "", "", "", int32(0), int64(0))
	f.Add("a\"b", "<script>", "\u2028", "é", "\x00", "\\", "\x7f", "k", int32(-5), int64(-62135596800))
	f.Fuzz(func(t *testing.T, typ, skill, version, publisher, cd, pd, id, keyID string, kv int32, unix int64) {
		issued := time.Unix(unix, 0).UTC()
		if issued.Year() < 0 || issued.Year() > 9999 {
			t.Skip("time outside what encoding/json writes")
		}
		st := &trust.Statement{Type: typ, Skill: skill, Version: version, Publisher: publisher,
			ContentDigest: cd, PermissionsDigest: pd, ImageDigest: id, KeyID: keyID, KeyVersion: int(kv), IssuedAt: issued}
		want, err := signing.CanonicalStatement(st)
		if err != nil {
			t.Skip("not encodable")
		}
		if got := signing.AppendCanonical(nil, st); !bytes.Equal(got, want) {
			t.Fatalf("fast encoder:\ngot  %s\nwant %s", got, want)
		}
	})
}

// FuzzFastPaths: whenever a fast path reads an input, the encoding/json path
// reads the same input to the same values.
func FuzzFastPaths(f *testing.F) {
	vector := MustReadVector(f, "envelope.json")
	f.Add(vector)
	f.Add(vectorPayloadF(f))
	f.Add([]byte(`{"payload":"","payloadType":"","signatures":[{"sig":"","keyid":""}]}`))
	f.Add([]byte(` { "payloadType" : "a" , "payload" : "b" , "signatures" : [ { "keyid" : "c" , "sig" : "d" } ] } `))
	f.Add([]byte(`{"payloadType":"a","payload":"b","payload":"c","signatures":[{"keyid":"c","sig":"d"}]}`))
	f.Add([]byte(`{"PayloadType":"a","payload":"b","signatures":[{"keyid":"c","sig":"d"}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		if pt, p, keyID, sig, ok := signing.FastEnvelope(data); ok {
			var env dsse.Envelope
			if err := signing.DecodeStrict(data, &env); err != nil {
				t.Fatalf("fast path read an envelope encoding/json refuses: %v", err)
			}
			if len(env.Signatures) != 1 || env.PayloadType != pt || env.Payload != p || env.Signatures[0].KeyID != keyID || env.Signatures[0].Sig != sig {
				t.Fatalf("fast path and encoding/json disagree: %q %q %q %q vs %+v", pt, p, keyID, sig, env)
			}
		}
		if st, ok := signing.FastStatement(data); ok {
			slow, err := signing.SlowStatement(data)
			if err != nil {
				t.Fatalf("fast path read a statement the encoding/json path refuses: %v", err)
			} else if *slow != *st || slow.IssuedAt.Location() != st.IssuedAt.Location() {
				t.Fatalf("fast path and encoding/json disagree:\n%+v\n%+v", st, slow)
			}
		}
	})
}

func vectorPayloadF(f *testing.F) []byte {
	env := MustDecodeEnvelope(f, MustReadVector(f, "envelope.json"))
	p, err := base64.StdEncoding.DecodeString(env.Payload)
	if err != nil {
		f.Fatal(err)
	}
	return p
}

// TestFastPaths_Vector: the vector takes both fast paths (else Verify would
// quietly pay for encoding/json on every call).
func TestFastPaths_Vector(t *testing.T) {
	if _, _, _, _, ok := signing.FastEnvelope(MustReadVector(t, "envelope.json")); !ok {
		t.Fatal("envelope.json does not take the fast path")
	}
	st, ok := signing.FastStatement(vectorPayload(t))
	if !ok {
		t.Fatal("the vector payload does not take the fast path")
	} else if *st != *MustStatement(t) {
		t.Fatalf("got %+v", st)
	}
}
