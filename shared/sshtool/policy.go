package sshtool

import (
	"fmt"
	"path"
	"strings"

	"mvdan.cc/sh/v3/syntax"

	"github.com/openagents/trust/shared/trust"
)

// Policy checking. A command is parsed as Bash (mvdan.cc/sh/v3) and every
// simple command anywhere in it is checked: in lists and pipelines,
// subshells and blocks, $(…) and backticks, process substitution, function
// bodies, conditions and loops, redirect targets — and the strings that
// eval, trap, `sh -c` and friends would run, parsed again. The wrappers that
// run another command (env, sudo, timeout, xargs, find -exec, …) are checked
// themselves and so is the command they wrap.
//
// Fail closed: anything the checker cannot see through is refused — a
// command name that is not a plain word ($cmd, $(…), globs, braces), a
// string for eval or sh -c that is not literal, variable assignments, output
// redirected to a file, a parse error, nesting deeper than maxDepth.

// maxDepth bounds how deeply eval / sh -c strings may nest.
const maxDepth = 4

// Refusal is a policy decision against a command. Its message names the
// rule and the command word that broke it, never anything secret.
type Refusal struct {
	Reason string
}

func (r *Refusal) Error() string { return r.Reason }

// refuse returns a Refusal.
func refuse(format string, args ...any) *Refusal {
	return &Refusal{Reason: fmt.Sprintf(format, args...)}
}

// shells run their -c argument as a script.
var shells = map[string]bool{
	"sh": true, "bash": true, "dash": true, "zsh": true, "ksh": true, "mksh": true,
	"ash": true, "busybox": true, "fish": true, "csh": true, "tcsh": true,
}

// wrappers run the command that follows their options (and, for some, one
// operand first: timeout's duration, chroot's directory).
var wrappers = map[string]int{
	"env": 0, "sudo": 0, "doas": 0, "nohup": 0, "nice": 0, "ionice": 0, "stdbuf": 0,
	"time": 0, "command": 0, "builtin": 0, "exec": 0, "xargs": 0, "setsid": 0,
	"chrt": 1, "taskset": 1, "timeout": 1, "chroot": 1, "flock": 1, "unshare": 0,
	"nsenter": 0, "runuser": 0, "strace": 0, "ltrace": 0, "script": 0, "watch": 0,
}

// stringRunners run an argument as a shell string, whatever its position.
var stringRunners = map[string]bool{"eval": true, "trap": true, "su": true, "watch": true, "script": true}

// Check reports whether policy allows command, as a *Refusal when it does
// not. An empty allowlist allows nothing.
func Check(p trust.SSHPolicy, command string) error {
	if strings.TrimSpace(command) == "" {
		return refuse("empty command")
	} else if len(command) > trust.MaxSSHCommand {
		return refuse("command longer than %d bytes", trust.MaxSSHCommand)
	} else if strings.ContainsRune(command, 0) {
		return refuse("command contains a NUL byte")
	} else if len(p.Allow) == 0 {
		return refuse("no command is allowed: the allowlist is empty")
	}
	c := checker{allow: entries(p.Allow), deny: entries(p.Deny)}
	return c.script(command, 0)
}

// entry is a policy entry split into words.
type entry []string

func entries(list []string) []entry {
	out := make([]entry, 0, len(list))
	for _, e := range list {
		if f := strings.Fields(e); len(f) > 0 {
			out = append(out, f)
		}
	}
	return out
}

// matches reports whether argv starts with the entry's words. The command
// name is compared by base name for the denylist (so /bin/rm is rm); for the
// allowlist an entry with a path must be the exact path, and an entry
// without one matches a bare name or a path in a system directory — never
// ./ls or /tmp/x/ls. A word that is not literal ($x) matches any entry word
// for the denylist, so `rm $flags` is refused by a deny entry "rm -rf", and
// none for the allowlist.
func (e entry) matches(argv []string, deny bool) bool {
	if len(argv) < len(e) {
		return false
	}
	name, want := argv[0], e[0]
	switch {
	case deny:
		if path.Base(name) != path.Base(want) {
			return false
		}
	case strings.Contains(want, "/"):
		if path.Clean(name) != path.Clean(want) {
			return false
		}
	case strings.Contains(name, "/"):
		if path.Base(name) != want || !systemDirs[path.Dir(path.Clean(name))] {
			return false
		}
	case name != want:
		return false
	}
	for i := 1; i < len(e); i++ {
		if argv[i] != e[i] && !(deny && argv[i] == dynamicWord) {
			return false
		}
	}
	return true
}

// dynamicWord stands for a word that is not literal; Check refuses NUL in
// commands, so no literal word can equal it.
const dynamicWord = "\x00dynamic"

