package sandbox

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"net/url"
	"path"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/openagents/trust/shared/scan"
	"github.com/openagents/trust/shared/trust"
)

// observations is what the sandbox init sends back: raw events, before
// analysis. Payload bytes may hold canary values; they never leave this
// package unredacted.
type observations struct {
	Error    string        `json:"error,omitempty"`
	Entries  []EntryResult `json:"entries"`
	Execs    []Exec        `json:"execs"`
	Net      []netRaw      `json:"net"`
	DNS      []DNSQuery    `json:"dns"`
	HTTP     []httpRaw     `json:"http"`
	Files    []FileEffect  `json:"files"`
	Written  []written     `json:"written"`
	Limits   []LimitHit    `json:"limits"`
	Evasions []string      `json:"evasions"`
	// Dropped counts, per kind (exec, network, file, dns, http,
	// connection), the events past a recording limit: a skill that floods
	// the sandbox must not hide what it does after the flood.
	Dropped map[string]int `json:"dropped,omitempty"`
	Stage2  string         `json:"-"` // the second-stage marker of this run (stage2Marker), set by analyze
}

type netRaw struct {
	NetAttempt
	Data []byte `json:"data"`
}

type httpRaw struct {
	HTTPRequest
	Data []byte `json:"data"`
}

// written is the content (a prefix) of a file written outside the workdir.
type written struct {
	Path string `json:"path"`
	Data []byte `json:"data"`
}

// ranDownloadSeverity weighs download-and-execute by where the content came
// from: critical from a raw address, a paste or file-drop site, or a host a
// skill that declares its network does not declare; high (flag) otherwise —
// from a declared host, or when SKILL.md declares no network at all, as vendor
// installers (curl … | sh) do: code the signature does not cover is always
// worth a reviewer's look.
func ranDownloadSeverity(host string, network []string) scan.Severity {
	h := strings.ToLower(strings.TrimSuffix(host, "."))
	if hh, _, err := net.SplitHostPort(h); err == nil {
		h = hh
	}
	switch {
	case h != "" && (net.ParseIP(strings.Trim(h, "[]")) != nil || hostMatches(h, pasteHosts)):
		return scan.Critical
	case h != "" && hostDeclared(network, h, 0), len(network) == 0:
		return scan.High
	}
	return scan.Critical
}

// credHeaders are the request headers that carry a credential to the
// service it is for.
var credHeaders = map[string]bool{"authorization": true, "proxy-authorization": true, "x-api-key": true, "api-key": true,
	"x-auth-token": true, "x-access-token": true, "private-token": true, "x-goog-api-key": true}

// requestParts splits an HTTP request into its credential headers and the
// rest (request line, other headers, body), each joined by newlines.
func requestParts(raw []byte) (cred, rest []byte) {
	head, body, _ := bytes.Cut(raw, []byte("\r\n\r\n"))
	for i, l := range bytes.Split(head, []byte("\r\n")) {
		if k, _, ok := cutHeader(string(l)); i > 0 && ok && credHeaders[k] {
			cred = append(append(cred, l...), '\n')
			continue
		}
		rest = append(append(rest, l...), '\n')
	}
	return cred, append(rest, body...)
}

// argvParts splits a network tool's argv into the values of its credential
// options (curl and wget -H/--header with a credential header, -u/--user,
// --oauth2-bearer, --http-password, --password) and everything else.
func argvParts(argv []string) (cred, rest []byte) {
	for i, a := range argv {
		prev := ""
		if i > 0 {
			prev = argv[i-1]
		}
		isCred := false
		switch {
		case prev == "-H" || prev == "--header":
			k, _, ok := cutHeader(a)
			isCred = ok && credHeaders[k]
		case strings.HasPrefix(a, "--header="):
			k, _, ok := cutHeader(strings.TrimPrefix(a, "--header="))
			isCred = ok && credHeaders[k]
		case prev == "-u" || prev == "--user" || prev == "--oauth2-bearer" || prev == "--http-password" || prev == "--password":
			isCred = true
		}
		if isCred {
			cred = append(append(cred, a...), '\n')
		} else if a != "-H" && a != "--header" {
			rest = append(append(rest, a...), '\n')
		}
	}
	return cred, rest
}

