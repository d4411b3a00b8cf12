package scan

import (
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"
)

// declared is what SKILL.md says about the skill, read leniently: skills in
// the wild write permissions as a list ("- read", "- network:outbound", "*")
// or as a map (network:, exec:, filesystem:, tools:), and the strict manifest
// parser refuses some of them. The lenient reading is used only to compare
// declarations with behaviour, never to grant anything.
type declared struct {
	present  bool // a permissions key exists
	network  bool
	exec     bool
	write    bool
	wildcard bool
	text     string // description and body, for the claims check
}

// readDeclared parses the frontmatter of a SKILL.md leniently.
func readDeclared(md string) *declared {
	d := &declared{text: md}
	md = strings.TrimPrefix(strings.ReplaceAll(md, "\r\n", "\n"), "\ufeff")
	if !strings.HasPrefix(md, "---\n") {
		return d
	}
	end := strings.Index(md[4:], "\n---")
	if end < 0 {
		return d
	}
	if !strings.Contains(md[4:4+end+1], "permissions") {
		return d
	}
	var fm map[string]any
	if yaml.Unmarshal([]byte(md[4:4+end+1]), &fm) != nil {
		return d
	}
	p, ok := fm["permissions"]
	if !ok {
		return d
	}
	d.present = true
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				walk(strings.TrimPrefix(path+"."+strings.ToLower(k), "."), x)
			}
		case []any:
			for _, x := range v {
				walk(path, x)
			}
		case string:
			d.grant(path, strings.ToLower(strings.TrimSpace(v)))
		case bool:
			if v {
				d.grant(path, "")
			}
		}
	}
	walk("", p)
	return d
}

// grant records one declared entry: value under the dotted key path (path
// "" for the list form, "network", "tools.allow", "filesystem.write"…).
func (d *declared) grant(path, value string) {
	if strings.Contains(path, "deny") {
		return
	}
	if value == "*" || value == "all" {
		d.wildcard = true
		d.network, d.exec, d.write = true, true, true
		return
	}
	word := path + " " + value
	has := func(ws ...string) bool {
		for _, w := range ws {
			if strings.Contains(word, w) {
				return true
			}
		}
		return false
	}
	// Map form: any entry under network/exec grants it.
	if has("network", "net:", "http", "internet", "web", "fetch", "url", "host") || strings.HasPrefix(path, "net") {
		d.network = true
	}
	if has("exec", "bash", "shell", "command", "process", "terminal") {
		d.exec = true
	}
	if has("write", "edit", "delete", "modify") {
		d.write = true
	}
}

var (
	claimNoNetRE    = lazyRE(`(?i)\b(without\s+(any\s+)?(network|internet)(\s+access)?|no\s+(data|information)\s+(ever\s+)?leaves|(runs|works|operates|processes\s+\w+)\s+(entirely\s+|fully\s+)?(locally|offline)|no\s+(network|external)\s+(access|calls|requests|api calls)|never\s+(sends|uploads|transmits))`)
	claimSafeRE     = lazyRE(`(?i)\b(safely|securely|with validation|validat(es|ed|ing)\s+(the\s+)?(paths?|file\s*names?|inputs?)|sandboxed|prevents?\s+(path\s+)?traversal|restricted\s+to\s+(the\s+)?[\w-]+\s+director(y|ies))\b`)
	claimReadOnlyRE = lazyRE(`(?i)\b(does\s+not\s+(modify|change|write|delete)|do(es)?\s+not\s+modify|makes\s+no\s+changes|no\s+side[- ]effects|never\s+(modifies|writes|deletes)|nothing\s+is\s+(written|deleted|modified))`)
)

// Literals one of which every claim contains: the claim regexes run only
// on lines holding one.
var (
	claimSafeWords     = []string{"safely", "securely", "validat", "sandboxed", "traversal", "restricted to"}
	claimNoNetWords    = []string{"without", "leaves", "locally", "offline", "no network", "no external", "never"}
	claimReadOnlyWords = []string{"does not", "do not", "makes no", "side effect", "side-effect", "never", "nothing is"}
)

// claimIn returns the first claim re finds on a line of text holding one of words.
func claimIn(text string, re *regexp.Regexp, words []string) string {
	d := newDoc(text)
	for _, li := range d.linesWith(words...) {
		if m := re.FindString(d.line(li)); m != "" {
			return m
		}
	}
	return ""
}

// correlate runs the skill-level checks once every file has been read:
// credential material and a network send in the same skill's code; declared
// permissions and claims against what the code does.
func (s *scanner) correlate(d *declared) {
	f := s.facts
	switch {
	case f.credSource != nil && f.netSend != nil:
		x := *f.credSource
		x.RuleID, x.Category, x.Severity = "SC001", CatCredentials, Critical
		x.Why = "the code reads credential material (secret environment variables, key or credential files) and sends data over the network (" +
			f.netSend.File + "): credential exfiltration"
		s.add(x)
	case f.browserSource != nil && f.netSend != nil:
		x := *f.browserSource
		x.RuleID, x.Category, x.Severity = "SC001", CatCredentials, High
		x.Why = "the code reads a browser's cookie or login store and sends data over the network (" + f.netSend.File +
			"): session theft unless the destination is the user's own service"
		s.add(x)
	}
	if d == nil {
		return
	}
	if d.wildcard {
		s.add(Finding{RuleID: "UD013", Category: CatThirdParty, Severity: High, File: "SKILL.md", Evidence: "permissions: *",
			Why: "SKILL.md asks for every permission (\"*\"): nothing the skill does could be reviewed against a narrower grant"})
	}
	mismatch := func(id string, use *Finding, what string) {
		x := *use
		x.RuleID, x.Category, x.Severity = id, CatThirdParty, High
		x.Why = "SKILL.md declares permissions without " + what + ", but the code " + whatVerb(what)
		s.add(x)
	}
	if d.present {
		if f.network != nil && !d.network {
			mismatch("UD010", f.network, "network access")
		}
		if f.exec != nil && !d.exec {
			mismatch("UD011", f.exec, "program execution")
		}
		if f.write != nil && !d.write {
			mismatch("UD012", f.write, "file writes")
		}
	}
	claim := func(use *Finding, re *regexp.Regexp, words []string, text, file, what string) {
		if use == nil {
			return
		}
		if m := claimIn(text, re, words); m != "" {
			x := *use
			x.RuleID, x.Category, x.Severity = "CL001", CatThirdParty, High
			x.Why = file + " says \"" + truncate(m) + "\", but the code " + what
			s.add(x)
		}
	}
	claim(f.network, claimNoNetRE(), claimNoNetWords, d.text, "SKILL.md", "uses the network")
	claim(f.write, claimReadOnlyRE(), claimReadOnlyWords, d.text, "SKILL.md", "writes, moves or deletes files")
	claim(f.rawPath, claimSafeRE(), claimSafeWords, d.text, "SKILL.md", "opens a path built from its input without normalising or checking it (path traversal)")
}

func whatVerb(what string) string {
	switch what {
	case "network access":
		return "uses the network"
	case "program execution":
		return "runs programs"
	}
	return "writes, moves or deletes files"
}