// systemDirs are where an allowed command name may be given with a path.
var systemDirs = map[string]bool{
	"/bin": true, "/usr/bin": true, "/usr/local/bin": true, "/sbin": true, "/usr/sbin": true, "/usr/local/sbin": true,
}

type checker struct {
	allow, deny []entry
}

// script parses and checks a shell string.
func (c *checker) script(src string, depth int) error {
	if depth > maxDepth {
		return refuse("commands nested too deeply")
	}
	f, err := syntax.NewParser(syntax.Variant(syntax.LangBash)).Parse(strings.NewReader(src), "")
	if err != nil {
		return refuse("command does not parse as a shell command")
	}
	var out error
	syntax.Walk(f, func(n syntax.Node) bool {
		if out != nil {
			return false
		}
		out = c.node(n, depth)
		return out == nil
	})
	return out
}

// node checks one syntax node; Walk visits the nodes inside it afterwards.
func (c *checker) node(n syntax.Node, depth int) error {
	switch n := n.(type) {
	case *syntax.CallExpr:
		if len(n.Assigns) > 0 {
			return refuse("variable assignments are not allowed")
		}
		if len(n.Args) == 0 {
			return nil
		}
		return c.call(n.Args, depth)
	case *syntax.DeclClause:
		return c.argv([]string{n.Variant.Value}, depth)
	case *syntax.LetClause:
		return c.argv([]string{"let"}, depth)
	case *syntax.Redirect:
		switch n.Op {
		case syntax.RdrOut, syntax.AppOut, syntax.RdrClob, syntax.AppClob, syntax.RdrAll,
			syntax.RdrAllClob, syntax.AppAll, syntax.AppAllClob, syntax.RdrInOut:
			if w, ok := literal(n.Word); !ok || w != "/dev/null" {
				return refuse("output redirected to a file")
			}
		case syntax.DplOut, syntax.DplIn:
			if w, ok := literal(n.Word); !ok || strings.Trim(w, "0123456789-") != "" {
				return refuse("redirect to a file descriptor that is not a number")
			}
		}
	case *syntax.BraceExp, *syntax.ExtGlob:
		return refuse("brace expansion and extended globs are not allowed")
	case *syntax.CoprocClause:
		return refuse("coprocesses are not allowed")
	}
	return nil
}

// call checks a simple command from its words.
func (c *checker) call(args []*syntax.Word, depth int) error {
	argv := make([]string, len(args))
	for i, w := range args {
		s, ok := literal(w)
		if i == 0 && !ok {
			return refuse("command name is not a plain word")
		}
		if !ok {
			s = dynamicWord
		}
		argv[i] = s
	}
	return c.argv(argv, depth)
}

// argv checks a command line, then what it runs in turn.
func (c *checker) argv(argv []string, depth int) error {
	name := argv[0]
	if name == "" || strings.ContainsAny(name, "*?[]{}~=\x00") {
		return refuse("command name %q is not a plain word", clip(name))
	}
	for _, e := range c.deny {
		if e.matches(argv, true) {
			return refuse("command %q is denied", clip(strings.Join(e, " ")))
		}
	}
	allowed := false
	for _, e := range c.allow {
		if e.matches(argv, false) {
			allowed = true
			break
		}
	}
	if !allowed {
		return refuse("command %q is not in the allowlist", clip(name))
	}
	name = path.Base(name)
	// What the command runs in turn.
	switch {
	case name == "eval":
		return c.literalScript(strings.Join(argv[1:], " "), depth)
	case shells[name]:
		return c.shell(argv, depth)
	case stringRunners[name]:
		return c.flagScript(argv, depth)
	case name == "find":
		return c.find(argv, depth)
	}
	if skip, ok := wrappers[name]; ok {
		return c.wrappedBy(name, argv[1:], skip, depth)
	}
	return nil
}

// literalScript checks a shell string the command would run.
func (c *checker) literalScript(s string, depth int) error {
	if strings.Contains(s, dynamicWord) {
		return refuse("a string run as a command is not literal")
	}
	return c.script(s, depth+1)
}

// shell checks `sh -c STRING`; a shell reading a script file or its input is
// refused, since nothing here can see the script.
func (c *checker) shell(argv []string, depth int) error {
	for i := 1; i < len(argv); i++ {
		a := argv[i]
		if strings.HasPrefix(a, "-") && !strings.HasPrefix(a, "--") && strings.Contains(a, "c") {
			if i+1 >= len(argv) {
				return refuse("%s -c without a command", argv[0])
			}
			return c.literalScript(argv[i+1], depth)
		}
		if !strings.HasPrefix(a, "-") && !strings.HasPrefix(a, "+") {
			break
		}
	}
	return refuse("%s runs a script this check cannot see: use %s -c", argv[0], argv[0])
}

