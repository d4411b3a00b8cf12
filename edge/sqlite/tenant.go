package sqlite

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/openagents/trust/shared/trust"
)

// Tenancy without row-level security. Tenant-owned tables are reached through
// two handle types only:
//
//   - *TenantStore is bound to one tenant. Tenancy.Authenticate makes one from
//     a user session or a Machine token it has checked, and a *ServiceStore
//     makes one, acting as the service, for a tenant that exists. Its fields
//     are unexported, so no other package can build one for a tenant of its
//     choosing; a zero TenantStore answers EUNAUTHORIZED. Every statement it
//     runs has "tenant_id = ?" bound from the handle, so another tenant's row
//     is simply not found (ENOTFOUND) and cannot be updated or deleted.
//   - *ServiceStore is the service role. Only Tenancy.Service makes one, and
//     only for the service credential, compared in constant time.

// Ensure the types implement the domain interfaces.
var (
	_ trust.Tenancy      = (*Tenancy)(nil)
	_ trust.TenantStore  = (*TenantStore)(nil)
	_ trust.ServiceStore = (*ServiceStore)(nil)
)

// tokenBytes is the number of random bytes in a user credential or session.
const tokenBytes = 32

// Tenancy is the gate to tenant-owned data: it checks credentials and hands
// out handles.
type Tenancy struct {
	db          *DB
	serviceHash [sha256.Size]byte
	hasService  bool

	// SessionTTL is how long a user session lasts (trust.DefaultSessionTTL).
	SessionTTL time.Duration
}

// NewTenancy returns the gate to db's tenant data. serviceCredential is the
// credential Service accepts; empty means no credential is accepted.
func NewTenancy(db *DB, serviceCredential string) *Tenancy {
	return &Tenancy{
		db:          db,
		serviceHash: sha256.Sum256([]byte(serviceCredential)),
		hasService:  serviceCredential != "",
		SessionTTL:  trust.DefaultSessionTTL,
	}
}

// DB returns the catalog the tenancy reads.
func (t *Tenancy) DB() *DB { return t.db }

// Service returns the service handle. EUNAUTHORIZED unless credential is the
// service credential.
func (t *Tenancy) Service(ctx context.Context, credential string) (trust.ServiceStore, error) {
	sum := sha256.Sum256([]byte(credential))
	if !t.hasService || subtle.ConstantTimeCompare(sum[:], t.serviceHash[:]) != 1 {
		return nil, trust.Errorf(trust.EUNAUTHORIZED, "invalid service credential")
	}
	return &ServiceStore{db: t.db}, nil
}

// CreateSession exchanges a user credential for a session of SessionTTL.
// EUNAUTHORIZED for a malformed, unknown or revoked credential.
func (t *Tenancy) CreateSession(ctx context.Context, credential string) (*trust.Session, error) {
	if !wellFormedToken(credential, trust.UserCredentialPrefix) {
		return nil, errBadUserCredential()
	}
	token, err := newToken(trust.UserSessionPrefix)
	if err != nil {
		return nil, err
	}
	tx, err := t.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()

	sess := &trust.Session{Token: token, CreatedAt: tx.now}
	err = tx.QueryRowContext(ctx, `SELECT tenant_id, user_id FROM user_credentials WHERE secret_hash = ? AND revoked_at IS NULL`,
		hashToken(credential)).Scan(&sess.TenantID, &sess.UserID)
	if isNotFound(err) {
		return nil, errBadUserCredential()
	} else if err != nil {
		return nil, fmt.Errorf("find user credential: %w", err)
	}
	ttl := t.SessionTTL
	if ttl <= 0 {
		ttl = trust.DefaultSessionTTL
	}
	sess.ExpiresAt = tx.now.Add(ttl)
	if _, err := tx.ExecContext(ctx, `INSERT INTO user_sessions (tenant_id, user_id, token_hash, created_at, expires_at) VALUES (?, ?, ?, ?, ?)`,
		sess.TenantID, sess.UserID, hashToken(token), formatTime(tx.now), formatTime(sess.ExpiresAt)); err != nil {
		return nil, fmt.Errorf("insert session of user %s: %w", sess.UserID, err)
	}
	return sess, tx.Commit()
}

