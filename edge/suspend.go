package edge

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/openagents/trust/shared/httpapi"
	"github.com/openagents/trust/shared/trust"
)

// Suspension at the provider (docs/apikeys.md): when the meter suspends a
// Machine for a usage anomaly, the catalog flag refuses it at once; the
// ProvisionSuspender then asks the provisioning function to stop it on Fly,
// so it stops spending. The edge holds only the operator credential of that
// function, never a Fly API token.

// Environment of the suspension adapter.
const (
	// EnvProvisionURL is the base URL of the provisioning function's API.
	EnvProvisionURL = "TRUST_PROVISION_URL"
	// EnvProvisionToken is the operator credential of that API.
	EnvProvisionToken = "TRUST_PROVISION_TOKEN"
)

// DefaultSuspendTimeout bounds one call to the provisioning API: the report
// that caused the suspension waits for it.
const DefaultSuspendTimeout = 10 * time.Second

// SuspendConfig configures the ProvisionSuspender. Its zero value is off:
// suspensions are then catalog-only (the Machine is refused everywhere, but
// keeps running at the provider).
type SuspendConfig struct {
	// URL is the provisioning API's base URL (https, or http to loopback).
	URL string

	// Token is the operator credential; it is never printed.
	Token string

	// TokenFile holds the operator credential instead of Token.
	TokenFile string
}

// suspendEnv reads the suspension adapter's environment.
func (m *Main) suspendEnv() {
	if v := m.Getenv(EnvProvisionURL); v != "" {
		m.Config.Suspend.URL = v
	}
	m.Config.Suspend.Token = m.Getenv(EnvProvisionToken)
}

// suspendFlags registers the suspension adapter's flags (after suspendEnv).
func (m *Main) suspendFlags(fs *flag.FlagSet) {
	c := &m.Config.Suspend
	fs.StringVar(&c.URL, "provision-url", c.URL, "provisioning API that stops suspended Machines; empty: suspension is catalog-only (env "+EnvProvisionURL+")")
	fs.StringVar(&c.TokenFile, "provision-token-file", c.TokenFile, "file holding the provisioning API's operator credential (instead of env "+EnvProvisionToken+")")
}

// suspender returns the configured Suspender, or nil when suspension is
// catalog-only. A half configuration is an error, not a silent catalog-only
// node.
func (m *Main) suspender() (trust.Suspender, error) {
	c := m.Config.Suspend
	if c.TokenFile != "" && c.Token != "" {
		return nil, fmt.Errorf("provisioning credential given twice: use %s or -provision-token-file, not both", EnvProvisionToken)
	} else if c.TokenFile != "" {
		token, err := readTokenFile(c.TokenFile)
		if err != nil {
			return nil, fmt.Errorf("provisioning credential: %w", err)
		}
		c.Token = token
	}
	switch {
	case c.URL == "" && c.Token == "":
		m.Logger.Info("machine suspension is catalog-only: no provisioning API configured (-provision-url)")
		return nil, nil
	case c.URL == "":
		return nil, fmt.Errorf("provisioning credential set without -provision-url (%s)", EnvProvisionURL)
	case c.Token == "":
		return nil, fmt.Errorf("-provision-url set without its credential: set %s or pass -provision-token-file", EnvProvisionToken)
	}
	if err := httpapi.CheckBaseURL(c.URL); err != nil {
		return nil, fmt.Errorf("-provision-url: %s", trust.ErrorMessage(err))
	}
	s := NewProvisionSuspender(c.URL, c.Token)
	m.Logger.Info("machine suspension stops Machines through the provisioning API", "url", s.URL)
	return s, nil
}

var _ trust.Suspender = (*ProvisionSuspender)(nil)

// ProvisionSuspender is a trust.Suspender that stops a Machine through the
// provisioning function's API:
// POST {URL}/v1/provision/tenants/{tenant}/machines/{machine}/suspend with
// the operator credential.
type ProvisionSuspender struct {
	URL   string // base URL, without a trailing slash
	Token string // operator credential, sent as a bearer token only

	// Client makes the calls; its Timeout bounds each one.
	Client *http.Client
}

// NewProvisionSuspender returns a suspender calling baseURL with token.
func NewProvisionSuspender(baseURL, token string) *ProvisionSuspender {
	return &ProvisionSuspender{
		URL:    strings.TrimRight(baseURL, "/"),
		Token:  token,
		Client: &http.Client{Timeout: DefaultSuspendTimeout},
	}
}

// SuspendMachine asks the provisioning API to stop the tenant's Machine.
// EUNAVAILABLE when the API cannot be reached; the API's own coded error
// (ENOTFOUND for a Machine the tenant's app does not hold, EUNAUTHORIZED for
// a wrong credential) otherwise. reason is not sent: the catalog keeps it.
func (s *ProvisionSuspender) SuspendMachine(ctx context.Context, tenantID, machineID, reason string) error {
	u := s.URL + "/v1/provision/tenants/" + url.PathEscape(tenantID) + "/machines/" + url.PathEscape(machineID) + "/suspend"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, nil)
	if err != nil {
		return fmt.Errorf("suspend machine %s: %w", machineID, err)
	}
	req.Header.Set("Authorization", "Bearer "+s.Token)
	req.Header.Set("Accept", "application/json")
	resp, err := s.Client.Do(req)
	if err != nil {
		// The error names the URL, never the header that carries the token.
		return trust.Errorf(trust.EUNAVAILABLE, "provisioning API unreachable: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("suspend machine %s at the provider: %w", machineID, httpapi.ReadError(resp))
	}
	return nil
}
