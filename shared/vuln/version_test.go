package vuln

import "testing"

func TestCompare(t *testing.T) {
	for _, tt := range []struct {
		eco, a, b string
		want      int
	}{
		// PEP 440: release padding, pre/post/dev ordering, epochs, local.
		{PyPI, "1.0", "1.0.0", 0},
		{PyPI, "1.0", "1.0.1", -1},
		{PyPI, "1.10", "1.9", 1},
		{PyPI, "1.0.dev1", "1.0a1", -1},
		{PyPI, "1.0a1", "1.0a2", -1},
		{PyPI, "1.0a2", "1.0b1", -1},
		{PyPI, "1.0b1", "1.0rc1", -1},
		{PyPI, "1.0rc1", "1.0", -1},
		{PyPI, "1.0", "1.0.post1", -1},
		{PyPI, "1.0.post1.dev1", "1.0.post1", -1},
		{PyPI, "1.0a1.dev1", "1.0a1", -1},
		{PyPI, "1.0", "1.0+local.1", -1},
		{PyPI, "1.0+abc", "1.0+1", -1},
		{PyPI, "1!0.1", "2.0", 1},
		{PyPI, "2.0.0RC2", "2.0.0rc2", 0},
		{PyPI, "2.0.0-rc.2", "2.0.0rc2", 0},
		{PyPI, "1.0-1", "1.0.post1", 0},
		{PyPI, "1.0alpha", "1.0a0", 0},
		{PyPI, "1.0c1", "1.0rc1", 0},
		{PyPI, "1.0preview2", "1.0rc2", 0},
		{PyPI, "v1.2", "1.2", 0},
		{PyPI, "0.12.01", "0.12.1", 0},
		{PyPI, "1.9.post1", "2.0.0rc2", -1},
		{PyPI, "french-toast", "0.1", -1}, // legacy sorts first
		// npm semver.
		{Npm, "1.2.3", "1.2.10", -1},
		{Npm, "1.2.3-alpha", "1.2.3", -1},
		{Npm, "1.2.3-alpha.1", "1.2.3-alpha.beta", -1},
		{Npm, "1.2.3-alpha.10", "1.2.3-alpha.9", 1},
		{Npm, "1.2.3-beta", "1.2.3-alpha.1", 1},
		{Npm, "1.2.3-alpha", "1.2.3-alpha.1", -1},
		{Npm, "1.2.3+build5", "1.2.3", 0},
		{Npm, "v2.0.0", "2.0.0", 0},
		{Npm, "2.0.0-0", "2.0.0-beta", -1},
		// dpkg.
		{"Debian:12", "1.0-1", "1.0-2", -1},
		{"Debian:12", "1:0.9", "2.0", 1},
		{"Debian:12", "1.0~rc1", "1.0", -1},
		{"Debian:12", "1.0", "1.0a", -1},
		{"Debian:12", "1.0a", "1.0+", -1},
		{"Debian:12", "2.4.1-1~deb12u1", "2.4.1-1", -1},
		{"Debian:12", "1.10", "1.9", 1},
		// generic (apk and unknown ecosystems).
		{"Alpine:v3.20", "1.36.1-r15", "1.36.1-r16", -1},
		{"Alpine:v3.20", "1.36.10-r0", "1.36.9-r9", 1},
		{"Go", "1.0.0", "1.0.0", 0},
	} {
		if got := Compare(tt.eco, tt.a, tt.b); got != tt.want {
			t.Errorf("Compare(%s, %q, %q) = %d, want %d", tt.eco, tt.a, tt.b, got, tt.want)
		}
		if got := Compare(tt.eco, tt.b, tt.a); got != -tt.want {
			t.Errorf("Compare(%s, %q, %q) = %d, want %d (antisymmetry)", tt.eco, tt.b, tt.a, got, -tt.want)
		}
	}
}

func TestParsePEP440_Invalid(t *testing.T) {
	for _, s := range []string{"", "abc", "1.0+", "1..0", "1.0-foo", "1.0 2", "!1.0"} {
		if _, ok := parsePEP440(s); ok {
			t.Errorf("parsePEP440(%q) ok, want invalid", s)
		}
	}
}

func TestCVSS3(t *testing.T) {
	for _, tt := range []struct {
		vector string
		want   float64
		ok     bool
	}{
		{"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", 9.8, true},
		{"CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N", 6.1, true},
		{"CVSS:3.0/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:N/A:N", 5.5, true},
		{"CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:N/I:N/A:L", 3.7, true},
		{"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:N", 0, true},
		{"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H", 0, false},
		{"CVSS:2.0/AV:N", 0, false},
	} {
		got, ok := cvss3(tt.vector)
		if got != tt.want || ok != tt.ok {
			t.Errorf("cvss3(%q) = %v, %v; want %v, %v", tt.vector, got, ok, tt.want, tt.ok)
		}
	}
}

