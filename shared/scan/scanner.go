package scan

import (
	"fmt"
	"net"
	"path"
	"regexp"
	"sort"
	"strings"
	"sync"

	"github.com/openagents/trust/shared/trust"
)

// scanner collects findings and observed behaviour for one skill.
type scanner struct {
	findings []Finding
	seen     map[string]bool
	hosts    map[string]Finding // host -> first place it is used
	execs    map[string]Finding // program -> first place it is run
	depth    int
	facts    scriptFacts // what the skill's code does, across files
	inScript bool        // the shell being walked is a script file, not documentation
}

func newScanner() *scanner {
	return &scanner{seen: map[string]bool{}, hosts: map[string]Finding{}, execs: map[string]Finding{}}
}

func (s *scanner) add(f Finding) {
	if s.depth > 0 && !strings.HasPrefix(f.Why, "(decoded)") {
		f.Why = "(decoded) " + f.Why
	}
	key := fmt.Sprintf("%s\x00%s\x00%d", f.RuleID, f.File, f.Line)
	if s.seen[key] {
		return
	}
	s.seen[key] = true
	f.Evidence = redactSecrets(f.Evidence)
	s.findings = append(s.findings, f)
}

// Evidence is quoted from the skill, and a line that shows an exfiltration or
// an injection may also hold a committed credential: every finding's
// evidence has credentials redacted, whatever rule found it.
var (
	secretREs = sync.OnceValue(func() []*regexp.Regexp {
		var out []*regexp.Regexp
		for _, r := range defaultPack().Rules {
			if r.Category == CatSecrets {
				out = append(out, r.res...)
			}
		}
		return append(out,
			regexp.MustCompile(`\b(sk|rk|pk)[-_](live|test|proj|ant)?[-_]?[A-Za-z0-9_-]{20,}`),
			regexp.MustCompile(`(?i)\bbearer\s+[A-Za-z0-9._~+/-]{16,}=*`),
		)
	})
	secretHints = []string{"AKIA", "gh", "xox", "sk", "rk", "pk", "AIza", "PRIVATE KEY", "earer"}
)

func redactSecrets(ev string) string {
	hinted := false
	for _, h := range secretHints {
		if strings.Contains(ev, h) {
			hinted = true
			break
		}
	}
	if !hinted {
		return ev
	}
	for _, re := range secretREs() {
		ev = re.ReplaceAllStringFunc(ev, func(m string) string {
			if strings.Contains(m, "[redacted]") {
				return m
			}
			return redact(m)
		})
	}
	return ev
}

var (
	urlRE     = lazyRE(`(?i)\bhttps?://[^\s"'<>()\x60\]\[{}|\\^]+`)
	snippetRE = lazyRE(`(?i)(curl|wget|base64|echo|printf|iwr|invoke-webrequest)\b[^\n"'\x60]*\|\s*(sudo\s+)?(ba|z|da|k)?sh\b[^\n"'\x60]*`)
	execPyRE  = lazyRE(`(?:os\.system|subprocess\.(?:run|call|Popen|check_output|check_call)|os\.popen|child_process\.exec(?:Sync)?|execSync|exec)\(\s*\[?\s*["']([A-Za-z0-9_.\-/]+)`)
)

// file analyzes one text file.
func (s *scanner) file(name, text string) {
	if len(text) > maxFileSize {
		text = text[:maxFileSize]
	}
	d := newDoc(text)
	ext := strings.ToLower(path.Ext(name))
	switch {
	case ext == ".md" || ext == ".markdown" || ext == ".mdx":
		s.markdown(name, text)
	case ext == ".sh" || ext == ".bash" || ext == ".zsh" || strings.HasPrefix(text, "#!/bin/sh") ||
		strings.HasPrefix(text, "#!/bin/bash") || strings.HasPrefix(text, "#!/usr/bin/env bash") ||
		strings.HasPrefix(text, "#!/usr/bin/env sh") || strings.HasPrefix(text, "#!/bin/zsh"):
		s.inScript = true
		s.shell(name, 1, text)
		s.inScript = false
	case ext == ".py" || isJS(name):
		s.script(name, 1, d, isJS(name), false)
	}
	s.invisible(name, text)
	s.textDoc(name, 1, d)
	if stripped, ok := stripInvisible(text); ok {
		// Zero-width characters split keywords ("in\u200bform"): run the
		// rules again on the text without them (newlines are kept, so
		// line numbers hold).
		s.text(name, 1, stripped)
		if ext == ".md" || ext == ".markdown" || ext == ".mdx" {
			s.sendSecrets(name, strings.Split(stripped, "\n"))
		}
	}
}

