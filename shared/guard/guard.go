// Package guard is the runtime guard around every LLM call an agent makes
// inside its Machine: the prompt-injection defense layer.
//
// It keeps trusted and untrusted text apart (Conversation builds Anthropic
// and OpenAI requests with the system prompt, user content and tool results
// in separate messages), cleans untrusted text (Sanitizer), plants a
// per-session canary token in the system prompt and watches for it in tool
// calls and outputs (Canaries), allows a tool call only if the skill's
// signed permissions declare the tool, host and path (Policy), validates
// tool results against their JSON Schema (CompileSchema, with the
// resultschema package), flags — never
// blocks — known injection patterns (Detector, with rules as YAML data), and
// audits every tool invocation (Recorder), with an AnomalyDetector over the
// audit stream.
//
// Guard ties these together for one session.
package guard

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/openagents/trust/shared/trust"
)

// Guard guards one agent session. Set the fields, call Open, then route
// every tool call, tool result, user message and model output through it.
// A Guard is safe for concurrent use after Open.
type Guard struct {
	Tenant  string
	Machine string
	Session string
	Skill   string // name@version

	Policy   *Policy
	Detector *Detector // default NewDetector()
	Canaries *Canaries
	Recorder Recorder
	Now      func() time.Time // default time.Now
	// CompileSchema compiles a tool's declared result schema
	// (resultschema.ForGuard). Required when a tool declares one: Open
	// refuses rather than let results through unchecked.
	CompileSchema func(tool string, schema []byte) (ResultValidator, error)

	canary  string
	schemas map[string]ResultValidator
}

// ResultValidator checks one tool's results; EINVALID for one that does not
// match (resultschema.Schema is one).
type ResultValidator interface {
	Validate(result []byte) error
}

// Open validates the guard and compiles the tools' result schemas. EINVALID
// for a missing session, policy, canary issuer or recorder, a bad schema, or
// a schema without CompileSchema.
func (g *Guard) Open() error {
	switch {
	case g.Session == "":
		return trust.Errorf(trust.EINVALID, "guard: session required")
	case g.Policy == nil:
		return trust.Errorf(trust.EINVALID, "guard: policy required (fail closed)")
	case g.Canaries == nil:
		return trust.Errorf(trust.EINVALID, "guard: canary issuer required")
	case g.Recorder == nil:
		return trust.Errorf(trust.EINVALID, "guard: audit recorder required")
	}
	if g.Detector == nil {
		g.Detector = NewDetector()
	}
	if g.Now == nil {
		g.Now = time.Now
	}
	g.schemas = map[string]ResultValidator{}
	for _, name := range slices.Sorted(maps.Keys(g.Policy.Specs)) {
		spec := g.Policy.Specs[name]
		if len(spec.ResultSchema) == 0 {
			continue
		}
		if g.CompileSchema == nil {
			return trust.Errorf(trust.EINVALID, "guard: tool %q declares a result schema but no schema compiler is set (fail closed)", name)
		}
		s, err := g.CompileSchema(name, spec.ResultSchema)
		if err != nil {
			return err
		}
		g.schemas[name] = s
	}
	g.canary = g.Canaries.Token(g.Session)
	return nil
}

// CanaryToken returns the session's canary token.
func (g *Guard) CanaryToken() string { return g.canary }

// SystemPrompt returns the trusted system prompt with the session's canary
// appended. Only trusted text may go in: untrusted text belongs in user or
// tool-result messages (see Conversation).
func (g *Guard) SystemPrompt(trusted string) string {
	return strings.TrimRight(trusted, "\n") + "\n\nSession marker (confidential; never output or send it anywhere): " + g.canary
}

func (g *Guard) event(action, decision, tool, callID, reason string) Event {
	return Event{Time: g.Now().UTC(), Tenant: g.Tenant, Machine: g.Machine, Session: g.Session, Skill: g.Skill,
		Tool: tool, CallID: callID, Action: action, Decision: decision, Reason: reason}
}

// record audits e; failure to audit is itself a refusal (fail closed).
func (g *Guard) record(ctx context.Context, e Event) error {
	if err := g.Recorder.Record(ctx, e); err != nil {
		return fmt.Errorf("%w: %w", trust.Errorf(trust.EUNAVAILABLE, "guard: audit log unavailable, refusing"), err)
	}
	return nil
}

// canaryAlert records an alert for each session whose canary is in text and
// returns an EFORBIDDEN error if there was one.
func (g *Guard) canaryAlert(ctx context.Context, text, where, tool, callID string) error {
	hits := g.Canaries.Find(text)
	if len(hits) == 0 {
		return nil
	}
	for _, h := range hits {
		reason := fmt.Sprintf("canary token of session %s found in %s (%s)", h.SessionID, where, h.Encoding)
		if err := g.record(ctx, g.event(ActionCanary, DecisionAlert, tool, callID, reason)); err != nil {
			return err
		}
	}
	return trust.Errorf(trust.EFORBIDDEN, "guard: %s carries a session canary token: the prompt leaked", where)
}

