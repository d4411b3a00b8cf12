package guard

import (
	"embed"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io/fs"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// Rule families: what kind of injection a rule looks for.
const (
	FamilyIgnorePrevious = "ignore-previous"
	FamilyRoleHijack     = "role-hijack"
	FamilyExfiltration   = "prompt-exfiltration"
	FamilyToolAbuse      = "tool-abuse"
	FamilyEncoded        = "encoded-payload"
	FamilyHiddenText     = "hidden-text"
	FamilyDelimiter      = "fake-delimiter"
)

var validFamilies = map[string]bool{FamilyIgnorePrevious: true, FamilyRoleHijack: true, FamilyExfiltration: true,
	FamilyToolAbuse: true, FamilyEncoded: true, FamilyHiddenText: true, FamilyDelimiter: true}

// Rule is one injection pattern, loaded from YAML. A rule flags text in one
// of three ways:
//
//   - Patterns: regular expressions (case-insensitive unless they say
//     otherwise) that must match starting at an occurrence of one of their
//     keywords (the pattern's own "at" list, else the rule's Keywords), at
//     the start of a word, within Window bytes (default DefaultWindow). The
//     keywords are found for all rules at once in one Aho-Corasick pass and a
//     pattern is only tried where one occurs, anchored: text without
//     keywords costs one pass, whatever the number of rules.
//   - Removed: the sanitizer removed at least this many characters of a class
//     (for example {tag: 1});
//   - Decode: a base64 or hex blob in the text decodes to text that another
//     pattern rule flags;
//   - Repeat: the same word or phrase of up to four words follows itself at
//     least this many times in a row (a token-flooding attack).
//
// Match and NoMatch are examples checked by the tests.
type Rule struct {
	ID       string         `yaml:"id"`
	Family   string         `yaml:"family"`
	Why      string         `yaml:"why"`
	Keywords []string       `yaml:"keywords"`
	Patterns []Pattern      `yaml:"patterns"`
	Removed  map[string]int `yaml:"removed"`
	Decode   bool           `yaml:"decode"`
	Window   int            `yaml:"window"`
	Repeat   int            `yaml:"repeat"`
	Match    []string       `yaml:"match"`
	NoMatch  []string       `yaml:"nomatch"`
}

// Pattern is one regular expression of a rule. In YAML it is either a
// string (anchored at the rule's keywords) or a mapping with "re", "at" (its
// own keywords), "line_start" (the keyword must begin its line, after
// optional spaces) and "require" (lowercase strings of which at least one
// must occur in the window, checked before the regular expression runs: a
// cheap prefilter for patterns that span a long window).
type Pattern struct {
	Re        string   `yaml:"re"`
	At        []string `yaml:"at"`
	LineStart bool     `yaml:"line_start"`
	Require   []string `yaml:"require"`
}

// UnmarshalYAML accepts a plain string as a pattern anchored at the rule's
// keywords.
func (p *Pattern) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		p.Re = n.Value
		return nil
	}
	type plain Pattern
	return n.Decode((*plain)(p))
}

// probe is one compiled pattern: tried at each occurrence of its keywords.
type probe struct {
	rule      int
	re        *regexp.Regexp
	window    int
	lineStart bool
	require   []int // keyword indexes, one of which must occur in the window
}

// DefaultWindow is how many bytes, from the keyword on, a pattern may span
// unless its rule sets Window.
const DefaultWindow = 400

// RuleSet is a loaded, indexed set of rules.
type RuleSet struct {
	Rules []*Rule

	probes      []probe
	keywords    *keywordIndex
	keywordList []string
	kwProbes    [][]int // keyword index → probes anchored at it
	byRemoved   []int   // rules on sanitizer counts
	decoders    []int   // decode rules
	repeaters   []int   // repeat rules
}

//go:embed rules/*.yaml
var ruleFiles embed.FS

// defaultRules is compiled on first use, not at init, so that commands that
// never scan text (trustctl verify at boot) do not pay for it.
var defaultRules = sync.OnceValue(func() *RuleSet {
	rs, err := LoadRules(ruleFiles, "rules/*.yaml")
	if err != nil {
		panic(err)
	}
	return rs
})

// DefaultRules returns the embedded rule set.
func DefaultRules() *RuleSet { return defaultRules() }

var validClasses = map[string]bool{ClassControl: true, ClassZeroWidth: true, ClassBidi: true, ClassTag: true,
	ClassVariation: true, ClassInvisible: true, ClassInvalidUTF8: true}

type ruleFile struct {
	Rules []*Rule `yaml:"rules"`
}