// redirectOptions are curl and wget options that send a request somewhere
// other than its URL's host, or accept any certificate for it: with one of
// them, a URL naming the credential's service proves nothing.
var redirectOptions = []string{"-k", "--insecure", "--connect-to", "--resolve", "-x", "--proxy", "--preproxy", "-K", "--config",
	"--cacert", "--capath", "--doh-url", "--proxy-insecure", "--unix-socket", "--abstract-unix-socket", "-e", "--execute",
	"--no-check-certificate", "--ca-certificate", "--ca-directory", "--bind-address", "--proxy-user",
	"--socks4", "--socks4a", "--socks5", "--socks5-hostname", "--proxy1.0", "--proxy-cacert", "--proxy-capath",
	"--location-trusted", "--haproxy-protocol"}

// redirects reports whether argv uses a redirectOption (alone, as --opt=v,
// or as a short option with its value or other flags glued on).
func redirects(argv []string) bool {
	for _, a := range argv[1:] {
		for _, o := range redirectOptions {
			if a == o || strings.HasPrefix(a, o+"=") || len(o) == 2 && strings.HasPrefix(a, "-") && !strings.HasPrefix(a, "--") && strings.ContainsRune(a[1:], rune(o[1])) {
				return true
			}
		}
	}
	return false
}

// shellPorts are ports remote shells and C2 channels favour; the common
// services among the sinkhole's ports (ssh, mail, web alternatives) are not.
var shellPorts = map[int]bool{1337: true, 2222: true, 3333: true, 4443: true, 4444: true, 4445: true, 5555: true,
	6666: true, 6667: true, 7777: true, 9001: true, 9999: true, 12345: true, 13337: true, 31337: true}

// shells are the programs a reverse shell runs on its socket: shells and
// interpreters that read commands from standard input.
var shells = map[string]bool{"sh": true, "bash": true, "dash": true, "zsh": true, "ksh": true, "mksh": true, "fish": true, "ash": true, "busybox": true,
	"python": true, "python3": true, "python2": true, "perl": true, "ruby": true, "php": true, "node": true, "lua": true, "tclsh": true, "pwsh": true}

// argvURLs finds the URLs in a network tool's argv.
var argvURLs = regexp.MustCompile(`(?i)\b[a-z][a-z0-9+.-]*://[^\s"'<>]+`)

// networkTools are programs whose argv goes over the network.
var networkTools = map[string]bool{
	"curl": true, "wget": true, "nc": true, "ncat": true, "netcat": true, "socat": true, "ssh": true, "scp": true,
	"sftp": true, "ftp": true, "telnet": true, "nslookup": true, "dig": true, "host": true, "ping": true,
	"openssl": true, "rsync": true, "aria2c": true, "httpie": true, "http": true, "xh": true,
}

// baseline are programs an agent's shell runs for anything; executing them is
// not a finding. Interpreters used to start entries are added per run.
var baseline = map[string]bool{
	"bash": true, "sh": true, "dash": true, "env": true, "ls": true, "cat": true, "echo": true, "printf": true,
	"grep": true, "egrep": true, "fgrep": true, "sed": true, "awk": true, "mawk": true, "gawk": true, "head": true,
	"tail": true, "wc": true, "sort": true, "uniq": true, "cut": true, "tr": true, "tee": true, "mkdir": true,
	"cp": true, "mv": true, "rm": true, "touch": true, "date": true, "basename": true, "dirname": true,
	"test": true, "[": true, "true": true, "false": true, "sleep": true, "pwd": true, "find": true, "xargs": true,
	"which": true, "readlink": true, "realpath": true, "uname": true, "id": true, "whoami": true, "stat": true,
	"seq": true, "expr": true, "jq": true, "diff": true, "python3": true, "node": true, "python3.11": true,
	"ln": true, "rmdir": true, "mktemp": true, "tput": true, "locale": true, "file": true,
}

// owners are the programs that read a canary file as their own configuration.
var owners = map[string][]string{
	".npmrc":           {"node", "npm"},
	".aws/credentials": {"aws"},
	".git-credentials": {"git", "git-credential-store"},
	".ssh/id_ed25519":  {"ssh", "scp", "sftp", "git"},
	// .clawdbot, .openclaw and .claude belong to the agent itself, which does
	// not run inside the sandbox: no program there owns them.
	".config/gh/hosts.yml": {"gh"},
	".docker/config.json":  {"docker"},
	".kube/config":         {"kubectl", "helm"},
	".netrc":               {"curl", "git", "git-remote-http", "git-remote-https", "ftp"},
}

// weakOwners read a canary file as a matter of course but are also what a
// thief would use: their read is recorded at low severity, not excused.
// requests (and pip, which vendors it) reads ~/.netrc before every request
// that carries no credentials of its own.
var weakOwners = map[string][]string{".netrc": {"python*"}}

// ownRead reports whether f is a canary file read by the program that owns it.
func ownRead(f FileEffect) bool { return readBy(owners, f) }

