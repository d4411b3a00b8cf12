package vuln

import (
	"testing"

	"github.com/openagents/trust/shared/trust"
)

func TestConstraint_Allows(t *testing.T) {
	for _, tt := range []struct {
		eco, spec string
		yes, no   []string
	}{
		{PyPI, "==2.2.0", []string{"2.2.0", "2.2"}, []string{"2.2.1"}},
		{PyPI, ">=2.0,<3", []string{"2.0", "2.9.9"}, []string{"1.9", "3.0"}},
		{PyPI, "~=1.4.2", []string{"1.4.2", "1.4.9"}, []string{"1.5.0", "1.4.1"}},
		{PyPI, "~=1.4", []string{"1.4", "1.9"}, []string{"2.0", "1.3"}},
		{PyPI, "==1.2.*", []string{"1.2", "1.2.9"}, []string{"1.3.0", "1.20"}},
		{PyPI, "!=1.5,>1.0", []string{"1.1", "1.6"}, []string{"1.5", "1.0"}},
		{PyPI, "===1.0-odd", []string{"1.0-odd"}, []string{"1.0"}},
		{PyPI, "(>=1.0)", []string{"1.0"}, []string{"0.9"}},
		{PyPI, "", []string{"0.1", "99"}, nil},
		{Npm, "^1.2.3", []string{"1.2.3", "1.9.0"}, []string{"2.0.0", "1.2.2", "2.0.0-beta"}},
		{Npm, "^0.2.3", []string{"0.2.9"}, []string{"0.3.0"}},
		{Npm, "^0.0.3", []string{"0.0.3"}, []string{"0.0.4"}},
		{Npm, "~1.2.3", []string{"1.2.9"}, []string{"1.3.0"}},
		{Npm, "~1", []string{"1.9.9"}, []string{"2.0.0"}},
		{Npm, "1.x", []string{"1.0.0", "1.5.2"}, []string{"2.0.0"}},
		{Npm, "1.2", []string{"1.2.0", "1.2.7"}, []string{"1.3.0"}},
		{Npm, "1.2.3", []string{"1.2.3"}, []string{"1.2.4"}},
		{Npm, ">=1.0.0 <1.5.0", []string{"1.4.9"}, []string{"1.5.0"}},
		{Npm, "> 1.2", []string{"1.3.0"}, []string{"1.2.9"}},
		{Npm, "<=1.2", []string{"1.2.9"}, []string{"1.3.0"}},
		{Npm, "1.2 - 2.3.4", []string{"1.2.0", "2.3.4"}, []string{"2.3.5", "1.1.9"}},
		{Npm, "1.2.3 - 2.3", []string{"2.3.9"}, []string{"2.4.0"}},
		{Npm, "<1.0.0 || >=3.0.0", []string{"0.5.0", "3.1.0"}, []string{"2.0.0"}},
		{Npm, "*", []string{"0.0.1", "9.9.9"}, nil},
		{Npm, "latest", []string{"1.0.0"}, nil},
	} {
		c, err := ParseConstraint(tt.eco, tt.spec)
		if err != nil {
			t.Errorf("ParseConstraint(%s, %q): %v", tt.eco, tt.spec, err)
			continue
		}
		for _, v := range tt.yes {
			if !c.Allows(v) {
				t.Errorf("%s %q does not allow %s, want allowed", tt.eco, tt.spec, v)
			}
		}
		for _, v := range tt.no {
			if c.Allows(v) {
				t.Errorf("%s %q allows %s, want refused", tt.eco, tt.spec, v)
			}
		}
	}
}

func TestConstraint_Shape(t *testing.T) {
	for _, tt := range []struct {
		eco, spec string
		pinned    string
		open, any bool
	}{
		{PyPI, "==1.0", "1.0", false, false},
		{PyPI, ">=1.0", "", true, false},
		{PyPI, ">=1.0,<2", "", false, false},
		{PyPI, "", "", true, true},
		{Npm, "1.2.3", "1.2.3", false, false},
		{Npm, "^1.2.3", "", false, false},
		{Npm, ">=1.0.0", "", true, false},
		{Npm, "<1.0.0 || >=2.0.0", "", true, false},
		{Npm, "*", "", true, true},
	} {
		c, err := ParseConstraint(tt.eco, tt.spec)
		if err != nil {
			t.Fatal(err)
		}
		p, _ := c.Pinned()
		if p != tt.pinned || c.OpenEnded() != tt.open || c.Any() != tt.any {
			t.Errorf("%s %q: pinned %q open %v any %v; want %q %v %v", tt.eco, tt.spec, p, c.OpenEnded(), c.Any(), tt.pinned, tt.open, tt.any)
		}
	}
}

func TestParseConstraint_ErrInvalid(t *testing.T) {
	for _, tt := range []struct{ eco, spec string }{
		{PyPI, "1.0"}, {PyPI, ">=abc"}, {PyPI, "~=1"}, {PyPI, ">=1.*"}, {PyPI, "=="},
		{Npm, "^a.b"}, {Npm, "1.2.3.4"}, {Npm, ">=1.0.0 - 2"},
	} {
		if _, err := ParseConstraint(tt.eco, tt.spec); trust.ErrorCode(err) != trust.EINVALID {
			t.Errorf("ParseConstraint(%s, %q) = %v, want EINVALID", tt.eco, tt.spec, err)
		}
	}
}

func FuzzParseConstraint(f *testing.F) {
	for _, s := range []string{"==1.0", ">=2.0,<3", "~=1.4", "==1.2.*", "^1.2.3", "1.x || >=3", "1.2 - 2.3.4"} {
		f.Add(s, "1.2.3")
	}
	f.Fuzz(func(t *testing.T, spec, v string) {
		for _, eco := range []string{PyPI, Npm} {
			c, err := ParseConstraint(eco, spec)
			if err != nil {
				continue
			}
			_ = c.Allows(v)
			_ = c.OpenEnded()
			if p, ok := c.Pinned(); ok && !c.Allows(p) && eco == Npm {
				t.Errorf("%s %q pins %q but does not allow it", eco, spec, p)
			}
		}
	})
}
