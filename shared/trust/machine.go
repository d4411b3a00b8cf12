package trust

import (
	"context"
	"time"
)

// Machine is an authenticated Agent Machine, as identified by its token.
type Machine struct {
	ID        string    `json:"id"`
	TenantID  string    `json:"tenant_id"`
	CreatedAt time.Time `json:"created_at"`
}

// MachineTokenService issues and checks Machine tokens. Tokens are stored hashed;
// the raw token is returned once, at creation.
type MachineTokenService interface {
	// CreateMachineToken issues a token for a Machine. EINVALID for a bad ID.
	CreateMachineToken(ctx context.Context, machineID, tenantID string) (token string, err error)

	// AuthenticateMachine returns the Machine a token belongs to.
	// EUNAUTHORIZED for an unknown or revoked token.
	AuthenticateMachine(ctx context.Context, token string) (*Machine, error)

	// RevokeMachineTokens revokes every token of a Machine. ENOTFOUND if it has none.
	RevokeMachineTokens(ctx context.Context, machineID string) error
}