func FuzzCompare(f *testing.F) {
	for _, s := range [][3]string{{PyPI, "1.0a1", "1.0.post1"}, {Npm, "1.2.3-alpha.1", "1.2.3"}, {"Debian:12", "1:1.0~rc1-2", "1.0"}, {"x", "1.a.2", "1_b"}} {
		f.Add(s[0], s[1], s[2])
	}
	f.Fuzz(func(t *testing.T, eco, a, b string) {
		if x, y := Compare(eco, a, b), Compare(eco, b, a); x != -y {
			t.Errorf("Compare(%q, %q) = %d but reversed = %d", a, b, x, y)
		}
		if Compare(eco, a, a) != 0 {
			t.Errorf("Compare(%q, %q) != 0", a, a)
		}
	})
}

// TestCanonical: versions that compare equal share a canonical form, and
// versions that differ do not.
func TestCanonical(t *testing.T) {
	for _, tt := range []struct {
		eco, a, b string
	}{
		{PyPI, "1.0", "1.0.0"}, {PyPI, "2.0RC1", "2.0rc1"}, {PyPI, "1.0-1", "1.0.post1"}, {PyPI, "0.12.01", "0.12.1"},
		{PyPI, "1!2.0", "1!2"}, {PyPI, "1.0+Ubuntu-1", "1.0+ubuntu.1"}, {PyPI, "1.0.dev0", "1.0dev"},
		{Npm, "v1.2.3", "1.2.3"}, {Npm, "1.2.3+build", "1.2.3"},
		{"Debian:12", "1.0-1", "1.0-1"},
	} {
		if x, y := canonical(tt.eco, tt.a), canonical(tt.eco, tt.b); x != y {
			t.Errorf("canonical(%q) = %q, canonical(%q) = %q; want equal", tt.a, x, tt.b, y)
		}
	}
	for _, tt := range []struct{ eco, a, b string }{
		{PyPI, "1.0", "1.0.1"}, {PyPI, "1.0a1", "1.0b1"}, {PyPI, "1.0", "1.0+1"}, {Npm, "1.2.3-beta", "1.2.3"},
	} {
		if canonical(tt.eco, tt.a) == canonical(tt.eco, tt.b) {
			t.Errorf("canonical(%q) == canonical(%q), want different", tt.a, tt.b)
		}
	}
}

func TestInRange(t *testing.T) {
	ev := func(kind, v string) event {
		switch kind {
		case "i":
			return event{Introduced: v}
		case "f":
			return event{Fixed: v}
		}
		return event{LastAffected: v}
	}
	for _, tt := range []struct {
		name   string
		events []event
		in     []string
		out    []string
	}{
		{"OpenEnded", []event{ev("i", "0")}, []string{"0.0.1", "99"}, nil},
		{"Fixed", []event{ev("i", "1.0"), ev("f", "2.0")}, []string{"1.0", "1.9.9"}, []string{"0.9", "2.0", "2.0.1"}},
		{"LastAffected", []event{ev("i", "0"), ev("l", "2.0")}, []string{"2.0"}, []string{"2.0.post1", "2.0.1"}},
		// Adjacent intervals as PyPA writes them, out of order: the
		// shared bound 0.13.0 starts the second interval.
		{"Adjacent", []event{ev("i", "0.13.0"), ev("f", "0.14.0rc1"), ev("i", "0.12.2"), ev("f", "0.13.0")},
			[]string{"0.12.2", "0.13.0", "0.13.5"}, []string{"0.12.1", "0.14.0rc1", "0.14.0"}},
		{"TwoIntervals", []event{ev("i", "0"), ev("f", "3.1.1"), ev("i", "3.2.0"), ev("f", "3.2.2")},
			[]string{"3.0", "3.2.1"}, []string{"3.1.1", "3.1.9", "3.2.2"}},
	} {
		evs := append([]event(nil), tt.events...)
		sortEvents(PyPI, evs)
		for _, v := range tt.in {
			if !inRange(PyPI, evs, v) {
				t.Errorf("%s: %s not in range, want in", tt.name, v)
			}
		}
		for _, v := range tt.out {
			if inRange(PyPI, evs, v) {
				t.Errorf("%s: %s in range, want out", tt.name, v)
			}
		}
	}
}
