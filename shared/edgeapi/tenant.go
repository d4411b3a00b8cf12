package edgeapi

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"github.com/openagents/trust/shared/trust"
)

// The tenant API: the service creates tenants, users and user credentials; a
// user exchanges a credential for a session and manages the tenant's agent
// instances and reads its usage and audit events; a Machine reports usage and
// audit events. The tenant is always the credential's: no tenant route takes
// a tenant ID, except the service's.

// TenantHeader names the tenant the service credential acts as on a tenant
// route. No other credential may send it (it is ignored for them).
const TenantHeader = "Trust-Tenant"

// TenantRequest is the body of POST /v1/service/tenants.
type TenantRequest struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// UserRequest is the body of POST /v1/service/tenants/{id}/users.
type UserRequest struct {
	Email string `json:"email"`
}

// UserCredentialResponse is the answer to
// POST /v1/service/tenants/{id}/users/{user}/credentials. The credential is
// shown this once; the edge keeps only its hash.
type UserCredentialResponse struct {
	TenantID   string `json:"tenant_id"`
	UserID     string `json:"user_id"`
	Credential string `json:"credential"`
}

// RevokeUserResponse is the answer to
// POST /v1/service/tenants/{id}/users/{user}/revoke.
type RevokeUserResponse struct {
	UserID  string `json:"user_id"`
	Revoked bool   `json:"revoked"`
}

// SessionResponse is the body of GET /v1/session: who the session is.
type SessionResponse struct {
	Principal trust.Principal `json:"principal"`
	Tenant    *trust.Tenant   `json:"tenant"`
}

// AgentInstanceRequest is the body of POST /v1/tenant/agents.
type AgentInstanceRequest struct {
	Name   string `json:"name"`
	Config string `json:"config"`
}

// AgentInstancesResponse is the body of GET /v1/tenant/agents.
type AgentInstancesResponse struct {
	AgentInstances []*trust.AgentInstance `json:"agent_instances"`
}

// DeleteResponse is the answer to a DELETE.
type DeleteResponse struct {
	ID      string `json:"id"`
	Deleted bool   `json:"deleted"`
}

// UsageRequest is the body of POST /v1/tenant/usage.
type UsageRequest struct {
	SessionID      string `json:"session_id"`
	Model          string `json:"model"`
	InputTokens    int64  `json:"input_tokens"`
	OutputTokens   int64  `json:"output_tokens"`
	IdempotencyKey string `json:"idempotency_key"`
}

// UsageResponse is the answer to a UsageRequest: the stored record, and
// whether this request created it (false for a replay of its key).
type UsageResponse struct {
	trust.UsageRecord
	Created bool `json:"created"`
}

// UsageRecordsResponse is the body of GET /v1/tenant/usage.
type UsageRecordsResponse struct {
	UsageRecords []*trust.UsageRecord `json:"usage_records"`
}

// AuditEventRequest is the body of POST /v1/tenant/audit-events.
type AuditEventRequest struct {
	Action string `json:"action"`
	Target string `json:"target"`
	Detail string `json:"detail"`
}

// AuditEventsResponse is the body of GET /v1/tenant/audit-events.
type AuditEventsResponse struct {
	AuditEvents []*trust.AuditEvent `json:"audit_events"`
}

