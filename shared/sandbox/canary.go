package sandbox

import (
	"bytes"
	"crypto/rand"
	"encoding/base32"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net"
	"path"
	"regexp"
	"slices"
	"sort"
	"strings"
)

// Canary is one planted secret. Token is the unique high-entropy part of
// Value; a leak is any appearance of the first keyLen characters of Token
// (raw, hex, base64 or base32 at any alignment, also inside gzip, zlib, bzip2
// or zip data) outside the process, so a truncated or packed copy still counts.
type Canary struct {
	Name  string `json:"name"`          // env var name, or a path relative to the home
	Env   bool   `json:"env"`           // an environment variable rather than a file
	Value string `json:"value"`         // the variable's value or the file's content
	Token string `json:"token"`         // the unique part
	Dir   string `json:"dir,omitempty"` // a directory whose any open counts as a canary read (browser profiles, wallets)
	// Hosts are the services the credential belongs to: sending it there, in
	// an HTTP request or in a network tool's argv whose every URL is one of
	// them, is using it, not leaking it (npm sends its .npmrc token to the
	// registry, a skill calls the OpenAI API with OPENAI_API_KEY). A host
	// matches itself and its subdomains.
	Hosts []string `json:"hosts,omitempty"`
}

// home reports whether host (a name, any case, port and trailing dot
// allowed) is one of the services canary c belongs to.
func (c Canary) home(host string) bool {
	h := strings.ToLower(strings.TrimSuffix(host, "."))
	if hh, _, err := net.SplitHostPort(h); err == nil {
		h = hh
	}
	if h == "" || net.ParseIP(strings.Trim(h, "[]")) != nil {
		return false // a credential is never for a bare address
	}
	for _, label := range strings.Split(h, ".") {
		if customerHosted[label] {
			return false
		}
	}
	for _, s := range c.Hosts {
		if h == s || strings.HasSuffix(h, "."+s) {
			return true
		}
	}
	return false
}

// customerHosted are labels of provider host names whose servers run the
// provider's customers' code (API Gateway, load balancers, instances, static
// sites): a provider's name, an attacker's endpoint.
var customerHosted = map[string]bool{"execute-api": true, "elb": true, "compute": true, "compute-1": true,
	"s3-website": true, "lambda-url": true, "cloudfront": true, "elasticbeanstalk": true, "apprunner": true, "amplifyapp": true}

// canaryHosts are the services each canary belongs to.
var canaryHosts = map[string][]string{
	"ANTHROPIC_API_KEY": {"api.anthropic.com"},
	"OPENAI_API_KEY":    {"api.openai.com"},
	// SigV4 sends the access key ID, never the secret: the secret (and the
	// credentials file, whose token is the secret) has no service to go to.
	"AWS_ACCESS_KEY_ID":         {"amazonaws.com"},
	"GITHUB_TOKEN":              {"github.com", "githubusercontent.com"},
	"STRIPE_SECRET_KEY":         {"api.stripe.com"},
	"SLACK_BOT_TOKEN":           {"slack.com"},
	".git-credentials":          {"github.com"},
	".npmrc":                    {"registry.npmjs.org"},
	".clawdbot/.env":            {"api.anthropic.com"},
	".openclaw/openclaw.json":   {"api.anthropic.com"},
	".claude/.credentials.json": {"api.anthropic.com"},
	".config/gh/hosts.yml":      {"github.com"},
	".docker/config.json":       {"docker.io"},
	".kube/config":              {"k8s.internal"},
	".netrc":                    {"api.github.com"},
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
	// Agent platforms and developer tools: skills go for the agent's own keys.
	file(".clawdbot/.env", "", func(t string) string {
		return "# clawdbot gateway\nANTHROPIC_API_KEY=sk-ant-api03-" + t + "\nCLAWDBOT_GATEWAY_PORT=18789\n"
	})
	file(".openclaw/openclaw.json", "", func(t string) string {
		return `{"agent":{"model":"anthropic/claude-sonnet-4"},"models":{"providers":{"anthropic":{"apiKey":"sk-ant-api03-` + t + `"}}}}` + "\n"
	})
	file(".claude/.credentials.json", "", func(t string) string {
		return `{"claudeAiOauth":{"accessToken":"sk-ant-oat01-` + t + `","refreshToken":"sk-ant-ort01-` + token(40) +
			`","expiresAt":1893456000000,"scopes":["user:inference"]}}` + "\n"
	})
	file(".config/gh/hosts.yml", "", func(t string) string {
		return "github.com:\n    user: agent\n    oauth_token: gho_" + t + "\n    git_protocol: https\n"
	})
	// Docker keeps base64("user:password"): the token appears only encoded,
	// which the matcher and the redactor cover.
	file(".docker/config.json", "", func(t string) string {
		return `{"auths":{"https://index.docker.io/v1/":{"auth":"` + base64.StdEncoding.EncodeToString([]byte("agent:"+t)) + `"}}}` + "\n"
	})
	file(".kube/config", "", func(t string) string {
		return "apiVersion: v1\nkind: Config\nclusters:\n- cluster:\n    server: https://k8s.internal:6443\n  name: prod\n" +
			"contexts:\n- context:\n    cluster: prod\n    user: agent\n  name: prod\ncurrent-context: prod\n" +
			"users:\n- name: agent\n  user:\n    token: " + t + "\n"
	})
	file(".netrc", "", func(t string) string { return "machine api.github.com\n  login agent\n  password " + t + "\n" })
	for i := range cs {
		cs[i].Hosts = canaryHosts[cs[i].Name]
	}
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
	// All variants are searched in one pass: a 4-byte prefix whose hash bit
	// is set in filter is looked up in heads.
	filter [1 << 16 / 64]uint64
	heads  map[uint32][]head
}

