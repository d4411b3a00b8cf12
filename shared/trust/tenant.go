package trust

import (
	"context"
	"time"
	"unicode/utf8"
)

// Tenancy: tenants, their users and the principals tenant-scoped code acts as.
//
// Go replaces row-level security. Tenant-owned rows (users, agent instances,
// usage, audit events, Machine tokens) carry a tenant ID, and code acting for
// a tenant reaches them only through a TenantStore: a handle bound to one
// tenant when it was obtained — from a user session or a Machine token, or
// from the service handle — whose methods take no tenant ID. Another tenant's
// row answers ENOTFOUND, never EFORBIDDEN, so a tenant cannot even learn that
// it exists. The service role is a different type, ServiceStore, obtained only
// with the service credential.

// Credential prefixes, so each kind is recognizable (and easy to scan logs for).
const (
	// UserCredentialPrefix starts a user credential: long-lived, issued by the
	// service, exchanged for sessions and never sent anywhere else.
	UserCredentialPrefix = "oauc_"

	// UserSessionPrefix starts a user session token: short-lived, revocable,
	// the bearer of every user request.
	UserSessionPrefix = "oaus_"
)

// DefaultSessionTTL is how long a user session lasts.
const DefaultSessionTTL = time.Hour

// Principal kinds.
const (
	PrincipalUser    = "user"
	PrincipalMachine = "machine"
	PrincipalService = "service"
)

// Principal is who a TenantStore acts for: a user or a Machine of the tenant,
// or the service acting explicitly as the tenant.
type Principal struct {
	Kind      string `json:"kind"`
	TenantID  string `json:"tenant_id"`
	UserID    string `json:"user_id,omitempty"`
	MachineID string `json:"machine_id,omitempty"`
}

// Actor names the principal in audit events: "user:<id>", "machine:<id>" or
// "service".
func (p Principal) Actor() string {
	switch p.Kind {
	case PrincipalUser:
		return "user:" + p.UserID
	case PrincipalMachine:
		return "machine:" + p.MachineID
	}
	return p.Kind
}

// Tenant is a customer of the platform; everything tenant-owned belongs to one.
type Tenant struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
}

// User is a person of one tenant. A user authenticates with a credential the
// service issued, exchanged for short-lived sessions.
type User struct {
	ID        string    `json:"id"`
	TenantID  string    `json:"tenant_id"`
	Email     string    `json:"email"`
	CreatedAt time.Time `json:"created_at"`
}

// Session is a user session. Token is set only when the session is created;
// the store keeps its hash.
type Session struct {
	Token     string    `json:"token,omitempty"`
	TenantID  string    `json:"tenant_id"`
	UserID    string    `json:"user_id"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`
}

// TenantIDPattern is what a tenant ID looks like.
var TenantIDPattern = NewPattern(`^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$`)

// emailPattern is a deliberately loose shape check: one @, no spaces.
var emailPattern = NewPattern(`^[^\s@]{1,64}@[^\s@]{1,255}$`)

// Validate reports an invalid tenant as EINVALID.
func (t *Tenant) Validate() error {
	if !TenantIDPattern.MatchString(t.ID) {
		return Errorf(EINVALID, "invalid tenant ID: use letters, digits, '.', '_', ':' and '-' (at most 128)")
	}
	return validText("tenant name", t.Name, 1, 200)
}

// Validate reports an invalid user as EINVALID.
func (u *User) Validate() error {
	if !emailPattern.MatchString(u.Email) {
		return Errorf(EINVALID, "invalid email")
	}
	return nil
}

// validText reports as EINVALID a string that is not UTF-8, has control
// characters, or has fewer than lo or more than hi characters.
func validText(field, s string, lo, hi int) error {
	if !utf8.ValidString(s) {
		return Errorf(EINVALID, "%s: not UTF-8", field)
	} else if n := utf8.RuneCountInString(s); n < lo || n > hi {
		return Errorf(EINVALID, "%s: want %d to %d characters", field, lo, hi)
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return Errorf(EINVALID, "%s: control characters are not allowed", field)
		}
	}
	return nil
}

// Tenancy is the gate to tenant-owned data: every handle comes from here, and
// only from a credential it has checked itself.
type Tenancy interface {
	// CreateSession exchanges a user credential for a new session, whose
	// token is returned this once. EUNAUTHORIZED for a malformed, unknown or
	// revoked credential.
	CreateSession(ctx context.Context, credential string) (*Session, error)

	// Authenticate returns a handle bound to the tenant of a user session or
	// a Machine token. EUNAUTHORIZED for anything else: malformed, unknown,
	// expired or revoked, or a Machine token of a tenant that does not exist.
	Authenticate(ctx context.Context, token string) (TenantStore, error)

	// Service returns the service handle. EUNAUTHORIZED unless credential is
	// the service credential.
	Service(ctx context.Context, credential string) (ServiceStore, error)
}

