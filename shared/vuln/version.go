package vuln

import (
	"fmt"
	"strconv"
	"strings"
)

// Ecosystems as OSV names them. Distribution ecosystems carry a release
// ("Debian:12", "Alpine:v3.20"); their base name picks the ordering.
const (
	PyPI   = "PyPI"
	Npm    = "npm"
	Debian = "Debian"
	Alpine = "Alpine"
)

// baseEcosystem strips the release from a distribution ecosystem name.
func baseEcosystem(eco string) string {
	if i := strings.IndexByte(eco, ':'); i >= 0 {
		return eco[:i]
	}
	return eco
}

// Compare orders two versions of a package in ecosystem eco: PEP 440 for
// PyPI, npm's semver for npm, dpkg's algorithm for Debian and Ubuntu, and a
// numeric-aware segment comparison for anything else (and for versions that
// do not parse in their ecosystem's scheme).
func Compare(eco, a, b string) int {
	switch baseEcosystem(eco) {
	case PyPI:
		va, oka := parsePEP440(a)
		vb, okb := parsePEP440(b)
		if oka && okb {
			return comparePEP440(va, vb)
		}
		// A legacy version sorts before every PEP 440 one, as in pip.
		switch {
		case oka:
			return 1
		case okb:
			return -1
		}
	case Npm:
		va, oka := parseSemver(a)
		vb, okb := parseSemver(b)
		if oka && okb {
			return compareSemver(va, vb)
		}
	case Debian, "Ubuntu":
		return compareDpkg(a, b)
	}
	return compareGeneric(a, b)
}

// semver is an npm version: MAJOR.MINOR.PATCH with an optional pre-release;
// build metadata is dropped (it does not order).
type semver struct {
	num [3]int
	pre []string
}

// parseSemver accepts a leading "v" or "=" and missing minor or patch.
func parseSemver(s string) (v semver, ok bool) {
	s = strings.TrimSpace(s)
	s = strings.TrimLeft(s, "=v")
	if i := strings.IndexByte(s, '+'); i >= 0 {
		s = s[:i]
	}
	core := s
	if i := strings.IndexByte(s, '-'); i >= 0 {
		core = s[:i]
		pre := s[i+1:]
		if pre == "" {
			return v, false
		}
		v.pre = strings.Split(pre, ".")
	}
	parts := strings.Split(core, ".")
	if len(parts) > 3 || core == "" {
		return v, false
	}
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 {
			return v, false
		}
		v.num[i] = n
	}
	return v, true
}

func compareSemver(a, b semver) int {
	for i := range 3 {
		if c := cmpInt(a.num[i], b.num[i]); c != 0 {
			return c
		}
	}
	switch {
	case len(a.pre) == 0 && len(b.pre) == 0:
		return 0
	case len(a.pre) == 0:
		return 1
	case len(b.pre) == 0:
		return -1
	}
	for i := 0; i < min(len(a.pre), len(b.pre)); i++ {
		x, ex := strconv.Atoi(a.pre[i])
		y, ey := strconv.Atoi(b.pre[i])
		switch {
		case ex == nil && ey == nil:
			if c := cmpInt(x, y); c != 0 {
				return c
			}
		case ex == nil: // numeric identifiers sort before alphanumeric ones
			return -1
		case ey == nil:
			return 1
		default:
			if c := strings.Compare(a.pre[i], b.pre[i]); c != 0 {
				return c
			}
		}
	}
	return cmpInt(len(a.pre), len(b.pre))
}

// compareDpkg is dpkg's ordering of [epoch:]upstream[-revision].
func compareDpkg(a, b string) int {
	ea, ua, ra := splitDpkg(a)
	eb, ub, rb := splitDpkg(b)
	if c := cmpInt(ea, eb); c != 0 {
		return c
	}
	if c := dpkgPart(ua, ub); c != 0 {
		return c
	}
	return dpkgPart(ra, rb)
}

func splitDpkg(s string) (epoch int, upstream, revision string) {
	if i := strings.IndexByte(s, ':'); i >= 0 {
		epoch, _ = strconv.Atoi(s[:i])
		s = s[i+1:]
	}
	if i := strings.LastIndexByte(s, '-'); i >= 0 {
		return epoch, s[:i], s[i+1:]
	}
	return epoch, s, ""
}

