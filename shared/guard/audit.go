package guard

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"

	"github.com/openagents/trust/shared/edgeapi"
	"github.com/openagents/trust/shared/trust"
)

// Audit actions. Each is a valid trust.AuditEvent action (dotted lowercase).
const (
	ActionToolCall   = "guard.tool_call"   // a tool call, allowed or refused
	ActionToolResult = "guard.tool_result" // a tool result, used or refused
	ActionFlag       = "guard.flag"        // injection patterns flagged in untrusted text
	ActionCanary     = "guard.canary"      // a session's canary token leaked
	ActionAnomaly    = "guard.anomaly"     // the anomaly detector raised an alert
)

// Decisions recorded on an event.
const (
	DecisionAllow  = "allow"
	DecisionRefuse = "refuse"
	DecisionFlag   = "flag"
	DecisionAlert  = "alert"
)

// Event is one audit record of the runtime guard. Reason and Patterns say
// why; no event carries argument or result values, which may hold secrets.
type Event struct {
	Time     time.Time `json:"time"`
	Tenant   string    `json:"tenant"`
	Machine  string    `json:"machine"`
	Session  string    `json:"session"`
	Skill    string    `json:"skill"`
	Tool     string    `json:"tool,omitempty"`
	CallID   string    `json:"call_id,omitempty"`
	Action   string    `json:"action"`
	Decision string    `json:"decision"`
	Reason   string    `json:"reason,omitempty"`
	Patterns []string  `json:"patterns,omitempty"`
}

// Recorder stores or ships audit events.
type Recorder interface {
	// Record stores e. Errors are EINTERNAL (or EUNAVAILABLE for a remote
	// store); the guard fails closed on them: a call that cannot be audited
	// is refused.
	Record(ctx context.Context, e Event) error
}

// MemoryRecorder keeps events in memory (tests, and a buffer for the
// Machine's own status page).
type MemoryRecorder struct {
	mu     sync.Mutex
	events []Event
}

// Record appends e.
func (m *MemoryRecorder) Record(_ context.Context, e Event) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.events = append(m.events, e)
	return nil
}

// Events returns a copy of the recorded events, oldest first.
func (m *MemoryRecorder) Events() []Event {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.events)
}

// JSONLRecorder writes one JSON object per line to W (an append-only file on
// the Machine).
type JSONLRecorder struct {
	W  io.Writer
	mu sync.Mutex
}

// Record writes e as one line.
func (j *JSONLRecorder) Record(_ context.Context, e Event) error {
	b, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("encode audit event: %w", err)
	}
	b = append(b, '\n')
	j.mu.Lock()
	defer j.mu.Unlock()
	if _, err := j.W.Write(b); err != nil {
		return fmt.Errorf("write audit event: %w", err)
	}
	return nil
}

// AuditEventCreator is the part of the edge client the EdgeRecorder uses
// (*edgeapi.Client implements it).
type AuditEventCreator interface {
	CreateAuditEvent(ctx context.Context, req edgeapi.AuditEventRequest) (*trust.AuditEvent, error)
}

var _ AuditEventCreator = (*edgeapi.Client)(nil)

// EdgeRecorder ships events to the edge with the Machine's token. The edge
// takes the tenant and Machine from the token; the event's action becomes
// "guard.tool_call.allow" and the like, its target "skill/tool", and its
// detail the whole event as JSON.
type EdgeRecorder struct {
	Client AuditEventCreator
}

// Record ships e.
func (r *EdgeRecorder) Record(ctx context.Context, e Event) error {
	req, err := EdgeRequest(e)
	if err != nil {
		return err
	}
	if _, err := r.Client.CreateAuditEvent(ctx, req); err != nil {
		return fmt.Errorf("ship audit event to the edge: %w", err)
	}
	return nil
}

// EdgeRequest maps an event to the edge's audit event request.
func EdgeRequest(e Event) (edgeapi.AuditEventRequest, error) {
	detail, err := json.Marshal(e)
	if err != nil {
		return edgeapi.AuditEventRequest{}, fmt.Errorf("encode audit event: %w", err)
	}
	if len(detail) > trust.MaxAuditDetailSize {
		e.Reason = clip(e.Reason, 200)
		e.Patterns = nil
		detail, _ = json.Marshal(e)
	}
	action := e.Action
	if e.Decision != "" {
		action += "." + e.Decision
	}
	target := e.Skill
	if e.Tool != "" {
		target += "/" + e.Tool
	}
	return edgeapi.AuditEventRequest{Action: action, Target: clip(target, 400), Detail: string(detail)}, nil
}

// Tee records every event on each recorder in turn and returns the errors
// joined; all recorders are tried even if one fails.
type Tee []Recorder

// Record records e on every recorder.
func (t Tee) Record(ctx context.Context, e Event) error {
	var errs []error
	for _, r := range t {
		if err := r.Record(ctx, e); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
