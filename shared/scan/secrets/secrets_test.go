package secrets_test

import (
	"encoding/base64"
	"fmt"
	"strings"
	"testing"

	"github.com/openagents/trust/shared/scan"
	"github.com/openagents/trust/shared/scan/secrets"
)

// Credentials are assembled from parts so that this file itself holds no
// string in a key format (secret scanners, this one included, stay quiet).
func k(parts ...string) string { return strings.Join(parts, "") }

const body40 = "q8Vn2LrT5wXk9PzB3mYc7HsD1fJg6RtE4uWaZ0Nb" // 40 mixed characters

func jwt(header, payload string) string {
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(header)) + "." + enc([]byte(payload)) + "." + "Xq3vB7nR2kLp9sWd4hTz8cYf1mGj6uEa"
}

func pem(kind, body string) string {
	return "-----BEGIN " + kind + " PRIVATE KEY-----\n" + body + "\n-----END " + kind + " PRIVATE KEY-----\n"
}

var pemBody = strings.Repeat("MIIEowIBAAKCAQEA3kT9vQ2xZp8LrN5wYc1HsJg6RtE4uWaZ0Nbq8Vn2LrT5wXk9\n", 4)

func TestFind(t *testing.T) {
	for _, tt := range []struct {
		name, text string
		rule       string
		sev        scan.Severity
		kind       string
	}{
		{"AWSKeyID", "aws_access_key_id = " + k("AKIA", "Q3T7ZK2MWP5XRB4N"), secrets.RuleKnownFormat, scan.High, "aws-access-key-id"},
		{"AWSSecret", "aws_secret_access_key: " + k(body40[:20], "/", body40[21:]), secrets.RuleKnownFormat, scan.High, "aws-secret-access-key"},
		{"GitHub", "token: " + k("ghp", "_", body40[:36]), secrets.RuleKnownFormat, scan.High, "github-token"},
		{"GitHubFineGrained", k("github", "_pat_", body40, body40[:30]), secrets.RuleKnownFormat, scan.High, "github-token"},
		{"GitLab", k("glpat", "-", body40[:20]), secrets.RuleKnownFormat, scan.High, "gitlab-token"},
		{"Slack", k("xoxb", "-", "2048576381-", body40[:24]), secrets.RuleKnownFormat, scan.High, "slack-token"},
		{"SlackWebhook", k("https://hooks.", "slack.com/services/", "T0ABCD1EF/B0GHIJ2KL/", body40[:24]), secrets.RuleKnownFormat, scan.High, "slack-webhook"},
		{"StripeLive", "STRIPE_KEY=" + k("sk", "_live_", body40[:28]), secrets.RuleKnownFormat, scan.High, "stripe-live-key"},
		{"StripeRestricted", k("rk", "_live_", body40[:28]), secrets.RuleKnownFormat, scan.High, "stripe-live-key"},
		{"Anthropic", "ANTHROPIC_API_KEY=" + k("sk-", "ant-api03-", body40, body40), secrets.RuleKnownFormat, scan.High, "anthropic-api-key"},
		{"OpenAIProject", "OPENAI_API_KEY=" + k("sk-", "proj-", body40, "-", body40[:20]), secrets.RuleKnownFormat, scan.High, "openai-api-key"},
		{"OpenAILegacy", k("sk-", body40, body40[:8]), secrets.RuleKnownFormat, scan.High, "openai-api-key"},
		{"Google", "key=" + k("AI", "za", "Sy", body40[:33]), secrets.RuleKnownFormat, scan.High, "google-api-key"},
		{"PrivateKeyRSA", pem("RSA", pemBody), secrets.RuleKnownFormat, scan.High, "private-key"},
		{"PrivateKeyOpenSSH", pem("OPENSSH", pemBody), secrets.RuleKnownFormat, scan.High, "private-key"},
		{"PrivateKeyInJSON", `{"key": "` + strings.ReplaceAll(pem("EC", pemBody), "\n", `\n`) + `"}`, secrets.RuleKnownFormat, scan.High, "private-key"},
		{"JWT", "Authorization: Bearer " + jwt(`{"alg":"HS256","typ":"JWT"}`, `{"sub":"u-83","scope":"admin","exp":4102444800}`), secrets.RuleKnownFormat, scan.Medium, "jwt"},
		{"Npm", "//registry.npmjs.org/:_authToken=" + k("npm", "_", body40[:36]), secrets.RuleKnownFormat, scan.High, "npm-token"},
		{"HuggingFace", k("hf", "_", body40[:34]), secrets.RuleKnownFormat, scan.High, "huggingface-token"},
		{"SendGrid", k("SG", ".", body40[:22], ".", body40, "abc"), secrets.RuleKnownFormat, scan.High, "sendgrid-api-key"},
		{"Telegram", "bot" + k("704913285", ":AA", body40[:33]), secrets.RuleKnownFormat, scan.High, "telegram-bot-token"},
		{"GenericPassword", `DB_PASSWORD = "` + "Zq7#vB2!nR9kLp4w" + `"`, secrets.RuleGeneric, scan.Medium, "generic-secret"},
		{"GenericJSON", `{"apiKey": "` + "RDx7Kq2mVp9sWn4bZt6c" + `"}`, secrets.RuleGeneric, scan.Medium, "generic-secret"},
		{"GenericShell", "export AUTH_TOKEN='" + "f7aa3c91be20d4e6a8c5b7d9e1f20a3c" + "'", secrets.RuleGeneric, scan.Medium, "generic-secret"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			text := "line one\n" + tt.text + "\n"
			fs := secrets.Find("config.txt", text)
			if len(fs) == 0 {
				t.Fatalf("no finding in %q", tt.text)
			}
			f := fs[0]
			if f.RuleID != tt.rule || f.Severity != tt.sev || f.Line != 2 || f.Category != scan.CatSecrets || !strings.HasPrefix(f.Why, tt.kind+":") {
				t.Errorf("got %+v, want %s %s line 2 kind %s", f, tt.rule, tt.sev, tt.kind)
			}
			if !strings.HasSuffix(f.Evidence, "…[redacted]") && f.Evidence != "[redacted]" {
				t.Errorf("evidence %q is not redacted", f.Evidence)
			}
		})
	}
}

