package trust

import (
	"context"
	"slices"
	"strings"
	"time"
)

// Permissions is what a skill declares it may do: the tools it calls, the network
// hosts it reaches, the programs it executes and the filesystem paths it reads or
// writes. The permissions digest is computed over the normalized form (see
// Normalize), so the order or repetition of entries in SKILL.md does not matter.
type Permissions struct {
	Tools      []string              `json:"tools"`
	Network    []string              `json:"network"`
	Exec       []string              `json:"exec"`
	Filesystem FilesystemPermissions `json:"filesystem"`
}

// FilesystemPermissions lists the paths a skill may read and write.
type FilesystemPermissions struct {
	Read  []string `json:"read"`
	Write []string `json:"write"`
}

// Normalize returns a copy of p in canonical form: every entry trimmed of
// surrounding space, empty entries dropped, each list sorted and de-duplicated,
// and nil lists replaced by empty ones (so they encode as [] rather than null).
func (p Permissions) Normalize() Permissions {
	return Permissions{
		Tools:   normalizeList(p.Tools),
		Network: normalizeList(p.Network),
		Exec:    normalizeList(p.Exec),
		Filesystem: FilesystemPermissions{
			Read:  normalizeList(p.Filesystem.Read),
			Write: normalizeList(p.Filesystem.Write),
		},
	}
}

func normalizeList(in []string) []string {
	out := make([]string, 0, len(in))
	for _, s := range in {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// Skill version states in the catalog. A version is signed only when approved.
const (
	SkillVersionPending  = "pending"
	SkillVersionApproved = "approved"
	SkillVersionRejected = "rejected"
)

// SkillVersion is one version of a skill as the catalog knows it: its identity,
// its digests and its place in the pipeline. A name@version is immutable: once
// recorded, its digests never change.
type SkillVersion struct {
	Name              string      `json:"name"`
	Version           string      `json:"version"`
	Publisher         string      `json:"publisher"`
	ContentDigest     string      `json:"content_digest"`
	PermissionsDigest string      `json:"permissions_digest"`
	ImageDigest       string      `json:"image_digest"`
	Permissions       Permissions `json:"permissions"`
	State             string      `json:"state"`
	CreatedAt         time.Time   `json:"created_at"`
	UpdatedAt         time.Time   `json:"updated_at"`
}

// SkillRef names one skill version.
type SkillRef struct {
	Name    string `json:"name"`
	Version string `json:"version"`
}

// String returns "name@version".
func (r SkillRef) String() string { return r.Name + "@" + r.Version }

var (
	skillNameRE    = NewPattern(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)
	skillVersionRE = NewPattern(`^[A-Za-z0-9][A-Za-z0-9.+_-]{0,63}$`)
	publisherRE    = NewPattern(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)
	digestRE       = NewPattern(`^sha256:[0-9a-f]{64}$`)
)

// ValidateSkillRef reports, as an EINVALID error, a name or version that cannot
// identify a skill version in the catalog.
func ValidateSkillRef(name, version string) error {
	if name == "" {
		return Errorf(EINVALID, "skill name required")
	} else if !skillNameRE.MatchString(name) {
		return Errorf(EINVALID, "invalid skill name %q: use letters, digits, '.', '_' and '-' (at most 128)", name)
	} else if version == "" {
		return Errorf(EINVALID, "skill version required")
	} else if !skillVersionRE.MatchString(version) {
		return Errorf(EINVALID, "invalid skill version %q: use letters, digits, '.', '+', '_' and '-' (at most 64)", version)
	}
	return nil
}

// ValidatePublisher reports an invalid publisher ID as an EINVALID error.
func ValidatePublisher(p string) error {
	if p == "" {
		return Errorf(EINVALID, "publisher required")
	} else if !publisherRE.MatchString(p) {
		return Errorf(EINVALID, "invalid publisher %q", p)
	}
	return nil
}

// ValidDigest reports whether s is a digest in the form "sha256:<64 lowercase hex>".
func ValidDigest(s string) bool { return digestRE.MatchString(s) }

// Validate checks the identity and digests of v (not its state).
func (v *SkillVersion) Validate() error {
	if err := ValidateSkillRef(v.Name, v.Version); err != nil {
		return err
	} else if err := ValidatePublisher(v.Publisher); err != nil {
		return err
	} else if !ValidDigest(v.ContentDigest) {
		return Errorf(EINVALID, "invalid content digest %q", v.ContentDigest)
	} else if !ValidDigest(v.PermissionsDigest) {
		return Errorf(EINVALID, "invalid permissions digest %q", v.PermissionsDigest)
	} else if v.ImageDigest != "" && !ValidDigest(v.ImageDigest) {
		return Errorf(EINVALID, "invalid image digest %q", v.ImageDigest)
	}
	return nil
}

// SkillVersionService manages skill versions in the catalog (service role only).
type SkillVersionService interface {
	// CreateSkillVersion records a new version in state pending or approved.
	// EINVALID for a bad record, including permissions that do not hash to the
	// permissions digest; ECONFLICT if name@version exists with other digests (a
	// version is immutable). Recording the same digests again is a no-op.
	CreateSkillVersion(ctx context.Context, v *SkillVersion) error

	// FindSkillVersion returns one version. ENOTFOUND if absent.
	FindSkillVersion(ctx context.Context, ref SkillRef) (*SkillVersion, error)

	// UpdateSkillVersionState moves a version to approved or rejected.
	// ENOTFOUND if absent; EINVALID for an unknown state; ECONFLICT for a
	// rejected version, since rejection (which recalls signatures) is final.
	UpdateSkillVersionState(ctx context.Context, ref SkillRef, state string) (*SkillVersion, error)
}
