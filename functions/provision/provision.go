// Package provision is the provisioning function: it runs each tenant's agents
// as Fly Machines through the Fly Machines API (github.com/superfly/fly-go's
// flaps client).
//
// Isolation is by construction. Every tenant gets its own Fly app created in
// its own custom private network, so one tenant's Machines cannot reach
// another's (nor any other app) over Fly's private network; they reach the edge
// through its public address, with TLS and their Machine token. Every agent is
// one Machine with fixed guest CPU and memory limits, a restart policy and no
// public services.
//
// A Machine receives, in its environment only, the edge URL, its Machine token
// (issued by the edge for that Machine ID) and the current API-key version.
// Nothing is ever written to a Machine's files, and no SSH material reaches
// it. Destroying an agent revokes its Machine token before the Machine goes.
//
// Provisioning is idempotent: the Machine of an agent is found by its metadata
// before one is created, and a Machine left half-provisioned by a crash is
// finished, not duplicated.
package provision

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"sync"

	fly "github.com/superfly/fly-go"
	"github.com/superfly/fly-go/flaps"

	"github.com/openagents/trust/shared/edgeapi"
	"github.com/openagents/trust/shared/trust"
)

// Fly is the part of the Fly Machines API the provisioner uses; *flaps.Client
// implements it.
type Fly interface {
	GetApp(ctx context.Context, name string) (*flaps.App, error)
	CreateApp(ctx context.Context, in flaps.CreateAppRequest) (*flaps.App, error)
	List(ctx context.Context, app, state string) ([]*fly.Machine, error)
	Launch(ctx context.Context, app string, in fly.LaunchMachineInput) (*fly.Machine, error)
	Update(ctx context.Context, app string, in fly.LaunchMachineInput, nonce string) (*fly.Machine, error)
	Start(ctx context.Context, app, machineID, nonce string) (*fly.MachineStartResponse, error)
	Stop(ctx context.Context, app string, in fly.StopMachineInput, nonce string) error
	Destroy(ctx context.Context, app string, in fly.RemoveMachineInput, nonce string) error
}

var _ Fly = (*flaps.Client)(nil)

var _ Tokens = (*edgeapi.Client)(nil)

// Tokens issues and revokes Machine tokens; *edgeapi.Client (service
// credential) implements it.
type Tokens interface {
	// CreateMachineToken issues a token for a Machine; it is returned once.
	CreateMachineToken(ctx context.Context, machineID, tenantID string) (string, error)
	// RevokeMachineTokens revokes every token of a Machine. ENOTFOUND if it
	// never had one.
	RevokeMachineTokens(ctx context.Context, machineID string) error
}

// Environment variables a Machine receives.
const (
	EnvEdgeURL        = "TRUST_EDGE_URL"
	EnvMachineToken   = "TRUST_MACHINE_TOKEN" // the only secret value
	EnvTenantID       = "TRUST_TENANT_ID"
	EnvAgentID        = "TRUST_AGENT_ID"
	EnvKeyProvider    = "TRUST_API_KEY_PROVIDER"
	EnvKeySource      = "TRUST_API_KEY_SOURCE"
	EnvKeyVersion     = "TRUST_API_KEY_VERSION"
	metaTenant        = "trust_tenant"
	metaAgent         = "trust_agent"
	metaToken         = "trust_token"
	metaTokenIssued   = "issued"
	defaultAppPrefix  = "oat"
	defaultCPUKind    = "shared"
	defaultCPUs       = 1
	defaultMemoryMB   = 512
	defaultMaxRetries = 3
)

// Agent is the provisioned state of one agent: where its Machine runs. It
// never carries the Machine's environment.
type Agent struct {
	TenantID  string `json:"tenant_id"`
	AgentID   string `json:"agent_id"`
	App       string `json:"app"`
	Network   string `json:"network"`
	MachineID string `json:"machine_id"`
	Region    string `json:"region,omitempty"`
	State     string `json:"state"`
}

// Provisioner creates, suspends, resumes and destroys agents' Machines.
type Provisioner struct {
	Fly    Fly
	Tokens Tokens
	Keys   KeyVersionSource

	Org       string // Fly organization slug; required
	Region    string // region of new Machines; empty lets Fly choose
	Image     string // the agent image, pinned by digest; required
	EdgeURL   string // the edge's public https URL Machines use; required
	AppPrefix string // prefix of app and network names; default "oat"

	Guest   fly.MachineGuest   // default shared, 1 CPU, 512 MB
	Restart fly.MachineRestart // default on-failure, 3 retries

	Logger *slog.Logger

	locks sync.Map // agent key → *sync.Mutex: one operation per agent at a time
}

