package signing_test

import (
	"crypto/ed25519"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/openagents/trust/shared/signing"
	"github.com/openagents/trust/shared/trust"
)

// mustJSON returns v as indented JSON, for got/want comparisons.
func mustJSON(tb testing.TB, v any) string {
	tb.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}

func timePtr(t time.Time) *time.Time { return &t }

func TestMergeKeyrings(t *testing.T) {
	pub2 := string(MustReadVector(t, "test-key-2.pub.pem"))
	revokedAt := date(2026, 5, 1)

	for _, tt := range []struct {
		name   string
		pinned func(kr *trust.Keyring) // edits pinned (a copy of keyring.json)
		live   func(kr *trust.Keyring) // edits live (a copy of pinned); nil: live is nil
		want   func(kr *trust.Keyring) // edits the expected result (a copy of pinned)
	}{
		{name: "OKNilLive"},
		{name: "OKSameLive", live: func(kr *trust.Keyring) {}},
		{name: "OKLiveOmitsVersion", live: func(kr *trust.Keyring) { kr.Keys = kr.Keys[1:] }},
		{name: "OKLiveEmpty", live: func(kr *trust.Keyring) { kr.Keys = nil }},
		{
			name: "LiveCannotAddVersion",
			live: func(kr *trust.Keyring) {
				k := kr.Keys[1]
				k.Version = 3
				kr.Keys = append(kr.Keys, k)
			},
		},
		{
			name: "LiveCannotAddKeyID",
			live: func(kr *trust.Keyring) {
				k := kr.Keys[0]
				k.KeyID = "attacker"
				kr.Keys = append(kr.Keys, k)
			},
		},
		{
			name: "LiveRevokes",
			live: func(kr *trust.Keyring) {
				kr.Keys[0].State, kr.Keys[0].RevokedAt, kr.Keys[0].RevocationReason = trust.KeyRevoked, timePtr(revokedAt), "compromised"
			},
			want: func(kr *trust.Keyring) {
				kr.Keys[0].State, kr.Keys[0].RevokedAt, kr.Keys[0].RevocationReason = trust.KeyRevoked, timePtr(revokedAt), "compromised"
			},
		},
		{
			name: "FirstRevocationKept",
			pinned: func(kr *trust.Keyring) {
				kr.Keys[0].State, kr.Keys[0].RevokedAt, kr.Keys[0].RevocationReason = trust.KeyRevoked, timePtr(revokedAt), "first"
			},
			live: func(kr *trust.Keyring) {
				kr.Keys[0].RevokedAt, kr.Keys[0].RevocationReason = timePtr(revokedAt.Add(time.Hour)), "second"
			},
		},
		{
			name: "EarlierLiveRevocationWins",
			pinned: func(kr *trust.Keyring) {
				kr.Keys[0].State, kr.Keys[0].RevokedAt, kr.Keys[0].RevocationReason = trust.KeyRevoked, timePtr(revokedAt), "later"
			},
			live: func(kr *trust.Keyring) {
				kr.Keys[0].RevokedAt, kr.Keys[0].RevocationReason = timePtr(revokedAt.Add(-time.Hour)), "earlier"
			},
			want: func(kr *trust.Keyring) {
				kr.Keys[0].RevokedAt, kr.Keys[0].RevocationReason = timePtr(revokedAt.Add(-time.Hour)), "earlier"
			},
		},
		{
			name: "LiveRetires",
			live: func(kr *trust.Keyring) { kr.Keys[0].State = trust.KeyRetiring },
			want: func(kr *trust.Keyring) { kr.Keys[0].State = trust.KeyRetiring },
		},
		{
			name:   "LiveCannotReactivateRetiring",
			pinned: func(kr *trust.Keyring) { kr.Keys[0].State = trust.KeyRetiring },
			live:   func(kr *trust.Keyring) { kr.Keys[0].State = trust.KeyActive },
		},
		{
			name:   "LiveCannotUnrevoke",
			pinned: func(kr *trust.Keyring) { kr.Keys[0].State, kr.Keys[0].RevocationReason = trust.KeyRevoked, "pinned" },
			live:   func(kr *trust.Keyring) { kr.Keys[0].State, kr.Keys[0].RevocationReason = trust.KeyActive, "" },
		},
		{
			name:   "LiveRetiredPinnedRevokedStaysRevoked",
			pinned: func(kr *trust.Keyring) { kr.Keys[0].State = trust.KeyRevoked },
			live:   func(kr *trust.Keyring) { kr.Keys[0].State = trust.KeyRetiring },
		},
		{
			name: "LiveNarrowsWindow",
			live: func(kr *trust.Keyring) {
				kr.Keys[0].NotBefore, kr.Keys[0].NotAfter = date(2026, 2, 1), date(2027, 1, 1)
			},
			want: func(kr *trust.Keyring) {
				kr.Keys[0].NotBefore, kr.Keys[0].NotAfter = date(2026, 2, 1), date(2027, 1, 1)
			},
		},
		{
			name: "LiveCannotWidenWindow",
			live: func(kr *trust.Keyring) {
				kr.Keys[0].NotBefore, kr.Keys[0].NotAfter = date(2020, 1, 1), date(2050, 1, 1)
			},
		},
		{
			name: "LiveWidensOneEndNarrowsOther",
			live: func(kr *trust.Keyring) {
				kr.Keys[0].NotBefore, kr.Keys[0].NotAfter = date(2020, 1, 1), date(2030, 1, 1)
			},
			want: func(kr *trust.Keyring) { kr.Keys[0].NotAfter = date(2030, 1, 1) },
		},
		{
			name: "LiveZeroWindowIsNoConstraint",
			live: func(kr *trust.Keyring) { kr.Keys[0].NotBefore, kr.Keys[0].NotAfter = time.Time{}, time.Time{} },
		},
		{
			name: "ConflictPublicKey",
			live: func(kr *trust.Keyring) { kr.Keys[0].PublicKey = pub2 },
			want: func(kr *trust.Keyring) {
				kr.Keys[0].State, kr.Keys[0].RevocationReason = trust.KeyRevoked, "live keyring conflicts with the pinned keyring"
			},
		},
		{
			name: "SamePublicKeyOtherPEMLayout",
			live: func(kr *trust.Keyring) { kr.Keys[0].PublicKey = "\n" + kr.Keys[0].PublicKey + "\n" },
		},
		{
			name: "ConflictUnparseablePublicKey",
			live: func(kr *trust.Keyring) { kr.Keys[0].PublicKey = "garbage" },
			want: func(kr *trust.Keyring) {
				kr.Keys[0].State, kr.Keys[0].RevocationReason = trust.KeyRevoked, "live keyring conflicts with the pinned keyring"
			},
		},
		{
			name: "ConflictAlgorithm",
			live: func(kr *trust.Keyring) { kr.Keys[1].Algorithm = "ecdsa-p256" },
			want: func(kr *trust.Keyring) {
				kr.Keys[1].State, kr.Keys[1].RevocationReason = trust.KeyRevoked, "live keyring conflicts with the pinned keyring"
			},
		},
		{
			name: "ConflictUnknownState",
			live: func(kr *trust.Keyring) { kr.Keys[0].State = "paused" },
			want: func(kr *trust.Keyring) {
				kr.Keys[0].State, kr.Keys[0].RevocationReason = trust.KeyRevoked, "live keyring conflicts with the pinned keyring"
			},
		},
		{
			name: "ConflictDisjointWindow",
			live: func(kr *trust.Keyring) {
				kr.Keys[0].NotBefore, kr.Keys[0].NotAfter = date(2040, 1, 1), date(2041, 1, 1)
			},
			want: func(kr *trust.Keyring) {
				kr.Keys[0].State, kr.Keys[0].RevocationReason = trust.KeyRevoked, "live keyring window does not overlap the pinned window"
			},
		},
		{
			name: "DuplicateLiveEntriesStrictestWins",
			live: func(kr *trust.Keyring) {
				dup := kr.Keys[0]
				dup.State = trust.KeyRetiring
				kr.Keys = append(kr.Keys, dup)
			},
			want: func(kr *trust.Keyring) { kr.Keys[0].State = trust.KeyRetiring },
		},
		{
			name: "SequenceAndUpdatedAtAreTheLater",
			live: func(kr *trust.Keyring) { kr.Sequence, kr.UpdatedAt = 9, date(2026, 7, 1) },
			want: func(kr *trust.Keyring) { kr.Sequence, kr.UpdatedAt = 9, date(2026, 7, 1) },
		},
		{
			name: "OlderLiveKeepsPinnedSequence",
			live: func(kr *trust.Keyring) { kr.Sequence, kr.UpdatedAt = 1, date(2026, 1, 1) },
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			pinned := MustKeyring(t)
			if tt.pinned != nil {
				tt.pinned(pinned)
			}
			pinnedBefore := mustJSON(t, pinned)
			var live *trust.Keyring
			if tt.live != nil {
				live = signing.MergeKeyrings(pinned, nil) // a deep copy
				tt.live(live)
			}
			liveBefore := mustJSON(t, live)

			want := signing.MergeKeyrings(pinned, nil)
			if tt.want != nil {
				tt.want(want)
			}
			got := signing.MergeKeyrings(pinned, live)
			if g, w := mustJSON(t, got), mustJSON(t, want); g != w {
				t.Fatalf("got %s\nwant %s", g, w)
			}
			if mustJSON(t, pinned) != pinnedBefore || mustJSON(t, live) != liveBefore {
				t.Fatal("MergeKeyrings modified its inputs")
			}
			if _, err := signing.NewVerifier(got); err != nil {
				t.Fatalf("merged keyring is not usable: %v", err)
			}
		})
	}

	t.Run("NilPinned", func(t *testing.T) {
		got := signing.MergeKeyrings(nil, MustKeyring(t))
		if got == nil || len(got.Keys) != 0 {
			t.Fatalf("got %+v, want an empty keyring", got)
		}
	})
	t.Run("ResultSharesNoMemory", func(t *testing.T) {
		pinned := MustKeyring(t)
		pinned.Keys[0].RevokedAt = timePtr(revokedAt)
		got := signing.MergeKeyrings(pinned, nil)
		*got.Keys[0].RevokedAt = date(2000, 1, 1)
		got.Keys[1].State = trust.KeyRevoked
		if !pinned.Keys[0].RevokedAt.Equal(revokedAt) || pinned.Keys[1].State != trust.KeyActive {
			t.Fatal("result aliases pinned")
		}
	})
}

