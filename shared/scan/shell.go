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
	sh := &shellWalk{s: s, name: name, first: first, tainted: map[string]bool{}}
	syntax.Walk(f, sh.visit)
}

type shellWalk struct {
	s          *scanner
	name       string
	first      int
	downloaded bool
	tainted    map[string]bool // variables holding credential material
}

func (w *shellWalk) line(p syntax.Pos) int { return w.first + int(p.Line()) - 1 }

func (w *shellWalk) visit(n syntax.Node) bool {
	switch n := n.(type) {
	case *syntax.BinaryCmd:
		if n.Op == syntax.Pipe || n.Op == syntax.PipeAll {
			w.pipeline(n)
		}
	case *syntax.CallExpr:
		w.assigns(n)
		w.call(n)
	case *syntax.ForClause:
		if it, ok := n.Loop.(*syntax.WordIter); ok {
			for _, x := range it.Items {
				if w.carries(wordString(x)) {
					w.tainted[it.Name.Value] = true
				}
			}
		}
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
				for _, u := range urlRE().FindAllString(a, -1) {
					downloadURLs = append(downloadURLs, u)
				}
			}
		}
		if isDecode(args) {
			decode = true
		}
	}
	w.pipeFlow(b, sts)
}

// pipeFlow finds credential material read in one stage of a pipeline and
// sent over the network by a later one.
func (w *shellWalk) pipeFlow(b *syntax.BinaryCmd, sts []*syntax.Stmt) {
	cred := false
	for _, st := range sts {
		args := callArgs(st)
		if cred && len(args) > 0 && netPrograms[args[0]] {
			w.exfil(w.line(b.Pos()), truncate(printNode(b)))
			return
		}
		if w.carries(stageText(st, args)) {
			cred = true
		}
	}
}

// stageText is the text of one pipeline stage for the credential check: its
// words and redirections for a simple command (cheap), the printed node for
// anything else (a loop, a subshell).
func stageText(st *syntax.Stmt, args []string) string {
	if _, ok := st.Cmd.(*syntax.CallExpr); !ok {
		return printNode(st)
	}
	t := strings.Join(args, " ")
	for _, r := range st.Redirs {
		t += " " + wordString(r.Word)
	}
	return t
}

// netPrograms send data over the network.
var netPrograms = map[string]bool{"curl": true, "wget": true, "nc": true, "ncat": true, "netcat": true, "socat": true, "scp": true,
	"rsync": true, "ftp": true, "sftp": true, "telnet": true, "dig": true, "nslookup": true, "host": true, "drill": true, "openssl": true,
	"http": true, "https": true, "xh": true}

var dnsPrograms = map[string]bool{"dig": true, "nslookup": true, "host": true, "drill": true, "resolvectl": true}

// credMaterial names credential stores, key files and the home directory
// as an archive source, as they appear in shell text (lowercased).
var (
	credWords = []string{".ssh/", "~/.ssh", "$home/.ssh", "id_rsa", "id_ed25519", "id_ecdsa", ".aws/credentials", ".aws/", ".azure/",
		"gcloud/", "application_default_credentials", ".kube/config", ".docker/config.json", ".netrc", ".git-credentials", ".gnupg",
		"*.pem", "*.key", "*.p12", "*.pfx", "keychain", "login data", "/cookies", "wallet.dat", "exodus/", "electrum/", "/etc/shadow", "169.254.169.254", ".env"}
	pubKeyRE      = lazyRE(`[^\s"'=@]*\.pub\b`)
	homeArchiveRE = lazyRE(`\b(tar|zip|7z|rsync)\b[^|;]*\s(~|~/|\$home|\$home/|\$\{home\}/?)(\s|$|\))`)
)

// carries reports whether shell text reads credential material or uses a
// variable that holds some.
func (w *shellWalk) carries(text string) bool {
	l := strings.ToLower(text)
	if strings.Contains(l, ".pub") {
		l = pubKeyRE().ReplaceAllString(l, "") // public keys are meant to be shared
	}
	for _, c := range credWords {
		if strings.Contains(l, c) {
			return true
		}
	}
	if homeArchiveRE().MatchString(l) {
		return true
	}
	for v := range w.tainted {
		if strings.Contains(text, "$"+v) {
			return true
		}
	}
	return false
}

// assigns taints variables assigned from credential material.
func (w *shellWalk) assigns(c *syntax.CallExpr) {
	for _, a := range c.Assigns {
		if a.Name != nil && a.Value != nil && w.carries(wordString(a.Value)) {
			w.tainted[a.Name.Value] = true
		}
	}
}

// payloadArgs drops the values of options that name the caller's own key or
// certificate (ssh -i, curl --cert…) or carry its credential to the service
// that issued it (curl -H "Authorization: …", -u): using a key is not
// sending it away.
func payloadArgs(args []string) []string {
	var out []string
	for i := 0; i < len(args); i++ {
		switch a := args[i]; {
		case a == "-i" || a == "-e" || a == "-E" || a == "--key" || a == "--cert" || a == "--cacert" || a == "--identity-file" || a == "-o" ||
			a == "-H" || a == "--header" || a == "-u" || a == "--user" || a == "--oauth2-bearer":
			i++
		case strings.HasPrefix(a, "--key=") || strings.HasPrefix(a, "--cert=") || strings.HasPrefix(a, "--cacert=") || strings.HasPrefix(a, "-i"):
		default:
			out = append(out, a)
		}
	}
	return out
}

func (w *shellWalk) exfil(line int, ev string) {
	w.s.add(Finding{RuleID: "SH010", Category: CatCredentials, Severity: Critical, File: w.name, Line: line, Evidence: ev,
		Why: "credential material (keys, credential files, the home directory, cloud metadata) flows into a network command: exfiltration"})
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
		for _, u := range urlRE().FindAllString(a, -1) {
			w.s.url(w.name, ln, u)
		}
	}
	if w.s.inScript && prog != "" && !strings.ContainsAny(prog, "$=") {
		f := Finding{File: w.name, Line: ln, Evidence: ev}
		if w.s.facts.exec == nil {
			w.s.facts.exec = &f
		}
		if netPrograms[prog] && w.s.facts.network == nil && remoteURL(strings.Join(args[1:], " ")) {
			w.s.facts.network = &f
		}
	}
	if netPrograms[prog] && w.carries(strings.Join(payloadArgs(args[1:]), " ")) {
		w.exfil(ln, ev)
	}
	if dnsPrograms[prog] {
		for _, a := range args[1:] {
			if i := strings.IndexByte(a, '$'); i >= 0 && strings.Contains(a[i:], ".") && !strings.HasPrefix(a, "@") {
				w.s.add(Finding{RuleID: "SH011", Category: CatCredentials, Severity: High, File: w.name, Line: ln, Evidence: ev,
					Why: "a DNS lookup of a name built from a variable: data leaves in the query name (DNS exfiltration passes firewalls)"})
			}
		}
	}
	switch {
	case downloaders[prog]:
		w.downloaded = true
	case interpreters[prog]:
		joined := strings.Join(args[1:], " ")
		if (strings.Contains(joined, "curl ") || strings.Contains(joined, "wget ")) && (strings.Contains(joined, "$(") || strings.Contains(joined, "<(")) {
			w.downloadToShell(ln, ev, urlRE().FindAllString(joined, -1))
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
