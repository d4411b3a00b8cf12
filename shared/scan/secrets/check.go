package secrets

import (
	"encoding/base64"
	"encoding/json"
	"strings"
)

// pemBody reports whether a BEGIN … PRIVATE KEY line is followed by key
// material: at least 64 base64 characters before the END line, and no
// placeholder ("...", "<your key>") in between. A bare header, as in
// documentation that mentions the format, is not a key.
func pemBody(_ string, after string) bool {
	end := strings.Index(after, "-----END")
	if end < 0 {
		end = min(len(after), 8192)
	}
	body := after[:end]
	if Placeholder(strings.ReplaceAll(body, "\n", "")) && strings.Count(body, "\n") < 3 {
		return false
	}
	if strings.Contains(body, "...") || strings.Contains(body, "…") || strings.Contains(body, "<") {
		return false
	}
	n := 0
	for _, line := range strings.Split(body, "\n") {
		line = strings.TrimSpace(strings.Trim(strings.TrimSpace(line), `"',\n`))
		line = strings.TrimSuffix(line, `\n`)
		if strings.Contains(line, ":") { // Proc-Type and DEK-Info headers
			continue
		}
		for i := 0; i < len(line); i++ {
			c := line[i]
			if c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '+' || c == '/' || c == '=' {
				n++
			}
		}
	}
	return n >= 64 && entropy(body) >= 4.0
}

// liveJWT reports whether a token decodes as a JWT (a JSON header naming
// an algorithm and a JSON payload) and is not the well-known example token
// of the jwt.io debugger and countless tutorials.
func liveJWT(token, _ string) bool {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return false
	}
	var header struct {
		Alg string `json:"alg"`
	}
	var payload map[string]any
	if !decodePart(parts[0], &header) || header.Alg == "" || !decodePart(parts[1], &payload) {
		return false
	}
	if sub, _ := payload["sub"].(string); sub == "1234567890" {
		return false
	}
	if name, _ := payload["name"].(string); name == "John Doe" || name == "Jane Doe" {
		return false
	}
	return true
}

func decodePart(s string, v any) bool {
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
	if err != nil {
		return false
	}
	return json.Unmarshal(b, v) == nil
}