// New returns a Provisioner with defaults; set the exported fields, then Open.
func New() *Provisioner {
	return &Provisioner{
		AppPrefix: defaultAppPrefix,
		Guest:     fly.MachineGuest{CPUKind: defaultCPUKind, CPUs: defaultCPUs, MemoryMB: defaultMemoryMB},
		Restart:   fly.MachineRestart{Policy: fly.MachineRestartPolicyOnFailure, MaxRetries: defaultMaxRetries},
		Logger:    slog.Default(),
	}
}

// Open validates the configuration.
func (p *Provisioner) Open() error {
	switch {
	case p.Fly == nil || p.Tokens == nil || p.Keys == nil:
		return fmt.Errorf("provision: Fly, Tokens and Keys are required")
	case p.Org == "":
		return fmt.Errorf("provision: Fly organization required")
	case !pinnedImage(p.Image):
		return fmt.Errorf("provision: agent image must be pinned by digest (…@sha256:<64 hex>)")
	case !namePattern.MatchString(p.AppPrefix) || len(p.AppPrefix) > 12:
		return fmt.Errorf("provision: app prefix must be lowercase letters, digits and '-', at most 12")
	}
	if err := CheckMachineEdgeURL(p.EdgeURL); err != nil {
		return fmt.Errorf("provision: edge URL: %s", trust.ErrorMessage(err))
	}
	if err := CheckGuest(p.Guest); err != nil {
		return fmt.Errorf("provision: guest: %s", trust.ErrorMessage(err))
	}
	if err := CheckRestart(p.Restart); err != nil {
		return fmt.Errorf("provision: restart: %s", trust.ErrorMessage(err))
	}
	if p.Logger == nil {
		p.Logger = slog.Default()
	}
	return nil
}

// AppName is the Fly app of a tenant: derived from a hash of the tenant ID,
// since tenant IDs may hold characters app names may not.
func (p *Provisioner) AppName(tenantID string) string {
	return p.AppPrefix + "-t-" + shortHash(tenantID)
}

// NetworkName is the custom private network of a tenant's app.
func (p *Provisioner) NetworkName(tenantID string) string {
	return p.AppPrefix + "-net-" + shortHash(tenantID)
}

// machineName is the name of an agent's Machine within its tenant's app.
func machineName(agentID string) string { return "agent-" + shortHash(agentID) }

func shortHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:10])
}

// ProvisionAgent makes sure the agent has a running Machine in its tenant's app
// and returns it; created reports whether this call created or finished it.
// Calling it again for a provisioned agent changes nothing. EINVALID for bad
// IDs, ECONFLICT when the tenant's app exists outside the tenant's network or
// holds two Machines for the agent.
func (p *Provisioner) ProvisionAgent(ctx context.Context, tenantID, agentID string) (a *Agent, created bool, err error) {
	if err := validIDs(tenantID, agentID); err != nil {
		return nil, false, err
	}
	defer p.lock(tenantID, agentID)()

	app, err := p.ensureApp(ctx, tenantID)
	if err != nil {
		return nil, false, err
	}
	m, err := p.findMachine(ctx, app, tenantID, agentID)
	if err != nil && trust.ErrorCode(err) != trust.ENOTFOUND {
		return nil, false, err
	}
	if m == nil {
		if m, err = p.launch(ctx, app, tenantID, agentID); err != nil {
			return nil, false, err
		}
		created = true
	}
	if m.Config == nil || m.Config.Metadata[metaToken] != metaTokenIssued {
		if m, err = p.issue(ctx, app, tenantID, agentID, m); err != nil {
			return nil, false, err
		}
		created = true
	} else if m.State == fly.MachineStateCreated {
		// Configured, but the start was lost: start it. A stopped Machine
		// is a suspended agent and stays stopped.
		if _, err := p.Fly.Start(ctx, app, m.ID, ""); err != nil {
			return nil, false, fmt.Errorf("start machine %s: %w", m.ID, flyError(err))
		}
		m.State = fly.MachineStateStarted
		created = true
	}
	a = p.agent(tenantID, agentID, m)
	if created {
		p.Logger.Info("agent provisioned", "tenant", tenantID, "agent", agentID, "app", a.App, "machine", a.MachineID)
	}
	return a, created, nil
}

