package provision

import (
	"context"
	"fmt"

	"github.com/openagents/trust/shared/edgeapi"
	"github.com/openagents/trust/shared/trust"
)

// KeyVersion names the LLM API key a Machine should hold — by provider,
// source (the platform's key or the tenant's own) and version number. It never
// carries the key.
type KeyVersion struct {
	Provider string `json:"provider"`
	Source   string `json:"source"`
	Version  int    `json:"version"`
}

// Validate reports an unusable key version as EINVALID.
func (k KeyVersion) Validate() error {
	if err := trust.ValidProvider(k.Provider); err != nil {
		return err
	} else if k.Source != edgeapi.KeySourcePlatform && k.Source != edgeapi.KeySourceUser {
		return trust.Errorf(trust.EINVALID, "key source %q: want platform or user", k.Source)
	} else if k.Version < 1 {
		return trust.Errorf(trust.EINVALID, "key version must be positive")
	}
	return nil
}

// KeyVersionSource tells which API-key version a tenant's new Machine gets.
type KeyVersionSource interface {
	// CurrentKeyVersion returns the key version for the tenant's Machines.
	// ENOTFOUND when there is none to give; EUNAVAILABLE when the source
	// cannot be reached.
	CurrentKeyVersion(ctx context.Context, tenantID string) (KeyVersion, error)
}

// PlatformKeys is the KeyVersionSource over the edge's service API: the
// active version of the platform's key for Provider. Machines of a tenant with
// its own key learn so from the edge (GET /v1/tenant/key-version/{provider})
// and switch; new Machines start with the platform's version.
type PlatformKeys struct {
	Edge     *edgeapi.Client // service credential
	Provider string
}

// CurrentKeyVersion implements KeyVersionSource.
func (s *PlatformKeys) CurrentKeyVersion(ctx context.Context, tenantID string) (KeyVersion, error) {
	vs, err := s.Edge.FindAPIKeyVersions(ctx, s.Provider)
	if err != nil {
		return KeyVersion{}, fmt.Errorf("find %s key versions: %w", s.Provider, err)
	}
	for _, v := range vs {
		if v != nil && v.State == trust.APIKeyActive {
			return KeyVersion{Provider: s.Provider, Source: edgeapi.KeySourcePlatform, Version: v.Version}, nil
		}
	}
	return KeyVersion{}, trust.Errorf(trust.ENOTFOUND, "no active %s key version", s.Provider)
}
