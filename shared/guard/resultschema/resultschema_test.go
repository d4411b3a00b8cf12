package resultschema_test

import (
	"os"
	"strings"
	"testing"

	"github.com/openagents/trust/shared/guard/resultschema"
	"github.com/openagents/trust/shared/trust"
)

func MustResultSchema(tb testing.TB, tool, file string) *resultschema.Schema {
	tb.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		tb.Fatal(err)
	}
	s, err := resultschema.Compile(tool, b)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

func TestResultSchema(t *testing.T) {
	s := MustResultSchema(t, "weather", "../../../testdata/guard/weather.schema.json")
	const secret = "CANARY-SECRET-4711"
	for _, tt := range []struct {
		name, result, code, inError string
	}{
		{"OK", `{"city":"Oslo","temp_c":-3.5,"conditions":["snow"]}`, "", ""},
		{"ErrMissing", `{"city":"Oslo"}`, trust.EINVALID, "at / (keyword /required)"},
		{"ErrType", `{"city":"Oslo","temp_c":"` + secret + `"}`, trust.EINVALID, "at /temp_c (keyword /properties/temp_c/type)"},
		{"ErrExtra", `{"city":"Oslo","temp_c":1,"note":"` + secret + `"}`, trust.EINVALID, "keyword /additionalProperties"},
		{"ErrNested", `{"city":"Oslo","temp_c":1,"conditions":["snow",3]}`, trust.EINVALID, "at /conditions/1"},
		{"ErrPattern", `{"city":"` + secret + `!","temp_c":1}`, trust.EINVALID, "at /city (keyword /properties/city/pattern)"},
		{"ErrNotJSON", `{"city":`, trust.EINVALID, "not JSON"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := s.Validate([]byte(tt.result))
			if got := trust.ErrorCode(err); got != tt.code {
				t.Fatalf("code = %q (%v), want %q", got, err, tt.code)
			}
			if err != nil && !strings.Contains(trust.ErrorMessage(err), tt.inError) {
				t.Fatalf("message %q, want it to hold %q", trust.ErrorMessage(err), tt.inError)
			}
			if err != nil && strings.Contains(err.Error(), secret) {
				t.Fatalf("error leaks the result's value: %v", err)
			}
		})
	}
}

func TestCompileResultSchema(t *testing.T) {
	for _, tt := range []struct {
		name, schema string
	}{
		{"ErrNotJSON", `{`},
		{"ErrInvalidSchema", `{"type": 12}`},
		{"ErrRemoteRef", `{"$ref": "https://example.com/s.json"}`},
		{"ErrFileRef", `{"$ref": "file:///etc/passwd"}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := resultschema.Compile("t", []byte(tt.schema)); trust.ErrorCode(err) != trust.EINVALID {
				t.Fatalf("err = %v, want EINVALID", err)
			}
		})
	}
	t.Run("OKLocalRef", func(t *testing.T) {
		s, err := resultschema.Compile("t", []byte(`{"$defs":{"n":{"type":"number"}},"type":"array","items":{"$ref":"#/$defs/n"}}`))
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Validate([]byte(`[1,2]`)); err != nil {
			t.Fatal(err)
		}
		if err := s.Validate([]byte(`[1,"x"]`)); trust.ErrorCode(err) != trust.EINVALID {
			t.Fatalf("err = %v, want EINVALID", err)
		}
	})
}