func TestFind_Placeholders(t *testing.T) {
	for name, text := range map[string]string{
		"AWSDocsExample":    "aws_access_key_id = " + k("AKIA", "IOSFODNN7", "EXAMPLE"),
		"AWSSecretDocs":     "aws_secret_access_key = " + k("wJalrXUtnFEMI/K7MDENG/bPxRfiCY", "EXAMPLE", "KEY"),
		"GitHubXs":          "GITHUB_TOKEN=" + k("ghp", "_", strings.Repeat("x", 36)),
		"GitHubEnv":         "GITHUB_TOKEN=${GITHUB_TOKEN}",
		"AnthropicXs":       k("sk-", "ant-api03-", strings.Repeat("X", 90)),
		"AnthropicYour":     "ANTHROPIC_API_KEY=" + k("sk-", "ant-api03-", "your-key-goes-here-", body40),
		"StripeZeros":       k("sk", "_live_", strings.Repeat("0", 24)),
		"StripeShort":       k("sk", "_live_", "abc123"),
		"OpenAIAngle":       "OPENAI_API_KEY=<your-openai-key>",
		"OpenAIDots":        "OPENAI_API_KEY=" + k("sk-", "proj-", "...", body40),
		"GoogleSequence":    k("AI", "za", "Sy", "0123456789abcdefghijklmnopqrstuvw"),
		"PEMHeaderOnly":     "Paste your key, which starts with -----BEGIN RSA PRIVATE KEY-----, below.",
		"PEMEllipsis":       pem("RSA", "MIIEow...\n...\n"),
		"PEMPlaceholder":    pem("OPENSSH", "<your private key here>"),
		"JWTIODebugger":     jwt(`{"alg":"HS256","typ":"JWT"}`, `{"sub":"1234567890","name":"John Doe","iat":1516239022}`),
		"JWTNoAlg":          jwt(`{"typ":"JWT"}`, `{"sub":"u-1"}`),
		"GenericEnv":        `password = os.environ["DB_PASSWORD"]`,
		"GenericCall":       "token = get_token()",
		"GenericDotted":     "api_key: settings.openai.api_key",
		"GenericEnvName":    "API_KEY: OPENAI_API_KEY_V2",
		"GenericDescribe":   "WORKOS_COOKIE_PASSWORD=generate_a_random_32_character_string",
		"GenericExamplePwd": "password: 'AdminPass123!'",
		"GenericMaxTokens":  "max_tokens = 40960000",
		"GenericShort":      "password: hunter",
		"GenericTemplate":   `api_key = "{{ secrets.API_KEY }}"`,
		"GenericURL":        "token_url = https://auth.example.com/oauth2/token",
		"GenericQuery":      "GET /v3/calendar?apikey=KEY&from=2025-11-03&to=2025-11-09",
		"GenericNoDigits":   "secret: thisIsJustAnIdentifierName",
	} {
		t.Run(name, func(t *testing.T) {
			if fs := secrets.Find("README.md", text); len(fs) != 0 {
				t.Errorf("finding %+v in placeholder %q, want none", fs, text)
			}
		})
	}
}

