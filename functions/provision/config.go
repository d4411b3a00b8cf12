package provision

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"

	fly "github.com/superfly/fly-go"
	"github.com/superfly/fly-go/flaps"
	"github.com/superfly/fly-go/tokens"

	"github.com/openagents/trust/shared/edgeapi"
	"github.com/openagents/trust/shared/httpapi"
	"github.com/openagents/trust/shared/trust"
)

// MinCredentialLength is the shortest credential accepted from configuration.
const MinCredentialLength = 32

// Config is the provisioning function's configuration, read from the
// environment. The first three are the functions' common settings
// (docs/functions.md); the rest are its own (docs/provisioning.md).
type Config struct {
	EdgeURL       string // TRUST_EDGE_URL: the edge node the service credential is sent to
	ServiceToken  string // TRUST_SERVICE_TOKEN: issues and revokes Machine tokens
	OperatorToken string // TRUST_OPERATOR_TOKEN: what callers present

	FlyAPIToken    string // FLY_API_TOKEN: a Fly token scoped to the organization
	FlyBaseURL     string // FLY_FLAPS_BASE_URL: read by fly-go itself; checked here
	FlyOrg         string // TRUST_FLY_ORG: organization the tenants' apps are created in
	Region         string // TRUST_FLY_REGION: region of new Machines (optional)
	Image          string // TRUST_AGENT_IMAGE: the agent image, pinned by digest
	MachineEdgeURL string // TRUST_MACHINE_EDGE_URL: the edge's public https URL Machines use
	AppPrefix      string // TRUST_FLY_APP_PREFIX: prefix of app and network names (optional, "oat")
	KeyProvider    string // TRUST_KEY_PROVIDER: the LLM provider whose key version Machines get (optional, "anthropic")

	CPUKind  string // TRUST_MACHINE_CPU_KIND (optional, "shared")
	CPUs     string // TRUST_MACHINE_CPUS (optional, 1)
	MemoryMB string // TRUST_MACHINE_MEMORY_MB (optional, 512)
}

// ConfigFromEnv reads Config with getenv (os.Getenv in production).
func ConfigFromEnv(getenv func(string) string) Config {
	get := func(k string) string { return strings.TrimSpace(getenv(k)) }
	return Config{
		EdgeURL:        get("TRUST_EDGE_URL"),
		ServiceToken:   get("TRUST_SERVICE_TOKEN"),
		OperatorToken:  get("TRUST_OPERATOR_TOKEN"),
		FlyAPIToken:    get("FLY_API_TOKEN"),
		FlyBaseURL:     get("FLY_FLAPS_BASE_URL"),
		FlyOrg:         get("TRUST_FLY_ORG"),
		Region:         get("TRUST_FLY_REGION"),
		Image:          get("TRUST_AGENT_IMAGE"),
		MachineEdgeURL: get("TRUST_MACHINE_EDGE_URL"),
		AppPrefix:      get("TRUST_FLY_APP_PREFIX"),
		KeyProvider:    get("TRUST_KEY_PROVIDER"),
		CPUKind:        get("TRUST_MACHINE_CPU_KIND"),
		CPUs:           get("TRUST_MACHINE_CPUS"),
		MemoryMB:       get("TRUST_MACHINE_MEMORY_MB"),
	}
}