// readBy reports whether f's program is one of the readers of its file in
// m (an entry ending in * is a prefix: python* is python3.11 too).
func readBy(m map[string][]string, f FileEffect) bool {
	for _, p := range m[strings.TrimPrefix(f.Path, HomeDir+"/")] {
		if f.Prog == p || strings.HasSuffix(p, "*") && strings.HasPrefix(f.Prog, strings.TrimSuffix(p, "*")) {
			return true
		}
	}
	return false
}

// persistence are home paths whose modification survives the session.
var persistence = []string{".bashrc", ".bash_profile", ".profile", ".zshrc", ".zprofile", ".bash_login",
	".bash_aliases", ".bash_logout", ".zshenv", ".zlogin", ".zlogout", ".config/fish",
	".ssh/authorized_keys", ".ssh/config", ".ssh/rc", ".ssh/environment", ".config/autostart", ".config/systemd", "Library/LaunchAgents",
	".local/share/systemd", ".gitconfig", ".config/git", ".npmrc", ".yarnrc", ".yarnrc.yml", ".pypirc", ".config/pip", ".pip",
	".curlrc", ".wgetrc", ".cron", ".xinitrc", ".vimrc", ".config/nvim", ".config/environment.d", ".local/bin",
	// The agent's own configuration: settings (hooks), skills, commands,
	// sub-agents, memory and MCP servers all run or steer later sessions.
	".claude/settings.json", ".claude/settings.local.json", ".claude/skills", ".claude/commands", ".claude/agents",
	".claude/hooks", ".claude/CLAUDE.md", ".claude.json", ".mcp.json", ".openclaw/skills", ".clawdbot/skills"}

// persistent reports whether a write to p survives the session and runs or
// redirects later work: a persistence file in this home or any other
// (/root, /home/*, /Users/*), cron and systemd, or Python's start-up hooks.
func persistent(p string) bool {
	if strings.HasPrefix(p, "/etc/cron") || strings.HasPrefix(p, "/etc/systemd") || strings.HasPrefix(p, "/etc/profile") ||
		strings.HasPrefix(p, "/var/spool/cron") || strings.HasPrefix(p, "/etc/init.d") || strings.HasPrefix(p, "/etc/rc.local") {
		return true
	}
	if b := path.Base(p); b == "sitecustomize.py" || b == "usercustomize.py" ||
		strings.HasSuffix(p, ".pth") && strings.Contains(p, "-packages/") {
		return true
	}
	rel, ok := "", false
	switch {
	case strings.HasPrefix(p, HomeDir+"/"):
		rel, ok = strings.TrimPrefix(p, HomeDir+"/"), true
	case strings.HasPrefix(p, "/root/"):
		rel, ok = strings.TrimPrefix(p, "/root/"), true
	case strings.HasPrefix(p, "/home/"), strings.HasPrefix(p, "/Users/"):
		parts := strings.SplitN(p, "/", 4) // "", home, user, rest
		if len(parts) == 4 {
			rel, ok = parts[3], true
		}
	}
	if !ok {
		return false
	}
	for _, q := range persistence {
		if rel == q || strings.HasPrefix(rel, q+"/") {
			return true
		}
	}
	return false
}

// systemRoots are the top-level directories where even a failed write
// (ENOENT: the directory is missing in the sandbox, not on a real host) is an
// attempt on the system.
var systemRoots = []string{"/etc", "/root", "/home", "/var", "/usr", "/opt", "/lib", "/lib64", "/bin", "/sbin", "/boot",
	"/srv", "/Library", "/Users", "/System", "/Applications", "/private"}

func underSystemRoot(p string) bool {
	for _, r := range systemRoots {
		if p == r || strings.HasPrefix(p, r+"/") {
			return true
		}
	}
	return false
}

// inWorkdir reports whether p is a place a skill may write freely.
func inWorkdir(p string) bool {
	p = path.Clean(p)
	for _, d := range []string{WorkDir, TmpDir, "/var/tmp", HomeDir + "/.cache", HomeDir + "/.npm", HomeDir + "/.node-gyp",
		HomeDir + "/.yarn", "/dev/shm", "/proc/self", "/dev/fd"} {
		if p == d || strings.HasPrefix(p, d+"/") {
			return true
		}
	}
	switch p {
	case "/dev/null", "/dev/zero", "/dev/tty", "/dev/stdout", "/dev/stderr", "/dev/stdin", "/dev/full":
		return true
	}
	return false
}

