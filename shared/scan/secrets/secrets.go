// Package secrets finds credentials committed in a skill, in the manner of
// gitleaks: rules for known key formats (cloud, source forge, chat, payment
// and AI provider keys, private keys, JWTs) and a generic rule for a
// high-entropy value assigned to a secret-sounding name. Values that look
// like documentation placeholders (EXAMPLE, xxx, <your-key>, ${VAR}, one
// repeated character…) are not reported. Evidence is always redacted to
// the first four characters.
//
// Analyzer is a scan.FileAnalyzer; it reads text only and never contacts a
// provider to check whether a key is live. The rules are in
// docs/dependencies.md ("Secrets").
package secrets

import (
	"bytes"
	"math"
	"regexp"
	"sort"
	"strings"

	"github.com/openagents/trust/shared/scan"
)

// Limits.
const (
	binarySniff    = 8000
	maxPerFile     = 50
	genericEntropy = 3.5 // bits per character, for the generic rule
	formatEntropy  = 3.0 // below this a known-format key is a placeholder
)

// rule is one secret format.
type rule struct {
	kind     string // a short name, the start of the finding's Why
	what     string
	keywords []string // lower case; the rule runs only on lines holding one
	re       *regexp.Regexp
	group    int // the submatch holding the secret (0: the whole match)
	severity scan.Severity
	// check, if set, sees the secret and the text after the match and
	// reports whether it looks live; false means a placeholder.
	check func(secret, after string) bool
	// lowEntropyOK skips the entropy floor (the secret is a header or a
	// URL path whose alphabet is small).
	lowEntropyOK bool
}

