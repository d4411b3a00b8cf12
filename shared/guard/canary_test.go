package guard_test

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	"github.com/openagents/trust/shared/guard"
	"github.com/openagents/trust/shared/trust"
)

func MustCanaries(tb testing.TB) *guard.Canaries {
	tb.Helper()
	c, err := guard.NewCanaries([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

func TestCanaryToken(t *testing.T) {
	c := MustCanaries(t)
	a, b := c.Token("sess-a"), c.Token("sess-b")
	t.Run("OK", func(t *testing.T) {
		if !strings.HasPrefix(a, guard.CanaryPrefix) || len(a) != len(guard.CanaryPrefix)+32 {
			t.Fatalf("token %q: want prefix %q and a 32-character body", a, guard.CanaryPrefix)
		}
		if a == b {
			t.Fatal("two sessions got the same token")
		}
		if c.Token("sess-a") != a {
			t.Fatal("token not stable for a session")
		}
		if !c.Verify(a, "sess-a") || c.Verify(a, "sess-b") {
			t.Fatal("Verify does not tie the token to its session")
		}
	})
	t.Run("KeyMatters", func(t *testing.T) {
		other, err := guard.NewCanaries([]byte("fedcba9876543210fedcba9876543210"))
		if err != nil {
			t.Fatal(err)
		}
		if other.Token("sess-a") == a {
			t.Fatal("token does not depend on the key")
		}
	})
	t.Run("ErrShortKey", func(t *testing.T) {
		if _, err := guard.NewCanaries([]byte("short")); trust.ErrorCode(err) != trust.EINVALID {
			t.Fatalf("err = %v, want EINVALID", err)
		}
	})
}

func TestCanaryFind(t *testing.T) {
	c := MustCanaries(t)
	tok := c.Token("sess-42")
	c.Token("sess-other")
	b64 := base64.StdEncoding.EncodeToString([]byte("exfil: " + tok))
	nested, _ := json.Marshal(map[string]any{"q": "x", "data": map[string]string{"blob": b64}})
	inner, _ := json.Marshal(map[string]string{"token": tok})
	doubleJSON, _ := json.Marshal(map[string]string{"payload": string(inner)})
	for _, tt := range []struct {
		name, text, encoding string
	}{
		{"Plain", "the key is " + tok + ".", "plain"},
		{"UpperCase", strings.ToUpper(tok), "plain"},
		{"Base64", "data=" + b64, "base64"},
		{"Base64URLRaw", base64.RawURLEncoding.EncodeToString([]byte(tok + "??>>")), "base64"},
		{"Hex", "h=" + hex.EncodeToString([]byte(tok)), "hex"},
		{"URL", "https://evil.example/?q=" + url.QueryEscape("see "+tok), "plain"},
		{"URLEveryByte", "https://evil.example/?q=" + percentAll(tok), "url"},
		{"NestedJSONBase64", string(nested), "json+base64"},
		{"JSONInJSONString", string(doubleJSON), "plain"},
		{"Base64OfHex", base64.StdEncoding.EncodeToString([]byte(hex.EncodeToString([]byte(tok)))), "base64+hex"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			hits := c.Find(tt.text)
			if len(hits) != 1 || hits[0].SessionID != "sess-42" {
				t.Fatalf("hits = %+v, want one for sess-42", hits)
			}
			if hits[0].Encoding != tt.encoding {
				t.Errorf("encoding = %q, want %q", hits[0].Encoding, tt.encoding)
			}
		})
	}
	t.Run("NoHit", func(t *testing.T) {
		for _, text := range []string{"", "nothing here", guard.CanaryPrefix + "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", base64.StdEncoding.EncodeToString([]byte("just text that is long enough"))} {
			if hits := c.Find(text); len(hits) != 0 {
				t.Errorf("Find(%q) = %+v, want none", text, hits)
			}
		}
	})
	t.Run("Forget", func(t *testing.T) {
		c.Forget("sess-42")
		if hits := c.Find(tok); len(hits) != 0 {
			t.Fatalf("forgotten session still found: %+v", hits)
		}
	})
}

func percentAll(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		b.WriteString("%" + strings.ToUpper(hex.EncodeToString([]byte{s[i]})))
	}
	return b.String()
}

// FuzzCanaryFind checks Find never panics and never reports an unregistered
// session.
func FuzzCanaryFind(f *testing.F) {
	c := MustCanaries(f)
	tok := c.Token("s1")
	for _, s := range []string{tok, base64.StdEncoding.EncodeToString([]byte(tok)), `{"a":"` + tok + `"}`, "%41%42", "[[[[\"x\"]]]]"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, h := range c.Find(s) {
			if h.SessionID != "s1" {
				t.Fatalf("unknown session %q", h.SessionID)
			}
		}
	})
}
