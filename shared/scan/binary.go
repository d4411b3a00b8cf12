package scan

import (
	"bytes"
	"math"
	"strings"
)

// fileMagics are the signatures of the binary formats skills ship openly:
// images, fonts, documents, archives, audio and video, databases.
var fileMagics = [][]byte{
	[]byte("\x89PNG"), []byte("\xff\xd8\xff"), []byte("GIF8"), []byte("%PDF"), []byte("PK\x03\x04"), []byte("PK\x05\x06"),
	[]byte("\x1f\x8b"), []byte("wOFF"), []byte("wOF2"), []byte("\x00\x01\x00\x00"), []byte("OTTO"), []byte("true"),
	[]byte("\x00\x00\x01\x00"), []byte("RIFF"), []byte("ID3"), []byte("SQLite format 3"), []byte("\x00asm"), []byte("BZh"),
	[]byte("\xfd7zXZ"), []byte("7z\xbc\xaf"), []byte("\xd0\xcf\x11\xe0"), []byte("fLaC"), []byte("OggS"), []byte("\x1aE\xdf\xa3"),
	[]byte("II*\x00"), []byte("MM\x00*"), []byte("8BPS"), []byte("BM"), []byte("\x28\xb5\x2f\xfd"), []byte("Rar!"),
	[]byte("\xff\xfb"), []byte("\xff\xf3"), []byte("\xff\xf1"), []byte("<?xml"), []byte("\x7fELF"), []byte("MZ"),
	[]byte("\xcf\xfa\xed\xfe"), []byte("\xca\xfe\xba\xbe"),
}

func knownFormat(data []byte) bool {
	for _, m := range fileMagics {
		if bytes.HasPrefix(data, m) {
			return true
		}
	}
	return len(data) >= 12 && string(data[4:8]) == "ftyp" // MP4, MOV, HEIC
}

// entropy returns the Shannon entropy of data in bits per byte.
func entropy(data []byte) float64 {
	var counts [256]int
	for _, c := range data {
		counts[c]++
	}
	e, n := 0.0, float64(len(data))
	for _, c := range counts {
		if c > 0 {
			p := float64(c) / n
			e -= p * math.Log2(p)
		}
	}
	return e
}

// MinOpaque is the smallest unrecognized binary judged by its entropy.
const MinOpaque = 256

func (s *scanner) binary(name string, data []byte) {
	lower := strings.ToLower(name)
	if bytes.Contains(data, []byte("EICAR-STANDARD-ANTIVIRUS-TEST-FILE")) {
		s.add(Finding{RuleID: "MC007", Category: CatMaliciousCode, Severity: Critical, File: name, Evidence: "EICAR test signature",
			Why: "the EICAR anti-virus test signature; every malware scanner treats the file as malware"})
	}
	if strings.HasSuffix(lower, ".exe") || strings.HasSuffix(lower, ".dll") || strings.HasSuffix(lower, ".scr") ||
		len(data) > 4 && (string(data[:4]) == "\x7fELF" || string(data[:2]) == "MZ" || string(data[:4]) == "\xcf\xfa\xed\xfe") {
		s.add(Finding{RuleID: "MC050", Category: CatMaliciousCode, Severity: High, File: name, Evidence: "executable binary",
			Why: "the skill ships a native executable that cannot be reviewed as source"})
		return
	}
	if len(data) >= MinOpaque && !knownFormat(data) && entropy(data) >= 7.2 {
		s.add(Finding{RuleID: "MC051", Category: CatMaliciousCode, Severity: High, File: name, Evidence: "unrecognized binary, high entropy",
			Why: "a binary in no known file format that looks random: an encrypted or packed payload nobody can review"})
	}
}