// flagScript checks every argument of a command that runs one of them as a
// shell string (trap, su -c, watch): each is checked as a script, so nothing
// the command might run escapes.
func (c *checker) flagScript(argv []string, depth int) error {
	for _, a := range argv[1:] {
		if strings.HasPrefix(a, "-") {
			// A bare flag ("-c", "-l", "-") leaves its value, if any, as the
			// next word, which is checked. A flag carrying text ("-c'rm …'",
			// "-qc…", "--command=…") could hide a command: refused.
			if len(a) > 2 || strings.Contains(a, "=") {
				return refuse("%s option %q is not allowed: give the command as a separate word", path.Base(argv[0]), clip(a))
			}
			continue
		}
		if err := c.literalScript(a, depth); err != nil {
			return err
		}
	}
	return nil
}

// find checks the commands of -exec, -execdir, -ok and -okdir, and refuses
// -delete and -fprint (they write without a command).
func (c *checker) find(argv []string, depth int) error {
	for i := 1; i < len(argv); i++ {
		switch argv[i] {
		case "-delete", "-fprint", "-fprint0", "-fprintf", "-fls":
			return refuse("find %s is not allowed", argv[i])
		case "-exec", "-execdir", "-ok", "-okdir":
			j := i + 1
			for j < len(argv) && argv[j] != ";" && argv[j] != "+" {
				j++
			}
			if j == i+1 {
				return refuse("find %s without a command", argv[i])
			}
			if err := c.argv(argv[i+1:j], depth); err != nil {
				return err
			}
			i = j
		}
	}
	return nil
}

// wrapperFlags are the options, per wrapper, that take no argument. Any
// other option is refused: one that takes a value ("env -u NAME", "sudo -p
// PROMPT", "xargs -I STR", "exec -a NAME") would make the check read the
// wrong word as the command, and some carry a command themselves ("env -S",
// "flock -c").
var wrapperFlags = map[string]map[string]bool{
	"env":     {"-i": true, "--ignore-environment": true, "-0": true, "--null": true},
	"sudo":    {"-n": true, "--non-interactive": true, "-E": true, "-H": true, "-S": true, "-k": true},
	"doas":    {"-n": true},
	"time":    {"-p": true},
	"xargs":   {"-0": true, "--null": true, "-r": true, "--no-run-if-empty": true, "-t": true, "--verbose": true, "-x": true},
	"setsid":  {"-f": true, "-w": true, "--fork": true, "--wait": true},
	"timeout": {"--foreground": true, "--preserve-status": true, "-v": true, "--verbose": true},
	"command": {"-p": true},
	"strace":  {"-f": true, "-q": true},
	"ltrace":  {"-f": true},
}

// wrappedBy checks the command the named wrapper runs: after its options
// (each checked against wrapperFlags), any NAME=value assignments (env), and
// skip operands.
func (c *checker) wrappedBy(name string, rest []string, skip, depth int) error {
	i := 0
	for i < len(rest) && (strings.HasPrefix(rest[i], "-") || strings.HasPrefix(rest[i], "+")) {
		if rest[i] == "--" {
			i++
			break
		}
		if !wrapperFlags[name][rest[i]] {
			return refuse("%s option %q is not allowed here: only options without a value may precede the wrapped command", name, clip(rest[i]))
		}
		i++
	}
	if i < len(rest) && strings.Contains(rest[i], "=") && !strings.HasPrefix(rest[i], "=") {
		return refuse("environment assignments are not allowed")
	}
	i += skip
	if i >= len(rest) {
		return nil // the wrapper alone (xargs with no command runs echo)
	}
	if strings.Contains(rest[i], dynamicWord) {
		return refuse("wrapped command name is not a plain word")
	}
	return c.argv(rest[i:], depth)
}

// literal returns the value of a word made only of literal text and quotes,
// with quotes and backslashes removed; ok is false for a word with any
// expansion.
func literal(w *syntax.Word) (string, bool) {
	if w == nil {
		return "", false
	}
	var b strings.Builder
	for _, p := range w.Parts {
		switch p := p.(type) {
		case *syntax.Lit:
			b.WriteString(unescape(p.Value))
		case *syntax.SglQuoted:
			if p.Dollar {
				return "", false // $'…' escapes: not worth decoding, refuse
			}
			b.WriteString(p.Value)
		case *syntax.DblQuoted:
			if p.Dollar {
				return "", false
			}
			for _, q := range p.Parts {
				lit, ok := q.(*syntax.Lit)
				if !ok {
					return "", false
				}
				b.WriteString(strings.ReplaceAll(lit.Value, `\`, ""))
			}
		default:
			return "", false
		}
	}
	return b.String(), true
}

// unescape removes the backslashes of an unquoted literal.
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
			if s[i] == '\n' {
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// clip shortens a word for a message.
func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}
