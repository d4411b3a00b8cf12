package sqlite

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/openagents/trust/shared/trust"
)

// Ensure the service implements the domain interface.
var _ trust.SignatureService = (*SignatureService)(nil)

// SignatureService stores skill signatures in the catalog.
type SignatureService struct {
	db *DB
}

// NewSignatureService returns a SignatureService backed by db.
func NewSignatureService(db *DB) *SignatureService {
	return &SignatureService{db: db}
}

// CreateSignature records a signature whose envelope the caller has verified.
//
// The signed name@version must already be in the catalog, recorded with its
// permissions (ENOTFOUND otherwise: a signature never creates a version, so
// every signed version has permissions that hash to its permissions digest).
// Its publisher and digests must be the signed ones (else ECONFLICT) and it
// must be approved (a pending or rejected version is ECONFLICT). A second
// signature by the same key version replaces the first. EINVALID for a
// malformed record. On success sig.CreatedAt is set.
func (s *SignatureService) CreateSignature(ctx context.Context, sig *trust.Signature) error {
	if err := validateSignature(sig); err != nil {
		return err
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()

	if err := createSignature(ctx, tx, sig); err != nil {
		return err
	}
	return tx.Commit()
}

// FindSignatures returns the signatures of each requested skill version, newest
// issued first, in one query; a version with none maps to an empty slice. Only
// approved versions have signatures to show: those of a version moved to
// rejected after signing stay stored but are not returned. EINVALID for a bad
// ref or more than trust.MaxBatch refs.
func (s *SignatureService) FindSignatures(ctx context.Context, refs []trust.SkillRef) (map[trust.SkillRef][]*trust.Signature, error) {
	if len(refs) > trust.MaxBatch {
		return nil, trust.Errorf(trust.EINVALID, "too many skill versions: %d (at most %d)", len(refs), trust.MaxBatch)
	}
	for _, ref := range refs {
		if err := trust.ValidateSkillRef(ref.Name, ref.Version); err != nil {
			return nil, err
		}
	}
	tx, err := s.db.BeginTx(ctx, readOnly)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()

	return findSignatures(ctx, tx, refs)
}

// validateSignature checks the fields copied from the signed statement.
func validateSignature(sig *trust.Signature) error {
	switch {
	case sig == nil:
		return trust.Errorf(trust.EINVALID, "signature required")
	case trust.ValidateSkillRef(sig.Skill, sig.Version) != nil:
		return trust.ValidateSkillRef(sig.Skill, sig.Version)
	case trust.ValidatePublisher(sig.Publisher) != nil:
		return trust.ValidatePublisher(sig.Publisher)
	case !trust.ValidDigest(sig.ContentDigest):
		return trust.Errorf(trust.EINVALID, "invalid content digest %q", sig.ContentDigest)
	case !trust.ValidDigest(sig.PermissionsDigest):
		return trust.Errorf(trust.EINVALID, "invalid permissions digest %q", sig.PermissionsDigest)
	case sig.ImageDigest != "" && !trust.ValidDigest(sig.ImageDigest):
		return trust.Errorf(trust.EINVALID, "invalid image digest %q", sig.ImageDigest)
	case trust.ValidateKeyID(sig.KeyID) != nil:
		return trust.ValidateKeyID(sig.KeyID)
	case sig.KeyVersion < 1:
		return trust.Errorf(trust.EINVALID, "invalid key version %d", sig.KeyVersion)
	case sig.IssuedAt.IsZero():
		return trust.Errorf(trust.EINVALID, "signature issue time required")
	case len(sig.Envelope) == 0:
		return trust.Errorf(trust.EINVALID, "signature envelope required")
	case !json.Valid(sig.Envelope):
		return trust.Errorf(trust.EINVALID, "signature envelope is not JSON")
	}
	return nil
}

// createSignature records sig after checking it against its skill version.
func createSignature(ctx context.Context, tx *Tx, sig *trust.Signature) error {
	ref := trust.SkillRef{Name: sig.Skill, Version: sig.Version}
	v, err := findSkillVersion(ctx, tx, ref)
	switch trust.ErrorCode(err) {
	case "":
		if err := sameSkillVersion(v, sig.Publisher, sig.ContentDigest, sig.PermissionsDigest, sig.ImageDigest); err != nil {
			return err
		} else if v.State != trust.SkillVersionApproved {
			return trust.Errorf(trust.ECONFLICT, "skill version %s is %s: only an approved version can be signed", ref, v.State)
		}
	case trust.ENOTFOUND:
		return trust.Errorf(trust.ENOTFOUND, "skill version %s is not in the catalog: record it, with its permissions, before its signature", ref)
	default:
		return err
	}

	sig.CreatedAt = tx.now
	if _, err := tx.ExecContext(ctx, `
		INSERT INTO signatures (skill, version, key_id, key_version, publisher, content_digest, permissions_digest, image_digest, issued_at, envelope, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (skill, version, key_id, key_version) DO UPDATE SET
			publisher = excluded.publisher,
			content_digest = excluded.content_digest,
			permissions_digest = excluded.permissions_digest,
			image_digest = excluded.image_digest,
			issued_at = excluded.issued_at,
			envelope = excluded.envelope,
			created_at = excluded.created_at`,
		sig.Skill, sig.Version, sig.KeyID, sig.KeyVersion, sig.Publisher,
		sig.ContentDigest, sig.PermissionsDigest, sig.ImageDigest,
		formatTime(sig.IssuedAt), []byte(sig.Envelope), formatTime(sig.CreatedAt),
	); err != nil {
		return fmt.Errorf("insert signature of %s by %s: %w", ref, trust.KeyRef(sig.KeyID, sig.KeyVersion), err)
	}
	return nil
}

// findSignatures looks up every ref in one query: the refs travel as one JSON
// parameter, [[name, version], …], unpacked by json_each and joined on the
// signatures' unique index, then on the skill version, which must be approved.
func findSignatures(ctx context.Context, tx *Tx, refs []trust.SkillRef) (map[trust.SkillRef][]*trust.Signature, error) {
	m := make(map[trust.SkillRef][]*trust.Signature, len(refs))
	pairs := make([][2]string, 0, len(refs))
	for _, ref := range refs {
		if _, ok := m[ref]; !ok {
			m[ref] = []*trust.Signature{}
			pairs = append(pairs, [2]string{ref.Name, ref.Version})
		}
	}
	if len(pairs) == 0 {
		return m, nil
	}
	param, err := json.Marshal(pairs)
	if err != nil {
		return nil, fmt.Errorf("encode refs: %w", err)
	}

	rows, err := tx.QueryContext(ctx, `
		SELECT s.skill, s.version, s.publisher, s.content_digest, s.permissions_digest, s.image_digest,
		       s.key_id, s.key_version, s.issued_at, s.envelope, s.created_at
		FROM (SELECT json_extract(value, '$[0]') AS name, json_extract(value, '$[1]') AS version FROM json_each(?)) AS r
		CROSS JOIN signatures AS s ON s.skill = r.name AND s.version = r.version
		JOIN skill_versions AS v ON v.name = s.skill AND v.version = s.version AND v.state = 'approved'
		ORDER BY s.skill, s.version, s.issued_at DESC, s.key_id, s.key_version DESC`, string(param))
	if err != nil {
		return nil, fmt.Errorf("find signatures: %w", err)
	}
	defer rows.Close()

	for rows.Next() {
		var sig trust.Signature
		var envelope []byte
		if err := rows.Scan(&sig.Skill, &sig.Version, &sig.Publisher, &sig.ContentDigest, &sig.PermissionsDigest, &sig.ImageDigest,
			&sig.KeyID, &sig.KeyVersion, timeScanner{&sig.IssuedAt}, &envelope, timeScanner{&sig.CreatedAt}); err != nil {
			return nil, fmt.Errorf("scan signature: %w", err)
		}
		sig.Envelope = json.RawMessage(envelope)
		ref := trust.SkillRef{Name: sig.Skill, Version: sig.Version}
		m[ref] = append(m[ref], &sig)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("find signatures: %w", err)
	}
	return m, nil
}
