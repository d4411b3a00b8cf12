package scan

import (
	"path"
	"strings"

	"mvdan.cc/sh/v3/syntax"
)

var interpreters = map[string]bool{"sh": true, "bash": true, "zsh": true, "dash": true, "ksh": true, "fish": true,
	"python": true, "python3": true, "perl": true, "ruby": true, "node": true, "iex": true, "pwsh": true, "osascript": true}

var downloaders = map[string]bool{"curl": true, "wget": true, "fetch": true, "iwr": true, "invoke-webrequest": true, "irm": true}

// shell parses src as a shell script (first = line of its first line in the
// file) and looks at what the commands do. Unparsable input is left to the
// line rules.
func (s *scanner) shell(name string, first int, src string) {
	if len(src) > 256<<10 {
		return
	}
	f, err := syntax.NewParser(syntax.Variant(syntax.LangBash)).Parse(strings.NewReader(src), name)
	if err != nil {
		return
	}
	sh := &shellWalk{s: s, name: name, first: first}
	syntax.Walk(f, sh.visit)
}

type shellWalk struct {
	s          *scanner
	name       string
	first      int
	downloaded bool
}

func (w *shellWalk) line(p syntax.Pos) int { return w.first + int(p.Line()) - 1 }

func (w *shellWalk) visit(n syntax.Node) bool {
	switch n := n.(type) {
	case *syntax.BinaryCmd:
		if n.Op == syntax.Pipe || n.Op == syntax.PipeAll {
			w.pipeline(n)
		}
	case *syntax.CallExpr:
		w.call(n)
	case *syntax.Redirect:
		if n.Word != nil && (n.Op == syntax.AppOut || n.Op == syntax.RdrOut) {
			target := wordString(n.Word)
			if isPersistencePath(target) {
				w.s.add(Finding{RuleID: "SY001", Category: CatSystemServices, Severity: High, File: w.name, Line: w.line(n.Pos()),
					Evidence: truncate(target), Why: "writes a shell start-up file or service definition: persistence outside the skill"})
			}
		}
	}
	return true
}

// stages flattens a pipeline into its commands.
func stages(st *syntax.Stmt, out []*syntax.Stmt) []*syntax.Stmt {
	if b, ok := st.Cmd.(*syntax.BinaryCmd); ok && (b.Op == syntax.Pipe || b.Op == syntax.PipeAll) {
		return stages(b.Y, stages(b.X, out))
	}
	return append(out, st)
}

// callArgs returns the command's words, past sudo/env/command wrappers.
func callArgs(st *syntax.Stmt) []string {
	c, ok := st.Cmd.(*syntax.CallExpr)
	if !ok {
		return nil
	}
	args := make([]string, 0, len(c.Args))
	for _, a := range c.Args {
		args = append(args, wordString(a))
	}
	for len(args) > 0 {
		switch path.Base(args[0]) {
		case "sudo", "env", "command", "exec", "nohup", "doas":
			args = args[1:]
			for len(args) > 0 && strings.HasPrefix(args[0], "-") {
				args = args[1:]
			}
			continue
		}
		break
	}
	if len(args) > 0 {
		args[0] = strings.ToLower(path.Base(args[0]))
	}
	return args
}

func (w *shellWalk) pipeline(b *syntax.BinaryCmd) {
	sts := stages(&syntax.Stmt{Cmd: b}, nil)
	var downloadURLs []string
	download, decode := false, false
	for i, st := range sts {
		args := callArgs(st)
		if len(args) == 0 {
			continue
		}
		prog := args[0]
		if i > 0 && interpreters[prog] && (download || decode) && !runsFile(args) {
			ln := w.line(b.Pos())
			ev := truncate(printNode(b))
			if decode {
				w.s.add(Finding{RuleID: "SH002", Category: CatMaliciousCode, Severity: Critical, File: w.name, Line: ln, Evidence: ev,
					Why: "decoded data piped to an interpreter: the command that runs is hidden from the reader"})
			}
			if download {
				w.downloadToShell(ln, ev, downloadURLs)
			}
			return
		}
		if downloaders[prog] {
			download = true
			for _, a := range args[1:] {
				for _, u := range urlRE.FindAllString(a, -1) {
					downloadURLs = append(downloadURLs, u)
				}
			}
		}
		if isDecode(args) {
			decode = true
		}
	}
}

// downloadToShell judges a download run by an interpreter by where it comes from.
func (w *shellWalk) downloadToShell(line int, ev string, urls []string) {
	worst := repVendor
	if len(urls) == 0 {
		worst = repUnknown
	}
	for _, u := range urls {
		r := urlReputation(u)
		switch {
		case r == repRawIP || r == repPaste:
			worst = r
		case r == repUnknown && worst != repRawIP && worst != repPaste:
			worst = repUnknown
		case r == repLocal && worst == repVendor:
			worst = repLocal
		}
	}
	f := Finding{RuleID: "SH001", Category: CatDownloads, File: w.name, Line: line, Evidence: ev}
	switch worst {
	case repLocal:
		return
	case repVendor:
		f.Severity, f.Why = Low, "a vendor's official installer piped to a shell (known install host)"
	case repRawIP, repPaste:
		f.Severity, f.Why = Critical, "a script from a raw IP address or paste site piped to a shell: a classic dropper"
	default:
		f.Severity, f.Why = Medium, "a script downloaded from an unvetted host is piped to a shell: it can change after review"
	}
	w.s.add(f)
}