// TestFind_Canary: no finding carries more than the first four characters
// of a secret, in any field.
func TestFind_Canary(t *testing.T) {
	canaries := []string{
		k("AKIA", "Q3T7ZK2MWP5XRB4N"),
		k("sk", "_live_", "CANARY", body40[:24]),
		k("sk-", "ant-api03-", "CANARY", body40, body40),
		"CANARYq8Vn2LrT5wXk9PzB3",
	}
	text := "a = " + canaries[0] + "\nb: " + canaries[1] + "\nc=" + canaries[2] + "\nsecret_token = \"" + canaries[3] + "\"\n"
	fs := secrets.Find("x.env", text)
	if len(fs) != len(canaries) {
		t.Fatalf("%d findings, want %d: %+v", len(fs), len(canaries), fs)
	}
	for _, f := range fs {
		dump := fmt.Sprintf("%+v", f)
		for _, c := range canaries {
			if strings.Contains(dump, c[:8]) || strings.Contains(dump, c[len(c)-8:]) {
				t.Errorf("finding %s leaks part of a secret beyond its first four characters", dump)
			}
		}
	}
}

func TestAnalyzer_SkipsBinary(t *testing.T) {
	data := []byte("\x00\x01\x02" + k("AKIA", "Q3T7ZK2MWP5XRB4N"))
	if fs := (secrets.Analyzer{}).AnalyzeFile("blob.bin", data); len(fs) != 0 {
		t.Errorf("binary file: %+v", fs)
	}
	if fs := (secrets.Analyzer{}).AnalyzeFile("a.txt", data[3:]); len(fs) != 1 {
		t.Errorf("text file: %+v, want one finding", fs)
	}
}

func TestRedact(t *testing.T) {
	for in, want := range map[string]string{"": "[redacted]", "short": "[redacted]", "abcdefghijk": "abcd…[redacted]"} {
		if got := secrets.Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzFind(f *testing.F) {
	f.Add("aws_access_key_id = " + k("AKIA", "Q3T7ZK2MWP5XRB4N"))
	f.Add(pem("RSA", pemBody))
	f.Add(`DB_PASSWORD = "Zq7#vB2!nR9kLp4w"`)
	f.Add(jwt(`{"alg":"HS256"}`, `{"sub":"x"}`))
	f.Fuzz(func(t *testing.T, text string) {
		for _, fd := range secrets.Find("f.txt", text) {
			if fd.Line < 1 || !strings.HasSuffix(fd.Evidence, "[redacted]") {
				t.Errorf("bad finding %+v", fd)
			}
		}
	})
}

// BenchmarkFind_Prose: ordinary text, where one line in ten holds a
// keyword that sends it to the regular expressions.
func BenchmarkFind_Prose(b *testing.B) {
	text := strings.Repeat("Run the script with the input folder and an output path.\nIt writes one JSON line per record.\n"+
		"def handler(event, context):\n    return {'status': 200}\n# Configure the API key in the settings page.\n", 2000)
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		secrets.Find("doc.md", text)
	}
}

// BenchmarkFind: the worst case, every line a candidate.
func BenchmarkFind(b *testing.B) {
	text := strings.Repeat("const apiUrl = 'https://api.example.com/v1';\nlet token = getToken();\n# some prose about keys and secrets\n", 2000)
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		secrets.Find("big.js", text)
	}
}
