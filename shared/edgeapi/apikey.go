package edgeapi

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/openagents/trust/shared/trust"
)

// API keys (docs/apikeys.md): the service manages platform key versions and
// tenants' credits; users store their own keys; a Machine asks which key
// version is current and reports metered usage. A raw key travels only in a
// request body that stores it, never in a response.

// APIKeyVersionRequest is the body of
// POST /v1/service/api-keys/{provider}/versions. Key is the raw key: the edge
// seals it at once and never returns it.
type APIKeyVersionRequest struct {
	Key            string `json:"key"`
	Period         string `json:"period,omitempty"`
	OverlapSeconds int64  `json:"overlap_seconds,omitempty"`
}

// APIKeyVersionResponse is the answer to an APIKeyVersionRequest: the version
// without its key, and whether this request created it (false when the
// period already had one).
type APIKeyVersionResponse struct {
	trust.APIKeyVersion
	Created bool `json:"created"`
}

// APIKeyVersionsResponse is the body of GET /v1/service/api-keys/{provider}/versions
// and of POST /v1/service/api-keys/{provider}/retire (the versions retired).
type APIKeyVersionsResponse struct {
	Versions []*trust.APIKeyVersion `json:"versions"`
}

// StageAPIKeyRequest is the body of POST /v1/service/api-keys/{provider}/staged.
// Key is the raw key for the next rotation: the edge seals it at once and
// never returns it. StagedBy labels the operator (default "service").
type StageAPIKeyRequest struct {
	Key      string `json:"key"`
	StagedBy string `json:"staged_by,omitempty"`
}

// RotateAPIKeyRequest is the body of POST /v1/service/api-keys/{provider}/rotate:
// promote the staged key to the period's version.
type RotateAPIKeyRequest struct {
	Period         string `json:"period"`
	OverlapSeconds int64  `json:"overlap_seconds,omitempty"`
}

// Key sources of a Machine.
const (
	KeySourcePlatform = "platform"
	KeySourceUser     = "user"
)

// KeyVersionResponse is the body of GET /v1/tenant/key-version/{provider}:
// which key a Machine should hold — the tenant's own when it set one, the
// platform's otherwise — by version number only. Machines poll it and ask
// provisioning for the key when it moves.
type KeyVersionResponse struct {
	Provider string `json:"provider"`
	Source   string `json:"source"`
	Version  int    `json:"version"`
}

// UserAPIKeyRequest is the body of PUT /v1/tenant/user-keys/{provider}.
type UserAPIKeyRequest struct {
	Key string `json:"key"`
}

// UserAPIKeysResponse is the body of GET /v1/tenant/user-keys.
type UserAPIKeysResponse struct {
	Keys []*trust.UserAPIKey `json:"keys"`
}

// CreditGrantRequest is the body of POST /v1/service/tenants/{id}/credits.
type CreditGrantRequest struct {
	Amount         int64  `json:"amount"`
	IdempotencyKey string `json:"idempotency_key"`
}

// MeteredUsageResponse is the answer to POST /v1/tenant/usage on a metered
// edge: the stored record and what it cost.
type MeteredUsageResponse struct {
	UsageResponse
	Charged   int64 `json:"charged"`
	Balance   int64 `json:"balance"`
	Suspended bool  `json:"suspended"`
}

// CreateAPIKeyVersion stores a new platform key version (service
// credential). created=false when req.Period already has a version.
func (c *Client) CreateAPIKeyVersion(ctx context.Context, provider string, req APIKeyVersionRequest) (*trust.APIKeyVersion, bool, error) {
	var out APIKeyVersionResponse
	if err := c.do(ctx, http.MethodPost, apiKeyPath(provider)+"/versions", req, &out); err != nil {
		return nil, false, err
	}
	return &out.APIKeyVersion, out.Created, nil
}

// FindAPIKeyVersions lists a provider's versions, newest first (service
// credential).
func (c *Client) FindAPIKeyVersions(ctx context.Context, provider string) ([]*trust.APIKeyVersion, error) {
	var out APIKeyVersionsResponse
	if err := c.do(ctx, http.MethodGet, apiKeyPath(provider)+"/versions", nil, &out); err != nil {
		return nil, err
	}
	return out.Versions, nil
}

