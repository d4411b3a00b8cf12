package edgeapi

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/openagents/trust/shared/httpapi"
	"github.com/openagents/trust/shared/trust"
)

// SSH to the user's machine (docs/ssh.md): a user creates credentials,
// issues unseal grants, revokes, and reads and exports the audit trail; a
// Machine fetches a key with a grant, checks the credential's status before
// every command and records every attempt; the service purges old attempts.
// The Client methods make it the Machine-side tool's sshtool.Edge.

// SSH export formats of GET /v1/tenant/ssh-attempts.
const (
	SSHExportJSON  = "json"
	SSHExportJSONL = "jsonl"
	SSHExportCSV   = "csv"
)

// SSHCredentialRequest is the body of POST /v1/tenant/ssh-credentials.
type SSHCredentialRequest struct {
	AgentID string   `json:"agent_id"`
	Host    string   `json:"host"`
	Port    int      `json:"port"`
	User    string   `json:"user"`
	HostKey string   `json:"host_key"`
	Allow   []string `json:"allow"`
	Deny    []string `json:"deny"`
}

// SSHCredentialsResponse is the body of GET /v1/tenant/ssh-credentials.
type SSHCredentialsResponse struct {
	SSHCredentials []*trust.SSHCredential `json:"ssh_credentials"`
}

// SSHKeyRequest is the body of POST /v1/tenant/ssh-credentials/{id}/key.
type SSHKeyRequest struct {
	AgentID string `json:"agent_id"`
	Grant   string `json:"grant"`
}

// SSHStatusResponse is the body of GET /v1/tenant/ssh-credentials/{id}/status
// while the credential stands (a revoked one is 404).
type SSHStatusResponse struct {
	ID     string `json:"id"`
	Active bool   `json:"active"`
}

// SSHAttemptRequest is the body of POST /v1/tenant/ssh-attempts.
type SSHAttemptRequest struct {
	CredentialID string `json:"credential_id"`
	Command      string `json:"command"`
	Decision     string `json:"decision"`
	Reason       string `json:"reason"`
	ExitCode     *int   `json:"exit_code,omitempty"`
	Output       string `json:"output"`
	Truncated    bool   `json:"truncated"`
}

// SSHAttemptsResponse is the JSON body of GET /v1/tenant/ssh-attempts.
type SSHAttemptsResponse struct {
	SSHAttempts []*trust.SSHAttempt `json:"ssh_attempts"`
}

// SSHPurgeRequest is the body of POST /v1/service/ssh-attempts/purge; a zero
// Before means now minus trust.SSHAuditRetention.
type SSHPurgeRequest struct {
	Before time.Time `json:"before,omitzero"`
}

// SSHPurgeResponse is the answer to an SSHPurgeRequest.
type SSHPurgeResponse struct {
	Before  time.Time `json:"before"`
	Deleted int64     `json:"deleted"`
}

// sshCredentialPath returns the path of a credential, escaped.
func sshCredentialPath(id string) string {
	return "/v1/tenant/ssh-credentials/" + url.PathEscape(id)
}

// CreateSSHCredential creates a credential (user session); the answer holds
// the public key to install on the machine.
func (c *Client) CreateSSHCredential(ctx context.Context, req SSHCredentialRequest) (*trust.SSHCredential, error) {
	var out trust.SSHCredential
	if err := c.do(ctx, http.MethodPost, "/v1/tenant/ssh-credentials", req, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// FindSSHCredentials lists the tenant's credentials (user session).
func (c *Client) FindSSHCredentials(ctx context.Context) ([]*trust.SSHCredential, error) {
	var out SSHCredentialsResponse
	if err := c.do(ctx, http.MethodGet, "/v1/tenant/ssh-credentials", nil, &out); err != nil {
		return nil, err
	}
	return out.SSHCredentials, nil
}

// RevokeSSHCredential revokes a credential (user session): its sealed key is
// deleted at once.
func (c *Client) RevokeSSHCredential(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodDelete, sshCredentialPath(id), nil, &DeleteResponse{})
}

// CreateSSHGrant issues a single-use unseal grant (user session).
func (c *Client) CreateSSHGrant(ctx context.Context, id string) (*trust.SSHGrant, error) {
	var out trust.SSHGrant
	if err := c.do(ctx, http.MethodPost, sshCredentialPath(id)+"/grants", nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// UnsealSSHKey spends a grant for the credential's private key (Machine).
func (c *Client) UnsealSSHKey(ctx context.Context, id, agentID, grant string) (*trust.SSHKey, error) {
	var out trust.SSHKey
	if err := c.do(ctx, http.MethodPost, sshCredentialPath(id)+"/key", SSHKeyRequest{AgentID: agentID, Grant: grant}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// SSHCredentialStatus returns nil while the credential stands and ENOTFOUND
// once revoked (Machine).
func (c *Client) SSHCredentialStatus(ctx context.Context, id string) error {
	var out SSHStatusResponse
	if err := c.do(ctx, http.MethodGet, sshCredentialPath(id)+"/status", nil, &out); err != nil {
		return err
	} else if !out.Active {
		return trust.Errorf(trust.ENOTFOUND, "ssh credential not found")
	}
	return nil
}

// RecordSSHAttempt records an attempt (Machine).
func (c *Client) RecordSSHAttempt(ctx context.Context, a *trust.SSHAttempt) error {
	req := SSHAttemptRequest{CredentialID: a.CredentialID, Command: a.Command, Decision: a.Decision, Reason: a.Reason,
		ExitCode: a.ExitCode, Output: a.Output, Truncated: a.Truncated}
	return c.do(ctx, http.MethodPost, "/v1/tenant/ssh-attempts", req, &trust.SSHAttempt{})
}

// FindSSHAttempts lists the tenant's attempts (user session).
func (c *Client) FindSSHAttempts(ctx context.Context, credentialID string) ([]*trust.SSHAttempt, error) {
	var out SSHAttemptsResponse
	if err := c.do(ctx, http.MethodGet, "/v1/tenant/ssh-attempts?credential_id="+url.QueryEscape(credentialID), nil, &out); err != nil {
		return nil, err
	}
	return out.SSHAttempts, nil
}

// ExportSSHAttempts returns every attempt of the tenant as JSON Lines or CSV
// (user session).
func (c *Client) ExportSSHAttempts(ctx context.Context, format string) ([]byte, error) {
	base, err := url.Parse(c.URL)
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return nil, trust.Errorf(trust.EINVALID, "invalid edge URL: want http(s)://host")
	}
	u := strings.TrimSuffix(base.String(), "/") + "/v1/tenant/ssh-attempts?format=" + url.QueryEscape(format)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("build export request: %w", err)
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	hc := c.HTTPClient
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("edge export ssh attempts: %w", scrub(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, httpapi.ReadError(resp)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, MaxResponseSize+1))
	if err != nil {
		return nil, fmt.Errorf("read export: %w", scrub(err))
	} else if len(data) > MaxResponseSize {
		return nil, trust.Errorf(trust.EINTERNAL, "export larger than %d bytes", MaxResponseSize)
	}
	return data, nil
}

// PurgeSSHAttempts deletes attempts older than before, or than the retention
// for a zero before (service credential).
func (c *Client) PurgeSSHAttempts(ctx context.Context, before time.Time) (*SSHPurgeResponse, error) {
	var out SSHPurgeResponse
	if err := c.do(ctx, http.MethodPost, "/v1/service/ssh-attempts/purge", SSHPurgeRequest{Before: before}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}