// LoadRules reads the YAML rule files of fsys matching glob. Every rule needs
// a unique ID, a known family, a reason, at least one way to match, and at
// least one Match example; pattern rules need keywords (lowercase), and each
// Match example must hold one of them, so the keyword gate never hides a
// pattern.
func LoadRules(fsys fs.FS, glob string) (*RuleSet, error) {
	names, err := fs.Glob(fsys, glob)
	if err != nil {
		return nil, err
	} else if len(names) == 0 {
		return nil, fmt.Errorf("no rule files match %s", glob)
	}
	sort.Strings(names)
	rs := &RuleSet{}
	ids := map[string]bool{}
	for _, name := range names {
		data, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, err
		}
		var f ruleFile
		if err := yaml.Unmarshal(data, &f); err != nil {
			return nil, fmt.Errorf("rule file %s: %w", name, err)
		}
		for _, r := range f.Rules {
			if err := r.compile(); err != nil {
				return nil, fmt.Errorf("rule file %s: %w", name, err)
			} else if ids[r.ID] {
				return nil, fmt.Errorf("rule file %s: duplicate rule id %s", name, r.ID)
			}
			ids[r.ID] = true
			rs.Rules = append(rs.Rules, r)
		}
	}
	rs.index()
	return rs, nil
}

func (r *Rule) compile() error {
	switch {
	case r.ID == "":
		return fmt.Errorf("rule without id")
	case !validFamilies[r.Family]:
		return fmt.Errorf("rule %s: unknown family %q", r.ID, r.Family)
	case r.Why == "":
		return fmt.Errorf("rule %s: why required", r.ID)
	case len(r.Patterns) == 0 && len(r.Removed) == 0 && !r.Decode && r.Repeat == 0:
		return fmt.Errorf("rule %s: needs patterns, removed, decode or repeat", r.ID)
	case r.Repeat < 0 || r.Repeat == 1:
		return fmt.Errorf("rule %s: repeat must be at least 2", r.ID)
	case len(r.Match) == 0:
		return fmt.Errorf("rule %s: at least one match example required", r.ID)
	}
	for class, min := range r.Removed {
		if !validClasses[class] || min < 1 {
			return fmt.Errorf("rule %s: removed: bad class or count %q: %d", r.ID, class, min)
		}
	}
	for i, p := range r.Patterns {
		kws := p.At
		if len(kws) == 0 {
			kws = r.Keywords
		}
		if len(kws) == 0 {
			return fmt.Errorf("rule %s: pattern %d has no keywords to anchor at", r.ID, i)
		}
		for _, k := range append(slices.Clone(kws), p.Require...) {
			if k == "" || k != strings.ToLower(k) {
				return fmt.Errorf("rule %s: keyword %q must be lowercase and not empty", r.ID, k)
			}
		}
		if _, err := regexp.Compile("(?i)^(?:" + p.Re + ")"); err != nil {
			return fmt.Errorf("rule %s: %w", r.ID, err)
		}
	}
	return nil
}

func (rs *RuleSet) index() {
	var kws []string
	pos := map[string]int{}
	keyword := func(k string) int {
		j, ok := pos[k]
		if !ok {
			j = len(kws)
			pos[k] = j
			kws = append(kws, k)
			rs.kwProbes = append(rs.kwProbes, nil)
		}
		return j
	}
	for i, r := range rs.Rules {
		window := r.Window
		if window <= 0 {
			window = DefaultWindow
		}
		for _, p := range r.Patterns {
			pi := len(rs.probes)
			pr := probe{rule: i, re: regexp.MustCompile("(?i)^(?:" + p.Re + ")"), window: window, lineStart: p.LineStart}
			for _, k := range p.Require {
				pr.require = append(pr.require, keyword(k))
			}
			rs.probes = append(rs.probes, pr)
			at := p.At
			if len(at) == 0 {
				at = r.Keywords
			}
			for _, k := range at {
				j := keyword(k)
				if !slices.Contains(rs.kwProbes[j], pi) {
					rs.kwProbes[j] = append(rs.kwProbes[j], pi)
				}
			}
		}
		if len(r.Removed) > 0 {
			rs.byRemoved = append(rs.byRemoved, i)
		}
		if r.Decode {
			rs.decoders = append(rs.decoders, i)
		}
		if r.Repeat > 0 {
			rs.repeaters = append(rs.repeaters, i)
		}
	}
	rs.keywords = newKeywordIndex(kws)
	rs.keywordList = kws
}