// RetireAPIKeyVersions retires the provider's versions whose overlap window
// has passed and returns them (service credential).
func (c *Client) RetireAPIKeyVersions(ctx context.Context, provider string) ([]*trust.APIKeyVersion, error) {
	var out APIKeyVersionsResponse
	if err := c.do(ctx, http.MethodPost, apiKeyPath(provider)+"/retire", nil, &out); err != nil {
		return nil, err
	}
	return out.Versions, nil
}

// StageAPIKey stages a provider's key for the next rotation, replacing any
// staged one, and returns its record: a fingerprint, never the key (service
// credential).
func (c *Client) StageAPIKey(ctx context.Context, provider string, req StageAPIKeyRequest) (*trust.StagedAPIKey, error) {
	var out trust.StagedAPIKey
	if err := c.do(ctx, http.MethodPost, apiKeyPath(provider)+"/staged", req, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// FindStagedAPIKey returns the record of a provider's staged key; ENOTFOUND
// when nothing is staged (service credential).
func (c *Client) FindStagedAPIKey(ctx context.Context, provider string) (*trust.StagedAPIKey, error) {
	var out trust.StagedAPIKey
	if err := c.do(ctx, http.MethodGet, apiKeyPath(provider)+"/staged", nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// RotateAPIKey promotes a provider's staged key to req.Period's active
// version on the edge; the key never leaves the edge. created=false when the
// period already has a version; ECONFLICT when nothing is staged (service
// credential).
func (c *Client) RotateAPIKey(ctx context.Context, provider string, req RotateAPIKeyRequest) (*trust.APIKeyVersion, bool, error) {
	var out APIKeyVersionResponse
	if err := c.do(ctx, http.MethodPost, apiKeyPath(provider)+"/rotate", req, &out); err != nil {
		return nil, false, err
	}
	return &out.APIKeyVersion, out.Created, nil
}

// FindKeyVersion returns the key version a Machine should hold (Machine
// token).
func (c *Client) FindKeyVersion(ctx context.Context, provider string) (*KeyVersionResponse, error) {
	var out KeyVersionResponse
	if err := c.do(ctx, http.MethodGet, "/v1/tenant/key-version/"+url.PathEscape(provider), nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// PutUserAPIKey stores the tenant's own key for a provider (user session).
func (c *Client) PutUserAPIKey(ctx context.Context, provider, key string) (*trust.UserAPIKey, error) {
	var out trust.UserAPIKey
	if err := c.do(ctx, http.MethodPut, userKeyPath(provider), UserAPIKeyRequest{Key: key}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// FindUserAPIKeys lists the tenant's own keys, without secrets (user session).
func (c *Client) FindUserAPIKeys(ctx context.Context) ([]*trust.UserAPIKey, error) {
	var out UserAPIKeysResponse
	if err := c.do(ctx, http.MethodGet, "/v1/tenant/user-keys", nil, &out); err != nil {
		return nil, err
	}
	return out.Keys, nil
}

// DeleteUserAPIKey removes the tenant's own key for a provider (user session).
func (c *Client) DeleteUserAPIKey(ctx context.Context, provider string) error {
	var out DeleteResponse
	return c.do(ctx, http.MethodDelete, userKeyPath(provider), nil, &out)
}

// GrantCredits adds credits to a tenant once per idempotency key (service
// credential).
func (c *Client) GrantCredits(ctx context.Context, tenantID string, amount int64, idempotencyKey string) (*trust.CreditAccount, error) {
	var out trust.CreditAccount
	if err := c.do(ctx, http.MethodPost, tenantPath(tenantID)+"/credits", CreditGrantRequest{Amount: amount, IdempotencyKey: idempotencyKey}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// FindCreditAccount returns a tenant's balance (service credential).
func (c *Client) FindCreditAccount(ctx context.Context, tenantID string) (*trust.CreditAccount, error) {
	var out trust.CreditAccount
	if err := c.do(ctx, http.MethodGet, tenantPath(tenantID)+"/credits", nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// FindMachineMeter returns a Machine's metering state (service credential).
func (c *Client) FindMachineMeter(ctx context.Context, tenantID, machineID string) (*trust.MachineMeter, error) {
	var out trust.MachineMeter
	if err := c.do(ctx, http.MethodGet, meterPath(tenantID, machineID), nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// UnsuspendMachine clears a Machine's suspension (service credential).
func (c *Client) UnsuspendMachine(ctx context.Context, tenantID, machineID string) (*trust.MachineMeter, error) {
	var out trust.MachineMeter
	if err := c.do(ctx, http.MethodPost, meterPath(tenantID, machineID)+"/unsuspend", nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// ReportUsage reports a session's usage to a metered edge (Machine token).
func (c *Client) ReportUsage(ctx context.Context, req UsageRequest) (*MeteredUsageResponse, error) {
	var out MeteredUsageResponse
	if err := c.do(ctx, http.MethodPost, "/v1/tenant/usage", req, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// apiKeyPath returns the service path of a provider's platform key.
func apiKeyPath(provider string) string { return "/v1/service/api-keys/" + url.PathEscape(provider) }

// userKeyPath returns the tenant path of a provider's user key.
func userKeyPath(provider string) string { return "/v1/tenant/user-keys/" + url.PathEscape(provider) }

// meterPath returns the service path of a Machine's meter.
func meterPath(tenantID, machineID string) string {
	return tenantPath(tenantID) + "/meters/" + url.PathEscape(machineID)
}

// DefaultKeyVersionPoll is how often a KeyVersionWatcher asks by default: a
// rotation keeps the replaced version valid for days (trust.DefaultAPIKeyOverlap),
// so a minute is plenty and costs the edge nothing.
const DefaultKeyVersionPoll = time.Minute

// KeyVersionWatcher polls GET /v1/tenant/key-version/{provider} with a
// Machine token and reports each new version, so a Machine can switch keys
// without a restart.
type KeyVersionWatcher struct {
	Client   *Client
	Provider string

	// Interval is the time between polls (DefaultKeyVersionPoll when zero);
	// after a transient failure the next poll comes after Interval too.
	Interval time.Duration

	// OnError, when set, is told about each transient failure (edge
	// unreachable, 5xx, rate limit, no version yet) before the next poll.
	// The error never holds the token.
	OnError func(err error, retryIn time.Duration)
}

// Watch polls until ctx ends or the edge refuses the Machine. It calls fn
// with every answer that differs from the last one — from current first (nil:
// the first answer is reported). A refusal worth no retry ends it with that
// *trust.Error: EFORBIDDEN (the Machine is suspended, or its tenant has no
// credits left), EUNAUTHORIZED (the token was revoked) or EINVALID (an
// unknown provider). An error from fn ends it too. When ctx ends Watch
// returns ctx.Err().
func (w *KeyVersionWatcher) Watch(ctx context.Context, current *KeyVersionResponse, fn func(*KeyVersionResponse) error) error {
	if err := trust.ValidProvider(w.Provider); err != nil {
		return err
	}
	interval := w.Interval
	if interval <= 0 {
		interval = DefaultKeyVersionPoll
	}
	last := current
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-timer.C:
		}
		kv, err := w.Client.FindKeyVersion(ctx, w.Provider)
		switch {
		case err != nil && ctx.Err() != nil:
			return ctx.Err()
		case err != nil && KeyVersionRefusal(err):
			return err
		case err != nil:
			if w.OnError != nil {
				w.OnError(err, interval)
			}
		case last == nil || *kv != *last:
			last = kv
			if err := fn(kv); err != nil {
				return fmt.Errorf("key version %s/%d: %w", kv.Source, kv.Version, err)
			}
		}
		timer.Reset(interval)
	}
}

// KeyVersionRefusal reports whether err is an answer of the key-version
// route that no retry changes: EFORBIDDEN, EUNAUTHORIZED or EINVALID.
func KeyVersionRefusal(err error) bool {
	switch trust.ErrorCode(err) {
	case trust.EFORBIDDEN, trust.EUNAUTHORIZED, trust.EINVALID:
		return true
	}
	return false
}