var rules = []rule{
	{kind: "aws-access-key-id", what: "AWS access key ID", keywords: []string{"akia", "asia", "abia", "acca"},
		re: regexp.MustCompile(`\b((?:AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16})\b`), group: 1, severity: scan.High},
	{kind: "aws-secret-access-key", what: "AWS secret access key", keywords: []string{"aws"},
		re:    regexp.MustCompile(`(?i)aws_?secret_?(?:access_?)?key["']?\s*(?:[:=]|:=|=>)\s*["']?([A-Za-z0-9/+]{40})(?:[^A-Za-z0-9/+=]|$)`),
		group: 1, severity: scan.High, check: entropyAtLeast(4.0)},
	{kind: "github-token", what: "GitHub token", keywords: []string{"ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"},
		re: regexp.MustCompile(`\b((?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{60,255})\b`), group: 1, severity: scan.High},
	{kind: "gitlab-token", what: "GitLab token", keywords: []string{"glpat-", "glptt-", "gldt-"},
		re: regexp.MustCompile(`\b((?:glpat|glptt|gldt)-[A-Za-z0-9_-]{20,})\b`), group: 1, severity: scan.High},
	{kind: "slack-token", what: "Slack token", keywords: []string{"xox"},
		re: regexp.MustCompile(`\b(xox[abposr]-[0-9A-Za-z]{8,}-[0-9A-Za-z-]{8,})`), group: 1, severity: scan.High},
	{kind: "slack-webhook", what: "Slack webhook URL", keywords: []string{"hooks.slack.com"},
		re: regexp.MustCompile(`https://hooks\.slack\.com/(?:services|workflows)/([A-Za-z0-9+/]{40,}|T[A-Z0-9]{6,}/B[A-Z0-9]{6,}/[A-Za-z0-9]{20,})`), group: 1, severity: scan.High, lowEntropyOK: true},
	{kind: "stripe-live-key", what: "Stripe live secret or restricted key", keywords: []string{"sk_live_", "rk_live_"},
		re: regexp.MustCompile(`\b((?:sk|rk)_live_[0-9A-Za-z]{20,})\b`), group: 1, severity: scan.High},
	{kind: "anthropic-api-key", what: "Anthropic API key", keywords: []string{"sk-ant-"},
		re: regexp.MustCompile(`\b(sk-ant-(?:api|admin|oat)\d{2}-[A-Za-z0-9_-]{32,})`), group: 1, severity: scan.High},
	{kind: "openai-api-key", what: "OpenAI API key", keywords: []string{"sk-"},
		re:    regexp.MustCompile(`\b(sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}T3BlbkFJ[A-Za-z0-9_-]{20,}|sk-proj-[A-Za-z0-9_-]{40,}|sk-[A-Za-z0-9]{48})\b`),
		group: 1, severity: scan.High, check: func(s, _ string) bool { return !strings.HasPrefix(s, "sk-ant-") }},
	{kind: "google-api-key", what: "Google API key", keywords: []string{"aiza"},
		re: regexp.MustCompile(`\b(AIza[0-9A-Za-z_-]{35})(?:[^0-9A-Za-z_-]|$)`), group: 1, severity: scan.High},
	{kind: "private-key", what: "private key", keywords: []string{"private key"},
		re:    regexp.MustCompile(`-----BEGIN ((?:RSA |EC |DSA |OPENSSH |ENCRYPTED |PGP )?PRIVATE KEY(?: BLOCK)?)-----`),
		group: 0, severity: scan.High, check: pemBody, lowEntropyOK: true},
	{kind: "jwt", what: "JSON Web Token", keywords: []string{"eyj"},
		re: regexp.MustCompile(`\b(eyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{16,})`), group: 1, severity: scan.Medium, check: liveJWT},
	{kind: "npm-token", what: "npm access token", keywords: []string{"npm_"},
		re: regexp.MustCompile(`\b(npm_[A-Za-z0-9]{36})\b`), group: 1, severity: scan.High},
	{kind: "pypi-token", what: "PyPI upload token", keywords: []string{"pypi-ageichlwas5vcmc"},
		re: regexp.MustCompile(`\b(pypi-AgEIcHlwaS5vcmc[A-Za-z0-9_-]{50,})`), group: 1, severity: scan.High},
	{kind: "huggingface-token", what: "Hugging Face token", keywords: []string{"hf_"},
		re: regexp.MustCompile(`\b(hf_[A-Za-z0-9]{34,})\b`), group: 1, severity: scan.High},
	{kind: "sendgrid-api-key", what: "SendGrid API key", keywords: []string{"sg."},
		re: regexp.MustCompile(`\b(SG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43})\b`), group: 1, severity: scan.High},
	{kind: "telegram-bot-token", what: "Telegram bot token", keywords: []string{":aa"},
		re: regexp.MustCompile(`(?:^|[^0-9])(\d{8,10}:AA[0-9A-Za-z_-]{33})(?:[^0-9A-Za-z_-]|$)`), group: 1, severity: scan.High},
	{kind: "discord-webhook", what: "Discord webhook URL", keywords: []string{"discord.com/api/webhooks", "discordapp.com/api/webhooks"},
		re: regexp.MustCompile(`https://(?:ptb\.|canary\.)?discord(?:app)?\.com/api/webhooks/\d{17,20}/([A-Za-z0-9_-]{60,})`), group: 1, severity: scan.High, lowEntropyOK: true},
}

// generic is a secret-sounding name assigned a value: key = value,
// key: value, "key": "value", KEY=value.
var generic = regexp.MustCompile(`(?i)([A-Za-z0-9_.-]*(?:passw(?:or)?d|passwd|secret|token|api[_-]?key|apikey|access[_-]?key|auth[_-]?key|private[_-]?key|credential)s?[A-Za-z0-9_.-]*)["']?[ \t]*(?:=|:=|=>|:)[ \t]*["'` + "`" + `]?([^\s"'` + "`" + `;,()\[\]{}<>$%&?]{12,120})`)

var genericKeywords = []string{"pass", "secret", "token", "key", "credential"}

// Rule IDs. Every known format shares one ID, so a skill with several
// leaked keys scores the rule once; SE001 is also the ID of the rule pack's
// older regex for the same thing, so the two never add up.
const (
	RuleKnownFormat = "SE001" // a credential in a known format
	RuleGeneric     = "SE002" // a high-entropy value assigned to a secret-sounding name
)

// Analyzer is the secret detection as a scan.FileAnalyzer. The zero value
// is ready; it is safe for concurrent use.
type Analyzer struct{}

var _ scan.FileAnalyzer = Analyzer{}

