package sandbox

import (
	"path"
	"strings"
)

// Limits on an invocation taken from text.
const (
	maxInvocationArgs = 16
	maxInvocationArg  = 200
)

// invocation finds, in text, an example of the script being run with
// concrete arguments — "node index.js --latitude 32.08 --longitude 34.78" in
// a usage message or in SKILL.md — and returns those arguments. An agent
// calls a script the way its documentation or its own usage message shows,
// and a script that exits at once for want of arguments hides what it does
// with them. Examples with placeholders (<file>, [options], {x}, …, $VAR) or
// shell syntax are skipped: only literal words are taken, never anything
// the shell would expand. ok is false when there is no such example.
func invocation(script, text string) (args []string, ok bool) {
	name := path.Base(script)
	if name == "." || name == "/" || len(text) == 0 {
		return nil, false
	}
	for off := 0; off < len(text); {
		i := strings.Index(text[off:], name)
		if i < 0 {
			break
		}
		start, end := off+i, off+i+len(name)
		off = end
		// The name must stand alone: preceded by a space, quote, slash (a
		// path to it) or the start, followed by a space.
		if start > 0 && !strings.ContainsRune(" \t\"'`/(", rune(text[start-1])) {
			continue
		}
		if end >= len(text) || (text[end] != ' ' && text[end] != '\t') {
			continue
		}
		line := text[end:]
		if j := strings.IndexAny(line, "\r\n"); j >= 0 {
			line = line[:j]
		}
		if a, ok := literalArgs(line); ok {
			return a, true
		}
	}
	return nil, false
}

// literalArgs splits the rest of an example line into words. A quote glued to
// the end of a word closes the text the example was quoted in (JSON, Markdown
// code) and ends the example; a quoted word keeps its spaces.
func literalArgs(s string) ([]string, bool) {
	var out []string
	for {
		s = strings.TrimLeft(s, " \t")
		if s == "" || s[0] == '#' {
			break
		}
		var w string
		switch q := s[0]; q {
		case '"', '\'':
			j := strings.IndexByte(s[1:], q)
			if j < 0 {
				return finish(out)
			}
			w, s = s[1:1+j], s[2+j:]
			if s != "" && s[0] != ' ' && s[0] != '\t' {
				return finish(out)
			}
		case '`', ')', ',':
			return finish(out)
		default:
			j := strings.IndexAny(s, " \t\"'`),")
			if j < 0 {
				j = len(s)
			}
			w, s = s[:j], s[j:]
			if s != "" && s[0] != ' ' && s[0] != '\t' {
				// glued quote or bracket: the example ends with this word
				out = append(out, w)
				return finish(out)
			}
		}
		out = append(out, w)
	}
	return finish(out)
}

// finish accepts words only when there are some, not too many, and none is
// a placeholder or shell syntax.
func finish(words []string) ([]string, bool) {
	if len(words) == 0 || len(words) > maxInvocationArgs {
		return nil, false
	}
	for _, w := range words {
		if w == "" || len(w) > maxInvocationArg || strings.ContainsAny(w, "<>[]{}|;&$*\\`…\x00") ||
			strings.Contains(w, "...") || strings.EqualFold(w, "options") {
			return nil, false
		}
	}
	return words, true
}

// withArgs returns the script entry run again with the arguments an example
// showed.
func withArgs(e Entry, args []string, from string) Entry {
	argv := append(append([]string{}, e.Argv[:2]...), args...)
	return Entry{Name: e.Name + " (" + from + ")", Kind: e.Kind, Argv: argv}
}
