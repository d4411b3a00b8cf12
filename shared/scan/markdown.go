package scan

import (
	"strings"
	"unicode/utf8"
)

var shellLangs = map[string]bool{"": true, "sh": true, "bash": true, "shell": true, "zsh": true, "console": true,
	"shell-session": true, "terminal": true, "text": true, "powershell": true, "ps1": true}

// markdown extracts fenced code blocks (shell ones go to the shell analyzer)
// and hidden HTML comments.
func (s *scanner) markdown(name, text string) {
	lines := strings.Split(text, "\n")
	inFence, fence, lang, start := false, "", "", 0
	var block []string
	for i, line := range lines {
		t := strings.TrimSpace(line)
		if !inFence {
			if strings.HasPrefix(t, "```") || strings.HasPrefix(t, "~~~") {
				inFence, fence, start, block = true, t[:3], i+2, block[:0]
				lang = strings.ToLower(strings.TrimSpace(strings.Trim(t, "`~")))
				if j := strings.IndexAny(lang, " {"); j >= 0 {
					lang = lang[:j]
				}
			}
			continue
		}
		if strings.HasPrefix(t, fence) && strings.Trim(t, fence[:1]) == "" {
			inFence = false
			if shellLangs[lang] {
				s.shell(name, start, consoleStrip(block))
			} else if lang == "python" || lang == "py" {
				s.script(name, start, newDoc(strings.Join(block, "\n")), false, true)
			} else if lang == "javascript" || lang == "js" || lang == "typescript" || lang == "ts" {
				s.script(name, start, newDoc(strings.Join(block, "\n")), true, true)
			}
			continue
		}
		block = append(block, line)
	}
	s.comments(name, text)
	s.sendSecrets(name, lines)
}

var (
	sendToURLRE = lazyRE(`(?i)\b(post|send|sent|upload|submit|forward|transmit)(ed|s|ting)?\b.{0,60}\bto\s+https?://`)
	// "send a POST request to https://api…" is API documentation, not an
	// instruction to ship data away.
	apiRequestRE = lazyRE(`(?i)\b(a|an|the|your)\s+(\w+\s+)?requests?\s+to\s+https?://`)
	credNounRE   = lazyRE(`(?i)\b(api[ _-]?keys?|credentials|passwords?|access tokens?|auth(entication)? tokens?|secrets|environment variables|private keys?|ssh keys?|seed phrases?)\b|~/\.ssh|id_rsa|\.aws/credentials`)
)

// sendSecrets finds prose that tells the agent to send something to a URL
// within a few lines of credential words: exfiltration in natural language.
func (s *scanner) sendSecrets(name string, lines []string) {
	for i, l := range lines {
		if !strings.Contains(l, "://") || !sendToURLRE().MatchString(l) || apiRequestRE().MatchString(l) {
			continue
		}
		for j := max(0, i-8); j < min(len(lines), i+3); j++ {
			if credNounRE().MatchString(lines[j]) {
				s.add(Finding{RuleID: "CR003", Category: CatCredentials, Severity: High, File: name, Line: i + 1, Evidence: truncate(l),
					Why: "instructions send data to a URL next to talk of credentials (API keys, passwords, keys): exfiltration in plain words"})
				return
			}
		}
	}
}

// consoleStrip removes "$ " prompts so console transcripts parse as shell.
func consoleStrip(block []string) string {
	out := make([]string, len(block))
	for i, l := range block {
		t := strings.TrimLeft(l, " \t")
		if strings.HasPrefix(t, "$ ") || strings.HasPrefix(t, "> ") || strings.HasPrefix(t, "% ") {
			l = t[2:]
		}
		out[i] = l
	}
	return strings.Join(out, "\n")
}

var (
	commentRE   = lazyRE(`(?s)<!--(.*?)-->`)
	hiddenAskRE = lazyRE(`(?i)\b(ignore|disregard|override|you must|assistant|system prompt|do not (tell|mention|reveal|inform)|secretly|silently|without (asking|telling)|execute|run the following|curl|wget|exfiltrat|send .* to|api[_ ]?key|password|\.ssh|\.env)\b`)
)

func (s *scanner) comments(name, text string) {
	for _, m := range commentRE().FindAllStringSubmatchIndex(text, 50) {
		body := text[m[2]:m[3]]
		if hiddenAskRE().MatchString(body) {
			s.add(Finding{RuleID: "PI010", Category: CatPromptInjection, Severity: High, File: name,
				Line: 1 + strings.Count(text[:m[0]], "\n"), Evidence: truncate(strings.TrimSpace(body)),
				Why: "hidden HTML comment with instructions or commands: the agent reads it, the user never sees it"})
		}
	}
}

// invisible finds zero-width, bidi-override and Unicode-tag characters.
func (s *scanner) invisible(name, text string) {
	line := 1
	var prev rune
	inFlag := false
	for i, r := range text {
		if r == '\n' {
			line++
		}
		switch {
		case r >= 0xE0000 && r <= 0xE007F:
			// Tag characters are legitimate only inside an emoji flag
			// sequence: U+1F3F4 followed by tags, ended by U+E007F.
			if prev == 0x1F3F4 {
				inFlag = true
			}
			if !inFlag {
				s.add(Finding{RuleID: "PI020", Category: CatPromptInjection, Severity: Critical, File: name, Line: line,
					Evidence: "U+" + hex4(r) + " (Unicode tag characters)", Why: "invisible Unicode tag characters can smuggle ASCII instructions to the model"})
			}
			if r == 0xE007F {
				inFlag = false
			}
		case r == 0x202A || r == 0x202B || r == 0x202D || r == 0x202E || r == 0x2066 || r == 0x2067 || r == 0x2068:
			s.add(Finding{RuleID: "PI021", Category: CatPromptInjection, Severity: High, File: name, Line: line,
				Evidence: "U+" + hex4(r) + " (bidi override)", Why: "bidirectional override characters make text read differently than it runs (Trojan Source)"})
		case r == 0x200B || r == 0x200C || r == 0x2060 || r == 0x180E || (r == 0xFEFF && i > 0):
			s.add(Finding{RuleID: "PI022", Category: CatPromptInjection, Severity: Medium, File: name, Line: line,
				Evidence: "U+" + hex4(r) + " (zero-width)", Why: "zero-width characters hide text or split keywords from reviewers"})
		}
		prev = r
	}
	_ = utf8.RuneError
}

// stripInvisible removes zero-width characters; ok is false when there are none.
func stripInvisible(text string) (string, bool) {
	found := false
	for _, z := range []string{"\u200b", "\u200c", "\u200d", "\u2060", "\u180e", "\ufeff"} {
		if strings.Contains(text, z) {
			found = true
			break
		}
	}
	if !found {
		return text, false
	}
	return strings.Map(func(r rune) rune {
		switch r {
		case 0x200B, 0x200C, 0x200D, 0x2060, 0x180E, 0xFEFF:
			return -1
		}
		return r
	}, text), true
}

func hex4(r rune) string {
	const digits = "0123456789ABCDEF"
	var b []byte
	for v := uint32(r); v > 0 || len(b) < 4; v >>= 4 {
		b = append([]byte{digits[v&15]}, b...)
	}
	return string(b)
}