// Validate reports missing or weak settings by name, never by value.
func (c Config) Validate() error {
	switch {
	case c.EdgeURL == "":
		return fmt.Errorf("TRUST_EDGE_URL is not set")
	case httpapi.CheckBaseURL(c.EdgeURL) != nil:
		return fmt.Errorf("TRUST_EDGE_URL: %s", trust.ErrorMessage(httpapi.CheckBaseURL(c.EdgeURL)))
	case len(c.ServiceToken) < MinCredentialLength:
		return fmt.Errorf("TRUST_SERVICE_TOKEN must be set, at least %d characters", MinCredentialLength)
	case len(c.OperatorToken) < MinCredentialLength:
		return fmt.Errorf("TRUST_OPERATOR_TOKEN must be set, at least %d characters", MinCredentialLength)
	case c.FlyAPIToken == "":
		return fmt.Errorf("FLY_API_TOKEN is not set (a Fly token for the organization)")
	case c.FlyBaseURL != "" && httpapi.CheckBaseURL(c.FlyBaseURL) != nil:
		return fmt.Errorf("FLY_FLAPS_BASE_URL: %s", trust.ErrorMessage(httpapi.CheckBaseURL(c.FlyBaseURL)))
	case c.FlyOrg == "":
		return fmt.Errorf("TRUST_FLY_ORG is not set (the Fly organization slug)")
	case !pinnedImage(c.Image):
		return fmt.Errorf("TRUST_AGENT_IMAGE must be an image pinned by digest (…@sha256:<64 hex>)")
	case c.KeyProvider != "" && trust.ValidProvider(c.KeyProvider) != nil:
		return fmt.Errorf("TRUST_KEY_PROVIDER: %s", trust.ErrorMessage(trust.ValidProvider(c.KeyProvider)))
	}
	if err := CheckMachineEdgeURL(c.MachineEdgeURL); err != nil {
		return fmt.Errorf("TRUST_MACHINE_EDGE_URL: %s", trust.ErrorMessage(err))
	}
	if _, err := c.guest(); err != nil {
		return err
	}
	return nil
}

// guest is the Machines' guest from the optional settings over the defaults.
func (c Config) guest() (fly.MachineGuest, error) {
	g := New().Guest
	if c.CPUKind != "" {
		g.CPUKind = c.CPUKind
	}
	for _, s := range []struct {
		name, val string
		dst       *int
	}{{"TRUST_MACHINE_CPUS", c.CPUs, &g.CPUs}, {"TRUST_MACHINE_MEMORY_MB", c.MemoryMB, &g.MemoryMB}} {
		if s.val == "" {
			continue
		}
		n, err := strconv.Atoi(s.val)
		if err != nil {
			return g, fmt.Errorf("%s must be a whole number", s.name)
		}
		*s.dst = n
	}
	if err := CheckGuest(g); err != nil {
		return g, fmt.Errorf("TRUST_MACHINE_*: %s", trust.ErrorMessage(err))
	}
	return g, nil
}

// NewHandler builds the provisioning function from c: the flaps client
// (FLY_FLAPS_BASE_URL, read by fly-go, defaults to the public Machines API),
// the edge client with the service credential, and the platform key versions.
func (c Config) NewHandler(ctx context.Context, logger *slog.Logger) (*Handler, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if c.FlyBaseURL != os.Getenv("FLY_FLAPS_BASE_URL") {
		// fly-go reads the variable itself; a Config from elsewhere must agree.
		return nil, fmt.Errorf("FLY_FLAPS_BASE_URL: the configuration and the environment differ")
	}
	// No Logger: fly-go's logging transport would write request bodies,
	// Machine tokens included.
	client, err := flaps.NewWithOptions(ctx, flaps.NewClientOpts{
		Tokens:    tokens.Parse(c.FlyAPIToken),
		UserAgent: "openagents-trust-provision",
	})
	if err != nil {
		return nil, fmt.Errorf("fly machines client: %w", err)
	}
	edge := edgeapi.NewClient(c.EdgeURL, c.ServiceToken)
	provider := c.KeyProvider
	if provider == "" {
		provider = trust.ProviderAnthropic
	}

	p := New()
	p.Fly = client
	p.Tokens = edge
	p.Keys = &PlatformKeys{Edge: edge, Provider: provider}
	p.Org, p.Region, p.Image, p.EdgeURL = c.FlyOrg, c.Region, c.Image, c.MachineEdgeURL
	if c.AppPrefix != "" {
		p.AppPrefix = c.AppPrefix
	}
	p.Guest, _ = c.guest()
	p.Logger = logger
	if err := p.Open(); err != nil {
		return nil, err
	}
	h := NewHandler()
	h.Provisioner = p
	h.OperatorToken = c.OperatorToken
	h.Logger = logger
	return h, nil
}