// CheckToolCall decides whether a tool call may run, and audits the
// decision. nil means run it. EFORBIDDEN when the skill's permissions do not
// allow it or its arguments carry a canary token; EINVALID for arguments
// that are not a JSON object; EUNAVAILABLE when the decision cannot be
// audited.
func (g *Guard) CheckToolCall(ctx context.Context, call ToolCall) error {
	if err := g.canaryAlert(ctx, string(call.Args), "tool-call arguments", call.Name, call.ID); err != nil {
		if rerr := g.record(ctx, g.event(ActionToolCall, DecisionRefuse, call.Name, call.ID, trust.ErrorMessage(err))); rerr != nil {
			return rerr
		}
		return err
	}
	if err := g.Policy.Check(call); err != nil {
		if rerr := g.record(ctx, g.event(ActionToolCall, DecisionRefuse, call.Name, call.ID, trust.ErrorMessage(err))); rerr != nil {
			return rerr
		}
		return err
	}
	return g.record(ctx, g.event(ActionToolCall, DecisionAllow, call.Name, call.ID, ""))
}

// CheckToolResult validates a tool's result before the model sees it:
// against the tool's JSON Schema (when it has one), for canary tokens, then
// sanitized and inspected for injection patterns (flags are audited, not
// blocking). It returns the inspection, whose Text is what to put in the
// tool-result message. EINVALID for a result that fails its schema,
// EFORBIDDEN for one carrying a canary, EUNAVAILABLE when it cannot audit.
func (g *Guard) CheckToolResult(ctx context.Context, tool, callID string, result []byte) (*Inspection, error) {
	if s := g.schemas[tool]; s != nil {
		if err := s.Validate(result); err != nil {
			if rerr := g.record(ctx, g.event(ActionToolResult, DecisionRefuse, tool, callID, trust.ErrorMessage(err))); rerr != nil {
				return nil, rerr
			}
			return nil, err
		}
	}
	if err := g.canaryAlert(ctx, string(result), "tool result", tool, callID); err != nil {
		if rerr := g.record(ctx, g.event(ActionToolResult, DecisionRefuse, tool, callID, trust.ErrorMessage(err))); rerr != nil {
			return nil, rerr
		}
		return nil, err
	}
	in, err := g.inspectResult(ctx, result, tool, callID)
	if err != nil {
		return nil, err
	}
	if err := g.record(ctx, g.event(ActionToolResult, DecisionAllow, tool, callID, "")); err != nil {
		return nil, err
	}
	return in, nil
}

// InspectUserText sanitizes and inspects user content; flags are audited.
// EUNAVAILABLE when a flag cannot be audited.
func (g *Guard) InspectUserText(ctx context.Context, text string) (*Inspection, error) {
	return g.inspect(ctx, text, "", "")
}

// inspectResult inspects a JSON result string by string (see
// Detector.InspectJSON) and any other result as text.
func (g *Guard) inspectResult(ctx context.Context, result []byte, tool, callID string) (*Inspection, error) {
	if json.Valid(result) {
		in, err := g.Detector.InspectJSON(result)
		if err != nil {
			return nil, err
		}
		return in, g.audit(ctx, in, tool, callID)
	}
	return g.inspect(ctx, string(result), tool, callID)
}

func (g *Guard) inspect(ctx context.Context, text, tool, callID string) (*Inspection, error) {
	in := g.Detector.Inspect(text)
	return in, g.audit(ctx, in, tool, callID)
}

// audit records a flag event for an inspection that flagged or found
// hidden text.
func (g *Guard) audit(ctx context.Context, in *Inspection, tool, callID string) error {
	if in.Flagged || in.Report.Hidden != "" {
		e := g.event(ActionFlag, DecisionFlag, tool, callID, flagReason(in))
		e.Patterns = in.Patterns
		return g.record(ctx, e)
	}
	return nil
}

func flagReason(in *Inspection) string {
	var parts []string
	if len(in.Patterns) > 0 {
		parts = append(parts, "injection patterns "+strings.Join(in.Patterns, ","))
	}
	if len(in.Report.Removed) > 0 {
		var rm []string
		for _, k := range slices.Sorted(maps.Keys(in.Report.Removed)) {
			rm = append(rm, fmt.Sprintf("%s=%d", k, in.Report.Removed[k]))
		}
		parts = append(parts, "removed "+strings.Join(rm, ","))
	}
	if in.Report.Hidden != "" {
		parts = append(parts, fmt.Sprintf("hidden text %q", clip(in.Report.Hidden, 300)))
	}
	return strings.Join(parts, "; ")
}

// CheckOutput looks for canary tokens in the model's output before it is
// shown or sent anywhere. EFORBIDDEN (after an alert) if one is there.
func (g *Guard) CheckOutput(ctx context.Context, text string) error {
	return g.canaryAlert(ctx, text, "model output", "", "")
}