// FindAgent returns the agent's Machine. ENOTFOUND when it has none.
func (p *Provisioner) FindAgent(ctx context.Context, tenantID, agentID string) (*Agent, error) {
	if err := validIDs(tenantID, agentID); err != nil {
		return nil, err
	}
	m, err := p.findMachine(ctx, p.AppName(tenantID), tenantID, agentID)
	if err != nil {
		return nil, err
	}
	return p.agent(tenantID, agentID, m), nil
}

// SuspendAgent stops the agent's Machine; a stopped one stays stopped.
// ENOTFOUND when the agent has no Machine.
func (p *Provisioner) SuspendAgent(ctx context.Context, tenantID, agentID string) (*Agent, error) {
	return p.change(ctx, tenantID, agentID, "suspended", func(app string, m *fly.Machine) error {
		if m.State == fly.MachineStateStopped || m.State == fly.MachineStateSuspended {
			return nil
		}
		return p.Fly.Stop(ctx, app, fly.StopMachineInput{ID: m.ID}, "")
	})
}

// SuspendMachine stops a tenant's Machine found by its ID, which is all the
// edge knows of a Machine whose usage it suspended: the Machine is looked up
// in the tenant's app and must carry the tenant's metadata, so a Machine ID
// of another tenant is not found. It then suspends the Machine's agent as
// SuspendAgent does. EINVALID for bad IDs, ENOTFOUND when the tenant has no
// such Machine.
func (p *Provisioner) SuspendMachine(ctx context.Context, tenantID, machineID string) (*Agent, error) {
	if !trust.TenantIDPattern.MatchString(tenantID) {
		return nil, trust.Errorf(trust.EINVALID, "invalid tenant ID")
	} else if !trust.TenantIDPattern.MatchString(machineID) {
		return nil, trust.Errorf(trust.EINVALID, "invalid machine ID")
	}
	app := p.AppName(tenantID)
	ms, err := p.Fly.List(ctx, app, "")
	if errors.Is(err, flaps.ErrFlapsNotFound) {
		return nil, trust.Errorf(trust.ENOTFOUND, "tenant has no machine %s", machineID)
	} else if err != nil {
		return nil, fmt.Errorf("list machines of %s: %w", app, flyError(err))
	}
	for _, m := range ms {
		if m == nil || m.ID != machineID || m.Config == nil || m.Config.Metadata[metaTenant] != tenantID {
			continue
		} else if m.State == fly.MachineStateDestroyed || m.State == fly.MachineStateDestroying {
			continue
		}
		return p.SuspendAgent(ctx, tenantID, m.Config.Metadata[metaAgent])
	}
	return nil, trust.Errorf(trust.ENOTFOUND, "tenant has no machine %s", machineID)
}

// ResumeAgent starts the agent's stopped Machine. ENOTFOUND when the agent has
// no Machine, ECONFLICT when it was never fully provisioned.
func (p *Provisioner) ResumeAgent(ctx context.Context, tenantID, agentID string) (*Agent, error) {
	return p.change(ctx, tenantID, agentID, "resumed", func(app string, m *fly.Machine) error {
		if m.Config == nil || m.Config.Metadata[metaToken] != metaTokenIssued {
			return trust.Errorf(trust.ECONFLICT, "agent %s is not fully provisioned: provision it again", agentID)
		} else if m.State == fly.MachineStateStarted {
			return nil
		}
		_, err := p.Fly.Start(ctx, app, m.ID, "")
		return err
	})
}

// DestroyAgent revokes the Machine token of the agent's Machine, then destroys
// the Machine. If the revocation fails the Machine is kept and the error
// returned, so a retry finishes both. ENOTFOUND when the agent has no Machine.
func (p *Provisioner) DestroyAgent(ctx context.Context, tenantID, agentID string) error {
	_, err := p.change(ctx, tenantID, agentID, "destroyed", func(app string, m *fly.Machine) error {
		if err := p.Tokens.RevokeMachineTokens(ctx, m.ID); err != nil && trust.ErrorCode(err) != trust.ENOTFOUND {
			return edgeError("revoke machine tokens of "+m.ID, err)
		}
		if err := p.Fly.Destroy(ctx, app, fly.RemoveMachineInput{ID: m.ID, Kill: true}, ""); err != nil {
			return fmt.Errorf("destroy machine %s: %w", m.ID, flyError(err))
		}
		m.State = fly.MachineStateDestroyed
		return nil
	})
	return err
}