// TenantStore is one tenant's view of the catalog. Its methods take no tenant
// ID: the tenant is the handle's, fixed when it was obtained. A row of another
// tenant is ENOTFOUND on every method.
type TenantStore interface {
	// Principal returns who the handle acts for.
	Principal() Principal

	// FindTenant returns the handle's tenant.
	FindTenant(ctx context.Context) (*Tenant, error)

	// RevokeSession ends the session the handle was obtained from.
	// EFORBIDDEN unless the handle's principal is a user session.
	RevokeSession(ctx context.Context) error

	// CreateAgentInstance creates an agent instance; the store assigns its ID,
	// tenant and times, and records an audit event. EINVALID for a bad name
	// or config, ECONFLICT for a name the tenant already uses.
	CreateAgentInstance(ctx context.Context, a *AgentInstance) (*AgentInstance, error)

	// FindAgentInstanceByID returns one of the tenant's agent instances.
	// ENOTFOUND if the tenant has none with that ID.
	FindAgentInstanceByID(ctx context.Context, id string) (*AgentInstance, error)

	// FindAgentInstances returns the tenant's agent instances, oldest first.
	// EINVALID for a bad filter.
	FindAgentInstances(ctx context.Context, f AgentInstanceFilter) ([]*AgentInstance, error)

	// UpdateAgentInstance applies upd to one of the tenant's agent instances
	// and records an audit event. ENOTFOUND if the tenant has none with that
	// ID, EINVALID for bad fields, ECONFLICT for a name already used.
	UpdateAgentInstance(ctx context.Context, id string, upd AgentInstanceUpdate) (*AgentInstance, error)

	// DeleteAgentInstance deletes one of the tenant's agent instances and
	// records an audit event. ENOTFOUND if the tenant has none with that ID.
	DeleteAgentInstance(ctx context.Context, id string) error

	// CreateUsageRecord records the usage of a session, once per idempotency
	// key: a repeat with the same content returns the stored record and
	// created=false. A Machine principal's ID is recorded as the record's
	// Machine. EINVALID for bad fields, ECONFLICT for a key reused with other
	// content, EFORBIDDEN for a user principal.
	CreateUsageRecord(ctx context.Context, u *UsageRecord) (rec *UsageRecord, created bool, err error)

	// FindUsageRecords returns the tenant's usage records, oldest first.
	// EINVALID for a bad filter.
	FindUsageRecords(ctx context.Context, f UsageFilter) ([]*UsageRecord, error)

	// CreateAuditEvent records an audit event with the handle's principal as
	// its actor. EINVALID for bad fields.
	CreateAuditEvent(ctx context.Context, e *AuditEvent) (*AuditEvent, error)

	// FindAuditEvents returns the tenant's audit events, oldest first.
	// EINVALID for a bad filter.
	FindAuditEvents(ctx context.Context, f AuditEventFilter) ([]*AuditEvent, error)
}

// ServiceStore is the service role: it creates tenants, users and user
// credentials, and may act as any tenant, explicitly. Only the holder of the
// service credential can obtain one.
type ServiceStore interface {
	// CreateTenant creates a tenant. EINVALID for a bad ID or name, ECONFLICT
	// if the ID is taken.
	CreateTenant(ctx context.Context, t *Tenant) (*Tenant, error)

	// FindTenantByID returns a tenant. ENOTFOUND if absent.
	FindTenantByID(ctx context.Context, id string) (*Tenant, error)

	// CreateUser creates a user of a tenant; the store assigns its ID.
	// ENOTFOUND for an unknown tenant, EINVALID for a bad email, ECONFLICT
	// for an email the tenant already has.
	CreateUser(ctx context.Context, u *User) (*User, error)

	// FindUsers returns the users of a tenant, oldest first; every user when
	// tenantID is "".
	FindUsers(ctx context.Context, tenantID string) ([]*User, error)

	// CreateUserCredential issues a credential for a user and returns it this
	// once; only its hash is stored. ENOTFOUND unless the user belongs to
	// the tenant.
	CreateUserCredential(ctx context.Context, tenantID, userID string) (credential string, err error)

	// RevokeUser revokes every credential and session of a user. ENOTFOUND
	// unless the user belongs to the tenant.
	RevokeUser(ctx context.Context, tenantID, userID string) error

	// Tenant returns a handle bound to a tenant, acting as the service.
	// ENOTFOUND for an unknown tenant.
	Tenant(ctx context.Context, tenantID string) (TenantStore, error)

	// FindAgentInstances, FindUsageRecords and FindAuditEvents read across
	// tenants: the rows of one tenant, or of all when tenantID is "".
	FindAgentInstances(ctx context.Context, tenantID string) ([]*AgentInstance, error)
	FindUsageRecords(ctx context.Context, tenantID string) ([]*UsageRecord, error)
	FindAuditEvents(ctx context.Context, tenantID string) ([]*AuditEvent, error)
}
