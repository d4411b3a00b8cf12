package vuln

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/openagents/trust/shared/trust"
)

// Constraint is a version requirement: a PEP 440 specifier set
// (">=2.0,<3", "~=1.4", "==1.2.*") or an npm range ("^1.2.0 || ~2.1",
// "1.x", "1.2 - 2.0"), held as alternatives of comparator sets.
type Constraint struct {
	eco  string
	sets [][]comparator
}

type comparator struct {
	op     string // "==", "!=", "<", "<=", ">", ">=", "===" (exact string)
	ver    string
	prefix bool // "==1.2.*": release prefix match
}

// ParseConstraint parses spec in the syntax of eco (PyPI or npm). An empty
// spec, "*", "x" or "latest" allows every version. EINVALID if it does not
// parse.
func ParseConstraint(eco, spec string) (*Constraint, error) {
	spec = strings.TrimSpace(spec)
	c := &Constraint{eco: eco}
	var err error
	if baseEcosystem(eco) == Npm {
		for _, alt := range strings.Split(spec, "||") {
			set, e := parseNpmSet(strings.TrimSpace(alt))
			if e != nil {
				err = e
				break
			}
			c.sets = append(c.sets, set)
		}
	} else {
		var set []comparator
		if strings.HasPrefix(spec, "(") && strings.HasSuffix(spec, ")") {
			spec = spec[1 : len(spec)-1]
		}
		for _, part := range strings.Split(spec, ",") {
			part = strings.TrimSpace(part)
			if part == "" {
				continue
			}
			cs, e := parsePEP440Spec(part)
			if e != nil {
				err = e
				break
			}
			set = append(set, cs...)
		}
		c.sets = [][]comparator{set}
	}
	if err != nil {
		return nil, trust.Errorf(trust.EINVALID, "version constraint %q: %v", spec, err)
	}
	return c, nil
}

var pepOps = []string{"===", "~=", "==", "!=", "<=", ">=", "<", ">"}

func parsePEP440Spec(s string) ([]comparator, error) {
	for _, op := range pepOps {
		if !strings.HasPrefix(s, op) {
			continue
		}
		v := strings.TrimSpace(s[len(op):])
		if v == "" {
			return nil, fmt.Errorf("%q has no version", s)
		}
		if op == "===" {
			return []comparator{{op: op, ver: v}}, nil
		}
		if base, ok := strings.CutSuffix(v, ".*"); ok {
			if op != "==" && op != "!=" {
				return nil, fmt.Errorf("%q: a wildcard needs == or !=", s)
			}
			if _, ok := parsePEP440(base); !ok {
				return nil, fmt.Errorf("%q is not a PEP 440 version", v)
			}
			return []comparator{{op: op, ver: base, prefix: true}}, nil
		}
		pv, ok := parsePEP440(v)
		if !ok {
			return nil, fmt.Errorf("%q is not a PEP 440 version", v)
		}
		if op == "~=" {
			if len(pv.release) < 2 {
				return nil, fmt.Errorf("%q: ~= needs two release parts", s)
			}
			parts := make([]string, len(pv.release)-1)
			for i, n := range pv.release[:len(pv.release)-1] {
				parts[i] = strconv.Itoa(n)
			}
			return []comparator{{op: ">=", ver: v}, {op: "==", ver: strings.Join(parts, "."), prefix: true}}, nil
		}
		return []comparator{{op: op, ver: v}}, nil
	}
	return nil, fmt.Errorf("%q has no comparison operator", s)
}

// partial is an npm version with x-ranges: n is how many of major, minor,
// patch were given as numbers.
type partial struct {
	num [3]int
	n   int
	pre string
}

func parsePartial(s string) (partial, error) {
	var p partial
	s = strings.TrimLeft(strings.TrimSpace(s), "=v")
	if i := strings.IndexByte(s, '+'); i >= 0 {
		s = s[:i]
	}
	if i := strings.IndexByte(s, '-'); i >= 0 {
		p.pre, s = s[i+1:], s[:i]
	}
	if s == "" || s == "*" || s == "x" || s == "X" {
		return p, nil
	}
	parts := strings.Split(s, ".")
	if len(parts) > 3 {
		return p, fmt.Errorf("%q has more than three parts", s)
	}
	for i, x := range parts {
		if x == "x" || x == "X" || x == "*" {
			break
		}
		n, err := strconv.Atoi(x)
		if err != nil || n < 0 {
			return p, fmt.Errorf("%q is not a version", s)
		}
		p.num[i] = n
		p.n = i + 1
	}
	return p, nil
}

func (p partial) String() string {
	s := fmt.Sprintf("%d.%d.%d", p.num[0], p.num[1], p.num[2])
	if p.pre != "" {
		s += "-" + p.pre
	}
	return s
}

// bump returns the smallest version above every version p matches, as a
// "-0" pre-release so that pre-releases of it are excluded too.
func (p partial) bump(at int) string {
	q := partial{n: 3}
	copy(q.num[:], p.num[:])
	q.num[at]++
	for i := at + 1; i < 3; i++ {
		q.num[i] = 0
	}
	q.pre = "0"
	return q.String()
}

