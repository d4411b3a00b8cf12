package guard

import (
	"strings"
	"unicode/utf8"
)

// confusables maps Cyrillic and Greek letters that look like Latin ones to
// those Latin letters. NFKC leaves them alone ("іgnore" with a Cyrillic і
// stays as it is), so the rules also run on a folded copy of text that
// holds any of them. Only for matching: the text passed on is not changed.
var confusables = map[rune]rune{
	// Cyrillic lowercase
	'а': 'a', 'с': 'c', 'е': 'e', 'һ': 'h', 'і': 'i', 'ј': 'j', 'к': 'k', 'о': 'o', 'р': 'p',
	'ԛ': 'q', 'ѕ': 's', 'ԝ': 'w', 'х': 'x', 'у': 'y', 'ԁ': 'd', 'ɡ': 'g', 'ӏ': 'l',
	// Cyrillic uppercase
	'А': 'A', 'В': 'B', 'С': 'C', 'Е': 'E', 'Н': 'H', 'І': 'I', 'Ј': 'J', 'К': 'K', 'М': 'M',
	'О': 'O', 'Р': 'P', 'Ѕ': 'S', 'Т': 'T', 'Х': 'X', 'У': 'Y', 'Ԝ': 'W',
	// Greek
	'α': 'a', 'ο': 'o', 'ρ': 'p', 'ν': 'v', 'ι': 'i', 'κ': 'k', 'τ': 't', 'υ': 'u',
	'Α': 'A', 'Β': 'B', 'Ε': 'E', 'Ζ': 'Z', 'Η': 'H', 'Ι': 'I', 'Κ': 'K', 'Μ': 'M', 'Ν': 'N',
	'Ο': 'O', 'Ρ': 'P', 'Τ': 'T', 'Υ': 'Y', 'Χ': 'X',
}

// foldConfusables returns text with look-alike letters replaced by Latin
// ones, and whether there were any.
func foldConfusables(text string) (string, bool) {
	first := -1
	for i, r := range text {
		if r >= 0x370 && r < 0x530 || r == 'ɡ' {
			if _, ok := confusables[r]; ok {
				first = i
				break
			}
		}
	}
	if first < 0 {
		return text, false
	}
	var b strings.Builder
	b.Grow(len(text))
	b.WriteString(text[:first])
	for _, r := range text[first:] {
		if l, ok := confusables[r]; ok {
			r = l
		}
		if r < utf8.RuneSelf {
			b.WriteByte(byte(r))
		} else {
			b.WriteRune(r)
		}
	}
	return b.String(), true
}