// AnalyzeFile implements scan.FileAnalyzer: binary files are skipped.
func (Analyzer) AnalyzeFile(name string, data []byte) []scan.Finding {
	if bytes.IndexByte(data[:min(len(data), binarySniff)], 0) >= 0 {
		return nil
	}
	return Find(name, string(data))
}

// Find returns the secrets in text, at most maxPerFile, in file order.
func Find(name, text string) []scan.Finding {
	lower := asciiLower(text)
	var lines []int // offsets of line starts, built on the first hit
	lineOf := func(off int) int {
		if lines == nil {
			lines = append(lines, 0)
			for i := 0; i < len(text); i++ {
				if text[i] == '\n' {
					lines = append(lines, i+1)
				}
			}
		}
		return sort.SearchInts(lines, off+1)
	}
	var out []scan.Finding
	var taken [][2]int // secret spans already reported
	for i := range rules {
		r := &rules[i]
		for _, span := range candidateLines(text, lower, r.keywords) {
			for _, m := range r.re.FindAllStringSubmatchIndex(text[span[0]:span[1]], maxPerFile) {
				s, e := span[0]+m[2*r.group], span[0]+m[2*r.group+1]
				secret := text[s:e]
				if Placeholder(secret) || r.check != nil && !r.check(secret, text[span[0]+m[1]:]) {
					continue
				}
				if !r.lowEntropyOK && entropy(secret) < formatEntropy {
					continue
				}
				taken = append(taken, [2]int{s, e})
				out = append(out, scan.Finding{RuleID: RuleKnownFormat, Category: scan.CatSecrets, Severity: r.severity,
					File: name, Line: lineOf(s), Evidence: Redact(secret),
					Why: r.kind + ": " + r.what + " committed in the skill: anyone with the skill can use it; revoke it and load it from the environment"})
			}
		}
	}
	for _, span := range candidateLines(text, lower, genericKeywords) {
		line := text[span[0]:span[1]]
		if !strings.ContainsAny(line, "=:") {
			continue // no assignment: prose that mentions a key
		}
		for _, m := range generic.FindAllStringSubmatchIndex(line, maxPerFile) {
			s, e := span[0]+m[4], span[0]+m[5]
			value := text[s:e]
			if overlaps(taken, s, e) || !genericSecret(line[m[2]:m[3]], value) {
				continue
			}
			out = append(out, scan.Finding{RuleID: RuleGeneric, Category: scan.CatSecrets, Severity: scan.Medium,
				File: name, Line: lineOf(s), Evidence: Redact(value),
				Why: "generic-secret: a high-entropy value is assigned to " + clipName(line[m[2]:m[3]]) + ": it looks like a committed secret"})
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Line < out[j].Line })
	if len(out) > maxPerFile {
		out = out[:maxPerFile]
	}
	return out
}

// candidateLines returns, in order and once each, the [start, end) spans
// of the lines of text whose lower-case form holds one of words. Every
// pattern lies within one line, so the regular expressions run on these
// lines only: most of a file never reaches them.
func candidateLines(text, lower string, words []string) [][2]int {
	var spans [][2]int
	seen := map[int]bool{}
	for _, w := range words {
		for off := 0; off < len(lower); {
			i := strings.Index(lower[off:], w)
			if i < 0 {
				break
			}
			i += off
			start := strings.LastIndexByte(text[:i], '\n') + 1
			end := strings.IndexByte(text[i:], '\n')
			if end < 0 {
				end = len(text)
			} else {
				end += i
			}
			if !seen[start] {
				seen[start] = true
				spans = append(spans, [2]int{start, end})
			}
			off = end + 1
		}
	}
	sort.Slice(spans, func(i, j int) bool { return spans[i][0] < spans[j][0] })
	return spans
}

// asciiLower lower-cases ASCII letters only, so offsets in the result are
// offsets in s.
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + ('a' - 'A')
		}
	}
	return string(b)
}

func containsAny(s string, words []string) bool {
	for _, w := range words {
		if strings.Contains(s, w) {
			return true
		}
	}
	return false
}

