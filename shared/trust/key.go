package trust

import (
	"context"
	"strconv"
	"time"
)

// Key version states. An active key signs and verifies; a retiring key verifies
// what it signed but signs nothing new; a revoked key verifies nothing.
const (
	KeyActive   = "active"
	KeyRetiring = "retiring"
	KeyRevoked  = "revoked"
)

// AlgorithmEd25519 is the only signing algorithm the keyring accepts.
const AlgorithmEd25519 = "ed25519"

// KeyVersion is one version of a signing key: its public half, the window in
// which it is valid, and its state.
type KeyVersion struct {
	KeyID            string     `json:"key_id"`
	Version          int        `json:"version"`
	Algorithm        string     `json:"algorithm"`
	PublicKey        string     `json:"public_key"` // PKIX PEM
	NotBefore        time.Time  `json:"not_before"`
	NotAfter         time.Time  `json:"not_after"`
	State            string     `json:"state"`
	RevokedAt        *time.Time `json:"revoked_at,omitempty"`
	RevocationReason string     `json:"revocation_reason,omitempty"`
	CreatedAt        time.Time  `json:"created_at"`
}

// Ref returns "keyID:version", the key ID used in DSSE envelopes.
func (k *KeyVersion) Ref() string { return KeyRef(k.KeyID, k.Version) }

// KeyRef returns "keyID:version".
func KeyRef(keyID string, version int) string { return keyID + ":" + strconv.Itoa(version) }

var keyIDRE = NewPattern(`^[a-z0-9][a-z0-9._-]{0,62}$`)

// ValidateKeyID reports an invalid key ID as an EINVALID error.
func ValidateKeyID(id string) error {
	if id == "" {
		return Errorf(EINVALID, "key ID required")
	} else if !keyIDRE.MatchString(id) {
		return Errorf(EINVALID, "invalid key ID %q: use lowercase letters, digits, '.', '_' and '-' (at most 63)", id)
	}
	return nil
}

// Keyring is every version of every signing key, with a sequence number that grows
// with each change (a new version, a retirement, a revocation). A revocation is
// therefore a new keyring version.
type Keyring struct {
	Sequence  int64        `json:"sequence"`
	Keys      []KeyVersion `json:"keys"`
	UpdatedAt time.Time    `json:"updated_at"`
}

// Find returns the key version keyID:version, or nil.
func (k *Keyring) Find(keyID string, version int) *KeyVersion {
	if k == nil {
		return nil
	}
	for i := range k.Keys {
		if k.Keys[i].KeyID == keyID && k.Keys[i].Version == version {
			return &k.Keys[i]
		}
	}
	return nil
}

// KeyService manages the signing keyring (service role only).
type KeyService interface {
	// CreateKeyVersion publishes a new key version. Versions of one key ID are
	// numbered 1, 2, … without gaps; a zero Version asks for the next number,
	// which is set on k. EINVALID for a bad record or a gap; ECONFLICT if the
	// version exists or its public key was ever published before (a key is
	// published once, so a revoked key cannot return).
	CreateKeyVersion(ctx context.Context, k *KeyVersion) error

	// FindKeyring returns the whole keyring.
	FindKeyring(ctx context.Context) (*Keyring, error)

	// FindKeyringSequence returns the keyring's sequence alone: a cheap check,
	// polled by watchers, for whether the keyring changed.
	FindKeyringSequence(ctx context.Context) (int64, error)

	// RetireKeyVersion moves an active version to retiring. ENOTFOUND if absent;
	// ECONFLICT if it is revoked.
	RetireKeyVersion(ctx context.Context, keyID string, version int) (*KeyVersion, error)

	// RevokeKeyVersion revokes a version; signatures made with it no longer verify.
	// ENOTFOUND if absent; revoking twice keeps the first revocation.
	RevokeKeyVersion(ctx context.Context, keyID string, version int, reason string) (*KeyVersion, error)
}
