package signing

import (
	"crypto/ed25519"
	"strings"
	"time"

	"github.com/openagents/trust/shared/trust"
)

// MergeKeyrings returns the keyring a Machine trusts: only the key versions in
// pinned, each with the stricter state of the two keyrings (revoked > retiring >
// active) and the narrower validity window. live can revoke or retire a version
// or shorten its window; it never adds a version, widens a window or brings a
// version back. live may be nil; a version live does not list keeps its pinned
// record.
//
// A live record that conflicts with the pinned one makes that version revoked
// (conflict means distrust): a different public key or algorithm, an unknown
// state, or a window that does not overlap the pinned one. A zero time in a live
// window is no constraint. The result shares no memory with its inputs; its
// sequence and update time are the later of the two.
func MergeKeyrings(pinned, live *trust.Keyring) *trust.Keyring {
	out := &trust.Keyring{Keys: []trust.KeyVersion{}}
	if pinned == nil {
		return out
	}
	out.Sequence, out.UpdatedAt = pinned.Sequence, pinned.UpdatedAt
	for _, k := range pinned.Keys {
		out.Keys = append(out.Keys, copyKeyVersion(k))
	}
	if live == nil {
		return out
	}
	out.Sequence = max(out.Sequence, live.Sequence)
	if live.UpdatedAt.After(out.UpdatedAt) {
		out.UpdatedAt = live.UpdatedAt
	}
	for i := range out.Keys {
		k := &out.Keys[i]
		for j := range live.Keys {
			if l := &live.Keys[j]; l.KeyID == k.KeyID && l.Version == k.Version {
				mergeKeyVersion(k, l)
			}
		}
	}
	return out
}

// mergeKeyVersion applies the live record l to the pinned record k.
func mergeKeyVersion(k *trust.KeyVersion, l *trust.KeyVersion) {
	if !sameKey(k, l) || !validState(l.State) {
		revoke(k, nil, "live keyring conflicts with the pinned keyring")
		return
	}
	notBefore, notAfter := k.NotBefore, k.NotAfter
	if !l.NotBefore.IsZero() && l.NotBefore.After(notBefore) {
		notBefore = l.NotBefore
	}
	if !l.NotAfter.IsZero() && l.NotAfter.Before(notAfter) {
		notAfter = l.NotAfter
	}
	if !notAfter.After(notBefore) {
		// Keep the pinned window, which NewVerifier accepts, and distrust.
		revoke(k, nil, "live keyring window does not overlap the pinned window")
		return
	}
	k.NotBefore, k.NotAfter = notBefore, notAfter
	switch {
	case l.State == trust.KeyRevoked:
		revoke(k, l.RevokedAt, l.RevocationReason)
	case l.State == trust.KeyRetiring && k.State == trust.KeyActive:
		k.State = trust.KeyRetiring
	}
}

// revoke marks k revoked. A version already revoked keeps its first
// revocation: the earlier revocation time, with its reason.
func revoke(k *trust.KeyVersion, at *time.Time, reason string) {
	if k.State == trust.KeyRevoked && (at == nil || (k.RevokedAt != nil && !at.Before(*k.RevokedAt))) {
		return
	}
	k.State = trust.KeyRevoked
	if at != nil {
		t := *at
		k.RevokedAt = &t
	}
	k.RevocationReason = reason
}

// sameKey reports whether two records of one version name the same Ed25519 key.
// Unparseable keys are never the same.
func sameKey(a, b *trust.KeyVersion) bool {
	if a.Algorithm != b.Algorithm {
		return false
	}
	pa, err := ParsePublicKey(a.PublicKey)
	if err != nil {
		return false
	}
	pb, err := ParsePublicKey(b.PublicKey)
	if err != nil {
		return false
	}
	return pa.Equal(pb)
}

func copyKeyVersion(k trust.KeyVersion) trust.KeyVersion {
	if k.RevokedAt != nil {
		t := *k.RevokedAt
		k.RevokedAt = &t
	}
	return k
}

// SigningKey returns the keyring version whose public key is pub and that may
// sign now: published (present in kr), Ed25519, state active, and now within
// [NotBefore, NotAfter]. A new version is published, and reaches every Machine,
// before it signs anything, so an unpublished key never signs.
//
// ENOTFOUND if no version has this public key. EINVALID if the version is
// retiring or revoked, outside its window, or if the key is published as more
// than one version (or was ever revoked under another). The result is a copy.
func SigningKey(kr *trust.Keyring, pub ed25519.PublicKey, now time.Time) (*trust.KeyVersion, error) {
	if kr == nil {
		return nil, trust.Errorf(trust.EINVALID, "keyring required")
	} else if len(pub) != ed25519.PublicKeySize {
		return nil, trust.Errorf(trust.EINVALID, "not an Ed25519 public key")
	}

	var found []*trust.KeyVersion
	for i := range kr.Keys {
		k := &kr.Keys[i]
		if k.Algorithm != trust.AlgorithmEd25519 {
			continue
		}
		if p, err := ParsePublicKey(k.PublicKey); err == nil && p.Equal(pub) {
			found = append(found, k)
		}
	}
	if len(found) == 0 {
		return nil, trust.Errorf(trust.ENOTFOUND, "signing key is not published in the keyring: publish a new version before it signs")
	}
	for _, k := range found {
		if k.State == trust.KeyRevoked {
			return nil, trust.Errorf(trust.EINVALID, "signing key %s is revoked", k.Ref())
		}
	}
	if len(found) > 1 {
		refs := make([]string, len(found))
		for i, k := range found {
			refs[i] = k.Ref()
		}
		return nil, trust.Errorf(trust.EINVALID, "signing key is published as more than one version (%s)", strings.Join(refs, ", "))
	}

	k := found[0]
	switch {
	case k.State == trust.KeyRetiring:
		return nil, trust.Errorf(trust.EINVALID, "signing key %s is retiring: it verifies what it signed but signs nothing new", k.Ref())
	case k.State != trust.KeyActive:
		return nil, trust.Errorf(trust.EINVALID, "signing key %s has state %q, not %q", k.Ref(), k.State, trust.KeyActive)
	}
	if err := validateKeyVersion(k); err != nil {
		return nil, err
	}
	switch {
	case now.Before(k.NotBefore):
		return nil, trust.Errorf(trust.EINVALID, "signing key %s is not valid before %s", k.Ref(), k.NotBefore.UTC().Format(time.RFC3339))
	case now.After(k.NotAfter):
		return nil, trust.Errorf(trust.EINVALID, "signing key %s expired at %s", k.Ref(), k.NotAfter.UTC().Format(time.RFC3339))
	}
	c := copyKeyVersion(*k)
	return &c, nil
}
