package trust

import (
	"time"
	"unicode/utf8"
)

// Tenant-owned records: agent instances, usage and audit events. Each carries
// its TenantID, set by the store from the handle it was written through; a
// TenantID in a request is never trusted.

// List limits.
const (
	DefaultListLimit = 100
	MaxListLimit     = 1000
)

// Size limits of tenant-owned records.
const (
	MaxAgentConfigSize = 64 << 10
	MaxAuditDetailSize = 4 << 10
	MaxUsageTokens     = 1 << 40
)

// AgentInstance is an agent a tenant runs: a name and its configuration.
type AgentInstance struct {
	ID        string    `json:"id"`
	TenantID  string    `json:"tenant_id"`
	Name      string    `json:"name"`
	Config    string    `json:"config"`
	CreatedBy string    `json:"created_by"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Validate reports an invalid agent instance as EINVALID.
func (a *AgentInstance) Validate() error {
	if err := validText("agent name", a.Name, 1, 200); err != nil {
		return err
	} else if len(a.Config) > MaxAgentConfigSize {
		return Errorf(EINVALID, "agent config larger than %d bytes", MaxAgentConfigSize)
	}
	return validBlock("agent config", a.Config)
}

// AgentInstanceUpdate is a change to an agent instance; nil fields stay.
type AgentInstanceUpdate struct {
	Name   *string `json:"name,omitempty"`
	Config *string `json:"config,omitempty"`
}

// AgentInstanceFilter selects agent instances.
type AgentInstanceFilter struct {
	Name   *string // exact name
	Limit  int     // 0 for DefaultListLimit
	Offset int
}

// UsageRecord is the model usage of one session of a Machine, reported once
// per idempotency key.
type UsageRecord struct {
	ID             string    `json:"id"`
	TenantID       string    `json:"tenant_id"`
	MachineID      string    `json:"machine_id"`
	SessionID      string    `json:"session_id"`
	Model          string    `json:"model"`
	InputTokens    int64     `json:"input_tokens"`
	OutputTokens   int64     `json:"output_tokens"`
	IdempotencyKey string    `json:"idempotency_key"`
	CreatedAt      time.Time `json:"created_at"`
}

// keyPattern is the shape of session IDs, Machine IDs and idempotency keys.
var keyPattern = NewPattern(`^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$`)

// Validate reports an invalid usage record as EINVALID.
func (u *UsageRecord) Validate() error {
	switch {
	case !keyPattern.MatchString(u.IdempotencyKey):
		return Errorf(EINVALID, "invalid idempotency key: use letters, digits, '.', '_', ':' and '-' (at most 128)")
	case !keyPattern.MatchString(u.SessionID):
		return Errorf(EINVALID, "invalid session ID: use letters, digits, '.', '_', ':' and '-' (at most 128)")
	case u.MachineID != "" && !keyPattern.MatchString(u.MachineID):
		return Errorf(EINVALID, "invalid machine ID")
	case u.InputTokens < 0 || u.InputTokens > MaxUsageTokens || u.OutputTokens < 0 || u.OutputTokens > MaxUsageTokens:
		return Errorf(EINVALID, "token counts must be between 0 and %d", int64(MaxUsageTokens))
	}
	return validText("model", u.Model, 1, 200)
}

// SameUsage reports whether two records report the same usage (a replay).
func SameUsage(a, b *UsageRecord) bool {
	return a.MachineID == b.MachineID && a.SessionID == b.SessionID && a.Model == b.Model &&
		a.InputTokens == b.InputTokens && a.OutputTokens == b.OutputTokens
}

// UsageFilter selects usage records.
type UsageFilter struct {
	MachineID *string
	SessionID *string
	Limit     int // 0 for DefaultListLimit
	Offset    int
	Newest    bool // newest first (default: oldest first)
}

// AuditEvent is one thing that happened in a tenant: who (Actor), what
// (Action, e.g. "agent_instance.create", "ssh.command"), to what (Target) and
// details.
type AuditEvent struct {
	ID        string    `json:"id"`
	TenantID  string    `json:"tenant_id"`
	Actor     string    `json:"actor"`
	Action    string    `json:"action"`
	Target    string    `json:"target"`
	Detail    string    `json:"detail"`
	CreatedAt time.Time `json:"created_at"`
}

// actionPattern is the shape of an audit action.
var actionPattern = NewPattern(`^[a-z][a-z0-9_]{0,31}(\.[a-z][a-z0-9_]{0,31}){0,3}$`)

// Validate reports an invalid audit event as EINVALID.
func (e *AuditEvent) Validate() error {
	if !actionPattern.MatchString(e.Action) {
		return Errorf(EINVALID, "invalid audit action: want dotted lowercase words, e.g. ssh.command")
	} else if err := validText("audit target", e.Target, 0, 500); err != nil {
		return err
	} else if len(e.Detail) > MaxAuditDetailSize {
		return Errorf(EINVALID, "audit detail larger than %d bytes", MaxAuditDetailSize)
	}
	return validBlock("audit detail", e.Detail)
}

// validBlock reports as EINVALID multi-line text that is not UTF-8 or holds
// control characters other than tab and newline.
func validBlock(field, s string) error {
	if !utf8.ValidString(s) {
		return Errorf(EINVALID, "%s: not UTF-8", field)
	}
	for _, r := range s {
		if (r < 0x20 && r != '\t' && r != '\n') || r == 0x7f {
			return Errorf(EINVALID, "%s: control characters other than tab and newline are not allowed", field)
		}
	}
	return nil
}

// AuditEventFilter selects audit events.
type AuditEventFilter struct {
	Action *string
	Limit  int // 0 for DefaultListLimit
	Offset int
	Newest bool // newest first (default: oldest first)
}

// CheckPage reports a bad limit or offset as EINVALID and returns the limit
// to use.
func CheckPage(limit, offset int) (int, error) {
	switch {
	case limit < 0 || limit > MaxListLimit:
		return 0, Errorf(EINVALID, "limit: want 1 to %d", MaxListLimit)
	case offset < 0:
		return 0, Errorf(EINVALID, "offset: want 0 or more")
	case limit == 0:
		return DefaultListLimit, nil
	}
	return limit, nil
}
