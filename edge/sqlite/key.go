package sqlite

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/openagents/trust/shared/signing"
	"github.com/openagents/trust/shared/trust"
)

// Ensure the service implements the domain interface.
var _ trust.KeyService = (*KeyService)(nil)

// MaxRevocationReason is the longest revocation reason, in bytes.
const MaxRevocationReason = 1024

// KeyService stores the signing keyring in the catalog. Every change to a key
// version bumps the keyring sequence in the same transaction.
type KeyService struct {
	db *DB
}

// NewKeyService returns a KeyService backed by db.
func NewKeyService(db *DB) *KeyService {
	return &KeyService{db: db}
}

// CreateKeyVersion publishes a new key version, numbered one past the key ID's
// latest; a zero k.Version asks for that number. An empty state means active; a
// new version may be active or retiring. EINVALID for a bad record (key ID,
// algorithm, public key, validity window, state) or a version that would leave
// a gap; ECONFLICT if the version exists or the public key is already published
// (under any key ID or version, revoked or not). On success k.Version and
// k.CreatedAt are set.
func (s *KeyService) CreateKeyVersion(ctx context.Context, k *trust.KeyVersion) error {
	if err := validateNewKeyVersion(k); err != nil {
		return err
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()

	if err := createKeyVersion(ctx, tx, k); err != nil {
		return err
	}
	return tx.Commit()
}

// FindKeyring returns every key version, ordered by key ID and version, with
// the keyring sequence.
func (s *KeyService) FindKeyring(ctx context.Context) (*trust.Keyring, error) {
	tx, err := s.db.BeginTx(ctx, readOnly)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()

	return findKeyring(ctx, tx)
}

// FindKeyringSequence returns the keyring sequence: one row of keyring_meta,
// read without a transaction, cheap enough to poll several times a second.
func (s *KeyService) FindKeyringSequence(ctx context.Context) (int64, error) {
	var seq int64
	if err := s.db.db.QueryRowContext(ctx, `SELECT sequence FROM keyring_meta WHERE id = 1`).Scan(&seq); err != nil {
		return 0, fmt.Errorf("find keyring sequence: %w", err)
	}
	return seq, nil
}

// RetireKeyVersion moves an active version to retiring; retiring one that is
// already retiring changes nothing. ENOTFOUND if absent; ECONFLICT if revoked.
func (s *KeyService) RetireKeyVersion(ctx context.Context, keyID string, version int) (*trust.KeyVersion, error) {
	if err := trust.ValidateKeyID(keyID); err != nil {
		return nil, err
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()

	k, err := findKeyVersion(ctx, tx, keyID, version)
	if err != nil {
		return nil, err
	}
	switch k.State {
	case trust.KeyRevoked:
		return nil, trust.Errorf(trust.ECONFLICT, "key %s is revoked", k.Ref())
	case trust.KeyRetiring:
		return k, nil
	}
	if _, err := tx.ExecContext(ctx, `UPDATE key_versions SET state = ? WHERE key_id = ? AND version = ?`,
		trust.KeyRetiring, keyID, version); err != nil {
		return nil, fmt.Errorf("retire key %s: %w", k.Ref(), err)
	}
	if err := bumpKeyring(ctx, tx); err != nil {
		return nil, err
	}
	k.State = trust.KeyRetiring
	return k, tx.Commit()
}

// RevokeKeyVersion revokes a version, active or retiring, with a reason.
// Revoking twice keeps the first revocation and changes nothing. ENOTFOUND if
// absent; EINVALID for a missing or overlong reason.
func (s *KeyService) RevokeKeyVersion(ctx context.Context, keyID string, version int, reason string) (*trust.KeyVersion, error) {
	if err := trust.ValidateKeyID(keyID); err != nil {
		return nil, err
	} else if reason == "" {
		return nil, trust.Errorf(trust.EINVALID, "revocation reason required")
	} else if len(reason) > MaxRevocationReason || !utf8.ValidString(reason) {
		return nil, trust.Errorf(trust.EINVALID, "revocation reason must be UTF-8 of at most %d bytes", MaxRevocationReason)
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()

	k, err := findKeyVersion(ctx, tx, keyID, version)
	if err != nil {
		return nil, err
	} else if k.State == trust.KeyRevoked {
		return k, nil
	}
	now := tx.now
	if _, err := tx.ExecContext(ctx, `UPDATE key_versions SET state = ?, revoked_at = ?, revocation_reason = ? WHERE key_id = ? AND version = ?`,
		trust.KeyRevoked, formatTime(now), reason, keyID, version); err != nil {
		return nil, fmt.Errorf("revoke key %s: %w", k.Ref(), err)
	}
	if err := bumpKeyring(ctx, tx); err != nil {
		return nil, err
	}
	k.State, k.RevokedAt, k.RevocationReason = trust.KeyRevoked, &now, reason
	return k, tx.Commit()
}

// validateNewKeyVersion checks a key version before it is published and fills
// in the default state.
func validateNewKeyVersion(k *trust.KeyVersion) error {
	if k == nil {
		return trust.Errorf(trust.EINVALID, "key version required")
	} else if err := trust.ValidateKeyID(k.KeyID); err != nil {
		return err
	} else if k.Version < 0 {
		return trust.Errorf(trust.EINVALID, "key %q: version must be 1 or more (0 for the next one)", k.KeyID)
	} else if k.Algorithm != trust.AlgorithmEd25519 {
		return trust.Errorf(trust.EINVALID, "key %s: algorithm must be %q", k.Ref(), trust.AlgorithmEd25519)
	} else if _, err := signing.ParsePublicKey(k.PublicKey); err != nil {
		return trust.Errorf(trust.EINVALID, "key %s: public key is not an Ed25519 PKIX PEM", k.Ref())
	} else if k.NotBefore.IsZero() || k.NotAfter.IsZero() || !k.NotBefore.Before(k.NotAfter) {
		return trust.Errorf(trust.EINVALID, "key %s: not_before must be before not_after", k.Ref())
	} else if k.RevokedAt != nil || k.RevocationReason != "" {
		return trust.Errorf(trust.EINVALID, "key %s: a new version cannot be revoked; revoke it after publishing", k.Ref())
	}
	switch k.State {
	case "":
		k.State = trust.KeyActive
	case trust.KeyActive, trust.KeyRetiring:
	default:
		return trust.Errorf(trust.EINVALID, "key %s: state of a new version must be %q or %q", k.Ref(), trust.KeyActive, trust.KeyRetiring)
	}
	return nil
}

// createKeyVersion inserts k after checking that it is the next version.
func createKeyVersion(ctx context.Context, tx *Tx, k *trust.KeyVersion) error {
	var latest int
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM key_versions WHERE key_id = ?`, k.KeyID).Scan(&latest); err != nil {
		return fmt.Errorf("find latest version of key %s: %w", k.KeyID, err)
	}
	if k.Version == 0 {
		k.Version = latest + 1
	}
	if k.Version <= latest {
		return trust.Errorf(trust.ECONFLICT, "key %s already exists", k.Ref())
	} else if k.Version != latest+1 {
		return trust.Errorf(trust.EINVALID, "key %s: the next version of %q is %d", k.Ref(), k.KeyID, latest+1)
	}

	pub, err := signing.ParsePublicKey(k.PublicKey)
	if err != nil {
		return trust.Errorf(trust.EINVALID, "key %s: public key is not an Ed25519 PKIX PEM", k.Ref())
	}
	sum := sha256.Sum256(pub)
	fingerprint := hex.EncodeToString(sum[:])
	var otherID string
	var otherVersion int
	var otherState string
	switch err := tx.QueryRowContext(ctx, `SELECT key_id, version, state FROM key_versions WHERE fingerprint = ?`, fingerprint).
		Scan(&otherID, &otherVersion, &otherState); {
	case err == nil:
		return trust.Errorf(trust.ECONFLICT, "this public key is already published as %s (%s): a key is published once; generate a new key for a new version",
			trust.KeyRef(otherID, otherVersion), otherState)
	case !errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("find key by fingerprint: %w", err)
	}

	k.NotBefore, k.NotAfter = k.NotBefore.UTC(), k.NotAfter.UTC()
	k.CreatedAt = tx.now
	if _, err := tx.ExecContext(ctx, `
		INSERT INTO key_versions (key_id, version, algorithm, public_key, fingerprint, not_before, not_after, state, revoked_at, revocation_reason, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL, '', ?)`,
		k.KeyID, k.Version, k.Algorithm, k.PublicKey, fingerprint, formatTime(k.NotBefore), formatTime(k.NotAfter), k.State, formatTime(k.CreatedAt),
	); err != nil {
		return fmt.Errorf("insert key %s: %w", k.Ref(), err)
	}
	return bumpKeyring(ctx, tx)
}

// bumpKeyring records a keyring change: the next sequence number, at tx's time.
func bumpKeyring(ctx context.Context, tx *Tx) error {
	if _, err := tx.ExecContext(ctx, `UPDATE keyring_meta SET sequence = sequence + 1, updated_at = ? WHERE id = 1`, formatTime(tx.now)); err != nil {
		return fmt.Errorf("bump keyring sequence: %w", err)
	}
	return nil
}

// findKeyring returns the keyring with its sequence.
func findKeyring(ctx context.Context, tx *Tx) (*trust.Keyring, error) {
	kr := &trust.Keyring{Keys: []trust.KeyVersion{}}
	if err := tx.QueryRowContext(ctx, `SELECT sequence, updated_at FROM keyring_meta WHERE id = 1`).
		Scan(&kr.Sequence, timeScanner{&kr.UpdatedAt}); err != nil {
		return nil, fmt.Errorf("find keyring sequence: %w", err)
	}
	rows, err := tx.QueryContext(ctx, `SELECT `+keyVersionColumns+` FROM key_versions ORDER BY key_id, version`)
	if err != nil {
		return nil, fmt.Errorf("find key versions: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		k, err := scanKeyVersion(rows)
		if err != nil {
			return nil, err
		}
		kr.Keys = append(kr.Keys, *k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("find key versions: %w", err)
	}
	return kr, nil
}

// findKeyVersion returns one key version. ENOTFOUND if absent.
func findKeyVersion(ctx context.Context, tx *Tx, keyID string, version int) (*trust.KeyVersion, error) {
	k, err := scanKeyVersion(tx.QueryRowContext(ctx, `SELECT `+keyVersionColumns+` FROM key_versions WHERE key_id = ? AND version = ?`, keyID, version))
	if isNotFound(err) {
		return nil, errNotFound("key %s not found", trust.KeyRef(keyID, version))
	}
	return k, err
}

const keyVersionColumns = `key_id, version, algorithm, public_key, not_before, not_after, state, revoked_at, revocation_reason, created_at`

// scanKeyVersion scans the keyVersionColumns of one row.
func scanKeyVersion(row interface{ Scan(...any) error }) (*trust.KeyVersion, error) {
	var k trust.KeyVersion
	if err := row.Scan(&k.KeyID, &k.Version, &k.Algorithm, &k.PublicKey, timeScanner{&k.NotBefore}, timeScanner{&k.NotAfter},
		&k.State, nullTimeScanner{&k.RevokedAt}, &k.RevocationReason, timeScanner{&k.CreatedAt}); isNotFound(err) {
		return nil, err
	} else if err != nil {
		return nil, fmt.Errorf("scan key version: %w", err)
	}
	return &k, nil
}