func runsFile(args []string) bool {
	for _, a := range args[1:] {
		if a == "-" || a == "-s" || strings.HasPrefix(a, "-") {
			continue
		}
		return true
	}
	return false
}

func isDecode(args []string) bool {
	switch args[0] {
	case "base64", "base32", "openssl":
		for _, a := range args[1:] {
			if a == "-d" || a == "-D" || a == "--decode" || a == "-decode" {
				return true
			}
		}
	case "xxd":
		for _, a := range args[1:] {
			if a == "-r" || a == "-r -p" || a == "-rp" {
				return true
			}
		}
	}
	return false
}

func (w *shellWalk) call(c *syntax.CallExpr) {
	args := callArgs(&syntax.Stmt{Cmd: c})
	if len(args) == 0 {
		return
	}
	prog := args[0]
	ln := w.line(c.Pos())
	ev := truncate(strings.Join(args, " "))
	if prog != "" && !strings.ContainsAny(prog, "$=") {
		w.s.exec(w.name, ln, prog)
	}
	for _, a := range args[1:] {
		for _, u := range urlRE.FindAllString(a, -1) {
			w.s.url(w.name, ln, u)
		}
	}
	switch {
	case downloaders[prog]:
		w.downloaded = true
	case interpreters[prog]:
		joined := strings.Join(args[1:], " ")
		if (strings.Contains(joined, "curl ") || strings.Contains(joined, "wget ")) && (strings.Contains(joined, "$(") || strings.Contains(joined, "<(")) {
			w.downloadToShell(ln, ev, urlRE.FindAllString(joined, -1))
		}
	case prog == "chmod":
		for _, a := range args[1:] {
			if (a == "+x" || a == "u+x" || a == "a+x" || a == "755" || a == "777" || a == "0755") && w.downloaded {
				w.s.add(Finding{RuleID: "SH003", Category: CatDownloads, Severity: High, File: w.name, Line: ln, Evidence: ev,
					Why: "makes a downloaded file executable: a binary nobody reviewed will run"})
			}
		}
	case prog == "nc" || prog == "ncat" || prog == "netcat":
		for _, a := range args[1:] {
			if a == "-e" || a == "-c" {
				w.s.add(Finding{RuleID: "SH004", Category: CatMaliciousCode, Severity: Critical, File: w.name, Line: ln, Evidence: ev,
					Why: "netcat executing a program: a reverse or bind shell"})
			}
		}
	case prog == "crontab":
		if len(args) > 1 && args[1] != "-l" {
			w.persist(ln, ev)
		}
	case prog == "systemctl":
		if len(args) > 1 && (args[1] == "enable" || args[1] == "daemon-reload" || args[1] == "link") {
			w.persist(ln, ev)
		}
	case prog == "launchctl":
		if len(args) > 1 && (args[1] == "load" || args[1] == "bootstrap" || args[1] == "submit") {
			w.persist(ln, ev)
		}
	case prog == "tee" || prog == "cp" || prog == "mv" || prog == "ln":
		for _, a := range args[1:] {
			if isPersistencePath(a) {
				w.persist(ln, ev)
			}
		}
	}
}

func (w *shellWalk) persist(ln int, ev string) {
	w.s.add(Finding{RuleID: "SY002", Category: CatSystemServices, Severity: High, File: w.name, Line: ln, Evidence: ev,
		Why: "installs a cron job, systemd unit or launchd agent: persistence outside the skill"})
}

func isPersistencePath(p string) bool {
	p = strings.ToLower(p)
	for _, s := range []string{".bashrc", ".zshrc", ".bash_profile", ".profile", ".zprofile", "/launchagents/", "/launchdaemons/",
		"/etc/systemd/", "/.config/systemd/", "/etc/cron", "/etc/rc.local", "/etc/sudoers", "/etc/profile.d/"} {
		if strings.Contains(p, s) {
			return true
		}
	}
	return false
}

// wordString renders a word approximately: literals and quoted text as
// written, expansions as $name or $(…).
func wordString(w *syntax.Word) string {
	if w == nil {
		return ""
	}
	var b strings.Builder
	var parts func([]syntax.WordPart)
	parts = func(ps []syntax.WordPart) {
		for _, p := range ps {
			switch p := p.(type) {
			case *syntax.Lit:
				b.WriteString(p.Value)
			case *syntax.SglQuoted:
				b.WriteString(p.Value)
			case *syntax.DblQuoted:
				parts(p.Parts)
			case *syntax.ParamExp:
				if p.Param != nil {
					b.WriteString("$" + p.Param.Value)
				}
			case *syntax.CmdSubst:
				b.WriteString("$(")
				for _, st := range p.Stmts {
					b.WriteString(printNode(st))
				}
				b.WriteString(")")
			case *syntax.ProcSubst:
				b.WriteString("<(")
				for _, st := range p.Stmts {
					b.WriteString(printNode(st))
				}
				b.WriteString(")")
			}
		}
	}
	parts(w.Parts)
	return b.String()
}

func printNode(n syntax.Node) string {
	var b strings.Builder
	if err := syntax.NewPrinter().Print(&b, n); err != nil {
		return ""
	}
	return b.String()
}
