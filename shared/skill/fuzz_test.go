package skill

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/openagents/trust/shared/trust"
)

// FuzzParseManifest checks that any input parses without panicking, that every
// failure is an EINVALID *trust.Error naming the file, and that a success is
// valid and normalized.
func FuzzParseManifest(f *testing.F) {
	for _, tt := range parseTests {
		if len(tt.data) < 4096 {
			f.Add([]byte(tt.data))
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ParseManifest("SKILL.md", data)
		if err != nil {
			var e *trust.Error
			if !errors.As(err, &e) || e.Code != trust.EINVALID {
				t.Fatalf("got %T %v, want an EINVALID *trust.Error", err, err)
			} else if !strings.HasPrefix(e.Message, "SKILL.md") {
				t.Fatalf("message %q does not name the file", e.Message)
			} else if !utf8.ValidString(e.Message) {
				t.Fatalf("message %q is not valid UTF-8", e.Message)
			}
			return
		}
		if err := trust.ValidateSkillRef(m.Name, "0"); err != nil {
			t.Fatalf("parsed an invalid name: %v", err)
		} else if m.Version != "" {
			if err := trust.ValidateSkillRef(m.Name, m.Version); err != nil {
				t.Fatalf("parsed an invalid version: %v", err)
			}
		}
		if n := m.Permissions.Normalize(); !reflect.DeepEqual(n, m.Permissions) {
			t.Fatalf("permissions not normalized: got %+v, normalized %+v", m.Permissions, n)
		}
		for _, l := range [][]string{m.Permissions.Tools, m.Permissions.Network, m.Permissions.Exec, m.Permissions.Filesystem.Read, m.Permissions.Filesystem.Write} {
			for _, s := range l {
				if s == "" || checkText(s) != nil {
					t.Fatalf("parsed an invalid entry %q", s)
				}
			}
		}
	})
}

// FuzzValidHost checks that a host that passes is returned in a form that
// passes again unchanged.
func FuzzValidHost(f *testing.F) {
	for _, tt := range hostTests {
		f.Add(tt.in)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := validHost(s)
		if err != nil {
			return
		}
		again, err := validHost(got)
		if err != nil {
			t.Fatalf("validHost(%q) = %q, which fails: %v", s, got, err)
		} else if again != got {
			t.Fatalf("validHost(%q) = %q, then %q", s, got, again)
		}
	})
}

// FuzzSplitTools checks that splitting never panics, gives no empty part, and
// keeps every byte but the separators.
func FuzzSplitTools(f *testing.F) {
	for _, tt := range splitToolsTests {
		f.Add(tt.in)
	}
	f.Fuzz(func(t *testing.T, s string) {
		parts, err := splitTools(s)
		if err != nil {
			return
		}
		for _, p := range parts {
			if p == "" {
				t.Fatalf("splitTools(%q) gave an empty part: %q", s, parts)
			} else if !strings.Contains(s, p) {
				t.Fatalf("splitTools(%q) gave %q, not in the input", s, p)
			}
		}
	})
}
