package signing

import (
	"time"

	"github.com/openagents/trust/shared/trust"
)

// The fast paths below read the common, well-formed envelope and statement
// without reflection, so that Verify costs little more than its ed25519.Verify.
// They accept only a strict subset of what the encoding/json paths accept (no
// escapes, no non-ASCII, each member once, exact member names) and say "not
// handled" for anything else, which then goes through the encoding/json path;
// that path alone decides what is malformed and how. FuzzFastPaths holds every
// fast-path result to the encoding/json result for the same input.

// scanner reads JSON tokens from b.
type scanner struct {
	b []byte
	i int
}

func (s *scanner) space() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// byte_ skips white space and consumes c if it is next.
func (s *scanner) byte_(c byte) bool {
	s.space()
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

// str skips white space and reads a string made only of printable ASCII other
// than '\\' (so its JSON text is its value).
func (s *scanner) str() (string, bool) {
	if !s.byte_('"') {
		return "", false
	}
	start := s.i
	for ; s.i < len(s.b); s.i++ {
		switch c := s.b[s.i]; {
		case c == '"':
			v := string(s.b[start:s.i])
			s.i++
			return v, true
		case c < 0x20 || c > 0x7e || c == '\\':
			return "", false
		}
	}
	return "", false
}

// end reports whether only white space is left.
func (s *scanner) end() bool {
	s.space()
	return s.i == len(s.b)
}

// fastEnvelope reads an envelope of the form
// {"payloadType":…,"payload":…,"signatures":[{"keyid":…,"sig":…}]} with its
// members in any order and any white space between tokens.
func fastEnvelope(data []byte) (payloadType, payload, keyID, sig string, ok bool) {
	s := scanner{b: data}
	if !s.byte_('{') {
		return "", "", "", "", false
	}
	var seen uint8
	for {
		name, ok := s.str()
		if !ok || !s.byte_(':') {
			return "", "", "", "", false
		}
		switch {
		case name == "payloadType" && seen&1 == 0:
			seen |= 1
			payloadType, ok = s.str()
		case name == "payload" && seen&2 == 0:
			seen |= 2
			payload, ok = s.str()
		case name == "signatures" && seen&4 == 0:
			seen |= 4
			keyID, sig, ok = fastSignatures(&s)
		default:
			ok = false
		}
		if !ok {
			return "", "", "", "", false
		}
		if s.byte_(',') {
			continue
		} else if s.byte_('}') && seen == 7 && s.end() {
			return payloadType, payload, keyID, sig, true
		}
		return "", "", "", "", false
	}
}

// fastSignatures reads [{"keyid":…,"sig":…}]: exactly one signature, both
// members present.
func fastSignatures(s *scanner) (keyID, sig string, ok bool) {
	if !s.byte_('[') || !s.byte_('{') {
		return "", "", false
	}
	var seen uint8
	for {
		name, ok := s.str()
		if !ok || !s.byte_(':') {
			return "", "", false
		}
		switch {
		case name == "keyid" && seen&1 == 0:
			seen |= 1
			keyID, ok = s.str()
		case name == "sig" && seen&2 == 0:
			seen |= 2
			sig, ok = s.str()
		default:
			ok = false
		}
		if !ok {
			return "", "", false
		}
		if s.byte_(',') {
			continue
		} else if s.byte_('}') && seen == 3 && s.byte_(']') {
			return keyID, sig, true
		}
		return "", "", false
	}
}

// fastStatement reads a payload in exactly the canonical form appendCanonical
// writes, and returns the statement only if it is valid and the payload is its
// canonical encoding.
func fastStatement(p []byte) (*trust.Statement, bool) {
	s := scanner{b: p}
	var st trust.Statement
	var issued string
	fields := [...]struct {
		prefix string
		dst    *string
	}{
		{`{"_type":`, &st.Type},
		{`,"content_digest":`, &st.ContentDigest},
		{`,"image_digest":`, &st.ImageDigest},
		{`,"issued_at":`, &issued},
		{`,"key_id":`, &st.KeyID},
	}
	for _, f := range fields {
		if !s.prefix(f.prefix) {
			return nil, false
		}
		v, ok := s.str()
		if !ok {
			return nil, false
		}
		*f.dst = v
	}
	if !s.prefix(`,"key_version":`) {
		return nil, false
	}
	kv, ok := s.smallInt()
	if !ok {
		return nil, false
	}
	st.KeyVersion = kv
	for _, f := range [...]struct {
		prefix string
		dst    *string
	}{
		{`,"permissions_digest":`, &st.PermissionsDigest},
		{`,"publisher":`, &st.Publisher},
		{`,"skill":`, &st.Skill},
		{`,"version":`, &st.Version},
	} {
		if !s.prefix(f.prefix) {
			return nil, false
		}
		v, ok := s.str()
		if !ok {
			return nil, false
		}
		*f.dst = v
	}
	if !s.prefix(`}`) || s.i != len(p) {
		return nil, false
	}
	t, err := time.Parse(time.RFC3339, issued)
	if err != nil {
		return nil, false
	}
	st.IssuedAt = t
	if ValidateStatement(&st) != nil || !equalCanonical(p, &st) {
		return nil, false
	}
	return &st, true
}

// prefix consumes lit if the input continues with it, with no white space.
func (s *scanner) prefix(lit string) bool {
	if len(s.b)-s.i < len(lit) || string(s.b[s.i:s.i+len(lit)]) != lit {
		return false
	}
	s.i += len(lit)
	return true
}

// smallInt reads a positive decimal integer of at most 10 digits without a
// leading zero.
func (s *scanner) smallInt() (int, bool) {
	n, start := 0, s.i
	for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' && s.i-start < 10 {
		n = n*10 + int(s.b[s.i]-'0')
		s.i++
	}
	if s.i == start || s.b[start] == '0' {
		return 0, false
	}
	return n, true
}
