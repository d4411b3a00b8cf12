package boot_test

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/openagents/trust/edge/boot"
	"github.com/openagents/trust/edge/edgetest"
	"github.com/openagents/trust/shared/signing"
	"github.com/openagents/trust/shared/skill"
	"github.com/openagents/trust/shared/trust"
)

// bootFixture is 50 signed skills on a real loopback edge node.
type bootFixture struct {
	edge   *edgetest.Edge
	token  string
	dirs   []string
	pinned *trust.Keyring
	k      key
}

func mustBootFixture(b *testing.B, n int) *bootFixture {
	b.Helper()
	ctx := context.Background()
	e := edgetest.MustOpen(b, nil)
	svc := e.ServiceClient()
	k := MustKey(b, "platform", 1, trust.KeyActive, time.Now().AddDate(0, -1, 0), time.Now().AddDate(1, 0, 0))
	if _, err := svc.CreateKeyVersion(ctx, &k.kv); err != nil {
		b.Fatal(err)
	}
	kr, err := svc.FindKeyring(ctx)
	if err != nil {
		b.Fatal(err)
	}
	f := &bootFixture{edge: e, pinned: kr, k: k}
	for i := range n {
		dir := MustSkill(b, fmt.Sprintf("skill-%02d", i), "1.0.0")
		// A few kilobytes of files, like a real skill.
		MustWrite(b, filepath.Join(dir, "README.md"), strings.Repeat("Instructions for the agent.\n", 100))
		sig := MustSign(b, k, dir, func(st *trust.Statement) { st.IssuedAt = time.Now().Add(-time.Minute) })
		m, err := skill.Load(dir)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := svc.CreateSkillVersion(ctx, &trust.SkillVersion{Name: sig.Skill, Version: sig.Version, Publisher: sig.Publisher,
			ContentDigest: sig.ContentDigest, PermissionsDigest: sig.PermissionsDigest, Permissions: m.Permissions,
			State: trust.SkillVersionApproved}); err != nil {
			b.Fatal(err)
		}
		if _, err := svc.CreateSignature(ctx, sig.Envelope); err != nil {
			b.Fatal(err)
		}
		f.dirs = append(f.dirs, dir)
	}
	if f.token, err = svc.CreateMachineToken(ctx, "bench", "t"); err != nil {
		b.Fatal(err)
	}
	return f
}

// BenchmarkBootVerify measures boot-time verification of 50 skills against a
// loopback edge node, next to its floor measured in the same run:
//
//   - Verify50: boot.Verifier in-process (digests, one batch request, the
//     keyring request, 50 signature checks);
//   - Trustctl50: the real `trustctl verify` binary, process start included;
//   - Ed25519x50: 50 plain ed25519.Verify calls (the floor);
//   - RoundTrip: one batch request for the 50 skills (the round trip).
func BenchmarkBootVerify(b *testing.B) {
	const n = 50
	f := mustBootFixture(b, n)
	ctx := context.Background()
	client := f.edge.Client(f.token)

	b.Run("Verify50", func(b *testing.B) {
		v := boot.NewVerifier(client, f.pinned)
		for b.Loop() {
			rs, err := v.Verify(ctx, f.dirs)
			if err != nil {
				b.Fatal(err)
			}
			for _, r := range rs {
				if !r.Verified {
					b.Fatalf("%s: %s %s", r.Name, r.Reason, r.Message)
				}
			}
		}
	})

	b.Run("Trustctl50", func(b *testing.B) {
		bin := filepath.Join(b.TempDir(), "trustctl")
		if out, err := exec.Command("go", "build", "-o", bin, "github.com/openagents/trust/edge/cmd/trustctl").CombinedOutput(); err != nil {
			b.Fatalf("build trustctl: %v\n%s", err, out)
		}
		krPath := filepath.Join(b.TempDir(), "keyring.json")
		MustWriteKeyring(b, krPath, f.pinned)
		args := append([]string{"verify", "--edge", f.edge.URL(), "--keyring", krPath}, f.dirs...)
		for b.Loop() {
			cmd := exec.Command(bin, args...)
			cmd.Env = append(os.Environ(), "TRUST_MACHINE_TOKEN="+f.token)
			if out, err := cmd.CombinedOutput(); err != nil {
				b.Fatalf("trustctl verify: %v\n%s", err, out)
			}
		}
	})

	b.Run("Ed25519x50", func(b *testing.B) {
		pub := f.k.signer.PublicKey()
		msg := make([]byte, 420) // about the size of a statement's PAE
		sig, err := f.k.signer.Sign(ctx, msg)
		if err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			for range n {
				if !ed25519.Verify(pub, msg, sig) {
					b.Fatal("verify failed")
				}
			}
		}
	})

	b.Run("RoundTrip", func(b *testing.B) {
		refs := make([]trust.SkillRef, n)
		for i := range refs {
			refs[i] = trust.SkillRef{Name: fmt.Sprintf("skill-%02d", i), Version: "1.0.0"}
		}
		for b.Loop() {
			if _, err := client.FindSignaturesBatch(ctx, refs); err != nil {
				b.Fatal(err)
			}
		}
	})

	b.Run("Signatures50", func(b *testing.B) {
		// The verifier's own share: 50 envelope checks against a parsed keyring.
		v, err := signing.NewVerifier(f.pinned)
		if err != nil {
			b.Fatal(err)
		}
		sigs, err := client.FindSignaturesBatch(ctx, []trust.SkillRef{{Name: "skill-00", Version: "1.0.0"}})
		if err != nil {
			b.Fatal(err)
		}
		env := sigs[trust.SkillRef{Name: "skill-00", Version: "1.0.0"}][0].Envelope
		now := time.Now()
		for b.Loop() {
			for range n {
				if _, err := v.Verify(env, now); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
}

func MustWriteKeyring(tb testing.TB, path string, kr *trust.Keyring) {
	tb.Helper()
	b, err := json.Marshal(kr)
	if err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		tb.Fatal(err)
	}
}