func parseNpmSet(s string) ([]comparator, error) {
	if s == "" || s == "*" || s == "x" || s == "X" || s == "latest" {
		return nil, nil
	}
	if lo, hi, ok := strings.Cut(s, " - "); ok {
		a, err := parsePartial(lo)
		if err != nil {
			return nil, err
		}
		b, err := parsePartial(hi)
		if err != nil {
			return nil, err
		}
		set := []comparator{{op: ">=", ver: a.String()}}
		if b.n == 3 {
			set = append(set, comparator{op: "<=", ver: b.String()})
		} else if b.n > 0 {
			set = append(set, comparator{op: "<", ver: b.bump(b.n - 1)})
		}
		return set, nil
	}
	var set []comparator
	fields := strings.Fields(s)
	for i := 0; i < len(fields); i++ {
		f := fields[i]
		op := ""
		for _, o := range []string{"<=", ">=", "<", ">", "=", "^", "~>", "~"} {
			if strings.HasPrefix(f, o) {
				op, f = o, f[len(o):]
				break
			}
		}
		if f == "" && i+1 < len(fields) { // "> 1.2": operator and version apart
			i++
			f = fields[i]
		}
		p, err := parsePartial(f)
		if err != nil {
			return nil, err
		}
		set = append(set, npmComparators(op, p)...)
	}
	return set, nil
}

func npmComparators(op string, p partial) []comparator {
	lo := comparator{op: ">=", ver: p.String()}
	switch op {
	case "^":
		switch {
		case p.n == 0:
			return nil
		case p.num[0] > 0 || p.n == 1:
			return []comparator{lo, {op: "<", ver: p.bump(0)}}
		case p.num[1] > 0 || p.n == 2:
			return []comparator{lo, {op: "<", ver: p.bump(1)}}
		}
		return []comparator{lo, {op: "<", ver: p.bump(2)}}
	case "~", "~>":
		switch p.n {
		case 0:
			return nil
		case 1:
			return []comparator{lo, {op: "<", ver: p.bump(0)}}
		}
		return []comparator{lo, {op: "<", ver: p.bump(1)}}
	case "<":
		return []comparator{{op: "<", ver: p.String()}}
	case "<=":
		if p.n == 3 {
			return []comparator{{op: "<=", ver: p.String()}}
		} else if p.n == 0 {
			return nil
		}
		return []comparator{{op: "<", ver: p.bump(p.n - 1)}}
	case ">":
		if p.n == 3 {
			return []comparator{{op: ">", ver: p.String()}}
		} else if p.n == 0 {
			return []comparator{{op: "<", ver: "0.0.0-0"}}
		}
		return []comparator{{op: ">=", ver: p.bump(p.n - 1)}}
	case ">=":
		return []comparator{lo}
	}
	// "=" or none: exact, or an x-range.
	switch p.n {
	case 0:
		return nil
	case 3:
		return []comparator{{op: "==", ver: p.String()}}
	}
	return []comparator{lo, {op: "<", ver: p.bump(p.n - 1)}}
}

// Allows reports whether version v satisfies the constraint.
func (c *Constraint) Allows(v string) bool {
	for _, set := range c.sets {
		ok := true
		for _, cm := range set {
			if !c.match(cm, v) {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}

func (c *Constraint) match(cm comparator, v string) bool {
	if cm.op == "===" {
		return strings.EqualFold(strings.TrimSpace(v), cm.ver)
	}
	if cm.prefix {
		eq := releasePrefix(cm.ver, v)
		if cm.op == "!=" {
			return !eq
		}
		return eq
	}
	d := Compare(c.eco, v, cm.ver)
	switch cm.op {
	case "==":
		return d == 0
	case "!=":
		return d != 0
	case "<":
		return d < 0
	case "<=":
		return d <= 0
	case ">":
		return d > 0
	case ">=":
		return d >= 0
	}
	return false
}

// releasePrefix reports whether PEP 440 version v starts with the release
// segments of prefix (as "==1.2.*" means).
func releasePrefix(prefix, v string) bool {
	p, ok1 := parsePEP440(prefix)
	x, ok2 := parsePEP440(v)
	if !ok1 || !ok2 || p.epoch != x.epoch {
		return false
	}
	for i, n := range p.release {
		m := 0
		if i < len(x.release) {
			m = x.release[i]
		}
		if m != n {
			return false
		}
	}
	return true
}

// Pinned returns the one version the constraint allows, if it is an exact
// pin ("==1.2.3", npm "1.2.3").
func (c *Constraint) Pinned() (string, bool) {
	if len(c.sets) != 1 || len(c.sets[0]) != 1 {
		return "", false
	}
	cm := c.sets[0][0]
	if (cm.op == "==" || cm.op == "===") && !cm.prefix {
		return cm.ver, true
	}
	return "", false
}

// Any reports whether the constraint allows every version ("", "*").
func (c *Constraint) Any() bool {
	for _, set := range c.sets {
		if len(set) == 0 {
			return true
		}
	}
	return false
}

// OpenEnded reports whether some alternative has no upper bound, so the
// newest release, whatever it is, is allowed.
func (c *Constraint) OpenEnded() bool {
	for _, set := range c.sets {
		bounded := false
		for _, cm := range set {
			switch cm.op {
			case "<", "<=", "==", "===":
				bounded = true
			}
		}
		if !bounded {
			return true
		}
	}
	return false
}

// Lows returns each alternative's inclusive lower bound (the exact version
// of an == pin), where it has one.
func (c *Constraint) Lows() []string {
	var out []string
	for _, set := range c.sets {
		for _, cm := range set {
			if (cm.op == ">=" || cm.op == "==" || cm.op == "===") && !cm.prefix {
				out = append(out, cm.ver)
				break
			}
		}
	}
	return out
}