// head is a variant of canary c, under its first four bytes.
type head struct {
	c int
	v []byte
}

func newMatcher(cs []Canary) *matcher {
	m := &matcher{heads: map[uint32][]head{}}
	for i, c := range cs {
		vs := encodings(key(c))
		lo := make([]string, len(vs))
		for j, v := range vs {
			lo[j] = strings.ToLower(v)
			if len(v) >= 4 { // always: the shortest variant has about 16 characters
				x := binary.LittleEndian.Uint32([]byte(v))
				h := gramHash(x)
				m.filter[h/64] |= 1 << (h % 64)
				m.heads[x] = append(m.heads[x], head{i, []byte(v)})
			}
		}
		m.names = append(m.names, c.Name)
		m.variants = append(m.variants, vs)
		m.lower = append(m.lower, lo)
	}
	return m
}

func gramHash(x uint32) uint32 { return x * 0x9e3779b1 >> 16 }

// scan sets at[i] to the first offset of canary i's key in b, for every
// canary whose at[i] is negative, and returns how many it found.
func (m *matcher) scan(b []byte, at []int) int {
	found, left := 0, 0
	for _, a := range at {
		if a < 0 {
			left++
		}
	}
	for i := 0; i+4 <= len(b) && found < left; i++ {
		x := binary.LittleEndian.Uint32(b[i:])
		if h := gramHash(x); m.filter[h/64]&(1<<(h%64)) == 0 {
			continue
		}
		for _, hd := range m.heads[x] {
			if at[hd.c] < 0 && bytes.HasPrefix(b[i:], hd.v) {
				at[hd.c] = i
				found++
			}
		}
	}
	return found
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

// find returns the names of the canaries whose key appears in b, as such or
// packed (see locate).
func (m *matcher) find(b []byte) []string {
	names, _ := m.match(b, 0)
	return names
}

// window returns the bytes of b around the first appearance of any canary; for
// a packed one, around the start of the encoded or compressed run holding it.
func (m *matcher) window(b []byte, radius int) []byte {
	_, w := m.match(b, radius)
	return w
}

// match returns what find and window return, searching b once.
func (m *matcher) match(b []byte, radius int) ([]string, []byte) {
	var names []string
	first := -1
	for i, at := range m.locate(b) {
		if at < 0 {
			continue
		}
		names = append(names, m.names[i])
		if first < 0 || at < first {
			first = at
		}
	}
	if first < 0 {
		return nil, b[:min(len(b), 2*radius)]
	}
	return names, b[max(0, first-radius):min(len(b), first+radius)]
}

// locate returns, per canary, where its key first appears in b, or -1. A key
// inside compressed data (gzip, zlib, bzip2, zip), raw or in a base64 or hex
// run, and nested, is found too; its position is where the outermost run or
// compressed stream holding it starts. The packed search runs only when b
// holds a candidate: a compression magic or a long base64 or hex run.
func (m *matcher) locate(b []byte) []int {
	at := make([]int, len(m.variants))
	for i := range at {
		at[i] = -1
	}
	if left := len(at) - m.scan(b, at); left > 0 {
		u := unpacker{m: m, at: at, left: left, inflate: packTotal, decode: packTotal}
		u.search(b, 0, -1, true)
		if !u.done() {
			u.unescaped(b)
		}
	}
	return at
}

// findDNS returns the canaries in a DNS name, ignoring case and label dots;
// compressed data in hex labels counts too.
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
	if len(out) < len(m.names) {
		for i, at := range m.locate([]byte(flat)) {
			if at >= 0 && !slices.Contains(out, m.names[i]) {
				out = append(out, m.names[i])
			}
		}
	}
	return out
}

// redactor replaces canary values and tokens in evidence with [canary:NAME],
// and name-like runs (host names, DNS labels) that carry a key split by dots
// or in another case, as a DNS leak does, with the same tag.
type redactor struct {
	r *strings.Replacer
	m *matcher
}

// nameRun is a host-name-like run long enough to hold a key.
var nameRun = regexp.MustCompile(`[A-Za-z0-9_][A-Za-z0-9_.-]{15,}`)

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
	return redactor{r: strings.NewReplacer(pairs...), m: newMatcher(cs)}
}

func (r redactor) str(s string) string {
	s = r.r.Replace(s)
	if r.m == nil {
		return s
	}
	return nameRun.ReplaceAllStringFunc(s, func(t string) string {
		if ns := r.m.findDNS(t); len(ns) > 0 {
			return "[canary:" + ns[0] + "]"
		}
		return t
	})
}

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
