package trust

import (
	"context"
	"encoding/json"
	"time"
)

// StatementType identifies the statement schema inside the signed payload, and
// PayloadType is the DSSE payload type of a signed statement. Verifiers refuse
// any other payload type.
const (
	StatementType = "https://openagents.dev/trust/skill-statement/v1"
	PayloadType   = "application/vnd.openagents.skill-statement.v1+json"
)

// Statement is what a signature says: this skill name and version, from this
// publisher, has exactly this content, these declared permissions and this image,
// and was signed with this key version at this time. It is encoded as RFC 8785
// canonical JSON and carried in a DSSE envelope.
type Statement struct {
	Type              string    `json:"_type"`
	Skill             string    `json:"skill"`
	Version           string    `json:"version"`
	Publisher         string    `json:"publisher"`
	ContentDigest     string    `json:"content_digest"`
	PermissionsDigest string    `json:"permissions_digest"`
	ImageDigest       string    `json:"image_digest"`
	KeyID             string    `json:"key_id"`
	KeyVersion        int       `json:"key_version"`
	IssuedAt          time.Time `json:"issued_at"`
}

// Ref returns the skill version the statement is about.
func (s *Statement) Ref() SkillRef { return SkillRef{Name: s.Skill, Version: s.Version} }

// Signature is a signed statement as the catalog stores it. The envelope is the
// authority; the other fields are copied from its verified payload for lookup.
type Signature struct {
	Skill             string          `json:"skill"`
	Version           string          `json:"version"`
	Publisher         string          `json:"publisher"`
	ContentDigest     string          `json:"content_digest"`
	PermissionsDigest string          `json:"permissions_digest"`
	ImageDigest       string          `json:"image_digest"`
	KeyID             string          `json:"key_id"`
	KeyVersion        int             `json:"key_version"`
	IssuedAt          time.Time       `json:"issued_at"`
	Envelope          json.RawMessage `json:"envelope"`
	CreatedAt         time.Time       `json:"created_at"`
}

// NewSignature returns the catalog record for a verified statement and its envelope.
func NewSignature(st *Statement, envelope []byte) *Signature {
	return &Signature{
		Skill: st.Skill, Version: st.Version, Publisher: st.Publisher,
		ContentDigest: st.ContentDigest, PermissionsDigest: st.PermissionsDigest, ImageDigest: st.ImageDigest,
		KeyID: st.KeyID, KeyVersion: st.KeyVersion, IssuedAt: st.IssuedAt,
		Envelope: json.RawMessage(envelope),
	}
}

// SignatureService stores and finds skill signatures.
type SignatureService interface {
	// CreateSignature records a signature whose envelope the caller has verified.
	// EINVALID for a malformed record; ENOTFOUND when name@version is not in the
	// catalog (it is recorded, with its permissions, first); ECONFLICT when it is
	// known with other digests or is not approved. Recording the same key
	// version's signature for the same digests again replaces the earlier one.
	CreateSignature(ctx context.Context, sig *Signature) error

	// FindSignatures returns the signatures of each requested skill version, newest
	// first; a version with none — or one that is not approved, so a rejected
	// version is recalled — maps to an empty slice. EINVALID for a bad ref or
	// more than MaxBatch refs.
	FindSignatures(ctx context.Context, refs []SkillRef) (map[SkillRef][]*Signature, error)
}

// MaxBatch is the largest number of skill versions one batch lookup may name.
const MaxBatch = 500