// text runs the analyzers every text file gets: rule packs, indicators,
// URLs, inline shell snippets and encoded blobs. first is the line number of
// text's first line within the file.
//
// Every regular expression runs on single lines only, and only on lines a
// cheap literal search admitted: rule keywords (one Aho-Corasick pass), "://"
// for URLs, "|" for inline pipelines. Patterns never cross a newline.
func (s *scanner) text(name string, first int, text string) {
	if len(text) > maxFileSize {
		text = text[:maxFileSize]
	}
	s.textDoc(name, first, newDoc(text))
}

// textDoc is text on a prepared doc.
func (s *scanner) textDoc(name string, first int, d *doc) {
	text := d.text
	s.rulePack(name, first, d, defaultPack())
	n := 0
	for _, li := range d.linesWith("://") {
		line := d.line(li)
		for _, loc := range urlRE().FindAllStringIndex(line, -1) {
			if n++; n > 200 {
				break
			}
			s.url(name, first+li, line[loc[0]:loc[1]])
		}
	}
	n = 0
	for _, li := range d.linesWith("|") {
		line := d.line(li)
		if low := d.lower[d.starts[li] : d.starts[li]+len(line)]; !strings.Contains(low, "sh") ||
			!(strings.Contains(low, "curl") || strings.Contains(low, "wget") || strings.Contains(low, "base64") || strings.Contains(low, "echo") ||
				strings.Contains(low, "printf") || strings.Contains(low, "iwr") || strings.Contains(low, "invoke-webrequest")) {
			continue
		}
		for _, loc := range snippetRE().FindAllStringIndex(line, -1) {
			if n++; n > 50 {
				break
			}
			s.shell(name, first+li, line[loc[0]:loc[1]])
		}
	}
	n = 0
	for _, li := range d.linesWith("exec", "system(", "subprocess", "popen") {
		line := d.line(li)
		for _, m := range execPyRE().FindAllStringSubmatchIndex(line, -1) {
			if n++; n > 50 {
				break
			}
			s.exec(name, first+li, path.Base(line[m[2]:m[3]]))
		}
	}
	s.archivePassword(name, first, d)
	s.registries(name, first, d)
	if s.depth < 2 {
		s.blobs(name, first, text)
	}
}

// rulePack runs the rules of p on the lines of d their keywords admit.
// Indicators are found in the same Aho-Corasick pass as the keywords.
func (s *scanner) rulePack(name string, first int, d *doc, p *Pack) {
	cands := p.candidates(d, func(hit, end int) {
		ind := indicators[hit]
		s.add(Finding{RuleID: ind.rule, Category: ind.category, Severity: ind.severity, File: name, Line: first + d.lineIndex(end-1), Evidence: truncate(ind.text), Why: ind.why})
	})
	for ri, lines := range cands {
		r := p.Rules[ri]
		for pi, re := range r.res {
			pre := r.pre[pi]
			n := 0
			for _, li := range lines {
				a, b := d.bounds(li)
				for _, w := range windows(d, a, b, r.Keywords) {
					if pre != nil && !containsAny(d.lower[w[0]:w[1]], pre) {
						continue
					}
					line := d.text[w[0]:w[1]]
					for _, loc := range re.FindAllStringIndex(line, -1) {
						if n++; n > 20 {
							break
						}
						ev := line[loc[0]:loc[1]]
						if r.Category == CatSecrets {
							ev = redact(ev)
						}
						s.add(Finding{RuleID: r.ID, Category: r.Category, Severity: r.Severity, File: name, Line: first + li, Evidence: truncate(ev), Why: r.Why})
					}
				}
			}
		}
	}
}

// Lines longer than longLine (minified JSON, data URIs) are not matched
// whole: a rule's patterns run on windows of window bytes either side of
// each of its keywords. Patterns span a few hundred bytes at most.
const (
	longLine = 4096
	window   = 512
)

// windows returns the byte ranges of the line [a, b) to match: the line
// itself, or for a long line the merged windows around the keywords.
func windows(d *doc, a, b int, keywords []string) [][2]int {
	if b-a <= longLine || len(keywords) == 0 {
		return [][2]int{{a, b}}
	}
	low := d.lower[a:b]
	var ws [][2]int
	for _, k := range keywords {
		for off := 0; ; {
			j := strings.Index(low[off:], k)
			if j < 0 {
				break
			}
			ws = append(ws, [2]int{a + max(0, off+j-window), a + min(len(low), off+j+len(k)+window)})
			off += j + len(k)
		}
	}
	sort.Slice(ws, func(i, j int) bool { return ws[i][0] < ws[j][0] })
	out := ws[:0]
	for _, w := range ws {
		if len(out) > 0 && w[0] <= out[len(out)-1][1] {
			out[len(out)-1][1] = max(out[len(out)-1][1], w[1])
			continue
		}
		out = append(out, w)
	}
	return out
}

