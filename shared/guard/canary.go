package guard

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/url"
	"strings"
	"sync"

	"github.com/openagents/trust/shared/trust"
)

// CanaryPrefix starts every canary token, so a leaked one is recognisable in
// any log or paste.
const CanaryPrefix = "oacanary_"

// canaryBodyLen is the length of a token's body: 20 bytes of HMAC-SHA256 in
// lowercase base32 without padding (160 bits).
const canaryBodyLen = 32

var canaryEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// Canaries issues per-session canary tokens and finds them in text. A token
// is HMAC-SHA256(key, session ID), so it is unguessable without the key and
// traceable to exactly one session by whoever holds the key. The guard puts
// the session's token in the system prompt; if it ever shows up in a tool
// call's arguments or in output, the prompt leaked.
type Canaries struct {
	key []byte

	mu       sync.RWMutex
	sessions map[string]string // token body → session ID
}

// NewCanaries returns a canary issuer under key (at least 32 bytes).
// EINVALID for a shorter key.
func NewCanaries(key []byte) (*Canaries, error) {
	if len(key) < 32 {
		return nil, trust.Errorf(trust.EINVALID, "canary key must be at least 32 bytes")
	}
	return &Canaries{key: append([]byte(nil), key...), sessions: map[string]string{}}, nil
}

// Token returns the canary token of a session and registers the session so
// that Find can name it. The same session always gets the same token.
func (c *Canaries) Token(sessionID string) string {
	body := c.body(sessionID)
	c.mu.Lock()
	c.sessions[body] = sessionID
	c.mu.Unlock()
	return CanaryPrefix + body
}

func (c *Canaries) body(sessionID string) string {
	m := hmac.New(sha256.New, c.key)
	m.Write([]byte("openagents-trust guard canary v1\x00"))
	m.Write([]byte(sessionID))
	return canaryEncoding.EncodeToString(m.Sum(nil)[:20])
}

// Verify reports whether token is the canary of sessionID.
func (c *Canaries) Verify(token, sessionID string) bool {
	body, ok := strings.CutPrefix(strings.ToLower(token), CanaryPrefix)
	return ok && hmac.Equal([]byte(body), []byte(c.body(sessionID)))
}

// Forget unregisters a session whose tokens need no longer be found.
func (c *Canaries) Forget(sessionID string) {
	body := c.body(sessionID)
	c.mu.Lock()
	delete(c.sessions, body)
	c.mu.Unlock()
}

// CanaryHit is a canary token found in text.
type CanaryHit struct {
	SessionID string `json:"session_id"`
	// Encoding is how the token was written: "plain", "base64", "hex",
	// "url" or "json", joined with "+" when nested ("json+base64").
	Encoding string `json:"encoding"`
}

// maxCanaryDepth bounds how many layers of encoding Find peels off.
const maxCanaryDepth = 4

// Find returns the registered sessions whose canary occurs in text, plain or
// base64-, hex-, URL-encoded or inside JSON strings (also nested), each
// session once.
func (c *Canaries) Find(text string) []CanaryHit {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if len(c.sessions) == 0 {
		return nil
	}
	var hits []CanaryHit
	seen := map[string]bool{}
	c.find(text, "", 0, seen, &hits)
	return hits
}

func (c *Canaries) find(text, via string, depth int, seen map[string]bool, hits *[]CanaryHit) {
	enc := func(layer string) string {
		if via == "" {
			return layer
		}
		return via + "+" + layer
	}
	lower := strings.ToLower(text)
	for body, session := range c.sessions {
		if !seen[session] && strings.Contains(lower, body) {
			seen[session] = true
			e := via
			if e == "" {
				e = "plain"
			}
			*hits = append(*hits, CanaryHit{SessionID: session, Encoding: e})
		}
	}
	if depth >= maxCanaryDepth || len(seen) == len(c.sessions) {
		return
	}
	// JSON: walk every string (keys too), which may hold more encodings.
	if t := strings.TrimSpace(text); len(t) > 1 && (t[0] == '{' || t[0] == '[' || t[0] == '"') {
		var v any
		if json.Unmarshal([]byte(t), &v) == nil {
			eachJSONString(v, func(s string) { c.find(s, enc("json"), depth+1, seen, hits) })
		}
	}
	if strings.ContainsRune(text, '%') || strings.ContainsRune(text, '+') {
		if u, err := url.QueryUnescape(text); err == nil && u != text {
			c.find(u, enc("url"), depth+1, seen, hits)
		} else if u, err := url.PathUnescape(text); err == nil && u != text {
			c.find(u, enc("url"), depth+1, seen, hits)
		}
	}
	eachBlob(text, func(blob string) {
		if len(blob) >= 2*canaryBodyLen && len(blob)%2 == 0 && isHex(blob) {
			if b, err := hex.DecodeString(blob); err == nil {
				c.find(string(b), enc("hex"), depth+1, seen, hits)
			}
		}
		// The blob may start mid-group (a letter glued to the encoding);
		// try each alignment. Only text that decodes to mostly printable
		// characters is peeled further.
		for off := 0; off < 4 && len(blob)-off >= canaryBodyLen; off++ {
			s := blob[off:]
			if len(s)%4 == 1 {
				s = s[:len(s)-1]
			}
			for _, e := range []*base64.Encoding{base64.RawStdEncoding, base64.RawURLEncoding} {
				if b, err := e.DecodeString(s); err == nil {
					next := depth + 1
					if !printable(b) {
						next = maxCanaryDepth
					}
					c.find(string(b), enc("base64"), next, seen, hits)
					break
				}
			}
		}
	})
}

// eachBlob calls fn with every run of base64/hex alphabet characters long
// enough to hold an encoded canary body.
func eachBlob(s string, fn func(string)) {
	start := -1
	for i := 0; i <= len(s); i++ {
		if i < len(s) && isBase64Byte(s[i]) {
			if start < 0 {
				start = i
			}
			continue
		}
		if start >= 0 && i-start >= canaryBodyLen*4/3 {
			fn(s[start:i])
		}
		start = -1
	}
}

// eachJSONString calls fn with every string (object keys included) in a
// decoded JSON value.
func eachJSONString(v any, fn func(string)) {
	switch v := v.(type) {
	case string:
		fn(v)
	case []any:
		for _, e := range v {
			eachJSONString(e, fn)
		}
	case map[string]any:
		for k, e := range v {
			fn(k)
			eachJSONString(e, fn)
		}
	}
}
