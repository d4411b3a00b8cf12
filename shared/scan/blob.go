package scan

import (
	"encoding/base64"
	"encoding/hex"
	"regexp"
	"strings"
	"unicode/utf8"
)

// MinBlob is the shortest base64 or hex run that is decoded and rescanned.
const MinBlob = 40

var (
	b64RE = regexp.MustCompile(`[A-Za-z0-9+/]{40,}={0,2}|[A-Za-z0-9_-]{40,}={0,2}`)
	hexRE = regexp.MustCompile(`(?:\\x)?[0-9a-fA-F]{80,}|(?:\\x[0-9a-fA-F]{2}){20,}`)
)

// blobs decodes long base64 and hex runs that decode to text, and rescans the
// text with every analyzer.
func (s *scanner) blobs(name string, first int, text string) {
	var b64 [][]int
	if hasRun(text, MinBlob, isB64) {
		b64 = b64RE.FindAllStringIndex(text, 50)
	}
	for _, loc := range b64 {
		raw := text[loc[0]:loc[1]]
		dec, ok := decodeB64(raw)
		if !ok {
			continue
		}
		s.rescan(name, first+strings.Count(text[:loc[0]], "\n"), raw, dec, "base64")
	}
	if !strings.Contains(text, `\x`) && !hasRun(text, 80, isHex) {
		return
	}
	for _, loc := range hexRE.FindAllStringIndex(text, 20) {
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

func isB64(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '+' || c == '/' || c == '-' || c == '_'
}

func isHex(c byte) bool { return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }

// hasRun reports whether text holds n consecutive bytes accepted by ok.
func hasRun(text string, n int, ok func(byte) bool) bool {
	run := 0
	for i := 0; i < len(text); i++ {
		if ok(text[i]) {
			if run++; run >= n {
				return true
			}
		} else {
			run = 0
		}
	}
	return false
}