// script looks at Python and JavaScript: string literals that hold shell
// commands go through the shell analyzer.
var pyShellRE = lazyRE(`(?:os\.system|os\.popen|subprocess\.\w+|execSync|exec)\(\s*(?:f|r)?["']([^"'\n]{4,})["']`)

func (s *scanner) script(name string, first int, d *doc, js, doc bool) {
	s.code(name, first, d.text, js, doc)
	for _, i := range d.linesWith("system(", "popen(", "exec", "subprocess.") {
		for _, m := range pyShellRE().FindAllStringSubmatch(d.line(i), 4) {
			s.shell(name, first+i, m[1])
		}
	}
}

// url records a network destination and judges raw-IP URLs.
func (s *scanner) url(name string, line int, u string) {
	host := hostOf(u)
	if host == "" {
		return
	}
	if _, ok := s.hosts[host]; !ok {
		s.hosts[host] = Finding{File: name, Line: line, Evidence: truncate(u)}
	}
	if rep := reputation(host); rep == repRawIP {
		s.add(Finding{RuleID: "DL010", Category: CatDownloads, Severity: High, File: name, Line: line, Evidence: truncate(u),
			Why: "URL to a raw public IP address: droppers avoid DNS names that can be taken down"})
	}
}

func (s *scanner) exec(name string, line int, prog string) {
	if prog == "" || shellBuiltins[prog] {
		return
	}
	if _, ok := s.execs[prog]; !ok {
		s.execs[prog] = Finding{File: name, Line: line, Evidence: prog}
	}
}

// shellBuiltins run inside the shell and execute no program, so they are not
// "programs the skill executes" for permissions.exec. (eval, exec, source and
// command do run something: the shell analyzer looks at what they run.)
var shellBuiltins = map[string]bool{
	":": true, "[": true, "[[": true, "alias": true, "break": true, "cd": true, "continue": true,
	"declare": true, "echo": true, "exit": true, "export": true, "false": true, "getopts": true,
	"let": true, "local": true, "printf": true, "pwd": true, "read": true, "readonly": true,
	"return": true, "set": true, "shift": true, "test": true, "trap": true, "true": true,
	"type": true, "typeset": true, "umask": true, "unset": true, "wait": true,
}

// archivePassword finds a downloaded archive and a password within a few lines.
var (
	archiveRE  = lazyRE(`(?i)\.(zip|rar|7z)\b`)
	passwordRE = lazyRE(`(?i)\b(password|passwd|passcode|pw)\b\s*(is\b|[:=(])|\bpass:\s*\S|\bunzip\s+-P\s+\S|\b7z\s+[xe]\s.*-p\S`)
)

func (s *scanner) archivePassword(name string, first int, d *doc) {
	for _, i := range d.linesWith(".zip", ".rar", ".7z") {
		line := d.line(i)
		if !archiveRE().MatchString(line) {
			continue
		}
		for j := max(0, i-4); j < min(len(d.starts), i+5); j++ {
			l := d.line(j)
			if passwordRE().MatchString(l) && !strings.Contains(strings.ToLower(l), "password manager") {
				s.add(Finding{RuleID: "DL020", Category: CatDownloads, Severity: Critical, File: name, Line: first + i, Evidence: truncate(line),
					Why: "password-protected archive to download: the password hides the payload from scanners (ClawHavoc delivery)"})
				return
			}
		}
	}
}

// undeclared compares observed hosts and programs with the declared permissions.
func (s *scanner) undeclared(p *trust.Permissions) {
	if p == nil {
		return
	}
	allowed := func(list []string, v string) bool {
		for _, a := range list {
			a = strings.ToLower(a)
			if a == "*" || a == v || strings.HasPrefix(a, "*.") && strings.HasSuffix(v, a[1:]) {
				return true
			}
			if h, _, err := net.SplitHostPort(a); err == nil && h == v {
				return true
			}
		}
		return false
	}
	n := 0
	for host, f := range s.hosts {
		if reputation(host) == repLocal || allowed(p.Network, host) || n >= 5 {
			continue
		}
		n++
		f.RuleID, f.Category, f.Severity = "UD001", CatThirdParty, Low
		f.Why = "network host " + host + " is used but not declared in SKILL.md permissions.network"
		s.add(f)
	}
	n = 0
	for prog, f := range s.execs {
		if allowed(p.Exec, prog) || n >= 5 {
			continue
		}
		n++
		f.RuleID, f.Category, f.Severity = "UD002", CatMaliciousCode, Low
		f.Why = "program " + prog + " is executed but not declared in SKILL.md permissions.exec"
		s.add(f)
	}
}

// lazyRE compiles pattern on first use: the scanner's patterns cost
// milliseconds to compile, which every command of a binary that links the
// scanner (trustctl verify at boot among them) would otherwise pay at start.
func lazyRE(pattern string) func() *regexp.Regexp {
	return sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(pattern) })
}