// Match returns the IDs of the rules that flag text (sorted, each once).
// text should be sanitized already; rep, when not nil, is the sanitizer's
// report for it: its counts feed the "removed" rules and its decoded hidden
// text is matched too.
func (rs *RuleSet) Match(text string, rep *SanitizeReport) []string {
	hit := make([]bool, len(rs.Rules))
	rs.matchPatterns(text, hit)
	if folded, ok := foldConfusables(text); ok {
		rs.matchPatterns(folded, hit)
	}
	if rep != nil && rep.Hidden != "" {
		rs.matchPatterns(rep.Hidden, hit)
	}
	if rep != nil {
		for _, i := range rs.byRemoved {
			for class, min := range rs.Rules[i].Removed {
				if rep.Removed[class] >= min {
					hit[i] = true
				}
			}
		}
	}
	if len(rs.repeaters) > 0 {
		run := longestRepeat(text)
		for _, i := range rs.repeaters {
			if run >= rs.Rules[i].Repeat {
				hit[i] = true
			}
		}
	}
	if len(rs.decoders) > 0 {
		inner := make([]bool, len(rs.Rules))
		found := false
		eachEncoded(text, func(decoded string) bool {
			clear(inner)
			if rs.matchPatterns(decoded, inner) {
				found = true
				for i, h := range inner {
					hit[i] = hit[i] || h
				}
			}
			return !found
		})
		if found {
			for _, i := range rs.decoders {
				hit[i] = true
			}
		}
	}
	var ids []string
	for i, h := range hit {
		if h {
			ids = append(ids, rs.Rules[i].ID)
		}
	}
	sort.Strings(ids)
	return ids
}

// matchPatterns marks the pattern rules that match text and reports whether
// any did.
func (rs *RuleSet) matchPatterns(text string, hit []bool) bool {
	// One pass finds every keyword; then each pattern anchored at a keyword
	// is tried there, after its cheap checks.
	type occurrence struct{ kw, start int }
	var occ []occurrence
	var at [][]int // per keyword, its start offsets (for require checks)
	rs.keywords.each(text, func(k, end int) {
		if at == nil {
			at = make([][]int, len(rs.keywordList))
		}
		start := end - len(rs.keywordList[k])
		at[k] = append(at[k], start)
		if len(rs.kwProbes[k]) > 0 {
			occ = append(occ, occurrence{k, start})
		}
	})
	if len(occ) == 0 {
		return false
	}
	any := false
	lastStart := make([]int, len(rs.probes)) // a probe may hang off several keywords
	for i := range lastStart {
		lastStart[i] = -1
	}
	for _, o := range occ {
		start := o.start
		if start > 0 && isWordByte(text[start-1]) && isWordByte(text[start]) {
			continue // inside a word
		}
		for _, pi := range rs.kwProbes[o.kw] {
			p := &rs.probes[pi]
			if hit[p.rule] || lastStart[pi] == start {
				continue
			}
			lastStart[pi] = start
			if p.lineStart && !atLineStart(text, start) {
				continue
			}
			hi := min(len(text), start+p.window)
			for hi < len(text) && !utf8.RuneStart(text[hi]) {
				hi++
			}
			if len(p.require) > 0 && !rs.anyWithin(at, p.require, start, hi) {
				continue
			}
			if p.re.MatchString(text[start:hi]) {
				hit[p.rule], any = true, true
			}
		}
	}
	return any
}

// anyWithin reports whether one of the keywords kws occurs entirely within
// [lo, hi), given each keyword's sorted start offsets.
func (rs *RuleSet) anyWithin(at [][]int, kws []int, lo, hi int) bool {
	for _, k := range kws {
		starts := at[k]
		i, _ := slices.BinarySearch(starts, lo)
		if i < len(starts) && starts[i]+len(rs.keywordList[k]) <= hi {
			return true
		}
	}
	return false
}

func isWordByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_'
}

// atLineStart reports whether only spaces and tabs precede i on its line.
func atLineStart(text string, i int) bool {
	for i > 0 {
		i--
		switch text[i] {
		case '\n':
			return true
		case ' ', '\t':
		default:
			return false
		}
	}
	return true
}

// Minimum lengths of a blob worth decoding.
const (
	minBase64Blob = 24
	minHexBlob    = 32
)