// analyze turns observations into a report: evidence redacted, canary leaks
// found, findings and the verdict.
func analyze(r *Report, obs *observations, cs []Canary, perms *trust.Permissions, interps []string, hostSev scan.Severity) {
	m, red := newMatcher(cs), newRedactor(cs)
	leaks := map[string]bool{}
	leak := func(names []string, where, evidence string) {
		for _, n := range names {
			if k := n + "|" + where; !leaks[k] {
				leaks[k] = true
				r.Leaks = append(r.Leaks, Leak{Canary: n, Where: where, Evidence: red.printable([]byte(evidence), 160)})
			}
		}
	}
	canaries := map[string]Canary{}
	for _, c := range cs {
		canaries[c.Name] = c
	}
	uses := map[string]bool{}
	// leakOrUse records the canaries found in a request: one found only in
	// its credential fields (cred) and sent to a service it belongs to (home)
	// is a use; one found anywhere else in it (rest: the URL, other headers,
	// the body) or sent elsewhere is a leak — a key posted into a gist or an
	// S3 object on its own provider's host still leaves.
	leakOrUse := func(cred, rest []string, where, evidence string, home func(Canary) bool) {
		leaked := rest
		for _, n := range cred {
			if slices.Contains(rest, n) {
				continue
			}
			if c, ok := canaries[n]; ok && home(c) {
				if k := n + "|" + where; !uses[k] {
					uses[k] = true
					r.Uses = append(r.Uses, Leak{Canary: n, Where: where, Evidence: red.printable([]byte(evidence), 160)})
				}
				continue
			}
			leaked = append(leaked, n)
		}
		leak(leaked, where, evidence)
	}
	r.Entries = obs.Entries
	for i := range r.Entries {
		r.Entries[i].Output = red.text([]byte(r.Entries[i].Output), 4000)
		for j, a := range r.Entries[i].Argv {
			r.Entries[i].Argv[j] = red.text([]byte(a), 4000)
		}
	}
	// A network tool's argv is judged after the requests the sinkhole saw:
	// its config files and environment (CURL_HOME, .curlrc, https_proxy) are
	// invisible here, so a credential in it is a use only when the request
	// itself reached the credential's service as one (see the HTTP loop).
	var argvChecks []func()
	for _, e := range obs.Execs {
		joined := strings.Join(e.Argv, " ")
		if networkTools[path.Base(e.Path)] || len(e.Argv) > 0 && networkTools[path.Base(e.Argv[0])] {
			urls := argvURLs.FindAllString(joined, -1)
			cred, rest := argvParts(e.Argv)
			redirected := redirects(e.Argv)
			credNames, restNames, ev := m.find(cred), m.find(rest), path.Base(e.Path)+" "+joined
			argvChecks = append(argvChecks, func() {
				leakOrUse(credNames, restNames, "argv", ev, func(c Canary) bool {
					if redirected || !uses[c.Name+"|http"] {
						return false
					}
					for _, u := range urls {
						if p, err := url.Parse(u); err != nil || p.Scheme != "https" || !c.home(p.Host) {
							return false
						}
					}
					return len(urls) > 0
				})
			})
		}
		e.Path = red.printable([]byte(e.Path), 300)
		for i := range e.Argv {
			e.Argv[i] = red.printable([]byte(e.Argv[i]), 200)
		}
		r.Execs = append(r.Execs, e)
	}
	dnsSeen := map[string]bool{}
	addDNS := func(q DNSQuery) {
		leak(m.findDNS(q.Name), "dns", q.Name)
		q.Name, q.Via = red.printable([]byte(q.Name), 255), red.printable([]byte(q.Via), 64)
		if k := q.Name + "|" + q.Type + "|" + q.Via; !dnsSeen[k] {
			dnsSeen[k] = true
			r.DNS = append(r.DNS, q)
		}
	}
	for _, q := range obs.DNS {
		addDNS(q)
	}
	for _, n := range obs.Net {
		a := n.NetAttempt
		a.Addr = red.printable([]byte(a.Addr), 120)
		if len(n.Data) > 0 {
			names, w := m.match(n.Data, 60)
			leak(names, "network", fmt.Sprintf("%s %s:%d %s", a.Op, a.Addr, a.Port, w))
			if a.Port == 53 && a.Addr != Sinkhole {
				if name, qt, _, err := parseDNSQuery(n.Data); err == nil {
					addDNS(DNSQuery{Name: name, Type: dnsTypeName(qt), Via: a.Addr})
				}
			}
			a.Preview = red.printable(n.Data, 120)
		}
		r.Network = append(r.Network, a)
	}
	for _, h := range obs.HTTP {
		req := h.HTTPRequest
		req.Raw = h.Data
		parseHTTP(&req)
		names, w := m.match(h.Data, 60)
		cred, rest := requestParts(h.Data)
		credNames, restNames := m.find(cred), m.find(rest)
		for _, n := range names { // found only across the split: a leak
			if !slices.Contains(credNames, n) && !slices.Contains(restNames, n) {
				restNames = append(restNames, n)
			}
		}
		leakOrUse(credNames, restNames, "http", req.Line+" Host: "+req.Host+" … "+string(w), func(c Canary) bool {
			// Over TLS only, with the name whose address the client
			// connected to, the name it asked the TLS server for and the
			// Host it sent all the credential's own service.
			return h.TLS && c.home(h.Dest) && c.home(h.SNI) && c.home(req.Host)
		})
		if h.SNI != "" {
			leak(m.findDNS(h.SNI), "http", "TLS server name "+h.SNI)
		}
		req.Line, req.Host, req.SNI, req.Dest = red.printable([]byte(req.Line), 300), red.printable([]byte(req.Host), 255),
			red.printable([]byte(req.SNI), 255), red.printable([]byte(req.Dest), 255)
		for i := range req.Headers {
			req.Headers[i] = red.printable([]byte(req.Headers[i]), 300)
		}
		if _, body, ok := strings.Cut(string(h.Data), "\r\n\r\n"); ok && body != "" {
			req.Body = red.printable([]byte(body), 300)
		}
		req.Raw = nil // the report keeps the redacted fields only
		r.HTTP = append(r.HTTP, req)
	}
	for _, check := range argvChecks {
		check()
	}
	for _, w := range obs.Written {
		if names, win := m.match(w.Data, 60); len(names) > 0 {
			leak(names, "file", w.Path+": "+string(win))
		}
	}
	for _, f := range obs.Files {
		leak(m.find([]byte(f.Path+" "+f.To)), "file", f.Op+" "+f.Path+" "+f.To)
		f.Path, f.To = red.printable([]byte(f.Path), 300), red.printable([]byte(f.To), 300)
		r.Files = append(r.Files, f)
	}
	r.Limits = obs.Limits
	obs.Stage2 = stage2Marker(cs)
	findings(r, obs, cs, perms, interps, hostSev)
	nonNil(&r.Entries)
	nonNil(&r.Execs)
	nonNil(&r.Network)
	nonNil(&r.DNS)
	nonNil(&r.HTTP)
	nonNil(&r.Files)
	nonNil(&r.Leaks)
	nonNil(&r.Limits)
}

