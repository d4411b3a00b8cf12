package sqlite

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/openagents/trust/shared/digest"
	"github.com/openagents/trust/shared/trust"
)

// Ensure the service implements the domain interface.
var _ trust.SkillVersionService = (*SkillVersionService)(nil)

// SkillVersionService stores skill versions in the catalog.
type SkillVersionService struct {
	db *DB
}

// NewSkillVersionService returns a SkillVersionService backed by db.
func NewSkillVersionService(db *DB) *SkillVersionService {
	return &SkillVersionService{db: db}
}

// CreateSkillVersion records a new version in state pending (the default) or
// approved. Its permissions must hash (digest.Permissions) to its permissions
// digest, else EINVALID. Recording the same identity and digests again changes
// nothing; other digests or another publisher for a known name@version is
// ECONFLICT. On success v holds the stored record (its state, permissions in
// normal form and times).
func (s *SkillVersionService) CreateSkillVersion(ctx context.Context, v *trust.SkillVersion) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()

	if err := createSkillVersion(ctx, tx, v); err != nil {
		return err
	}
	return tx.Commit()
}

// FindSkillVersion returns one version. ENOTFOUND if absent.
func (s *SkillVersionService) FindSkillVersion(ctx context.Context, ref trust.SkillRef) (*trust.SkillVersion, error) {
	if err := trust.ValidateSkillRef(ref.Name, ref.Version); err != nil {
		return nil, err
	}
	tx, err := s.db.BeginTx(ctx, readOnly)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()

	return findSkillVersion(ctx, tx, ref)
}

// UpdateSkillVersionState moves a version to approved or rejected and returns
// it. ENOTFOUND if absent; EINVALID for another state.
func (s *SkillVersionService) UpdateSkillVersionState(ctx context.Context, ref trust.SkillRef, state string) (*trust.SkillVersion, error) {
	if err := trust.ValidateSkillRef(ref.Name, ref.Version); err != nil {
		return nil, err
	} else if state != trust.SkillVersionApproved && state != trust.SkillVersionRejected {
		return nil, trust.Errorf(trust.EINVALID, "invalid skill version state %q: want %q or %q", state, trust.SkillVersionApproved, trust.SkillVersionRejected)
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()

	v, err := findSkillVersion(ctx, tx, ref)
	if err != nil {
		return nil, err
	}
	if v.State == trust.SkillVersionRejected && state != trust.SkillVersionRejected {
		// Rejection recalls the version's signatures; approving it again would
		// bring them back. A fixed skill is a new version.
		return nil, trust.Errorf(trust.ECONFLICT, "skill version %s was rejected, and rejection is final: submit a new version", ref)
	}
	if v.State != state {
		if _, err := tx.ExecContext(ctx, `UPDATE skill_versions SET state = ?, updated_at = ? WHERE name = ? AND version = ?`,
			state, formatTime(tx.now), ref.Name, ref.Version); err != nil {
			return nil, fmt.Errorf("update skill version %s state: %w", ref, err)
		}
		v.State, v.UpdatedAt = state, tx.now
	}
	return v, tx.Commit()
}

// createSkillVersion inserts v, or checks it against the stored version with
// the same name@version. v receives the stored record.
func createSkillVersion(ctx context.Context, tx *Tx, v *trust.SkillVersion) error {
	if v == nil {
		return trust.Errorf(trust.EINVALID, "skill version required")
	} else if err := v.Validate(); err != nil {
		return err
	}
	// The stored permissions must be the ones the digest covers: the review
	// queue and the runtime guard read them.
	if d, err := digest.Permissions(v.Permissions); err != nil {
		return trust.Errorf(trust.EINVALID, "skill version %s@%s: invalid permissions", v.Name, v.Version)
	} else if d != v.PermissionsDigest {
		return trust.Errorf(trust.EINVALID, "skill version %s@%s: permissions hash to %s, not to the permissions digest %s", v.Name, v.Version, d, v.PermissionsDigest)
	}
	switch v.State {
	case "":
		v.State = trust.SkillVersionPending
	case trust.SkillVersionPending, trust.SkillVersionApproved:
	default:
		return trust.Errorf(trust.EINVALID, "invalid state %q for a new skill version: want %q or %q", v.State, trust.SkillVersionPending, trust.SkillVersionApproved)
	}

	existing, err := findSkillVersion(ctx, tx, trust.SkillRef{Name: v.Name, Version: v.Version})
	if err == nil {
		if err := sameSkillVersion(existing, v.Publisher, v.ContentDigest, v.PermissionsDigest, v.ImageDigest); err != nil {
			return err
		}
		*v = *existing
		return nil
	} else if trust.ErrorCode(err) != trust.ENOTFOUND {
		return err
	}

	v.Permissions = v.Permissions.Normalize()
	perms, err := json.Marshal(v.Permissions)
	if err != nil {
		return fmt.Errorf("encode permissions: %w", err)
	}
	v.CreatedAt, v.UpdatedAt = tx.now, tx.now
	if _, err := tx.ExecContext(ctx, `
		INSERT INTO skill_versions (name, version, publisher, content_digest, permissions_digest, image_digest, permissions, state, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		v.Name, v.Version, v.Publisher, v.ContentDigest, v.PermissionsDigest, v.ImageDigest,
		string(perms), v.State, formatTime(v.CreatedAt), formatTime(v.UpdatedAt),
	); err != nil {
		return fmt.Errorf("insert skill version %s@%s: %w", v.Name, v.Version, err)
	}
	return nil
}

// sameSkillVersion reports, as ECONFLICT, a publisher or digest that differs
// from the stored version: a name@version is immutable.
func sameSkillVersion(v *trust.SkillVersion, publisher, content, permissions, image string) error {
	ref := trust.SkillRef{Name: v.Name, Version: v.Version}
	switch {
	case v.Publisher != publisher:
		return trust.Errorf(trust.ECONFLICT, "skill version %s is already recorded for another publisher", ref)
	case v.ContentDigest != content:
		return trust.Errorf(trust.ECONFLICT, "skill version %s is already recorded with another content digest", ref)
	case v.PermissionsDigest != permissions:
		return trust.Errorf(trust.ECONFLICT, "skill version %s is already recorded with another permissions digest", ref)
	case v.ImageDigest != image:
		return trust.Errorf(trust.ECONFLICT, "skill version %s is already recorded with another image digest", ref)
	}
	return nil
}

// findSkillVersion returns one version. ENOTFOUND if absent.
func findSkillVersion(ctx context.Context, tx *Tx, ref trust.SkillRef) (*trust.SkillVersion, error) {
	var v trust.SkillVersion
	var perms string
	err := tx.QueryRowContext(ctx, `
		SELECT name, version, publisher, content_digest, permissions_digest, image_digest, permissions, state, created_at, updated_at
		FROM skill_versions WHERE name = ? AND version = ?`, ref.Name, ref.Version,
	).Scan(&v.Name, &v.Version, &v.Publisher, &v.ContentDigest, &v.PermissionsDigest, &v.ImageDigest,
		&perms, &v.State, timeScanner{&v.CreatedAt}, timeScanner{&v.UpdatedAt})
	if isNotFound(err) {
		return nil, errNotFound("skill version %s not found", ref)
	} else if err != nil {
		return nil, fmt.Errorf("find skill version %s: %w", ref, err)
	}
	if err := json.Unmarshal([]byte(perms), &v.Permissions); err != nil {
		return nil, fmt.Errorf("decode permissions of %s: %w", ref, err)
	}
	v.Permissions = v.Permissions.Normalize()
	return &v, nil
}
