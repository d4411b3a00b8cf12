package signing_test

import (
	"crypto/ed25519"
	"encoding/base64"
	"testing"
	"time"

	"github.com/openagents/trust/shared/signing"
	"github.com/openagents/trust/shared/trust"
	"github.com/secure-systems-lab/go-securesystemslib/dsse"
)

// BenchmarkVerify50 verifies the vector 50 times with one Verifier, as a
// Machine does at boot for 50 skills.
func BenchmarkVerify50(b *testing.B) {
	env := MustReadVector(b, "envelope.json")
	v, err := signing.NewVerifier(MustKeyring(b))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		for range 50 {
			if _, err := v.Verify(env, Now); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkEd25519Verify50 is the baseline: 50 raw ed25519.Verify calls over the
// vector's PAE, the floor BenchmarkVerify50 is compared with.
func BenchmarkEd25519Verify50(b *testing.B) {
	e := MustDecodeEnvelope(b, MustReadVector(b, "envelope.json"))
	payload, _ := base64.StdEncoding.DecodeString(e.Payload)
	sig, _ := base64.StdEncoding.DecodeString(e.Signatures[0].Sig)
	pae := dsse.PAE(trust.PayloadType, payload)
	pub := MustPrivateKey(b, "test-key.pem").Public().(ed25519.PublicKey)
	b.ReportAllocs()
	for b.Loop() {
		for range 50 {
			if !ed25519.Verify(pub, pae, sig) {
				b.Fatal("bad signature")
			}
		}
	}
}

// BenchmarkVerifyPackage50 uses the package-level Verify, which parses the
// keyring every call: what a caller pays for not keeping a Verifier.
func BenchmarkVerifyPackage50(b *testing.B) {
	env := MustReadVector(b, "envelope.json")
	kr := MustKeyring(b)
	b.ReportAllocs()
	for b.Loop() {
		for range 50 {
			if _, err := signing.Verify(env, kr, Now); err != nil {
				b.Fatal(err)
			}
		}
	}
}

func BenchmarkSign(b *testing.B) {
	s := MustSigner(b, VectorPath(b, "test-key.pem"))
	st := MustStatement(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := signing.Sign(b.Context(), s, st); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyVsEd25519 alternates 50 Verifier.Verify calls with 50 raw
// ed25519.Verify calls over the same PAE and reports the ratio of the two times
// ("verify/ed25519"), which load on a shared machine affects less than it
// affects the two separate benchmarks above.
func BenchmarkVerifyVsEd25519(b *testing.B) {
	env := MustReadVector(b, "envelope.json")
	v, err := signing.NewVerifier(MustKeyring(b))
	if err != nil {
		b.Fatal(err)
	}
	e := MustDecodeEnvelope(b, env)
	payload, _ := base64.StdEncoding.DecodeString(e.Payload)
	sig, _ := base64.StdEncoding.DecodeString(e.Signatures[0].Sig)
	pae := dsse.PAE(trust.PayloadType, payload)
	pub := MustPrivateKey(b, "test-key.pem").Public().(ed25519.PublicKey)

	var full, raw time.Duration
	for b.Loop() {
		start := time.Now()
		for range 50 {
			if _, err := v.Verify(env, Now); err != nil {
				b.Fatal(err)
			}
		}
		mid := time.Now()
		for range 50 {
			if !ed25519.Verify(pub, pae, sig) {
				b.Fatal("bad signature")
			}
		}
		full, raw = full+mid.Sub(start), raw+time.Since(mid)
	}
	b.ReportMetric(float64(full)/float64(raw), "verify/ed25519")
}
