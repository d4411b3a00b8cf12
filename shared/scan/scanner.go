package scan

import (
	"fmt"
	"net"
	"path"
	"regexp"
	"sort"
	"strings"

	"github.com/openagents/trust/shared/trust"
)

// scanner collects findings and observed behaviour for one skill.
type scanner struct {
	findings []Finding
	seen     map[string]bool
	hosts    map[string]Finding // host -> first place it is used
	execs    map[string]Finding // program -> first place it is run
	depth    int
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
	s.findings = append(s.findings, f)
}

var (
	urlRE     = regexp.MustCompile(`(?i)\bhttps?://[^\s"'<>()\x60\]\[{}|\\^]+`)
	snippetRE = regexp.MustCompile(`(?i)(curl|wget|base64|echo|printf|iwr|invoke-webrequest)\b[^\n"'\x60]*\|\s*(sudo\s+)?(ba|z|da|k)?sh\b[^\n"'\x60]*`)
	execPyRE  = regexp.MustCompile(`(?:os\.system|subprocess\.(?:run|call|Popen|check_output|check_call)|os\.popen|child_process\.exec(?:Sync)?|execSync|exec)\(\s*\[?\s*["']([A-Za-z0-9_.\-/]+)`)
)

// file analyzes one text file.
func (s *scanner) file(name, text string) {
	ext := strings.ToLower(path.Ext(name))
	base := strings.ToLower(path.Base(name))
	switch {
	case ext == ".md" || ext == ".markdown" || ext == ".mdx":
		s.markdown(name, text)
	case ext == ".sh" || ext == ".bash" || ext == ".zsh" || strings.HasPrefix(text, "#!/bin/sh") ||
		strings.HasPrefix(text, "#!/bin/bash") || strings.HasPrefix(text, "#!/usr/bin/env bash") ||
		strings.HasPrefix(text, "#!/usr/bin/env sh") || strings.HasPrefix(text, "#!/bin/zsh"):
		s.shell(name, 1, text)
	case ext == ".py" || ext == ".js" || ext == ".ts" || ext == ".mjs" || ext == ".cjs":
		s.script(name, text)
	}
	_ = base
	s.invisible(name, text)
	s.text(name, 1, text)
}

// text runs the analyzers every text file gets: rule packs, indicators,
// URLs, inline shell snippets and encoded blobs. first is the line number of
// text's first line within the file.
func (s *scanner) text(name string, first int, text string) {
	if len(text) > maxFileSize {
		text = text[:maxFileSize]
	}
	starts := lineStarts(text)
	lineOf := func(off int) int { return first + sort.SearchInts(starts, off+1) - 1 }
	// Regular expressions run over the whole text (one call per pattern,
	// not per line): patterns never cross a newline.
	lower := strings.ToLower(text)
	for _, r := range defaultPack.Rules {
		if !r.relevant(lower) {
			continue
		}
		for _, re := range r.res {
			for _, loc := range re.FindAllStringIndex(text, 20) {
				ev := text[loc[0]:loc[1]]
				if r.Category == CatSecrets {
					ev = redact(ev)
				}
				s.add(Finding{RuleID: r.ID, Category: r.Category, Severity: r.Severity, File: name, Line: lineOf(loc[0]), Evidence: truncate(ev), Why: r.Why})
			}
		}
	}
	for i, st := range starts {
		end := len(lower)
		if i+1 < len(starts) {
			end = starts[i+1]
		}
		for _, hit := range defaultIndicators.find(lower[st:end]) {
			ind := indicators[hit]
			s.add(Finding{RuleID: ind.rule, Category: ind.category, Severity: ind.severity, File: name, Line: first + i, Evidence: truncate(ind.text), Why: ind.why})
		}
	}
	for _, loc := range urlRE.FindAllStringIndex(text, 200) {
		s.url(name, lineOf(loc[0]), text[loc[0]:loc[1]])
	}
	hasPipe := strings.Contains(text, "|")
	for _, loc := range snippetRE.FindAllStringIndex(text, 50) {
		if !hasPipe {
			break
		}
		s.shell(name, lineOf(loc[0]), text[loc[0]:loc[1]])
	}
	for _, m := range execPyRE.FindAllStringSubmatchIndex(text, 50) {
		if !mayExec(lower) {
			break
		}
		s.exec(name, lineOf(m[0]), path.Base(text[m[2]:m[3]]))
	}
	s.archivePassword(name, first, strings.Split(text, "\n"))
	if s.depth < 2 {
		s.blobs(name, first, text)
	}
}

func mayExec(lower string) bool {
	return strings.Contains(lower, "system(") || strings.Contains(lower, "subprocess") || strings.Contains(lower, "exec") || strings.Contains(lower, "popen")
}

func lineStarts(text string) []int {
	starts := []int{0}
	for i := 0; i < len(text); i++ {
		if text[i] == '\n' {
			starts = append(starts, i+1)
		}
	}
	return starts
}

// script looks at Python and JavaScript: string literals that hold shell
// commands go through the shell analyzer.
var pyShellRE = regexp.MustCompile(`(?:os\.system|os\.popen|subprocess\.\w+|execSync|exec)\(\s*(?:f|r)?["']([^"'\n]{4,})["']`)

func (s *scanner) script(name, text string) {
	if !mayExec(strings.ToLower(text)) {
		return
	}
	for i, line := range strings.Split(text, "\n") {
		for _, m := range pyShellRE.FindAllStringSubmatch(line, 4) {
			s.shell(name, i+1, m[1])
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
	if prog == "" {
		return
	}
	if _, ok := s.execs[prog]; !ok {
		s.execs[prog] = Finding{File: name, Line: line, Evidence: prog}
	}
}

// archivePassword finds a downloaded archive and a password within a few lines.
var (
	archiveRE  = regexp.MustCompile(`(?i)\.(zip|rar|7z)\b`)
	passwordRE = regexp.MustCompile(`(?i)\b(password|passwd|passcode|pw)\b\s*(is\b|[:=(])|\bpass:\s*\S|\bunzip\s+-P\s+\S|\b7z\s+[xe]\s.*-p\S`)
)

func (s *scanner) archivePassword(name string, first int, lines []string) {
	for i, line := range lines {
		if !archiveRE.MatchString(line) {
			continue
		}
		for j := max(0, i-4); j < min(len(lines), i+5); j++ {
			if passwordRE.MatchString(lines[j]) && !strings.Contains(strings.ToLower(lines[j]), "password manager") {
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

func (s *scanner) binary(name string, data []byte) {
	lower := strings.ToLower(name)
	if strings.HasSuffix(lower, ".exe") || strings.HasSuffix(lower, ".dll") || strings.HasSuffix(lower, ".scr") ||
		len(data) > 4 && (string(data[:4]) == "\x7fELF" || string(data[:2]) == "MZ" || string(data[:4]) == "\xcf\xfa\xed\xfe") {
		s.add(Finding{RuleID: "MC050", Category: CatMaliciousCode, Severity: High, File: name, Evidence: "executable binary",
			Why: "the skill ships a native executable that cannot be reviewed as source"})
	}
}
