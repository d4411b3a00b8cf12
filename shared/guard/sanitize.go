package guard

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// MaxTextRunes is the default cap on sanitized text: 32K characters.
const MaxTextRunes = 32 * 1024

// maxHidden caps the decoded hidden text kept in a report.
const maxHidden = 4096

// Classes of characters the sanitizer removes, as they appear in a
// SanitizeReport's Removed counts.
const (
	ClassControl     = "control"      // C0 (except tab and newline), DEL, C1
	ClassZeroWidth   = "zero_width"   // ZWSP, ZWNJ, ZWJ, word joiner, BOM, Mongolian vowel separator
	ClassBidi        = "bidi"         // embeddings, overrides and isolates (marks such as LRM count as invisible)
	ClassTag         = "tag"          // Unicode tag characters U+E0000–U+E007F
	ClassVariation   = "variation"    // variation selectors (a known byte-smuggling channel)
	ClassInvisible   = "invisible"    // other invisible formatting (general category Cf, fillers)
	ClassInvalidUTF8 = "invalid_utf8" // bytes that are not UTF-8, replaced by U+FFFD
)

// SanitizeReport says what Sanitize changed.
type SanitizeReport struct {
	// Removed counts removed characters by class; absent classes are zero.
	Removed map[string]int `json:"removed"`
	// Normalized reports whether Unicode normalization changed the text.
	Normalized bool `json:"normalized"`
	// Truncated reports whether the text was cut to the rune cap.
	Truncated bool `json:"truncated"`
	// Hidden is the ASCII text smuggled in tag characters, decoded so an
	// audit shows what was hidden (at most 4096 bytes).
	Hidden string `json:"hidden,omitempty"`
}

// Total returns the number of removed characters.
func (r *SanitizeReport) Total() int {
	n := 0
	for _, c := range r.Removed {
		n += c
	}
	return n
}

// Sanitizer cleans untrusted text before it reaches a model: it removes
// characters that are invisible to a human reviewer but read by a model,
// normalizes the rest and caps the length. The zero value is not usable; use
// NewSanitizer.
type Sanitizer struct {
	// MaxRunes caps the output in characters (runes); 0 means MaxTextRunes.
	MaxRunes int
	// Form is the Unicode normalization applied after removal. NFKC (the
	// default) also folds compatibility look-alikes such as full-width
	// letters, so "ｉｇｎｏｒｅ" reads as "ignore" to the pattern rules.
	Form norm.Form
}

// NewSanitizer returns a sanitizer with the defaults: NFKC, 32K characters.
func NewSanitizer() *Sanitizer {
	return &Sanitizer{MaxRunes: MaxTextRunes, Form: norm.NFKC}
}

// classify returns the removal class of r, or "" to keep it.
func classify(r rune) string {
	switch {
	case r == '\t' || r == '\n':
		return ""
	case r < 0x20 || r == 0x7f || (r >= 0x80 && r <= 0x9f):
		return ClassControl
	case r < 0xad:
		return "" // fast path for the rest of Latin-1
	case r == 0x200b || r == 0x200c || r == 0x200d || r == 0x2060 || r == 0xfeff || r == 0x180e:
		return ClassZeroWidth
	case (r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069):
		return ClassBidi
	case r >= 0xe0000 && r <= 0xe007f:
		return ClassTag
	case (r >= 0xfe00 && r <= 0xfe0f) || (r >= 0xe0100 && r <= 0xe01ef):
		return ClassVariation
	case r == 0x115f || r == 0x1160 || r == 0x3164 || r == 0xffa0 || r == 0x034f:
		return ClassInvisible
	case unicode.Is(unicode.Cf, r):
		return ClassInvisible
	}
	return ""
}

// Sanitize returns the cleaned text and a report of what was removed. It
// never fails: invalid UTF-8 is replaced and counted. Text far beyond the
// cap (more than twice MaxRunes kept characters) is not examined: it would
// be cut anyway, so its removals are not counted.
func (s *Sanitizer) Sanitize(text string) (string, *SanitizeReport) {
	rep := &SanitizeReport{Removed: map[string]int{}}
	max := s.MaxRunes
	if max <= 0 {
		max = MaxTextRunes
	}
	var b strings.Builder
	b.Grow(min(len(text), 8*max))
	var hidden []byte
	kept := 0
	for i := 0; i < len(text); {
		if kept >= 2*max {
			rep.Truncated = true
			break
		}
		kept++ // counts kept runes; decremented below when one is removed
		c := text[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != 0x7f || c == '\t' || c == '\n' {
				b.WriteByte(c)
			} else {
				rep.Removed[ClassControl]++
				kept--
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(text[i:])
		i += size
		if r == utf8.RuneError && size == 1 {
			rep.Removed[ClassInvalidUTF8]++
			b.WriteRune(utf8.RuneError)
			continue
		}
		class := classify(r)
		if class == "" {
			b.WriteRune(r)
			continue
		}
		rep.Removed[class]++
		kept--
		if class == ClassTag && r >= 0xe0020 && r <= 0xe007e && len(hidden) < maxHidden {
			hidden = append(hidden, byte(r-0xe0000))
		}
	}
	out := b.String()
	rep.Hidden = string(hidden)
	form := s.Form
	if normalized := form.String(out); normalized != out {
		rep.Normalized = true
		out = normalized
	}
	if utf8.RuneCountInString(out) > max {
		out = truncateRunes(out, max)
		rep.Truncated = true
	}
	for k, v := range rep.Removed {
		if v == 0 {
			delete(rep.Removed, k)
		}
	}
	return out, rep
}

// truncateRunes cuts s to at most max runes, backing off so that the cut does
// not separate a base character from the combining marks that follow it, nor
// split a regional-indicator (flag) pair.
func truncateRunes(s string, max int) string {
	n, cut := 0, len(s)
	for i := range s {
		if n == max {
			cut = i
			break
		}
		n++
	}
	if cut == len(s) {
		return s
	}
	for cut > 0 {
		next, _ := utf8.DecodeRuneInString(s[cut:])
		if !unicode.In(next, unicode.Mn, unicode.Me, unicode.Mc) && !isRegionalPairTail(s, cut) {
			break
		}
		_, size := utf8.DecodeLastRuneInString(s[:cut])
		cut -= size
	}
	return s[:cut]
}

// isRegionalPairTail reports whether the rune at cut is the second regional
// indicator of a flag begun just before cut.
func isRegionalPairTail(s string, cut int) bool {
	next, _ := utf8.DecodeRuneInString(s[cut:])
	if !isRegional(next) {
		return false
	}
	// Count the regional indicators right before cut: an odd run means the
	// one at cut completes a pair.
	run := 0
	for j := cut; j > 0; {
		r, size := utf8.DecodeLastRuneInString(s[:j])
		if !isRegional(r) {
			break
		}
		run++
		j -= size
	}
	return run%2 == 1
}

func isRegional(r rune) bool { return r >= 0x1f1e6 && r <= 0x1f1ff }