func TestMergeKeyrings_VerifyUsesMerged(t *testing.T) {
	env := MustReadVector(t, "envelope.json")
	live := MustKeyring(t)
	live.Keys[0].State = trust.KeyRevoked
	_, err := signing.Verify(env, signing.MergeKeyrings(MustKeyring(t), live), Now)
	if ReasonOf(t, err) != trust.ReasonRevokedKey {
		t.Fatalf("got %v, want %s", err, trust.ReasonRevokedKey)
	}
}

func TestSigningKey(t *testing.T) {
	pub1 := MustPrivateKey(t, "test-key.pem").Public().(ed25519.PublicKey)
	pub2 := MustPrivateKey(t, "test-key-2.pem").Public().(ed25519.PublicKey)

	t.Run("OK", func(t *testing.T) {
		kr := MustKeyring(t)
		k, err := signing.SigningKey(kr, pub1, Now)
		if err != nil {
			t.Fatal(err)
		} else if k.Ref() != "test:1" {
			t.Fatalf("got %s", k.Ref())
		}
		k.State = trust.KeyRevoked
		if kr.Keys[0].State != trust.KeyActive {
			t.Fatal("result aliases the keyring")
		}
	})
	t.Run("OKWindowBounds", func(t *testing.T) {
		kr := MustKeyring(t)
		for _, now := range []time.Time{kr.Keys[1].NotBefore, kr.Keys[1].NotAfter} {
			if k, err := signing.SigningKey(kr, pub2, now); err != nil || k.Ref() != "test:2" {
				t.Fatalf("at %s: got %v, %v", now, k, err)
			}
		}
	})
	for _, tt := range []struct {
		name    string
		edit    func(kr *trust.Keyring)
		pub     ed25519.PublicKey
		now     time.Time
		code    string
		message string
	}{
		{name: "ErrUnpublished", edit: func(kr *trust.Keyring) { kr.Keys = kr.Keys[:1] }, pub: pub2, code: trust.ENOTFOUND, message: "not published"},
		{name: "ErrEmptyKeyring", edit: func(kr *trust.Keyring) { kr.Keys = nil }, code: trust.ENOTFOUND, message: "not published"},
		{name: "ErrRetiring", edit: func(kr *trust.Keyring) { kr.Keys[0].State = trust.KeyRetiring }, code: trust.EINVALID, message: "retiring"},
		{name: "ErrRevoked", edit: func(kr *trust.Keyring) { kr.Keys[0].State = trust.KeyRevoked }, code: trust.EINVALID, message: "revoked"},
		{name: "ErrUnknownState", edit: func(kr *trust.Keyring) { kr.Keys[0].State = "paused" }, code: trust.EINVALID, message: "state"},
		{name: "ErrNotYetValid", pub: pub2, now: date(2026, 5, 31), code: trust.EINVALID, message: "not valid before"},
		{name: "ErrExpired", now: date(2036, 1, 2), code: trust.EINVALID, message: "expired"},
		{name: "ErrOtherAlgorithm", edit: func(kr *trust.Keyring) { kr.Keys[0].Algorithm = "rsa" }, code: trust.ENOTFOUND},
		{name: "ErrPublishedTwice", edit: func(kr *trust.Keyring) {
			kr.Keys[1].PublicKey = kr.Keys[0].PublicKey
			kr.Keys[1].NotBefore = kr.Keys[0].NotBefore
		}, code: trust.EINVALID, message: "more than one version"},
		{name: "ErrRevokedUnderAnotherVersion", edit: func(kr *trust.Keyring) {
			// Re-publishing a revoked key as a new version does not bring it back.
			kr.Keys[0].State = trust.KeyRevoked
			kr.Keys[1].PublicKey = kr.Keys[0].PublicKey
		}, now: date(2026, 7, 1), code: trust.EINVALID, message: "revoked"},
		{name: "ErrBadPublicKey", pub: ed25519.PublicKey{1, 2, 3}, code: trust.EINVALID},
	} {
		t.Run(tt.name, func(t *testing.T) {
			kr := MustKeyring(t)
			if tt.edit != nil {
				tt.edit(kr)
			}
			pub, now := tt.pub, tt.now
			if pub == nil {
				pub = pub1
			}
			if now.IsZero() {
				now = Now
			}
			k, err := signing.SigningKey(kr, pub, now)
			if k != nil || trust.ErrorCode(err) != tt.code {
				t.Fatalf("got %v, code %q (%v), want %q", k, trust.ErrorCode(err), err, tt.code)
			} else if !strings.Contains(trust.ErrorMessage(err), tt.message) {
				t.Fatalf("message %q does not say %q", trust.ErrorMessage(err), tt.message)
			}
		})
	}
	t.Run("ErrNilKeyring", func(t *testing.T) {
		if _, err := signing.SigningKey(nil, pub1, Now); trust.ErrorCode(err) != trust.EINVALID {
			t.Fatalf("got %v", err)
		}
	})
}