// Authenticate returns a handle bound to the tenant of a user session or a
// Machine token. EUNAUTHORIZED for anything else: malformed, unknown, expired
// or revoked, or a Machine token whose tenant does not exist.
func (t *Tenancy) Authenticate(ctx context.Context, token string) (trust.TenantStore, error) {
	var s *TenantStore
	var err error
	switch {
	case wellFormedToken(token, trust.UserSessionPrefix):
		s, err = t.authenticateSession(ctx, token)
	case wellFormedToken(token, MachineTokenPrefix):
		s, err = t.authenticateMachine(ctx, token)
	default:
		return nil, errBadTenantToken()
	}
	if err != nil {
		return nil, err // never a nil *TenantStore in a non-nil interface
	}
	return s, nil
}

// authenticateSession checks a session token.
func (t *Tenancy) authenticateSession(ctx context.Context, token string) (*TenantStore, error) {
	tx, err := t.db.BeginTx(ctx, readOnly)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()

	s := &TenantStore{db: t.db, session: hashToken(token)}
	s.principal.Kind = trust.PrincipalUser
	err = tx.QueryRowContext(ctx, `SELECT tenant_id, user_id FROM user_sessions WHERE token_hash = ? AND revoked_at IS NULL AND expires_at > ?`,
		s.session, formatTime(tx.now)).Scan(&s.principal.TenantID, &s.principal.UserID)
	if isNotFound(err) {
		return nil, errBadTenantToken()
	} else if err != nil {
		return nil, fmt.Errorf("authenticate session: %w", err)
	}
	return s, nil
}

// authenticateMachine checks a Machine token and that its tenant exists.
func (t *Tenancy) authenticateMachine(ctx context.Context, token string) (*TenantStore, error) {
	tx, err := t.db.BeginTx(ctx, readOnly)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()

	s := &TenantStore{db: t.db}
	s.principal.Kind = trust.PrincipalMachine
	err = tx.QueryRowContext(ctx, `
		SELECT m.tenant_id, m.machine_id FROM machine_tokens m JOIN tenants t ON t.id = m.tenant_id
		WHERE m.token_hash = ? AND m.revoked_at IS NULL`,
		hashToken(token)).Scan(&s.principal.TenantID, &s.principal.MachineID)
	if isNotFound(err) {
		return nil, errBadTenantToken()
	} else if err != nil {
		return nil, fmt.Errorf("authenticate machine for tenant access: %w", err)
	}
	return s, nil
}

// TenantStore is one tenant's handle on the catalog (trust.TenantStore). See
// the top of this file for how one is obtained.
type TenantStore struct {
	db        *DB
	principal trust.Principal
	session   string // hash of the session token, for a user principal
}

// Principal returns who the handle acts for.
func (s *TenantStore) Principal() trust.Principal { return s.principal }

// begin starts a transaction of the handle, refusing a handle that no
// authentication made.
func (s *TenantStore) begin(ctx context.Context, opts *sql.TxOptions) (*Tx, error) {
	if err := s.authenticated(); err != nil {
		return nil, err
	}
	return s.db.BeginTx(ctx, opts)
}

// authenticated refuses a handle that no authentication made.
func (s *TenantStore) authenticated() error {
	if s == nil || s.db == nil || s.principal.TenantID == "" {
		return trust.Errorf(trust.EUNAUTHORIZED, "tenant handle not authenticated")
	}
	return nil
}

// FindTenant returns the handle's tenant.
func (s *TenantStore) FindTenant(ctx context.Context) (*trust.Tenant, error) {
	tx, err := s.begin(ctx, readOnly)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	return findTenantByID(ctx, tx, s.principal.TenantID)
}

// RevokeSession ends the session the handle was obtained from. EFORBIDDEN
// unless the principal is a user session.
func (s *TenantStore) RevokeSession(ctx context.Context) error {
	if s.principal.Kind != trust.PrincipalUser || s.session == "" {
		return trust.Errorf(trust.EFORBIDDEN, "only a user session can be revoked")
	}
	tx, err := s.begin(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `UPDATE user_sessions SET revoked_at = ? WHERE tenant_id = ? AND token_hash = ? AND revoked_at IS NULL`,
		formatTime(tx.now), s.principal.TenantID, s.session); err != nil {
		return fmt.Errorf("revoke session: %w", err)
	}
	return tx.Commit()
}

// ServiceStore is the service role (trust.ServiceStore). Only
// Tenancy.Service makes one.
type ServiceStore struct {
	db *DB
}

// begin starts a transaction, refusing a handle Tenancy.Service did not make.
func (s *ServiceStore) begin(ctx context.Context, opts *sql.TxOptions) (*Tx, error) {
	if err := s.authenticated(); err != nil {
		return nil, err
	}
	return s.db.BeginTx(ctx, opts)
}