// change runs fn on the agent's Machine and returns the Machine's state after.
func (p *Provisioner) change(ctx context.Context, tenantID, agentID, event string, fn func(app string, m *fly.Machine) error) (*Agent, error) {
	if err := validIDs(tenantID, agentID); err != nil {
		return nil, err
	}
	defer p.lock(tenantID, agentID)()
	app := p.AppName(tenantID)
	m, err := p.findMachine(ctx, app, tenantID, agentID)
	if err != nil {
		return nil, err
	}
	if err := fn(app, m); err != nil {
		if trust.ErrorCode(err) != trust.EINTERNAL {
			return nil, err
		}
		return nil, fmt.Errorf("agent %s %s: %w", agentID, event, flyError(err))
	}
	if m.State != fly.MachineStateDestroyed {
		if got, err := p.findMachine(ctx, app, tenantID, agentID); err == nil {
			m = got
		}
	}
	a := p.agent(tenantID, agentID, m)
	p.Logger.Info("agent "+event, "tenant", tenantID, "agent", agentID, "app", app, "machine", m.ID, "state", a.State)
	return a, nil
}

// ensureApp returns the tenant's app name, creating the app in the tenant's
// own network when it does not exist. An app that exists in another network
// is refused: its Machines would not be isolated.
func (p *Provisioner) ensureApp(ctx context.Context, tenantID string) (string, error) {
	name, network := p.AppName(tenantID), p.NetworkName(tenantID)
	defer p.lock(tenantID, "")() // one app creation per tenant at a time
	app, err := p.Fly.GetApp(ctx, name)
	if errors.Is(err, flaps.ErrFlapsNotFound) {
		app, err = p.Fly.CreateApp(ctx, flaps.CreateAppRequest{Name: name, Org: p.Org, Network: network})
		if statusOf(err) == http.StatusConflict {
			// Created meanwhile by another process: check the one there.
			app, err = p.Fly.GetApp(ctx, name)
		} else if err == nil {
			p.Logger.Info("tenant app created", "tenant", tenantID, "app", name, "network", network)
		}
	}
	if err != nil {
		return "", fmt.Errorf("get or create app %s: %w", name, flyError(err))
	}
	if app == nil || app.Network != network {
		return "", trust.Errorf(trust.ECONFLICT, "app %s exists outside the tenant's private network %s: refusing to place Machines in it", name, network)
	}
	return name, nil
}

// findMachine returns the agent's live Machine in app. ENOTFOUND when there is
// none, ECONFLICT when there are several.
func (p *Provisioner) findMachine(ctx context.Context, app, tenantID, agentID string) (*fly.Machine, error) {
	ms, err := p.Fly.List(ctx, app, "")
	if errors.Is(err, flaps.ErrFlapsNotFound) {
		return nil, trust.Errorf(trust.ENOTFOUND, "agent %s has no machine", agentID)
	} else if err != nil {
		return nil, fmt.Errorf("list machines of %s: %w", app, flyError(err))
	}
	var found *fly.Machine
	for _, m := range ms {
		if m == nil || m.Config == nil || m.Config.Metadata[metaAgent] != agentID || m.Config.Metadata[metaTenant] != tenantID {
			continue
		} else if m.State == fly.MachineStateDestroyed || m.State == fly.MachineStateDestroying {
			continue
		} else if found != nil {
			return nil, trust.Errorf(trust.ECONFLICT, "agent %s has several machines (%s, %s): resolve by hand", agentID, found.ID, m.ID)
		}
		found = m
	}
	if found == nil {
		return nil, trust.Errorf(trust.ENOTFOUND, "agent %s has no machine", agentID)
	}
	return found, nil
}

// launch creates the agent's Machine without starting it and without a token:
// the token is issued for the Machine ID Fly assigns.
func (p *Provisioner) launch(ctx context.Context, app, tenantID, agentID string) (*fly.Machine, error) {
	in := fly.LaunchMachineInput{
		Name:       machineName(agentID),
		Region:     p.Region,
		SkipLaunch: true,
		Config:     p.machineConfig(tenantID, agentID, nil),
	}
	m, err := p.Fly.Launch(ctx, app, in)
	if err != nil {
		return nil, fmt.Errorf("launch machine for agent %s: %w", agentID, flyError(err))
	}
	return m, nil
}

