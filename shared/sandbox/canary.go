package sandbox

import (
	"bytes"
	"crypto/rand"
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"path"
	"sort"
	"strings"
)

// Canary is one planted secret. Token is the unique high-entropy part of
// Value; a leak is any appearance of the first keyLen characters of Token
// (raw, hex, base64 or base32 at any alignment) outside the process, so a
// truncated copy still counts.
type Canary struct {
	Name  string `json:"name"`          // env var name, or a path relative to the home
	Env   bool   `json:"env"`           // an environment variable rather than a file
	Value string `json:"value"`         // the variable's value or the file's content
	Token string `json:"token"`         // the unique part
	Dir   string `json:"dir,omitempty"` // a directory whose any open counts as a canary read (browser profiles, wallets)
}

// keyLen characters of a token (about 95 bits) identify its canary.
const keyLen = 16

func key(c Canary) string { return c.Token[:min(keyLen, len(c.Token))] }

const tokenAlphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

// token returns n random characters from tokenAlphabet.
func token(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	for i := range b {
		b[i] = tokenAlphabet[int(b[i])%len(tokenAlphabet)]
	}
	return string(b)
}

// NewCanaries returns a fresh set of canaries, each with its own token.
func NewCanaries() []Canary {
	var cs []Canary
	env := func(name, prefix string, n int) {
		t := token(n)
		cs = append(cs, Canary{Name: name, Env: true, Value: prefix + t, Token: t})
	}
	env("ANTHROPIC_API_KEY", "sk-ant-api03-", 32)
	env("OPENAI_API_KEY", "sk-proj-", 32)
	env("AWS_ACCESS_KEY_ID", "AKIA", 24)
	env("AWS_SECRET_ACCESS_KEY", "", 40)
	env("GITHUB_TOKEN", "ghp_", 36)
	env("STRIPE_SECRET_KEY", "sk_live_", 32)
	env("SLACK_BOT_TOKEN", "xoxb-", 32)
	file := func(name, dir string, content func(t string) string) {
		t := token(32)
		cs = append(cs, Canary{Name: name, Value: content(t), Token: t, Dir: dir})
	}
	file(".ssh/id_ed25519", "", func(t string) string {
		return "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ" + t + "\n-----END OPENSSH PRIVATE KEY-----\n"
	})
	file(".aws/credentials", "", func(t string) string {
		return "[default]\naws_access_key_id = AKIA" + strings.ToUpper(t[:16]) + "\naws_secret_access_key = " + t + "\n"
	})
	file(".env", "", func(t string) string { return "DATABASE_URL=postgres://app:" + t + "@db.internal/app\n" })
	file(".git-credentials", "", func(t string) string { return "https://agent:ghp_" + t + "@github.com\n" })
	file(".npmrc", "", func(t string) string { return "//registry.npmjs.org/:_authToken=npm_" + t + "\n" })
	file(".config/google-chrome/Default/Login Data", ".config/google-chrome", func(t string) string { return "SQLite format 3\x00" + t })
	file(".mozilla/firefox/agent.default/logins.json", ".mozilla/firefox", func(t string) string {
		return `{"logins":[{"hostname":"https://bank.example","encryptedPassword":"` + t + `"}]}`
	})
	file(".config/Exodus/exodus.wallet/seed.seco", ".config/Exodus", func(t string) string { return "SECO" + t })
	file(".electrum/wallets/default_wallet", ".electrum", func(t string) string { return `{"seed":"` + t + `"}` })
	file(".config/solana/id.json", ".config/solana", func(t string) string { return "[" + t + "]" })
	file("Library/Keychains/login.keychain-db", "Library/Keychains", func(t string) string { return "kych" + t })
	return cs
}

// canaryEnv returns the canary environment variables as KEY=VALUE.
func canaryEnv(cs []Canary) []string {
	var out []string
	for _, c := range cs {
		if c.Env {
			out = append(out, c.Name+"="+c.Value)
		}
	}
	return out
}

// matcher finds canary tokens in bytes, in the encodings exfiltration uses.
type matcher struct {
	names    []string
	variants [][]string // per canary: case-sensitive forms
	lower    [][]string // per canary: lowercased forms, for DNS names
}

func newMatcher(cs []Canary) *matcher {
	m := &matcher{}
	for _, c := range cs {
		vs := encodings(key(c))
		lo := make([]string, len(vs))
		for i, v := range vs {
			lo[i] = strings.ToLower(v)
		}
		m.names = append(m.names, c.Name)
		m.variants = append(m.variants, vs)
		m.lower = append(m.lower, lo)
	}
	return m
}

