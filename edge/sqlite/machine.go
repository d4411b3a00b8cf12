package sqlite

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"regexp"
	"strings"

	"github.com/openagents/trust/shared/trust"
)

// Ensure the service implements the domain interface.
var _ trust.MachineTokenService = (*MachineTokenService)(nil)

// MachineTokenPrefix starts every Machine token, so one is easy to recognize
// (and to scan for in logs).
const MachineTokenPrefix = "oamt_"

// machineTokenBytes is the number of random bytes in a token.
const machineTokenBytes = 32

// machineTokenLen is the length of a well-formed token.
var machineTokenLen = len(MachineTokenPrefix) + base64.RawURLEncoding.EncodedLen(machineTokenBytes)

// idRE matches a Machine or tenant ID.
var idRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$`)

// MachineTokenService issues and checks Machine tokens. Only the SHA-256 of a
// token is stored; the token itself is returned once, at creation.
type MachineTokenService struct {
	db *DB
}

// NewMachineTokenService returns a MachineTokenService backed by db.
func NewMachineTokenService(db *DB) *MachineTokenService {
	return &MachineTokenService{db: db}
}

// CreateMachineToken issues a new token for a Machine: "oamt_" followed by 32
// random bytes in unpadded base64url. A Machine may hold several tokens.
// EINVALID for a bad Machine or tenant ID.
func (s *MachineTokenService) CreateMachineToken(ctx context.Context, machineID, tenantID string) (string, error) {
	if !idRE.MatchString(machineID) {
		return "", trust.Errorf(trust.EINVALID, "invalid machine ID: use letters, digits, '.', '_', ':' and '-' (at most 128)")
	} else if !idRE.MatchString(tenantID) {
		return "", trust.Errorf(trust.EINVALID, "invalid tenant ID: use letters, digits, '.', '_', ':' and '-' (at most 128)")
	}
	buf := make([]byte, machineTokenBytes)
	if _, err := rand.Read(buf); err != nil {
		return "", fmt.Errorf("generate machine token: %w", err)
	}
	token := MachineTokenPrefix + base64.RawURLEncoding.EncodeToString(buf)

	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return "", err
	}
	defer tx.Rollback()

	if _, err := tx.ExecContext(ctx, `INSERT INTO machine_tokens (machine_id, tenant_id, token_hash, created_at) VALUES (?, ?, ?, ?)`,
		machineID, tenantID, hashToken(token), formatTime(tx.now)); err != nil {
		return "", fmt.Errorf("insert token of machine %s: %w", machineID, err)
	}
	return token, tx.Commit()
}

// AuthenticateMachine returns the Machine a token belongs to, found by the
// token's hash. EUNAUTHORIZED for a malformed, unknown or revoked token.
func (s *MachineTokenService) AuthenticateMachine(ctx context.Context, token string) (*trust.Machine, error) {
	if len(token) != machineTokenLen || !strings.HasPrefix(token, MachineTokenPrefix) {
		return nil, errUnauthorized()
	}
	tx, err := s.db.BeginTx(ctx, readOnly)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()

	var m trust.Machine
	err = tx.QueryRowContext(ctx, `SELECT machine_id, tenant_id, created_at FROM machine_tokens WHERE token_hash = ? AND revoked_at IS NULL`,
		hashToken(token)).Scan(&m.ID, &m.TenantID, timeScanner{&m.CreatedAt})
	if isNotFound(err) {
		return nil, errUnauthorized()
	} else if err != nil {
		return nil, fmt.Errorf("authenticate machine: %w", err)
	}
	return &m, nil
}

// RevokeMachineTokens revokes every token of a Machine. Revoking a Machine
// whose tokens are all revoked already changes nothing. ENOTFOUND if it never
// had a token.
func (s *MachineTokenService) RevokeMachineTokens(ctx context.Context, machineID string) error {
	if !idRE.MatchString(machineID) {
		return trust.Errorf(trust.EINVALID, "invalid machine ID")
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()

	var n int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM machine_tokens WHERE machine_id = ?`, machineID).Scan(&n); err != nil {
		return fmt.Errorf("count tokens of machine %s: %w", machineID, err)
	} else if n == 0 {
		return errNotFound("machine %s has no tokens", machineID)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE machine_tokens SET revoked_at = ? WHERE machine_id = ? AND revoked_at IS NULL`,
		formatTime(tx.now), machineID); err != nil {
		return fmt.Errorf("revoke tokens of machine %s: %w", machineID, err)
	}
	return tx.Commit()
}

// hashToken returns the lowercase hex SHA-256 of a token, as stored.
func hashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// errUnauthorized is the one answer for every token that does not authenticate.
func errUnauthorized() error {
	return trust.Errorf(trust.EUNAUTHORIZED, "invalid or revoked machine token")
}
