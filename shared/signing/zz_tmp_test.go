package signing

import (
	"os"
	"testing"
	"crypto/ed25519"
	"github.com/openagents/trust/shared/trust"
	"github.com/secure-systems-lab/go-securesystemslib/dsse"
)

func BenchmarkTmpEnvelope(b *testing.B) {
	env, _ := os.ReadFile("../../testdata/signing/envelope.json")
	for b.Loop() { decodeEnvelope(env) }
}
func BenchmarkTmpStatement(b *testing.B) {
	env, _ := os.ReadFile("../../testdata/signing/envelope.json")
	_, p, _, _ := decodeEnvelope(env)
	for b.Loop() { decodeStatement(p) }
}
func BenchmarkTmpValidate(b *testing.B) {
	env, _ := os.ReadFile("../../testdata/signing/envelope.json")
	_, p, _, _ := decodeEnvelope(env)
	st, _ := decodeStatement(p)
	for b.Loop() { ValidateStatement(st) }
}
func BenchmarkTmpPAE(b *testing.B) {
	env, _ := os.ReadFile("../../testdata/signing/envelope.json")
	_, p, _, _ := decodeEnvelope(env)
	for b.Loop() { dsse.PAE(trust.PayloadType, p) }
}
func BenchmarkTmpEd(b *testing.B) {
	env, _ := os.ReadFile("../../testdata/signing/envelope.json")
	_, p, sig, _ := decodeEnvelope(env)
	pae := dsse.PAE(trust.PayloadType, p)
	pubPEM, _ := os.ReadFile("../../testdata/signing/test-key.pub.pem")
	pub, _ := ParsePublicKey(string(pubPEM))
	for b.Loop() { ed25519.Verify(pub, pae, sig) }
}
