// Package resultschema checks a tool's results against the JSON Schema its
// skill declares for them: the guard's tool-result validation
// (guard.Guard.CompileSchema). It is a package of its own so that binaries
// that link the guard but never validate results — trustctl, on every
// Machine at boot — do not pay for the JSON Schema library's start-up (it
// compiles the draft meta-schemas at init, milliseconds per process).
package resultschema

import (
	"bytes"
	"fmt"
	"net/url"
	"strings"

	"github.com/openagents/trust/shared/guard"
	"github.com/openagents/trust/shared/trust"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

// Schema is a compiled JSON Schema for a tool's results.
type Schema struct {
	tool   string
	schema *jsonschema.Schema
}

// noLoader refuses every reference outside the schema itself: a tool's
// schema comes with the skill and must not make the guard read files or the
// network.
type noLoader struct{}

func (noLoader) Load(u string) (any, error) {
	return nil, fmt.Errorf("schema reference %s not allowed: only references inside the schema are", u)
}

// Compile compiles the JSON Schema (draft 2020-12 unless it says
// otherwise) that tool's results must match. EINVALID for a schema that is
// not JSON or not a valid schema, or that refers to other documents.
func Compile(tool string, schema []byte) (*Schema, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(schema))
	if err != nil {
		return nil, trust.Errorf(trust.EINVALID, "tool %q: result schema is not JSON", tool)
	}
	c := jsonschema.NewCompiler()
	c.UseLoader(noLoader{})
	c.DefaultDraft(jsonschema.Draft2020)
	loc := "urn:openagents-guard:tool:" + url.PathEscape(tool)
	if err := c.AddResource(loc, doc); err != nil {
		return nil, trust.Errorf(trust.EINVALID, "tool %q: result schema: %s", tool, oneLine(err.Error()))
	}
	s, err := c.Compile(loc)
	if err != nil {
		return nil, trust.Errorf(trust.EINVALID, "tool %q: invalid result schema: %s", tool, oneLine(err.Error()))
	}
	return &Schema{tool: tool, schema: s}, nil
}

// ForGuard is Compile in the shape guard.Guard.CompileSchema takes.
func ForGuard(tool string, schema []byte) (guard.ResultValidator, error) {
	s, err := Compile(tool, schema)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// Validate checks a result (JSON) against the schema. It returns EINVALID
// naming the instance path and the schema keyword that failed (never the
// value: results may hold secrets) for a result that is not JSON or does
// not match.
func (s *Schema) Validate(result []byte) error {
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(result))
	if err != nil {
		return trust.Errorf(trust.EINVALID, "tool %q: result is not JSON", s.tool)
	}
	err = s.schema.Validate(v)
	if err == nil {
		return nil
	}
	ve, ok := err.(*jsonschema.ValidationError)
	if !ok {
		return trust.Errorf(trust.EINVALID, "tool %q: result does not match its schema", s.tool)
	}
	leaf := firstLeaf(ve)
	keyword := ""
	if i := strings.IndexByte(leaf.SchemaURL, '#'); i >= 0 {
		keyword = leaf.SchemaURL[i+1:] // the failing subschema, as a pointer
	}
	if kw := leaf.ErrorKind.KeywordPath(); len(kw) > 0 {
		keyword += pointer(kw)
	}
	if keyword == "" {
		keyword = "/"
	}
	return trust.Errorf(trust.EINVALID, "tool %q: result does not match its schema at %s (keyword %s)",
		s.tool, pointer(leaf.InstanceLocation), clip(keyword, 200))
}

// firstLeaf follows the first cause down to the error that names the
// failing keyword.
func firstLeaf(e *jsonschema.ValidationError) *jsonschema.ValidationError {
	for len(e.Causes) > 0 {
		e = e.Causes[0]
	}
	return e
}

// pointer writes a path as a JSON pointer ("" is the root, "/").
func pointer(segs []string) string {
	if len(segs) == 0 {
		return "/"
	}
	var b strings.Builder
	for _, s := range segs {
		b.WriteByte('/')
		b.WriteString(strings.NewReplacer("~", "~0", "/", "~1").Replace(s))
	}
	return clip(b.String(), 200)
}

func oneLine(s string) string {
	return clip(strings.Join(strings.Fields(s), " "), 300)
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xc0 == 0x80 {
		n--
	}
	return s[:n] + "…"
}
