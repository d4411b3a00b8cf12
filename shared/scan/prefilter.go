package scan

import (
	"regexp/syntax"
	"strings"
)

// required returns literals, lowercased, one of which occurs in every match
// of the pattern (ok is false when no such set was found). The rule engine
// checks them on a lowercased line before running the regular expression: a
// necessary condition, so skipping the regex when none occurs never loses a
// match. It is the idea of a regex prefilter, reduced to one alternation.
func required(pattern string) (lits []string, ok bool) {
	re, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil {
		return nil, false
	}
	return requiredOf(re.Simplify())
}

func requiredOf(re *syntax.Regexp) ([]string, bool) {
	switch re.Op {
	case syntax.OpLiteral:
		s := string(re.Rune)
		for i := 0; i < len(s); i++ {
			if s[i] >= 0x80 {
				return nil, false // lowerASCII would not fold it
			}
		}
		return []string{lowerASCII(s)}, true
	case syntax.OpCapture:
		return requiredOf(re.Sub[0])
	case syntax.OpPlus:
		return requiredOf(re.Sub[0])
	case syntax.OpRepeat:
		if re.Min >= 1 {
			return requiredOf(re.Sub[0])
		}
	case syntax.OpAlternate:
		var all []string
		for _, sub := range re.Sub {
			l, ok := requiredOf(sub)
			if !ok {
				return nil, false
			}
			all = append(all, l...)
		}
		return all, true
	case syntax.OpConcat:
		// Adjacent literals join into one longer literal; then the most
		// selective child (shortest literal longest) stands for the whole.
		var best []string
		found := false
		var run strings.Builder
		consider := func(l []string) {
			if !found || litScore(l) > litScore(best) {
				best, found = l, true
			}
		}
		flush := func() {
			if run.Len() > 0 {
				consider([]string{lowerASCII(run.String())})
				run.Reset()
			}
		}
		for _, sub := range re.Sub {
			if sub.Op == syntax.OpLiteral && ascii(sub.Rune) {
				run.WriteString(string(sub.Rune))
				continue
			}
			flush()
			if l, ok := requiredOf(sub); ok {
				consider(l)
			}
		}
		flush()
		return best, found
	}
	return nil, false
}

// litScore ranks literal sets: the length of the shortest literal, less one
// for every alternative beyond the first.
func litScore(lits []string) int {
	m := 1 << 30
	for _, l := range lits {
		m = min(m, len(l))
	}
	return m - (len(lits) - 1)
}

func ascii(rs []rune) bool {
	for _, r := range rs {
		if r >= 0x80 {
			return false
		}
	}
	return true
}

func containsAny(s string, lits []string) bool {
	for _, l := range lits {
		if strings.Contains(s, l) {
			return true
		}
	}
	return false
}