// nonNil makes a nil list encode as [] rather than null.
func nonNil[T any](s *[]T) {
	if *s == nil {
		*s = []T{}
	}
}

// pasteHosts are paste and anonymous file-drop sites: second stages live there.
var pasteHosts = []string{"glot.io", "pastebin.com", "paste.ee", "hastebin.com", "ghostbin.com", "rentry.co",
	"rentry.org", "transfer.sh", "file.io", "0x0.st", "temp.sh", "anonfiles.com", "gofile.io", "catbox.moe",
	"controlc.com", "justpaste.it", "dpaste.org", "paste.rs", "termbin.com", "ix.io", "sprunge.us",
	"webhook.site", "requestbin.com", "pipedream.net", "ngrok.io", "ngrok-free.app", "trycloudflare.com"}

func hostMatches(host string, list []string) bool {
	for _, h := range list {
		if host == h || strings.HasSuffix(host, "."+h) {
			return true
		}
	}
	return false
}

// firstPID is the PID of an entry's main process: its first exec.
func firstPID(r *Report, entry int) int {
	for _, e := range r.Execs {
		if e.Entry == entry {
			return e.PID
		}
	}
	return -1
}

// hostDeclared reports whether host (a DNS name or an IP, lowercased) with
// port (0 when unknown) is in the declared network list.
func hostDeclared(network []string, host string, port int) bool {
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	for _, a := range network {
		a = strings.ToLower(a)
		h, p := a, ""
		if sh, sp, err := net.SplitHostPort(a); err == nil {
			h, p = sh, sp
		}
		h = strings.Trim(h, "[]")
		if p != "" && port != 0 && p != fmt.Sprint(port) {
			continue
		}
		if h == "*" || h == host || strings.HasPrefix(h, "*.") && strings.HasSuffix(host, h[1:]) {
			return true
		}
	}
	return false
}

func isLoopback(addr string) bool {
	if addr == "localhost" || strings.HasSuffix(addr, ".localhost") {
		return true
	}
	ip := net.ParseIP(addr)
	return ip != nil && (ip.IsLoopback() || ip.IsUnspecified())
}