func overlaps(taken [][2]int, s, e int) bool {
	for _, span := range taken {
		if s < span[1] && span[0] < e {
			return true
		}
	}
	return false
}

func clipName(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

// Redact keeps the first four characters of a secret.
func Redact(s string) string {
	if len(s) <= 8 {
		return "[redacted]"
	}
	return s[:4] + "…[redacted]"
}

// entropy is the Shannon entropy of s in bits per character.
func entropy(s string) float64 {
	if s == "" {
		return 0
	}
	var counts [256]int
	for i := 0; i < len(s); i++ {
		counts[s[i]]++
	}
	h := 0.0
	n := float64(len(s))
	for _, c := range counts {
		if c > 0 {
			p := float64(c) / n
			h -= p * math.Log2(p)
		}
	}
	return h
}

func entropyAtLeast(min float64) func(string, string) bool {
	return func(s, _ string) bool { return entropy(s) >= min }
}

// placeholderWords mark a documentation value, not a credential.
var placeholderWords = []string{
	"example", "xxxx", "your", "placeholder", "dummy", "sample", "changeme", "change_me",
	"redacted", "fake", "insert", "replace", "<", ">", "${", "{{", "$(", "***", "...", "…",
	"0123456789", "1234567890", "abcdefghij", "abcdef123456", "test_key", "notreal", "not_real",
	"not-a-real", "mock", "abc123", "123456",
}

// exampleWords mark a generic value as an example password or a
// description of what to put there, not a credential.
var exampleWords = []string{
	"pass", "secret", "admin", "test", "demo", "secure", "qwerty", "letmein", "random",
	"generate", "here", "sample", "default", "hunter2",
}

// description is a value made of lower-case words joined by "_" or "-"
// ("your_api_key", "generate-a-random-string").
var description = regexp.MustCompile(`^[a-z]+(?:[_-][a-z0-9]+){2,}$`)

// Placeholder reports whether s looks like a documentation example rather
// than a credential: a placeholder word, a counting sequence, or one
// character repeated (after any well-known prefix).
func Placeholder(s string) bool {
	l := strings.ToLower(s)
	if containsAny(l, placeholderWords) {
		return true
	}
	body := l
	if i := strings.LastIndexAny(body, "_-"); i >= 0 && i < len(body)-8 {
		body = body[i+1:]
	}
	distinct := map[byte]bool{}
	for i := 0; i < len(body); i++ {
		distinct[body[i]] = true
	}
	return len(distinct) <= 3
}

// genericSecret decides whether key = value is a committed secret: the
// value is long, mixes letters and digits, has high entropy, and is not an
// identifier path, a URL without credentials, a file path or a placeholder.
func genericSecret(key, value string) bool {
	lk := strings.ToLower(key)
	if strings.Contains(lk, "max_token") || strings.Contains(lk, "tokens") || strings.Contains(lk, "tokenizer") ||
		strings.HasSuffix(lk, "_url") || strings.HasSuffix(lk, "_path") || strings.HasSuffix(lk, "_file") ||
		strings.HasSuffix(lk, "_env") || strings.HasSuffix(lk, "_name") || strings.HasSuffix(lk, "_id") {
		return false
	}
	lv := strings.ToLower(value)
	if Placeholder(value) || containsAny(lv, exampleWords) || description.MatchString(value) || strings.Contains(value, "://") || strings.HasPrefix(value, "/") || strings.HasPrefix(value, "~") {
		return false
	}
	if identPath.MatchString(value) || envName.MatchString(value) {
		return false
	}
	var letters, digits int
	for i := 0; i < len(value); i++ {
		switch c := value[i]; {
		case c >= '0' && c <= '9':
			digits++
		case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
			letters++
		}
	}
	return letters > 0 && digits > 0 && entropy(value) >= genericEntropy
}

// identPath is code, not a value: os.environ.get, process.env.X,
// settings.API_KEY, some_function.
var identPath = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*(?:[.:]+[A-Za-z_][A-Za-z0-9_]*)+$`)

// envName is an environment variable's name (OPENAI_API_KEY_2), not a value.
var envName = regexp.MustCompile(`^[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+$`)
