package signing_test

import (
	"testing"
	"time"

	"github.com/openagents/trust/shared/signing"
	"github.com/openagents/trust/shared/trust"
	"pgregory.net/rapid"
)

var stateRank = map[string]int{trust.KeyActive: 0, trust.KeyRetiring: 1, trust.KeyRevoked: 2}

// drawKeyring draws random states and windows for the vector keyring's versions,
// and sometimes another public key, an added version or a dropped one.
func drawKeyring(t *rapid.T, base *trust.Keyring, label string, wild bool) *trust.Keyring {
	kr := signing.MergeKeyrings(base, nil)
	day := func(name string) time.Time {
		return date(2025, 1, 1).AddDate(0, 0, rapid.IntRange(0, 15*365).Draw(t, name))
	}
	for i := range kr.Keys {
		k := &kr.Keys[i]
		k.State = rapid.SampledFrom([]string{trust.KeyActive, trust.KeyRetiring, trust.KeyRevoked}).Draw(t, label+"state")
		k.NotBefore = day(label + "nb")
		k.NotAfter = k.NotBefore.AddDate(0, 0, rapid.IntRange(1, 12*365).Draw(t, label+"len"))
		if wild && rapid.IntRange(0, 9).Draw(t, label+"swap") == 0 {
			k.PublicKey = base.Keys[1-i].PublicKey
		}
		if wild && rapid.IntRange(0, 9).Draw(t, label+"zero") == 0 {
			k.NotBefore, k.NotAfter = time.Time{}, time.Time{}
		}
	}
	if wild && rapid.Bool().Draw(t, label+"drop") {
		kr.Keys = kr.Keys[1:]
	}
	if wild && rapid.Bool().Draw(t, label+"add") {
		k := kr.Keys[0]
		k.Version = 9
		kr.Keys = append(kr.Keys, k)
	}
	return kr
}

// TestMergeKeyrings_NeverLooser: whatever the live keyring says, the merged
// keyring has exactly the pinned versions, each at least as strict as pinned,
// and accepts an envelope only if the pinned keyring alone accepts it.
func TestMergeKeyrings_NeverLooser(t *testing.T) {
	base := MustKeyring(t)
	envs := [][]byte{MustReadVector(t, "envelope.json"), MustSign(t, "test-key-2.pem", func() *trust.Statement {
		st := MustStatement(t)
		st.KeyVersion, st.IssuedAt = 2, date(2026, 7, 1)
		return st
	}())}
	rapid.Check(t, func(t *rapid.T) {
		pinned := drawKeyring(t, base, "pinned.", false)
		live := drawKeyring(t, base, "live.", true)
		merged := signing.MergeKeyrings(pinned, live)

		if len(merged.Keys) != len(pinned.Keys) {
			t.Fatalf("merged has %d versions, pinned %d", len(merged.Keys), len(pinned.Keys))
		}
		for i, m := range merged.Keys {
			p := pinned.Keys[i]
			if m.Ref() != p.Ref() || m.PublicKey != p.PublicKey {
				t.Fatalf("version %d: merged %s differs from pinned %s", i, m.Ref(), p.Ref())
			} else if stateRank[m.State] < stateRank[p.State] {
				t.Fatalf("%s: merged state %s looser than pinned %s", m.Ref(), m.State, p.State)
			} else if m.NotBefore.Before(p.NotBefore) || m.NotAfter.After(p.NotAfter) {
				t.Fatalf("%s: merged window wider than pinned", m.Ref())
			}
			if l := live.Find(m.KeyID, m.Version); l != nil && l.PublicKey == p.PublicKey && stateRank[m.State] < stateRank[l.State] {
				t.Fatalf("%s: merged state %s looser than live %s", m.Ref(), m.State, l.State)
			}
		}

		pv, err := signing.NewVerifier(pinned)
		if err != nil {
			t.Fatal(err)
		}
		mv, err := signing.NewVerifier(merged)
		if err != nil {
			t.Fatalf("merged keyring refused: %v", err)
		}
		now := date(2025, 1, 1).AddDate(0, 0, rapid.IntRange(0, 15*365).Draw(t, "now"))
		for _, env := range envs {
			if _, err := mv.Verify(env, now); err == nil {
				if _, perr := pv.Verify(env, now); perr != nil {
					t.Fatalf("merged accepts what pinned refuses (%v)", perr)
				}
			}
		}
	})
}