// dpkgOrder ranks one non-digit character: '~' before the end of the
// string, the end before letters, letters before everything else.
func dpkgOrder(c byte) int {
	switch {
	case c == '~':
		return -1
	case c >= '0' && c <= '9':
		return 0
	case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
		return int(c)
	}
	return int(c) + 256
}

func dpkgPart(a, b string) int {
	for a != "" || b != "" {
		// Non-digit prefixes, character by character.
		for (a != "" && !isDigit(a[0])) || (b != "" && !isDigit(b[0])) {
			var x, y int
			if a != "" {
				x = dpkgOrder(a[0])
			}
			if b != "" {
				y = dpkgOrder(b[0])
			}
			if x != y {
				return cmpInt(x, y)
			}
			a, b = a[1:], b[1:]
		}
		// Digit runs, numerically.
		i, j := 0, 0
		for i < len(a) && isDigit(a[i]) {
			i++
		}
		for j < len(b) && isDigit(b[j]) {
			j++
		}
		if c := cmpNumStr(a[:i], b[:j]); c != 0 {
			return c
		}
		a, b = a[i:], b[j:]
	}
	return 0
}

// compareGeneric splits on non-alphanumerics and compares runs of digits
// numerically and runs of letters lexically; a version with more segments
// is the greater when all shared ones are equal.
func compareGeneric(a, b string) int {
	sa, sb := segments(a), segments(b)
	for i := 0; i < min(len(sa), len(sb)); i++ {
		x, y := sa[i], sb[i]
		dx, dy := isDigit(x[0]), isDigit(y[0])
		switch {
		case dx && dy:
			if c := cmpNumStr(x, y); c != 0 {
				return c
			}
		case dx:
			return 1
		case dy:
			return -1
		default:
			if c := strings.Compare(x, y); c != 0 {
				return c
			}
		}
	}
	return cmpInt(len(sa), len(sb))
}

func segments(s string) []string {
	var out []string
	i := 0
	for i < len(s) {
		j := i
		switch {
		case isDigit(s[i]):
			for j < len(s) && isDigit(s[j]) {
				j++
			}
		case isLetter(s[i]):
			for j < len(s) && isLetter(s[j]) {
				j++
			}
		default:
			i++
			continue
		}
		out = append(out, strings.ToLower(s[i:j]))
		i = j
	}
	return out
}

// cmpNumStr compares two digit strings of any length numerically.
func cmpNumStr(a, b string) int {
	a = strings.TrimLeft(a, "0")
	b = strings.TrimLeft(b, "0")
	if c := cmpInt(len(a), len(b)); c != 0 {
		return c
	}
	return strings.Compare(a, b)
}

func isDigit(c byte) bool  { return c >= '0' && c <= '9' }
func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

// Equal reports whether a and b name the same version in eco (so "1.0" and
// "1.0.0" are equal on PyPI).
func Equal(eco, a, b string) bool { return a == b || Compare(eco, a, b) == 0 }

// canonical is a version's spelling for equality: two versions that
// Compare equal in PyPI or npm have the same canonical form ("1.0" and
// "1.0.0", "2.0RC1" and "2.0rc1"); elsewhere the version itself.
func canonical(eco, v string) string {
	switch baseEcosystem(eco) {
	case PyPI:
		p, ok := parsePEP440(v)
		if !ok {
			return v
		}
		rel := p.release
		for len(rel) > 1 && rel[len(rel)-1] == 0 {
			rel = rel[:len(rel)-1]
		}
		var b strings.Builder
		if p.epoch != 0 {
			b.WriteString(strconv.Itoa(p.epoch) + "!")
		}
		for i, n := range rel {
			if i > 0 {
				b.WriteByte('.')
			}
			b.WriteString(strconv.Itoa(n))
		}
		if p.hasPre {
			b.WriteString([]string{"a", "b", "rc"}[p.preKind] + strconv.Itoa(p.preNum))
		}
		if p.hasPost {
			b.WriteString(".post" + strconv.Itoa(p.postNum))
		}
		if p.hasDev {
			b.WriteString(".dev" + strconv.Itoa(p.devNum))
		}
		if len(p.local) > 0 {
			b.WriteString("+" + strings.Join(p.local, "."))
		}
		return b.String()
	case Npm:
		s, ok := parseSemver(v)
		if !ok {
			return v
		}
		out := fmt.Sprintf("%d.%d.%d", s.num[0], s.num[1], s.num[2])
		if len(s.pre) > 0 {
			out += "-" + strings.Join(s.pre, ".")
		}
		return out
	}
	return v
}
