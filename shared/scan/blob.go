package scan

import (
	"encoding/base64"
	"encoding/hex"
	"strings"
	"unicode/utf8"
)

// MinBlob is the shortest base64 or hex run that is decoded and rescanned.
const MinBlob = 40

var (
	hexRE = lazyRE(`(?:\\x)?[0-9a-fA-F]{80,}|(?:\\x[0-9a-fA-F]{2}){20,}`)
)

// blobs decodes long base64 and hex runs that decode to text, and rescans the
// text with every analyzer.
func (s *scanner) blobs(name string, first int, text string) {
	b64s := runs(text, MinBlob, &b64Bytes, true, -1)
	for i, loc := range b64s {
		if i == 50 {
			break
		}
		raw := text[loc[0]:loc[1]]
		dec, ok := decodeB64(raw)
		if !ok {
			continue
		}
		s.rescan(name, first+strings.Count(text[:loc[0]], "\n"), raw, dec, "base64")
	}
	var hexes [][]int
	if strings.Contains(text, `\x`) {
		hexes = hexRE().FindAllStringIndex(text, 20)
	} else {
		// Hex digits are base64 characters: a hex run lies inside a base64 run.
		for _, loc := range b64s {
			if loc[1]-loc[0] < 80 || len(hexes) >= 20 {
				continue
			}
			for _, h := range runs(text[loc[0]:loc[1]], 80, &hexBytes, false, 20-len(hexes)) {
				hexes = append(hexes, []int{loc[0] + h[0], loc[0] + h[1]})
			}
		}
	}
	for _, loc := range hexes {
		raw := strings.ReplaceAll(text[loc[0]:loc[1]], `\x`, "")
		if len(raw)%2 == 1 {
			raw = raw[:len(raw)-1]
		}
		b, err := hex.DecodeString(raw)
		if err != nil || !textual(b) {
			continue
		}
		s.rescan(name, first+strings.Count(text[:loc[0]], "\n"), text[loc[0]:loc[1]], string(b), "hex")
	}
}

func (s *scanner) rescan(name string, line int, raw, dec, enc string) {
	before := len(s.findings)
	s.depth++
	s.shell(name, line, dec)
	s.text(name, line, dec)
	s.depth--
	// Line numbers inside the decoded text point at the blob.
	for i := before; i < len(s.findings); i++ {
		s.findings[i].Line = line
	}
	if len(s.findings) > before {
		s.add(Finding{RuleID: "OB001", Category: CatMaliciousCode, Severity: High, File: name, Line: line, Evidence: truncate(raw),
			Why: "an " + enc + "-encoded blob decodes to content that is itself suspicious: obfuscation"})
	}
}

func decodeB64(raw string) (string, bool) {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		b, err := enc.DecodeString(raw)
		if err == nil && textual(b) {
			return string(b), true
		}
	}
	return "", false
}

// textual reports whether b is mostly printable UTF-8 text.
func textual(b []byte) bool {
	if len(b) < 8 || !utf8.Valid(b) {
		return false
	}
	printable := 0
	for _, c := range b {
		if c >= 0x20 && c < 0x7f || c == '\n' || c == '\t' || c == '\r' {
			printable++
		}
	}
	return printable*100/len(b) >= 90
}

// Byte classes as tables: runs looks at every byte of every file.
var b64Bytes, hexBytes = func() (b, h [256]bool) {
	for c := 0; c < 256; c++ {
		b[c] = c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '+' || c == '/' || c == '-' || c == '_'
		h[c] = c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
	}
	return
}()

// runs returns the byte ranges of up to limit (all when negative) maximal runs of at least n
// bytes in class, with up to two '=' of padding after a base64 run.
func runs(text string, n int, class *[256]bool, pad bool, limit int) [][]int {
	var out [][]int
	for i := 0; i < len(text) && (limit < 0 || len(out) < limit); {
		if !class[text[i]] {
			i++
			continue
		}
		j := i
		for j < len(text) && class[text[j]] {
			j++
		}
		if j-i >= n {
			end := j
			for k := 0; pad && k < 2 && end < len(text) && text[end] == '='; k++ {
				end++
			}
			out = append(out, []int{i, end})
		}
		i = j
	}
	return out
}