// Rule IDs of the findings a detonation produces.
const (
	RuleCanaryLeak     = "DY001"
	RuleUndeclaredHost = "DY002"
	RuleCanaryRead     = "DY003"
	RuleUndeclaredExec = "DY004"
	RuleWriteOutside   = "DY005"
	RulePersistence    = "DY006"
	RuleProcessLimit   = "DY007"
	RuleTimeLimit      = "DY008"
	RuleEvasion        = "DY009"
	RuleMemoryLimit    = "DY010"
	RuleDropHost       = "DY011"
	RuleRanDownload    = "DY012"
	RuleCloudMetadata  = "DY013" // the cloud instance metadata service: the machine's own credentials
	RuleReverseShell   = "DY014" // a shell or interpreter with its standard streams on a TCP socket
	RuleShellPort      = "DY015" // a looked-up remote host reached on a shell or C2 port
	RuleFlood          = "DY016" // events past the sandbox's recording limits
)

// metadataIPs and metadataNames are the cloud instance metadata services:
// AWS, GCP, Azure, Oracle and DigitalOcean (169.254.169.254), AWS over IPv6,
// ECS task credentials (169.254.170.2) and Alibaba Cloud (100.100.100.200).
var (
	metadataIPs   = []net.IP{net.ParseIP("169.254.169.254"), net.ParseIP("fd00:ec2::254"), net.ParseIP("169.254.170.2"), net.ParseIP("100.100.100.200")}
	metadataNames = []string{"metadata.google.internal", "metadata", "instance-data", "instance-data.ec2.internal"}
)

// sharedSpace is RFC 6598's carrier-grade NAT range, where Tailscale and
// other overlay networks number their hosts: private, not a raw public IP.
var sharedSpace = &net.IPNet{IP: net.IPv4(100, 64, 0, 0), Mask: net.CIDRMask(10, 32)}

// isMetadata reports whether host (lowercased, without port or brackets) is a
// cloud instance metadata service.
func isMetadata(host string) bool {
	if ip := net.ParseIP(host); ip != nil {
		return slices.ContainsFunc(metadataIPs, ip.Equal)
	}
	return slices.Contains(metadataNames, host)
}

