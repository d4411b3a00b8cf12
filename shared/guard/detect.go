package guard

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/openagents/trust/shared/trust"
)

// Inspection is the result of inspecting one untrusted text: the sanitized
// text to pass on, what the sanitizer removed, and the injection rules that
// flag it. A flag never blocks: the text is still used, and the flag goes to
// the audit log.
type Inspection struct {
	Text     string          `json:"-"`
	Flagged  bool            `json:"flagged"`
	Patterns []string        `json:"patterns"`
	Report   *SanitizeReport `json:"sanitize"`
}

// Detector sanitizes untrusted text and flags injection patterns in it.
type Detector struct {
	Sanitizer *Sanitizer
	Rules     *RuleSet
}

// NewDetector returns a detector with the default sanitizer and the embedded
// rules.
func NewDetector() *Detector {
	return &Detector{Sanitizer: NewSanitizer(), Rules: DefaultRules()}
}

// Inspect sanitizes text and matches the rules on the result plus the hidden
// text the sanitizer decoded.
func (d *Detector) Inspect(text string) *Inspection {
	clean, rep := d.Sanitizer.Sanitize(text)
	ids := d.Rules.Match(clean, rep)
	if ids == nil {
		ids = []string{}
	}
	return &Inspection{Text: clean, Flagged: len(ids) > 0, Patterns: ids, Report: rep}
}

// InspectJSON inspects a JSON document, such as a tool result. Every string
// in it (object keys too) is sanitized on its own, so invisible characters
// written as \u escapes, which the text sanitizer cannot see, are decoded and
// removed as well; the rules run on the cleaned strings, one per line; and
// Text is the document re-encoded with the cleaned strings (numbers kept
// exactly). EINVALID if raw is not a single JSON value.
func (d *Detector) InspectJSON(raw []byte) (*Inspection, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil || dec.More() {
		return nil, trust.Errorf(trust.EINVALID, "not a JSON document")
	}
	merged := &SanitizeReport{Removed: map[string]int{}}
	var joined strings.Builder
	var hidden []string
	clean := func(s string) string {
		out, rep := d.Sanitizer.Sanitize(s)
		for k, n := range rep.Removed {
			merged.Removed[k] += n
		}
		merged.Normalized = merged.Normalized || rep.Normalized
		merged.Truncated = merged.Truncated || rep.Truncated
		if rep.Hidden != "" {
			hidden = append(hidden, rep.Hidden)
		}
		joined.WriteString(out)
		joined.WriteByte('\n')
		return out
	}
	v = mapJSONStrings(v, clean)
	merged.Hidden = clip(strings.Join(hidden, " "), maxHidden)
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("re-encode sanitized JSON: %w", err)
	}
	ids := d.Rules.Match(joined.String(), merged)
	if ids == nil {
		ids = []string{}
	}
	return &Inspection{Text: strings.TrimSuffix(buf.String(), "\n"), Flagged: len(ids) > 0, Patterns: ids, Report: merged}, nil
}

// mapJSONStrings returns v with every string, keys included, replaced by
// fn(string). Keys that clean to the same string keep the last value.
func mapJSONStrings(v any, fn func(string) string) any {
	switch v := v.(type) {
	case string:
		return fn(v)
	case []any:
		for i, e := range v {
			v[i] = mapJSONStrings(e, fn)
		}
		return v
	case map[string]any:
		out := make(map[string]any, len(v))
		for _, k := range slices.Sorted(maps.Keys(v)) {
			out[fn(k)] = mapJSONStrings(v[k], fn)
		}
		return out
	}
	return v
}
