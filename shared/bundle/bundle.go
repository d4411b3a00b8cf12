// Package bundle extracts uploaded skill archives (.tar.gz, .tar and .zip)
// safely: every size is capped on the bytes actually read, never on what a
// header claims; paths may not leave the destination; links, devices and
// setuid bits are refused; and the destination appears atomically, complete or
// not at all. The rules are listed in docs/bundle.md.
//
// Every refusal is an EINVALID *trust.Error, wrapped in a *Refusal that
// carries a stable rule ID (RuleOf) so the HTTP layer can answer 400 or, for
// the size rules (Rule.TooLarge), 413.
package bundle

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"

	"github.com/openagents/trust/shared/trust"
)

// Format is an archive format.
type Format int

// Formats. FormatAuto asks Extract to detect the format from magic bytes.
const (
	FormatUnknown Format = iota
	FormatAuto
	FormatTar
	FormatTarGz
	FormatZip
)

// String returns the format's usual file extension without the dot.
func (f Format) String() string {
	switch f {
	case FormatAuto:
		return "auto"
	case FormatTar:
		return "tar"
	case FormatTarGz:
		return "tar.gz"
	case FormatZip:
		return "zip"
	}
	return "unknown"
}

// SniffLen is how many leading bytes DetectFormat needs to recognise every
// format (a tar header's magic is at offset 257).
const SniffLen = 512

// DetectFormat returns the format of an archive starting with head, from
// magic bytes only: gzip (1f 8b, taken to hold a tar), zip (PK\x03\x04 or the
// PK\x05\x06 of an empty zip) or ustar/GNU tar ("ustar" at offset 257).
// FormatUnknown otherwise. File names are never consulted.
func DetectFormat(head []byte) Format {
	switch {
	case len(head) >= 2 && head[0] == 0x1f && head[1] == 0x8b:
		return FormatTarGz
	case bytes.HasPrefix(head, []byte("PK\x03\x04")), bytes.HasPrefix(head, []byte("PK\x05\x06")):
		return FormatZip
	case isTarHeader(head):
		return FormatTar
	}
	return FormatUnknown
}

func isTarHeader(b []byte) bool {
	return len(b) >= 263 && bytes.Equal(b[257:262], []byte("ustar"))
}

// Rule identifies why an archive was refused. The values are stable: callers
// may match on them and show them to publishers.
type Rule string

// Rules.
const (
	RuleFormat         Rule = "format"          // not a recognised archive format
	RuleCorrupt        Rule = "corrupt"         // truncated or malformed archive, bad checksum
	RuleSizeMismatch   Rule = "size-mismatch"   // zip entry whose data differs from its declared size
	RuleCompression    Rule = "compression"     // zip compression method other than store/deflate
	RuleEncrypted      Rule = "encrypted"       // encrypted zip entry
	RuleCompressedSize Rule = "compressed-size" // archive larger than Limits.MaxCompressed
	RuleExpandedSize   Rule = "expanded-size"   // contents larger than Limits.MaxExpanded
	RuleFileSize       Rule = "file-size"       // one file larger than Limits.MaxFileSize
	RuleFileCount      Rule = "file-count"      // more than Limits.MaxFiles entries
	RuleRatio          Rule = "ratio"           // compression ratio above Limits.MaxRatio
	RulePathEscape     Rule = "path-escape"     // ".." component
	RulePathAbsolute   Rule = "path-absolute"   // leading "/" or a drive letter
	RulePathInvalid    Rule = "path-invalid"    // backslash, NUL/control char, invalid UTF-8, empty
	RulePathLength     Rule = "path-length"     // path or component too long
	RulePathDepth      Rule = "path-depth"      // too many components
	RuleDuplicate      Rule = "duplicate"       // same path twice, or a file used as a directory
	RuleCaseDuplicate  Rule = "case-duplicate"  // two paths differing only in case
	RuleSymlink        Rule = "symlink"         // any symbolic link
	RuleHardlink       Rule = "hardlink"        // any hard link
	RuleSpecialFile    Rule = "special-file"    // device, FIFO, socket or unknown entry type
	RuleSetuid         Rule = "setuid"          // setuid, setgid or sticky bit
)

// TooLarge reports whether r is a size rule, for which HTTP answers 413
// rather than 400.
func (r Rule) TooLarge() bool {
	switch r {
	case RuleCompressedSize, RuleExpandedSize, RuleFileSize, RuleFileCount, RuleRatio:
		return true
	}
	return false
}

// Refusal is the error returned when an archive breaks a rule. It unwraps to
// an EINVALID *trust.Error whose message names the rule and the entry, so
// trust.ErrorCode and trust.ErrorMessage work on it unchanged.
type Refusal struct {
	Rule  Rule
	Entry string // the entry's name as written in the archive; "" for the whole archive
	err   *trust.Error
}

// Error implements the error interface.
func (r *Refusal) Error() string { return r.err.Error() }

// Unwrap returns the *trust.Error.
func (r *Refusal) Unwrap() error { return r.err }

// RuleOf returns the rule of the first *Refusal in err's chain, or "".
func RuleOf(err error) Rule {
	var r *Refusal
	if errors.As(err, &r) {
		return r.Rule
	}
	return ""
}

// refuse returns a *Refusal for entry (may be "") breaking rule, explained by
// the formatted reason.
func refuse(rule Rule, entry string, format string, args ...any) *Refusal {
	reason := fmt.Sprintf(format, args...)
	var msg string
	if entry == "" {
		msg = fmt.Sprintf("archive refused: %s (rule: %s)", reason, rule)
	} else {
		msg = fmt.Sprintf("archive refused: entry %s: %s (rule: %s)", quote(entry), reason, rule)
	}
	return &Refusal{Rule: rule, Entry: entry, err: trust.Errorf(trust.EINVALID, "%s", msg)}
}

// quote quotes a name for a message, escaping control characters and invalid
// UTF-8 and truncating very long names.
func quote(s string) string {
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return strconv.QuoteToASCII(s)
}