// eachEncoded calls fn with the text of every base64 or hex blob in s, and
// of every run of space-separated hex bytes ("49 67 6e") or 8-bit binary
// groups ("01001001 01100111"), that decodes to mostly printable text, until
// fn returns false.
func eachEncoded(s string, fn func(decoded string) bool) {
	start := -1
	for i := 0; i <= len(s); i++ {
		if i < len(s) && isBase64Byte(s[i]) {
			if start < 0 {
				start = i
			}
			continue
		}
		if start >= 0 && i-start >= minBase64Blob {
			blob := s[start:i]
			for i < len(s) && s[i] == '=' {
				i++
			}
			if d, ok := decodeBlob(blob); ok && !fn(d) {
				return
			}
		}
		start = -1
	}
	eachSpacedBytes(s, fn)
}

// Minimum run lengths, in bytes, of spaced hex and binary groups.
const (
	minSpacedHex    = 12
	minSpacedBinary = 6
)

func eachSpacedBytes(s string, fn func(string) bool) {
	var buf []byte
	kind := 0 // 0 none, 16 hex pairs, 2 binary octets
	flush := func() bool {
		ok := true
		if (kind == 16 && len(buf) >= minSpacedHex || kind == 2 && len(buf) >= minSpacedBinary) && printable(buf) {
			ok = fn(string(buf))
		}
		buf, kind = buf[:0], 0
		return ok
	}
	for i := 0; i < len(s); {
		for i < len(s) && isSpaceByte(s[i]) {
			i++
		}
		j := i
		for j < len(s) && !isSpaceByte(s[j]) {
			j++
		}
		tok := trimPunct(s[i:j])
		i = j
		k, b := 0, byte(0)
		switch {
		case len(tok) == 8 && strings.Trim(tok, "01") == "":
			v, _ := strconv.ParseUint(tok, 2, 8)
			k, b = 2, byte(v)
		case len(tok) == 2 && isHex(tok):
			v, _ := strconv.ParseUint(tok, 16, 8)
			k, b = 16, byte(v)
		}
		if k != kind && !flush() {
			return
		}
		if k != 0 {
			kind = k
			buf = append(buf, b)
		}
	}
	flush()
}

func isBase64Byte(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '+' || c == '/' || c == '-' || c == '_'
}

// decodeBlob decodes blob as hex (when it is all hex digits) or base64 (any
// of the four alphabets/paddings) and returns it when at least 90% of it is
// printable ASCII or whitespace.
func decodeBlob(blob string) (string, bool) {
	if len(blob) >= minHexBlob && len(blob)%2 == 0 && isHex(blob) {
		if b, err := hex.DecodeString(blob); err == nil && printable(b) {
			return string(b), true
		}
	}
	trimmed := blob[:len(blob)/4*4]
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding} {
		if b, err := enc.DecodeString(trimmed); err == nil && printable(b) {
			return string(b), true
		}
	}
	return "", false
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

func printable(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	ok := 0
	for _, c := range b {
		if c >= 0x20 && c < 0x7f || c == '\n' || c == '\t' || c == '\r' {
			ok++
		}
	}
	return ok*10 >= len(b)*9
}

// longestRepeat returns the largest number of times a phrase of one to four
// words occurs back to back in text (1 when nothing repeats). Words compare
// ignoring ASCII case and surrounding punctuation.
func longestRepeat(text string) int {
	var last [4]string // the previous four words, last[i%4] for word i
	var run [5]int     // run[n]: consecutive words equal to the word n before
	best, count := 1, 0
	for i := 0; i < len(text); {
		for i < len(text) && isSpaceByte(text[i]) {
			i++
		}
		j := i
		for j < len(text) && !isSpaceByte(text[j]) {
			j++
		}
		if j == i {
			break
		}
		w := trimPunct(text[i:j])
		i = j
		for n := 1; n <= 4; n++ {
			if count >= n && len(w) == len(last[(count-n)%4]) && strings.EqualFold(w, last[(count-n)%4]) {
				run[n]++
				if reps := run[n]/n + 1; reps > best {
					best = reps
				}
			} else {
				run[n] = 0
			}
		}
		last[count%4] = w
		count++
	}
	return best
}

// trimPunct drops ASCII punctuation that commonly clings to words
// (.,;:!?"') from both ends of w.
func trimPunct(w string) string {
	isPunct := func(c byte) bool {
		return c == '.' || c == ',' || c == ';' || c == ':' || c == '!' || c == '?' || c == '"' || c == '\''
	}
	for len(w) > 0 && isPunct(w[0]) {
		w = w[1:]
	}
	for len(w) > 0 && isPunct(w[len(w)-1]) {
		w = w[:len(w)-1]
	}
	return w
}

func isSpaceByte(c byte) bool {
	return c == ' ' || c == '\n' || c == '\t' || c == '\r' || c == '\v' || c == '\f'
}