// authenticated refuses a handle Tenancy.Service did not make.
func (s *ServiceStore) authenticated() error {
	if s == nil || s.db == nil {
		return trust.Errorf(trust.EUNAUTHORIZED, "service handle not authenticated")
	}
	return nil
}

// CreateTenant creates a tenant. EINVALID for a bad ID or name, ECONFLICT if
// the ID is taken.
func (s *ServiceStore) CreateTenant(ctx context.Context, t *trust.Tenant) (*trust.Tenant, error) {
	if t == nil {
		return nil, trust.Errorf(trust.EINVALID, "tenant required")
	} else if err := t.Validate(); err != nil {
		return nil, err
	}
	tx, err := s.begin(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()

	if _, err := findTenantByID(ctx, tx, t.ID); err == nil {
		return nil, trust.Errorf(trust.ECONFLICT, "tenant %s exists", t.ID)
	} else if trust.ErrorCode(err) != trust.ENOTFOUND {
		return nil, err
	}
	out := &trust.Tenant{ID: t.ID, Name: t.Name, CreatedAt: tx.now}
	if _, err := tx.ExecContext(ctx, `INSERT INTO tenants (id, name, created_at) VALUES (?, ?, ?)`, out.ID, out.Name, formatTime(tx.now)); err != nil {
		return nil, fmt.Errorf("insert tenant %s: %w", t.ID, err)
	}
	return out, tx.Commit()
}

// FindTenantByID returns a tenant. ENOTFOUND if absent.
func (s *ServiceStore) FindTenantByID(ctx context.Context, id string) (*trust.Tenant, error) {
	tx, err := s.begin(ctx, readOnly)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	return findTenantByID(ctx, tx, id)
}

// CreateUser creates a user of a tenant. ENOTFOUND for an unknown tenant,
// EINVALID for a bad email, ECONFLICT for an email the tenant already has.
func (s *ServiceStore) CreateUser(ctx context.Context, u *trust.User) (*trust.User, error) {
	if u == nil {
		return nil, trust.Errorf(trust.EINVALID, "user required")
	} else if err := u.Validate(); err != nil {
		return nil, err
	}
	tx, err := s.begin(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()

	if _, err := findTenantByID(ctx, tx, u.TenantID); err != nil {
		return nil, err
	}
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM users WHERE tenant_id = ? AND email = ?`, u.TenantID, u.Email).Scan(&n); err != nil {
		return nil, fmt.Errorf("check email: %w", err)
	} else if n > 0 {
		return nil, trust.Errorf(trust.ECONFLICT, "tenant %s has a user with that email", u.TenantID)
	}
	id, err := newID("usr_")
	if err != nil {
		return nil, err
	}
	out := &trust.User{ID: id, TenantID: u.TenantID, Email: u.Email, CreatedAt: tx.now}
	if _, err := tx.ExecContext(ctx, `INSERT INTO users (id, tenant_id, email, created_at) VALUES (?, ?, ?, ?)`,
		out.ID, out.TenantID, out.Email, formatTime(tx.now)); err != nil {
		return nil, fmt.Errorf("insert user: %w", err)
	}
	return out, tx.Commit()
}

// FindUsers returns the users of a tenant, or of all tenants for "".
func (s *ServiceStore) FindUsers(ctx context.Context, tenantID string) ([]*trust.User, error) {
	tx, err := s.begin(ctx, readOnly)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, `SELECT id, tenant_id, email, created_at FROM users WHERE ? = '' OR tenant_id = ? ORDER BY seq`, tenantID, tenantID)
	if err != nil {
		return nil, fmt.Errorf("find users: %w", err)
	}
	defer rows.Close()
	users := []*trust.User{}
	for rows.Next() {
		var u trust.User
		if err := rows.Scan(&u.ID, &u.TenantID, &u.Email, timeScanner{&u.CreatedAt}); err != nil {
			return nil, fmt.Errorf("scan user: %w", err)
		}
		users = append(users, &u)
	}
	return users, rows.Err()
}

// CreateUserCredential issues a credential for a user: "oauc_" and 32 random
// bytes, unpadded base64url. ENOTFOUND unless the user belongs to the tenant.
func (s *ServiceStore) CreateUserCredential(ctx context.Context, tenantID, userID string) (string, error) {
	credential, err := newToken(trust.UserCredentialPrefix)
	if err != nil {
		return "", err
	}
	tx, err := s.begin(ctx, nil)
	if err != nil {
		return "", err
	}
	defer tx.Rollback()
	if err := checkUser(ctx, tx, tenantID, userID); err != nil {
		return "", err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO user_credentials (tenant_id, user_id, secret_hash, created_at) VALUES (?, ?, ?, ?)`,
		tenantID, userID, hashToken(credential), formatTime(tx.now)); err != nil {
		return "", fmt.Errorf("insert credential of user %s: %w", userID, err)
	}
	return credential, tx.Commit()
}

// RevokeUser revokes every credential and session of a user. ENOTFOUND unless
// the user belongs to the tenant.
func (s *ServiceStore) RevokeUser(ctx context.Context, tenantID, userID string) error {
	tx, err := s.begin(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := checkUser(ctx, tx, tenantID, userID); err != nil {
		return err
	}
	for _, table := range []string{"user_credentials", "user_sessions"} {
		if _, err := tx.ExecContext(ctx, `UPDATE `+table+` SET revoked_at = ? WHERE tenant_id = ? AND user_id = ? AND revoked_at IS NULL`,
			formatTime(tx.now), tenantID, userID); err != nil {
			return fmt.Errorf("revoke %s of user %s: %w", table, userID, err)
		}
	}
	return tx.Commit()
}

// Tenant returns a handle bound to a tenant, acting as the service.
// ENOTFOUND for an unknown tenant.
func (s *ServiceStore) Tenant(ctx context.Context, tenantID string) (trust.TenantStore, error) {
	if _, err := s.FindTenantByID(ctx, tenantID); err != nil {
		return nil, err
	}
	return &TenantStore{db: s.db, principal: trust.Principal{Kind: trust.PrincipalService, TenantID: tenantID}}, nil
}

// findTenantByID returns a tenant. ENOTFOUND if absent.
func findTenantByID(ctx context.Context, tx *Tx, id string) (*trust.Tenant, error) {
	var t trust.Tenant
	err := tx.QueryRowContext(ctx, `SELECT id, name, created_at FROM tenants WHERE id = ?`, id).Scan(&t.ID, &t.Name, timeScanner{&t.CreatedAt})
	if isNotFound(err) {
		return nil, errNotFound("tenant not found")
	} else if err != nil {
		return nil, fmt.Errorf("find tenant: %w", err)
	}
	return &t, nil
}

// checkUser reports ENOTFOUND unless the user belongs to the tenant.
func checkUser(ctx context.Context, tx *Tx, tenantID, userID string) error {
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM users WHERE tenant_id = ? AND id = ?`, tenantID, userID).Scan(&n); err != nil {
		return fmt.Errorf("find user: %w", err)
	} else if n == 0 {
		return errNotFound("user not found")
	}
	return nil
}

// newToken returns prefix and 32 random bytes in unpadded base64url.
func newToken(prefix string) (string, error) {
	buf := make([]byte, tokenBytes)
	if _, err := rand.Read(buf); err != nil {
		return "", fmt.Errorf("generate token: %w", err)
	}
	return prefix + base64.RawURLEncoding.EncodeToString(buf), nil
}

// wellFormedToken reports whether token is prefix and 32 bytes of base64url.
func wellFormedToken(token, prefix string) bool {
	return len(token) == len(prefix)+base64.RawURLEncoding.EncodedLen(tokenBytes) && strings.HasPrefix(token, prefix)
}

// newID returns prefix and 12 random bytes in hex: an ID that says nothing
// about other rows.
func newID(prefix string) (string, error) {
	buf := make([]byte, 12)
	if _, err := rand.Read(buf); err != nil {
		return "", fmt.Errorf("generate ID: %w", err)
	}
	return prefix + hex.EncodeToString(buf), nil
}

// errBadUserCredential is the one answer for every credential that does not
// open a session.
func errBadUserCredential() error {
	return trust.Errorf(trust.EUNAUTHORIZED, "invalid or revoked user credential")
}

// errBadTenantToken is the one answer for every token that grants no tenant.
func errBadTenantToken() error {
	return trust.Errorf(trust.EUNAUTHORIZED, "invalid, expired or revoked token")
}

// tenantHandle returns the concrete handle, refusing one no authentication made.
func tenantHandle(ts trust.TenantStore) (*TenantStore, error) {
	s, _ := ts.(*TenantStore) // another implementation is nil here, and refused
	if err := s.authenticated(); err != nil {
		return nil, err
	}
	return s, nil
}

// serviceHandle returns the concrete service handle, refusing one
// Tenancy.Service did not make.
func serviceHandle(svc trust.ServiceStore) (*ServiceStore, error) {
	s, _ := svc.(*ServiceStore) // another implementation is nil here, and refused
	if err := s.authenticated(); err != nil {
		return nil, err
	}
	return s, nil
}
