package signing

import (
	"strconv"
	"time"

	"github.com/openagents/trust/shared/trust"
)

// appendCanonical appends the RFC 8785 encoding of a validated statement to b
// without reflection; Verify calls it on every envelope. Members are in RFC 8785
// order (keys sorted by UTF-16 code units; '_' sorts before the lowercase
// letters). A statement with a string that would need escaping takes the slow,
// general path through CanonicalStatement; tests and FuzzCanonical hold the two
// paths to the same output.
func appendCanonical(b []byte, st *trust.Statement) []byte {
	for _, s := range [...]string{st.Type, st.ContentDigest, st.ImageDigest, st.KeyID,
		st.PermissionsDigest, st.Publisher, st.Skill, st.Version} {
		if !plainString(s) {
			out, err := CanonicalStatement(st)
			if err != nil {
				return nil
			}
			return append(b, out...)
		}
	}
	b = append(b, `{"_type":"`...)
	b = append(b, st.Type...)
	b = append(b, `","content_digest":"`...)
	b = append(b, st.ContentDigest...)
	b = append(b, `","image_digest":"`...)
	b = append(b, st.ImageDigest...)
	b = append(b, `","issued_at":"`...)
	b = st.IssuedAt.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","key_id":"`...)
	b = append(b, st.KeyID...)
	b = append(b, `","key_version":`...)
	b = strconv.AppendInt(b, int64(st.KeyVersion), 10)
	b = append(b, `,"permissions_digest":"`...)
	b = append(b, st.PermissionsDigest...)
	b = append(b, `","publisher":"`...)
	b = append(b, st.Publisher...)
	b = append(b, `","skill":"`...)
	b = append(b, st.Skill...)
	b = append(b, `","version":"`...)
	b = append(b, st.Version...)
	b = append(b, `"}`...)
	return b
}

// plainString reports whether s encodes as itself between quotes in both RFC
// 8785 and encoding/json: printable ASCII without '"', '\\' or the characters
// encoding/json escapes for HTML.
func plainString(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c < 0x20 || c > 0x7e, c == '"', c == '\\', c == '<', c == '>', c == '&':
			return false
		}
	}
	return true
}