// issue gives a Machine its token and key version, and starts it. Tokens an
// earlier, interrupted call may have issued for it are revoked first.
func (p *Provisioner) issue(ctx context.Context, app, tenantID, agentID string, m *fly.Machine) (*fly.Machine, error) {
	kv, err := p.Keys.CurrentKeyVersion(ctx, tenantID)
	if err != nil {
		return nil, edgeError("current key version for tenant "+tenantID, err)
	} else if err := kv.Validate(); err != nil {
		return nil, edgeError("current key version for tenant "+tenantID, err)
	}
	if err := p.Tokens.RevokeMachineTokens(ctx, m.ID); err != nil && trust.ErrorCode(err) != trust.ENOTFOUND {
		return nil, edgeError("revoke earlier tokens of machine "+m.ID, err)
	}
	token, err := p.Tokens.CreateMachineToken(ctx, m.ID, tenantID)
	if err != nil {
		return nil, edgeError("issue machine token for "+m.ID, err)
	}
	cfg := p.machineConfig(tenantID, agentID, &secretEnv{token: token, key: kv})
	updated, err := p.Fly.Update(ctx, app, fly.LaunchMachineInput{ID: m.ID, Name: m.Name, Region: m.Region, SkipLaunch: true, Config: cfg}, "")
	if err != nil {
		return nil, fmt.Errorf("configure machine %s: %w", m.ID, flyError(err))
	}
	if _, err := p.Fly.Start(ctx, app, m.ID, ""); err != nil {
		return nil, fmt.Errorf("start machine %s: %w", m.ID, flyError(err))
	}
	updated.State = fly.MachineStateStarted
	return updated, nil
}

// secretEnv is what only a fully provisioned Machine's environment holds.
type secretEnv struct {
	token string
	key   KeyVersion
}

// machineConfig is an agent Machine's configuration: guest limits, restart
// policy, metadata and environment; no files, no services, no mounts.
func (p *Provisioner) machineConfig(tenantID, agentID string, s *secretEnv) *fly.MachineConfig {
	guest, restart := p.Guest, p.Restart
	cfg := &fly.MachineConfig{
		Image:    p.Image,
		Guest:    &guest,
		Restart:  &restart,
		Metadata: map[string]string{metaTenant: tenantID, metaAgent: agentID},
		Env: map[string]string{
			EnvEdgeURL:  p.EdgeURL,
			EnvTenantID: tenantID,
			EnvAgentID:  agentID,
		},
	}
	if s != nil {
		cfg.Metadata[metaToken] = metaTokenIssued
		cfg.Env[EnvMachineToken] = s.token
		cfg.Env[EnvKeyProvider] = s.key.Provider
		cfg.Env[EnvKeySource] = s.key.Source
		cfg.Env[EnvKeyVersion] = strconv.Itoa(s.key.Version)
	}
	return cfg
}

func (p *Provisioner) agent(tenantID, agentID string, m *fly.Machine) *Agent {
	return &Agent{
		TenantID:  tenantID,
		AgentID:   agentID,
		App:       p.AppName(tenantID),
		Network:   p.NetworkName(tenantID),
		MachineID: m.ID,
		Region:    m.Region,
		State:     m.State,
	}
}

// lock serializes operations on one agent within this process and returns
// the unlock. Across processes, the provisioning Lambda runs with a reserved
// concurrency of 1 (terraform/).
func (p *Provisioner) lock(tenantID, agentID string) func() {
	v, _ := p.locks.LoadOrStore(tenantID+"\x00"+agentID, &sync.Mutex{})
	mu := v.(*sync.Mutex)
	mu.Lock()
	return mu.Unlock
}

// statusOf returns the HTTP status of a Machines API error, or 0.
func statusOf(err error) int {
	var fe *flaps.FlapsError
	if errors.As(err, &fe) {
		return fe.ResponseStatusCode
	}
	return 0
}

// flyError keeps the status of a Machines API error and drops its response
// body, which is never logged.
func flyError(err error) error {
	var fe *flaps.FlapsError
	if errors.As(err, &fe) {
		return fmt.Errorf("fly machines API: status %d (request %s)", fe.ResponseStatusCode, fe.FlyRequestId)
	}
	return err
}

// edgeError keeps an unavailable edge's code (the caller may retry) and turns
// any other edge or key-source error into an internal one: a refusal of the
// service credential is the operator's problem, not the caller's.
func edgeError(what string, err error) error {
	if trust.ErrorCode(err) == trust.EUNAVAILABLE {
		return fmt.Errorf("%s: %w", what, err)
	}
	return fmt.Errorf("%s: %s", what, err.Error())
}

func validIDs(tenantID, agentID string) error {
	if !trust.TenantIDPattern.MatchString(tenantID) {
		return trust.Errorf(trust.EINVALID, "invalid tenant ID")
	} else if !trust.TenantIDPattern.MatchString(agentID) {
		return trust.Errorf(trust.EINVALID, "invalid agent ID")
	}
	return nil
}