// encodings returns t raw, in hex, and the alignment-independent cores of its
// base64 (standard and URL) and base32 encodings.
func encodings(t string) []string {
	vs := []string{t, hex.EncodeToString([]byte(t))}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding} {
		for k := 0; k < 3; k++ {
			s := enc.EncodeToString(append(make([]byte, k), t...))
			s = strings.TrimRight(s, "=")
			if k > 0 {
				s = s[4:]
			}
			vs = append(vs, s[:len(s)-4])
		}
	}
	for k := 0; k < 5; k++ {
		s := strings.TrimRight(base32.StdEncoding.EncodeToString(append(make([]byte, k), t...)), "=")
		if k > 0 {
			s = s[8:]
		}
		vs = append(vs, s[:len(s)-8])
	}
	return vs
}

// find returns the names of the canaries whose key appears in b.
func (m *matcher) find(b []byte) []string {
	var out []string
	for i := range m.variants {
		if m.index(i, b) >= 0 {
			out = append(out, m.names[i])
		}
	}
	return out
}

// index returns where canary i's key first appears in b, or -1.
func (m *matcher) index(i int, b []byte) int {
	for _, v := range m.variants[i] {
		if j := bytes.Index(b, []byte(v)); j >= 0 {
			return j
		}
	}
	return -1
}

// window returns the bytes of b around the first appearance of any canary.
func (m *matcher) window(b []byte, radius int) []byte {
	for i := range m.variants {
		if j := m.index(i, b); j >= 0 {
			return b[max(0, j-radius):min(len(b), j+radius)]
		}
	}
	return b[:min(len(b), 2*radius)]
}

// findDNS returns the canaries in a DNS name, ignoring case and label dots.
func (m *matcher) findDNS(name string) []string {
	flat := strings.ToLower(strings.ReplaceAll(name, ".", ""))
	var out []string
	for i, vs := range m.lower {
		for _, v := range vs {
			if strings.Contains(flat, v) {
				out = append(out, m.names[i])
				break
			}
		}
	}
	return out
}

// redactor replaces canary values and tokens in evidence with [canary:NAME].
type redactor struct{ r *strings.Replacer }

func newRedactor(cs []Canary) redactor {
	var pairs []string
	sorted := append([]Canary(nil), cs...)
	sort.Slice(sorted, func(i, j int) bool { return len(sorted[i].Value) > len(sorted[j].Value) })
	for _, c := range sorted {
		tag := fmt.Sprintf("[canary:%s]", c.Name)
		if c.Env {
			pairs = append(pairs, c.Value, tag)
		}
		pairs = append(pairs, c.Token, tag)
		for _, v := range encodings(key(c)) {
			pairs = append(pairs, v, tag)
		}
	}
	return redactor{strings.NewReplacer(pairs...)}
}

func (r redactor) str(s string) string { return r.r.Replace(s) }

// printable returns a redacted, printable prefix of b, at most n bytes, on
// one line.
func (r redactor) printable(b []byte, n int) string { return r.clean(b, n, false) }

// text is printable that keeps line breaks and tabs, for program output.
func (r redactor) text(b []byte, n int) string { return r.clean(b, n, true) }

func (r redactor) clean(b []byte, n int, lines bool) string {
	s := r.str(string(b))
	var sb strings.Builder
	for _, c := range s {
		if sb.Len() >= n {
			sb.WriteString("…")
			break
		}
		switch {
		case lines && (c == '\n' || c == '\t'):
			sb.WriteRune(c)
		case c == '\n':
			sb.WriteString(`\n`)
		case c == '\r':
			sb.WriteString(`\r`)
		case c < 0x20 || c == 0x7f || c == 0xfffd:
			sb.WriteByte('.')
		default:
			sb.WriteRune(c)
		}
	}
	return sb.String()
}

// canaryPath reports whether p (absolute, inside the sandbox) is a canary file
// or inside a canary directory, and returns the canary's name.
func canaryPath(cs []Canary, p string) (string, bool) {
	p = path.Clean(p)
	for _, c := range cs {
		if c.Env {
			continue
		}
		if p == path.Join(HomeDir, c.Name) {
			return c.Name, true
		}
		if c.Dir != "" {
			d := path.Join(HomeDir, c.Dir)
			if p == d || strings.HasPrefix(p, d+"/") {
				return c.Name, true
			}
		}
	}
	return "", false
}