// CreateTenant creates a tenant (service credential).
func (c *Client) CreateTenant(ctx context.Context, id, name string) (*trust.Tenant, error) {
	var out trust.Tenant
	if err := c.do(ctx, http.MethodPost, "/v1/service/tenants", TenantRequest{ID: id, Name: name}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// FindTenantByID returns a tenant (service credential). ENOTFOUND if absent.
func (c *Client) FindTenantByID(ctx context.Context, id string) (*trust.Tenant, error) {
	var out trust.Tenant
	if err := c.do(ctx, http.MethodGet, tenantPath(id), nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// CreateUser creates a user of a tenant (service credential).
func (c *Client) CreateUser(ctx context.Context, tenantID, email string) (*trust.User, error) {
	var out trust.User
	if err := c.do(ctx, http.MethodPost, tenantPath(tenantID)+"/users", UserRequest{Email: email}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// CreateUserCredential issues a user credential (service credential) and
// returns it. It is shown this once: hand it to the user, never log it.
func (c *Client) CreateUserCredential(ctx context.Context, tenantID, userID string) (string, error) {
	var out UserCredentialResponse
	if err := c.do(ctx, http.MethodPost, userPath(tenantID, userID)+"/credentials", nil, &out); err != nil {
		return "", err
	} else if out.Credential == "" {
		return "", fmt.Errorf("edge issued no user credential")
	}
	return out.Credential, nil
}

// RevokeUser revokes every credential and session of a user (service
// credential).
func (c *Client) RevokeUser(ctx context.Context, tenantID, userID string) error {
	var out RevokeUserResponse
	if err := c.do(ctx, http.MethodPost, userPath(tenantID, userID)+"/revoke", nil, &out); err != nil {
		return err
	} else if !out.Revoked {
		return fmt.Errorf("edge answered without confirming that user %s is revoked", userID)
	}
	return nil
}

// CreateSession exchanges the client's token, a user credential, for a
// session. Use the session's token as the Token of a new client.
func (c *Client) CreateSession(ctx context.Context) (*trust.Session, error) {
	var out trust.Session
	if err := c.do(ctx, http.MethodPost, "/v1/sessions", nil, &out); err != nil {
		return nil, err
	} else if out.Token == "" {
		return nil, fmt.Errorf("edge opened a session without a token")
	}
	return &out, nil
}

// FindSession returns who the client's session is.
func (c *Client) FindSession(ctx context.Context) (*SessionResponse, error) {
	var out SessionResponse
	if err := c.do(ctx, http.MethodGet, "/v1/session", nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// RevokeSession ends the client's session.
func (c *Client) RevokeSession(ctx context.Context) error {
	var out DeleteResponse
	return c.do(ctx, http.MethodDelete, "/v1/session", nil, &out)
}

// CreateAgentInstance creates an agent instance of the session's tenant.
func (c *Client) CreateAgentInstance(ctx context.Context, name, config string) (*trust.AgentInstance, error) {
	var out trust.AgentInstance
	if err := c.do(ctx, http.MethodPost, "/v1/tenant/agents", AgentInstanceRequest{Name: name, Config: config}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// FindAgentInstanceByID returns an agent instance of the session's tenant.
// ENOTFOUND if the tenant has none with that ID.
func (c *Client) FindAgentInstanceByID(ctx context.Context, id string) (*trust.AgentInstance, error) {
	var out trust.AgentInstance
	if err := c.do(ctx, http.MethodGet, agentPath(id), nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// FindAgentInstances lists the agent instances of the session's tenant.
func (c *Client) FindAgentInstances(ctx context.Context, limit, offset int) ([]*trust.AgentInstance, error) {
	var out AgentInstancesResponse
	if err := c.do(ctx, http.MethodGet, "/v1/tenant/agents"+pageQuery(limit, offset), nil, &out); err != nil {
		return nil, err
	}
	return out.AgentInstances, nil
}

// UpdateAgentInstance changes an agent instance of the session's tenant.
func (c *Client) UpdateAgentInstance(ctx context.Context, id string, upd trust.AgentInstanceUpdate) (*trust.AgentInstance, error) {
	var out trust.AgentInstance
	if err := c.do(ctx, http.MethodPut, agentPath(id), upd, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// DeleteAgentInstance deletes an agent instance of the session's tenant.
func (c *Client) DeleteAgentInstance(ctx context.Context, id string) error {
	var out DeleteResponse
	return c.do(ctx, http.MethodDelete, agentPath(id), nil, &out)
}

// CreateUsageRecord reports usage (Machine token), once per idempotency key:
// a replay returns the stored record with created=false.
func (c *Client) CreateUsageRecord(ctx context.Context, req UsageRequest) (*trust.UsageRecord, bool, error) {
	var out UsageResponse
	if err := c.do(ctx, http.MethodPost, "/v1/tenant/usage", req, &out); err != nil {
		return nil, false, err
	}
	return &out.UsageRecord, out.Created, nil
}

// FindUsageRecords lists the usage of the session's tenant.
func (c *Client) FindUsageRecords(ctx context.Context, limit, offset int) ([]*trust.UsageRecord, error) {
	var out UsageRecordsResponse
	if err := c.do(ctx, http.MethodGet, "/v1/tenant/usage"+pageQuery(limit, offset), nil, &out); err != nil {
		return nil, err
	}
	return out.UsageRecords, nil
}

// CreateAuditEvent records an audit event (Machine token).
func (c *Client) CreateAuditEvent(ctx context.Context, req AuditEventRequest) (*trust.AuditEvent, error) {
	var out trust.AuditEvent
	if err := c.do(ctx, http.MethodPost, "/v1/tenant/audit-events", req, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// FindAuditEvents lists the audit events of the session's tenant.
func (c *Client) FindAuditEvents(ctx context.Context, limit, offset int) ([]*trust.AuditEvent, error) {
	var out AuditEventsResponse
	if err := c.do(ctx, http.MethodGet, "/v1/tenant/audit-events"+pageQuery(limit, offset), nil, &out); err != nil {
		return nil, err
	}
	return out.AuditEvents, nil
}

// tenantPath returns the service path of a tenant.
func tenantPath(id string) string { return "/v1/service/tenants/" + url.PathEscape(id) }

// userPath returns the service path of a user.
func userPath(tenantID, userID string) string {
	return tenantPath(tenantID) + "/users/" + url.PathEscape(userID)
}

// agentPath returns the path of an agent instance.
func agentPath(id string) string { return "/v1/tenant/agents/" + url.PathEscape(id) }

// pageQuery returns "?limit=…&offset=…" for non-zero values.
func pageQuery(limit, offset int) string {
	q := url.Values{}
	if limit != 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	if offset != 0 {
		q.Set("offset", strconv.Itoa(offset))
	}
	if len(q) == 0 {
		return ""
	}
	return "?" + q.Encode()
}