func findings(r *Report, obs *observations, cs []Canary, perms *trust.Permissions, interps []string, hostSev scan.Severity) {
	if hostSev == "" {
		hostSev = scan.Critical
	}
	var fs []scan.Finding
	add := func(id, cat string, sev scan.Severity, file, evidence, why string) {
		if len(evidence) > 200 {
			evidence = evidence[:200] + "…"
		}
		fs = append(fs, scan.Finding{RuleID: id, Category: cat, Severity: sev, File: file, Evidence: evidence, Why: why})
	}
	entryName := func(i int) string {
		if i >= 0 && i < len(r.Entries) {
			return r.Entries[i].Name
		}
		return ""
	}
	var declared trust.Permissions
	if perms != nil {
		declared = *perms
	}
	// Most real skills declare no permissions at all: an undeclared host or
	// program weighs fully only against a SKILL.md that declares that kind of
	// permission (as the static scanner's undeclared-use rules do); otherwise it
	// is recorded at low severity. Raw-IP and paste-site hosts (DY011), canary
	// leaks and file effects weigh the same either way.
	execSev := scan.High
	if len(declared.Network) == 0 {
		hostSev = scan.Low
	}
	if len(declared.Exec) == 0 {
		execSev = scan.Low
	}
	for _, l := range r.Leaks {
		add(RuleCanaryLeak, scan.CatCredentials, scan.Critical, "", l.Where+": "+l.Evidence,
			"canary credential "+l.Canary+" left the process ("+l.Where+"): the skill exfiltrates secrets")
	}
	hosts, metadata := map[string]bool{}, map[string]bool{}
	host := func(h string, port int, file, evidence string) {
		h = strings.ToLower(strings.TrimSuffix(h, "."))
		if hh, _, err := net.SplitHostPort(h); err == nil {
			h = hh
		}
		h = strings.Trim(h, "[]")
		// Before the declared hosts: no declaration excuses it (an agent skill
		// never needs the machine's own cloud credentials).
		if isMetadata(h) {
			if !metadata[h] {
				metadata[h] = true
				add(RuleCloudMetadata, scan.CatCredentials, scan.Critical, file, h+" ("+evidence+")",
					"connection to the cloud instance metadata service ("+h+"), where the machine's own cloud credentials are served: credential theft")
			}
			return
		}
		if h == "" || isLoopback(h) || hostDeclared(declared.Network, h, port) || hosts[h] {
			return
		}
		hosts[h] = true
		why := "network connection to " + h + ", which SKILL.md does not declare in permissions.network"
		if ip := net.ParseIP(h); ip != nil && !ip.IsPrivate() && !ip.IsLinkLocalUnicast() && !sharedSpace.Contains(ip) {
			add(RuleDropHost, scan.CatDownloads, scan.Critical, file, evidence, why+"; a raw public IP address, as droppers use")
		} else if hostMatches(h, pasteHosts) {
			add(RuleDropHost, scan.CatDownloads, scan.Critical, file, evidence, why+"; a paste, file-drop or request-capture site")
		} else {
			add(RuleUndeclaredHost, scan.CatMaliciousCode, hostSev, file, evidence, why)
		}
	}
	for _, kind := range slices.Sorted(maps.Keys(obs.Dropped)) {
		n := obs.Dropped[kind]
		if n <= 0 {
			continue
		}
		sev := scan.Low
		if kind == "network" || kind == "dns" || kind == "http" || kind == "connection" {
			sev = scan.High // what was sent after the flood was not seen
		}
		add(RuleFlood, scan.CatMaliciousCode, sev, "", fmt.Sprintf("%d %s events past the recording limit", n, kind),
			"the skill made more "+kind+" events than the sandbox records: what it did after them was not seen")
	}
	shellPortSeen := false
	for _, n := range r.Network {
		if n.Op == "connect" || n.Op == "sendto" || n.Op == "sendmsg" {
			ip := net.ParseIP(n.Addr)
			if ip != nil {
				host(n.Addr, n.Port, entryName(n.Entry), fmt.Sprintf("%s %s:%d (%s)", n.Op, n.Addr, n.Port, n.Errno))
			}
			// A sinkhole address other than 127.0.0.1 is a name the skill
			// looked up: a remote host, reached on a shell or C2 port.
			if n.Op == "connect" && ip != nil && ip.IsLoopback() && !ip.Equal(net.IPv4(127, 0, 0, 1)) && shellPorts[n.Port] && !shellPortSeen {
				shellPortSeen = true
				add(RuleShellPort, scan.CatMaliciousCode, scan.High, entryName(n.Entry), fmt.Sprintf("connect to a looked-up host on port %d", n.Port),
					"connection to a remote host on a port reverse shells and C2 channels use (a relayed shell — nc, socat, a FIFO — keeps the shell itself off the socket)")
			}
		}
	}
	for _, q := range r.DNS {
		if q.Type == "PTR" {
			continue
		}
		host(q.Name, 0, "", "DNS "+q.Type+" "+q.Name)
	}
	for _, h := range r.HTTP {
		host(h.Host, 0, "", h.Line+" Host: "+h.Host)
	}
	canaryReads := map[string]bool{}
	outside := map[string]bool{}
	for _, f := range r.Files {
		file := entryName(f.Entry)
		if f.Op == "read-canary" {
			if !canaryReads[f.Path] && !ownRead(f) {
				canaryReads[f.Path] = true
				sev := scan.High
				if readBy(weakOwners, f) {
					sev = scan.Low
				}
				add(RuleCanaryRead, scan.CatCredentials, sev, file, f.Path,
					"opened a credential file planted in the sandbox home")
			}
			continue
		}
		if outside[f.Op+f.Path] {
			continue
		}
		outside[f.Op+f.Path] = true
		isPersist := persistent(f.Path) || f.To != "" && persistent(f.To)
		ev := f.Op + " " + f.Path
		if f.To != "" {
			ev += " -> " + f.To
		}
		if f.Errno != "" {
			ev += " (" + f.Errno + ")"
		}
		if isPersist {
			add(RulePersistence, scan.CatSystemServices, scan.High, file, ev,
				"modifies a shell startup, SSH or service file: persistence outside the skill")
		} else if f.Errno == "ENOENT" && !underSystemRoot(f.Path) {
			// Nothing was written and the directory does not exist: a
			// placeholder path from the documentation (/path/to/out.mp3).
			add(RuleWriteOutside, scan.CatSystemServices, scan.Low, file, ev,
				"file operation outside the workdir that failed: the directory does not exist")
		} else if _, canary := canaryPath(cs, f.Path); strings.HasPrefix(f.Path, HomeDir+"/") && !canary {
			// A tool's own configuration in the home (~/.config/<app>/…) is
			// what setup instructions write; the home's risky files are the
			// persistence ones (DY006) and the credentials (canary files).
			add(RuleWriteOutside, scan.CatSystemServices, scan.Low, file, ev,
				"file operation in the home, outside the workdir, /tmp and the cache")
		} else {
			add(RuleWriteOutside, scan.CatSystemServices, scan.High, file, ev,
				"file operation outside the workdir, /tmp and the cache")
		}
	}
	allowedExec := map[string]bool{}
	for _, p := range interps {
		allowedExec[p] = true
	}
	for _, e := range declared.Exec {
		allowedExec[e] = true
		allowedExec[path.Base(e)] = true
	}
	for _, e := range r.Execs {
		if prog := path.Base(e.Path); len(e.TCPStdio) >= 2 && slices.Contains(e.TCPStdio, 0) && shells[prog] && e.Errno == "" {
			add(RuleReverseShell, scan.CatMaliciousCode, scan.Critical, entryName(e.Entry), fmt.Sprintf("%s with standard streams %v on a TCP socket", strings.Join(e.Argv, " "), e.TCPStdio),
				"a shell or interpreter ran with its input and output on a network connection: a reverse shell hands the machine to whoever is at the other end")
			break
		}
	}
	stageHost := map[string]string{}
	for _, h := range r.HTTP {
		if h.Stage != "" {
			stageHost[h.Stage] = h.Host
		}
	}
ran:
	for _, e := range r.Execs {
		for _, a := range e.Argv {
			if obs.Stage2 == "" || a != obs.Stage2 && !strings.HasPrefix(a, obs.Stage2+"-") {
				continue
			}
			host := stageHost[a]
			sev, from := ranDownloadSeverity(host, declared.Network), host
			if from == "" {
				from = "an unrecorded request"
			}
			add(RuleRanDownload, scan.CatDownloads, sev, entryName(e.Entry), "ran the sinkhole's second stage, fetched from "+from,
				"the skill executed content it downloaded from "+from+" (the sandbox's stand-in second stage ran): download-and-execute, as droppers do")
			break ran
		}
	}
	execs := map[string]bool{}
	for _, e := range r.Execs {
		b := path.Base(e.Path)
		if e.Errno != "" || baseline[b] || allowedExec[b] || allowedExec[e.Path] || execs[b] ||
			e.Entry < len(r.Entries) && r.Entries[e.Entry].Kind == KindLink && e.PID == firstPID(r, e.Entry) {
			continue
		}
		execs[b] = true
		add(RuleUndeclaredExec, scan.CatMaliciousCode, execSev, entryName(e.Entry), strings.Join(e.Argv, " "),
			"program "+b+" ran but SKILL.md does not declare it in permissions.exec")
	}
	limits := map[string]bool{}
	for _, l := range r.Limits {
		if limits[l.Limit] {
			continue
		}
		limits[l.Limit] = true
		switch l.Limit {
		case "nproc":
			add(RuleProcessLimit, scan.CatMaliciousCode, scan.High, entryName(l.Entry), "process limit reached",
				"the skill forks until the process limit stops it (fork bomb)")
		case "memory":
			add(RuleMemoryLimit, scan.CatMaliciousCode, scan.Info, entryName(l.Entry), "an allocation failed at the memory limit",
				"an allocation hit the sandbox's address-space limit (runtimes such as node probe for large reservations)")
		default:
			add(RuleTimeLimit, scan.CatMaliciousCode, scan.Low, entryName(l.Entry), l.Limit+" limit reached",
				"the skill ran until the sandbox's "+l.Limit+" limit stopped it")
		}
	}
	for _, e := range obs.Evasions {
		add(RuleEvasion, scan.CatMaliciousCode, scan.Critical, "", e, "the process used a system call ABI the tracer does not follow; the sandbox killed it")
	}
	sort.SliceStable(fs, func(i, j int) bool { return fs[i].Severity.Points() > fs[j].Severity.Points() })
	if fs == nil {
		fs = []scan.Finding{}
	}
	r.Findings = fs
	r.Verdict = verdict(fs)
}

// Verdict decides from findings the way Detonate does (see verdict).
func Verdict(fs []scan.Finding) scan.Decision { return verdict(fs) }

// verdict: any critical finding (a canary leak, an undeclared host, the cloud
// metadata service, an evasion) rejects; any high finding (undeclared exec,
// writes outside the workdir, a canary file read, a fork bomb) flags; anything
// else approves.
func verdict(fs []scan.Finding) scan.Decision {
	d := scan.Approve
	for _, f := range fs {
		switch f.Severity {
		case scan.Critical:
			return scan.Reject
		case scan.High:
			d = scan.Flag
		}
	}
	return d
}

// jsonEncode writes r as indented JSON.
func jsonEncode(w io.Writer, r *Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}
