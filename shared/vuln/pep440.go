package vuln

import (
	"strconv"
	"strings"
)

// pep440 is a parsed PEP 440 version. Fields absent from the text are
// marked by the has* flags so ordering can tell "no pre-release" from "a0".
type pep440 struct {
	epoch   int
	release []int
	preKind int // 0 a, 1 b, 2 rc
	preNum  int
	hasPre  bool
	postNum int
	hasPost bool
	devNum  int
	hasDev  bool
	local   []string
}

// parsePEP440 parses s leniently, the way pip's packaging does for valid
// versions: case-insensitive, optional "v", alternate spellings of the
// pre/post/dev markers, optional separators. ok is false for anything that
// is not a PEP 440 version (a legacy version).
func parsePEP440(s string) (v pep440, ok bool) {
	s = strings.ToLower(strings.TrimSpace(s))
	s = strings.TrimPrefix(s, "v")
	if i := strings.IndexByte(s, '+'); i >= 0 {
		loc := s[i+1:]
		s = s[:i]
		if loc == "" {
			return v, false
		}
		for _, p := range strings.FieldsFunc(loc, func(r rune) bool { return r == '.' || r == '-' || r == '_' }) {
			if !isAlnum(p) {
				return v, false
			}
			v.local = append(v.local, p)
		}
	}
	if i := strings.IndexByte(s, '!'); i >= 0 {
		e, err := strconv.Atoi(s[:i])
		if err != nil || e < 0 {
			return v, false
		}
		v.epoch = e
		s = s[i+1:]
	}
	// Release: digits separated by dots.
	i := 0
	for {
		j := i
		for j < len(s) && s[j] >= '0' && s[j] <= '9' {
			j++
		}
		if j == i {
			return v, false
		}
		n, err := strconv.Atoi(s[i:j])
		if err != nil {
			return v, false
		}
		v.release = append(v.release, n)
		i = j
		if i+1 < len(s) && s[i] == '.' && s[i+1] >= '0' && s[i+1] <= '9' {
			i++
			continue
		}
		break
	}
	rest := s[i:]
	// Pre-release.
	if r, kind, n, ok2 := suffix(rest, preWords); ok2 {
		v.hasPre, v.preKind, v.preNum, rest = true, kind, n, r
	}
	// Post-release: ".postN", "-N", "rev", "r".
	if strings.HasPrefix(rest, "-") && len(rest) > 1 && rest[1] >= '0' && rest[1] <= '9' {
		j := 1
		for j < len(rest) && rest[j] >= '0' && rest[j] <= '9' {
			j++
		}
		n, _ := strconv.Atoi(rest[1:j])
		v.hasPost, v.postNum, rest = true, n, rest[j:]
	} else if r, _, n, ok2 := suffix(rest, postWords); ok2 {
		v.hasPost, v.postNum, rest = true, n, r
	}
	if r, _, n, ok2 := suffix(rest, devWords); ok2 {
		v.hasDev, v.devNum, rest = true, n, r
	}
	return v, rest == ""
}

type word struct {
	text string
	kind int
}

// Longer spellings first so "preview" is not read as "pre" + "view".
var (
	preWords  = []word{{"preview", 2}, {"alpha", 0}, {"beta", 1}, {"pre", 2}, {"rc", 2}, {"a", 0}, {"b", 1}, {"c", 2}}
	postWords = []word{{"post", 0}, {"rev", 0}, {"r", 0}}
	devWords  = []word{{"dev", 0}}
)

// suffix reads an optional separator, one of words, an optional separator
// and an optional number from the start of s.
func suffix(s string, words []word) (rest string, kind, n int, ok bool) {
	t := s
	if t != "" && (t[0] == '.' || t[0] == '-' || t[0] == '_') {
		t = t[1:]
	}
	for _, w := range words {
		if strings.HasPrefix(t, w.text) {
			t = t[len(w.text):]
			u := t
			if u != "" && (u[0] == '.' || u[0] == '-' || u[0] == '_') {
				u = u[1:]
			}
			j := 0
			for j < len(u) && u[j] >= '0' && u[j] <= '9' {
				j++
			}
			if j > 0 {
				n, _ = strconv.Atoi(u[:j])
				t = u[j:]
			}
			return t, w.kind, n, true
		}
	}
	return s, 0, 0, false
}

func isAlnum(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return s != ""
}

// comparePEP440 orders two parsed versions as PEP 440 does.
func comparePEP440(a, b pep440) int {
	if c := cmpInt(a.epoch, b.epoch); c != 0 {
		return c
	}
	for i := 0; i < max(len(a.release), len(b.release)); i++ {
		var x, y int
		if i < len(a.release) {
			x = a.release[i]
		}
		if i < len(b.release) {
			y = b.release[i]
		}
		if c := cmpInt(x, y); c != 0 {
			return c
		}
	}
	if c := cmpInt(preKey(a), preKey(b)); c != 0 {
		return c
	}
	if a.hasPre && b.hasPre {
		if c := cmpInt(a.preKind, b.preKind); c != 0 {
			return c
		}
		if c := cmpInt(a.preNum, b.preNum); c != 0 {
			return c
		}
	}
	if c := cmpOpt(a.hasPost, a.postNum, b.hasPost, b.postNum, -1); c != 0 {
		return c
	}
	if c := cmpOpt(a.hasDev, a.devNum, b.hasDev, b.devNum, 1); c != 0 {
		return c
	}
	return compareLocal(a.local, b.local)
}

// preKey ranks the pre-release slot: a bare dev release sorts before every
// pre-release, a pre-release before the final release.
func preKey(v pep440) int {
	switch {
	case !v.hasPre && !v.hasPost && v.hasDev:
		return -1
	case v.hasPre:
		return 0
	}
	return 1
}

// cmpOpt compares optional numbers; an absent one sorts as missing (-1:
// lowest, 1: highest).
func cmpOpt(ha bool, a int, hb bool, b int, missing int) int {
	switch {
	case ha && hb:
		return cmpInt(a, b)
	case ha:
		return -missing
	case hb:
		return missing
	}
	return 0
}

func compareLocal(a, b []string) int {
	for i := 0; i < min(len(a), len(b)); i++ {
		x, ex := strconv.Atoi(a[i])
		y, ey := strconv.Atoi(b[i])
		switch {
		case ex == nil && ey == nil:
			if c := cmpInt(x, y); c != 0 {
				return c
			}
		case ex == nil: // numeric segments sort after alphanumeric ones
			return 1
		case ey == nil:
			return -1
		default:
			if c := strings.Compare(a[i], b[i]); c != 0 {
				return c
			}
		}
	}
	return cmpInt(len(a), len(b))
}

func cmpInt(a, b int) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
