package guard

import (
	"encoding/json"
	"errors"
	"io/fs"
	"net/netip"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/openagents/trust/shared/trust"
)

// ToolCall is one tool call a model asks for: its call ID, the tool's name and
// its JSON arguments.
type ToolCall struct {
	ID   string          `json:"id"`
	Name string          `json:"name"`
	Args json.RawMessage `json:"args"`
}

// ToolSpec tells the guard how to read a tool's calls and results. Without a
// spec the guard still checks a call: it treats any string argument holding
// "://" and any argument named like a URL or host as a network destination,
// arguments named like a path as filesystem paths, and a tool whose name
// says it changes files (write, edit, create, delete…) as writing them.
type ToolSpec struct {
	// URLArgs names the arguments holding URLs or host[:port] values.
	URLArgs []string `json:"url_args,omitempty"`
	// PathArgs names the arguments holding filesystem paths.
	PathArgs []string `json:"path_args,omitempty"`
	// Writes says the tool writes (creates, changes or deletes) its paths.
	Writes bool `json:"writes,omitempty"`
	// CommandArg names the argument holding a command line, matched against
	// argument patterns such as Bash(git log:*). Default "command".
	CommandArg string `json:"command_arg,omitempty"`
	// Exec says the tool runs its command line: the program (its first
	// word) must then be declared in the skill's exec permissions, and the
	// line may not chain or redirect commands.
	Exec bool `json:"exec,omitempty"`
	// ResultSchema is the JSON Schema the tool's results must match; empty
	// means results are not schema-checked.
	ResultSchema json.RawMessage `json:"result_schema,omitempty"`
}

// Policy enforces a skill's signed permissions on tool calls. Declared tools
// may be called; a URL or host in the arguments must be declared in
// Network; a path must be declared in Filesystem.Read (or Write) for reading
// and in Filesystem.Write for writing. Anything else is refused, fail closed.
type Policy struct {
	Permissions trust.Permissions
	// SkillDir is what relative declared paths ("./data") are relative to.
	SkillDir string
	// WorkDir is what relative paths in calls are relative to; default SkillDir.
	WorkDir string
	// Home replaces a leading "~" in declared and requested paths.
	Home string
	// Specs describes tools by name.
	Specs map[string]ToolSpec
	// ResolveSymlinks checks paths a second time after resolving the symlinks
	// that exist on this machine, so a link inside an allowed folder cannot
	// lead outside it.
	ResolveSymlinks bool
}

// Check reports whether call is allowed: nil, or an EFORBIDDEN error whose
// message is the reason (naming the tool and the undeclared host or path,
// never argument values such as query strings), or EINVALID for arguments
// that are not a JSON object.
func (p *Policy) Check(call ToolCall) error {
	spec := p.Specs[call.Name]
	patterns, declared := p.toolPatterns(call.Name)
	if !declared {
		return trust.Errorf(trust.EFORBIDDEN, "tool %q is not declared in the skill's permissions", call.Name)
	}
	var args map[string]any
	if len(call.Args) > 0 {
		dec := json.NewDecoder(strings.NewReader(string(call.Args)))
		dec.UseNumber()
		if err := dec.Decode(&args); err != nil || dec.More() {
			return trust.Errorf(trust.EINVALID, "tool %q: arguments are not a JSON object", call.Name)
		}
	}
	if len(patterns) > 0 {
		if err := p.checkCommand(call.Name, spec, patterns, args); err != nil {
			return err
		}
	}
	if spec.Exec {
		if err := p.checkExec(call.Name, spec, args); err != nil {
			return err
		}
	}
	urls, paths := collectTargets(args, spec)
	for _, u := range urls {
		if err := p.checkHost(call.Name, u); err != nil {
			return err
		}
	}
	writes := spec.Writes || (spec.PathArgs == nil && writesByName(call.Name))
	for _, fp := range paths {
		if err := p.checkPath(call.Name, fp, writes); err != nil {
			return err
		}
	}
	return nil
}

// toolPatterns returns the argument patterns declared for tool ("git log:*"
// for "Bash(git log:*)"), nil when the bare name is declared (any
// arguments), and whether the tool is declared at all.
func (p *Policy) toolPatterns(tool string) ([]string, bool) {
	var pats []string
	declared := false
	for _, e := range p.Permissions.Tools {
		e = strings.TrimSpace(e)
		name, pat, hasPat := strings.Cut(e, "(")
		if name != tool {
			continue
		}
		declared = true
		if !hasPat {
			return nil, true
		}
		pats = append(pats, strings.TrimSuffix(pat, ")"))
	}
	return pats, declared
}

// shellControl are the characters that chain or redirect commands: a
// command line holding one could run more than its pattern allows.
const shellControl = ";&|`$<>\n\r()"

func (p *Policy) checkCommand(tool string, spec ToolSpec, patterns []string, args map[string]any) error {
	key := spec.CommandArg
	if key == "" {
		key = "command"
	}
	cmd, ok := args[key].(string)
	if !ok {
		return trust.Errorf(trust.EFORBIDDEN, "tool %q is declared only for some arguments, and the call has no %q string", tool, key)
	}
	cmd = strings.TrimSpace(cmd)
	if strings.ContainsAny(cmd, shellControl) {
		return trust.Errorf(trust.EFORBIDDEN, "tool %q: command chains or redirects (shell control characters), which its declared patterns do not allow", tool)
	}
	for _, pat := range patterns {
		if prefix, ok := strings.CutSuffix(pat, ":*"); ok {
			if cmd == prefix || strings.HasPrefix(cmd, prefix+" ") {
				return nil
			}
		} else if globMatch(pat, cmd) {
			return nil
		}
	}
	return trust.Errorf(trust.EFORBIDDEN, "tool %q: command %q matches none of the declared patterns", tool, firstWord(cmd))
}

// checkExec allows a command line whose program is declared in exec: a bare
// name ("curl") matches only the same bare name, an absolute path
// ("/usr/bin/curl") only that path.
func (p *Policy) checkExec(tool string, spec ToolSpec, args map[string]any) error {
	key := spec.CommandArg
	if key == "" {
		key = "command"
	}
	cmd, ok := args[key].(string)
	fields := strings.Fields(cmd)
	if !ok || len(fields) == 0 {
		return trust.Errorf(trust.EFORBIDDEN, "tool %q runs programs, and the call has no %q command", tool, key)
	}
	if strings.ContainsAny(cmd, shellControl) {
		return trust.Errorf(trust.EFORBIDDEN, "tool %q: command chains or redirects (shell control characters)", tool)
	}
	prog := fields[0]
	if strings.Contains(prog, "=") {
		return trust.Errorf(trust.EFORBIDDEN, "tool %q: command starts with an environment assignment", tool)
	}
	if strings.Contains(prog, "/") {
		prog = path.Clean(prog)
	}
	for _, e := range p.Permissions.Exec {
		if strings.TrimSpace(e) == prog {
			return nil
		}
	}
	return trust.Errorf(trust.EFORBIDDEN, "tool %q: program %q is not declared in the skill's exec permissions", tool, clip(prog, 100))
}

func firstWord(s string) string {
	if i := strings.IndexAny(s, " \t"); i >= 0 {
		return s[:i] + " …"
	}
	return clip(s, 64)
}

// globMatch matches s against a pattern where * is any run of characters
// (slashes included) and every other character is literal.
func globMatch(pat, s string) bool {
	parts := strings.Split(pat, "*")
	if len(parts) == 1 {
		return pat == s
	}
	if !strings.HasPrefix(s, parts[0]) {
		return false
	}
	s = s[len(parts[0]):]
	for _, part := range parts[1 : len(parts)-1] {
		i := strings.Index(s, part)
		if i < 0 {
			return false
		}
		s = s[i+len(part):]
	}
	return strings.HasSuffix(s, parts[len(parts)-1])
}

var (
	urlArgNames  = map[string]bool{"url": true, "uri": true, "urls": true, "href": true, "link": true, "endpoint": true, "host": true, "hostname": true, "domain": true, "server": true, "base_url": true, "webhook": true, "webhook_url": true}
	pathArgNames = map[string]bool{"path": true, "paths": true, "file": true, "files": true, "file_path": true, "filepath": true, "filename": true, "dir": true, "directory": true, "folder": true, "cwd": true, "source": true, "src": true, "destination": true, "dest": true, "dst": true, "target": true, "notebook_path": true, "old_path": true, "new_path": true}
	writeWords   = []string{"write", "edit", "create", "delete", "remove", "move", "rename", "append", "save", "mkdir", "put", "upload", "replace", "patch", "touch", "chmod"}
)

func writesByName(tool string) bool {
	lower := strings.ToLower(tool)
	for _, w := range writeWords {
		if strings.Contains(lower, w) {
			return true
		}
	}
	return false
}

// collectTargets walks the arguments and returns the network destinations
// and filesystem paths they name.
func collectTargets(args map[string]any, spec ToolSpec) (urls, paths []string) {
	isURLArg := func(k string) bool {
		if spec.URLArgs != nil {
			return contains(spec.URLArgs, k)
		}
		return urlArgNames[strings.ToLower(k)]
	}
	isPathArg := func(k string) bool {
		if spec.PathArgs != nil {
			return contains(spec.PathArgs, k)
		}
		return pathArgNames[strings.ToLower(k)]
	}
	var walk func(key string, v any)
	walk = func(key string, v any) {
		switch v := v.(type) {
		case string:
			switch {
			case isURLArg(key):
				urls = append(urls, v)
			case isPathArg(key):
				if u, err := url.Parse(v); err == nil && u.Scheme == "file" {
					paths = append(paths, u.Path)
				} else {
					paths = append(paths, v)
				}
			case strings.Contains(v, "://"):
				// Free text or a command line: check every URL in it.
				for _, tok := range urlInText.FindAllString(v, -1) {
					if u, err := url.Parse(tok); err == nil && strings.EqualFold(u.Scheme, "file") {
						paths = append(paths, u.Path)
					} else {
						urls = append(urls, tok)
					}
				}
			}
		case []any:
			for _, e := range v {
				walk(key, e)
			}
		case map[string]any:
			for k, e := range v {
				walk(k, e)
			}
		}
	}
	for k, v := range args {
		walk(k, v)
	}
	return urls, paths
}

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}

// urlInText finds URLs in free text: a scheme, "://", then everything up to
// white space or a quote or angle bracket.
var urlInText = regexp.MustCompile(`[A-Za-z][A-Za-z0-9+.-]*://[^\s"'<>]*`)

var defaultPorts = map[string]string{"http": "80", "https": "443", "ws": "80", "wss": "443"}

// checkHost allows a URL or host[:port] only if a declared network entry
// matches its host and port. An entry without a port allows only the
// scheme's default port (80 or 443); any other port must be declared.
func (p *Policy) checkHost(tool, raw string) error {
	raw = strings.TrimSpace(raw)
	var u *url.URL
	var err error
	if strings.Contains(raw, "://") || strings.HasPrefix(raw, "//") {
		u, err = url.Parse(raw)
	} else {
		u, err = url.Parse("//" + raw)
	}
	if err != nil || u.Host == "" || strings.ContainsAny(raw, "\\\x00") {
		return trust.Errorf(trust.EFORBIDDEN, "tool %q: a network argument is not a URL or host the guard can check", tool)
	}
	host := canonicalHost(u.Hostname())
	port := u.Port()
	scheme := strings.ToLower(u.Scheme)
	if port == "" {
		port = defaultPorts[scheme]
	}
	shown := host
	if u.Port() != "" {
		shown += ":" + u.Port()
	}
	for _, e := range p.Permissions.Network {
		eh, ep := splitHostPort(e)
		if !hostMatches(eh, host) {
			continue
		}
		if ep != "" && ep == port {
			return nil
		}
		if ep == "" && (port == "" || port == defaultPorts[scheme] || (scheme == "" && (port == "80" || port == "443"))) {
			return nil
		}
	}
	return trust.Errorf(trust.EFORBIDDEN, "tool %q: host %s is not declared in the skill's network permissions", tool, clip(shown, 100))
}

// canonicalHost lowercases a host, drops a trailing dot and writes IP
// addresses in their canonical form.
func canonicalHost(h string) string {
	h = strings.TrimSuffix(strings.ToLower(h), ".")
	if a, err := netip.ParseAddr(strings.Trim(h, "[]")); err == nil {
		return a.Unmap().String()
	}
	return h
}

// splitHostPort splits a declared network entry ("api.github.com",
// "*.example.com:8443", "[2001:db8::1]:443", "10.0.0.1") into host and port.
func splitHostPort(e string) (host, port string) {
	e = strings.TrimSpace(e)
	if strings.HasPrefix(e, "[") {
		if i := strings.Index(e, "]"); i > 0 {
			host, rest := e[1:i], e[i+1:]
			return canonicalHost(host), strings.TrimPrefix(rest, ":")
		}
	}
	if strings.Count(e, ":") == 1 {
		h, pt, _ := strings.Cut(e, ":")
		if _, err := strconv.Atoi(pt); err == nil {
			return canonicalHost(h), pt
		}
	}
	return canonicalHost(e), ""
}

func hostMatches(entry, host string) bool {
	if suffix, ok := strings.CutPrefix(entry, "*."); ok {
		return strings.HasSuffix(host, "."+suffix)
	}
	return entry == host
}

// checkPath allows a path only if a declared filesystem entry covers it
// after normalization (and, with ResolveSymlinks, after resolving links).
func (p *Policy) checkPath(tool, raw string, write bool) error {
	kind, list := "read", append(append([]string(nil), p.Permissions.Filesystem.Read...), p.Permissions.Filesystem.Write...)
	if write {
		kind, list = "write", p.Permissions.Filesystem.Write
	}
	if raw == "" || strings.ContainsAny(raw, "\x00\n\r") {
		return trust.Errorf(trust.EFORBIDDEN, "tool %q: a path argument is empty or holds control characters", tool)
	}
	work := p.WorkDir
	if work == "" {
		work = p.SkillDir
	}
	req := p.absPath(raw, work)
	candidates := []string{req}
	if p.ResolveSymlinks {
		resolved, err := resolveExisting(req)
		if err != nil {
			return trust.Errorf(trust.EFORBIDDEN, "tool %q: path %q cannot be resolved safely", tool, clip(req, 200))
		}
		candidates = append(candidates, resolved)
	}
	for _, c := range candidates {
		if !p.pathDeclared(c, list) {
			return trust.Errorf(trust.EFORBIDDEN, "tool %q: path %q is not declared for %s in the skill's filesystem permissions", tool, clip(c, 200), kind)
		}
	}
	return nil
}

func (p *Policy) pathDeclared(req string, list []string) bool {
	for _, e := range list {
		decl := p.absPath(e, p.SkillDir)
		if p.ResolveSymlinks && !strings.ContainsAny(decl, "*?[") {
			if r, err := resolveExisting(decl); err == nil {
				if coveredBy(r, req) {
					return true
				}
			}
		}
		if coveredBy(decl, req) {
			return true
		}
	}
	return false
}

// absPath expands "~", makes p absolute against base and cleans it, so
// "/allowed/../etc" is "/etc".
func (p *Policy) absPath(s, base string) string {
	s = strings.TrimSpace(s)
	if s == "~" || strings.HasPrefix(s, "~/") {
		s = path.Join(p.homeDir(), s[1:])
	}
	if !path.IsAbs(s) {
		b := base
		if b == "" {
			b = "/nonexistent-workdir"
		}
		s = path.Join(b, s)
	}
	return path.Clean(s)
}

func (p *Policy) homeDir() string {
	if p.Home != "" {
		return p.Home
	}
	return "/nonexistent-home"
}

// coveredBy reports whether req is decl or below it, or matches decl as a
// glob pattern (* and ? within one path segment, ** across segments).
func coveredBy(decl, req string) bool {
	if strings.ContainsAny(decl, "*?[") {
		return globPath(strings.Split(decl, "/"), strings.Split(req, "/"))
	}
	return req == decl || decl == "/" || strings.HasPrefix(req, decl+"/")
}

func globPath(pat, segs []string) bool {
	for len(pat) > 0 {
		if pat[0] == "**" {
			for i := 0; i <= len(segs); i++ {
				if globPath(pat[1:], segs[i:]) {
					return true
				}
			}
			return false
		}
		if len(segs) == 0 {
			return false
		}
		if ok, err := path.Match(pat[0], segs[0]); err != nil || !ok {
			return false
		}
		pat, segs = pat[1:], segs[1:]
	}
	return len(segs) == 0
}

// resolveExisting resolves the symlinks of the longest existing ancestor of
// p and appends the rest, so a path that does not exist yet still resolves
// through the links above it.
func resolveExisting(p string) (string, error) {
	rest := ""
	cur := p
	for {
		r, err := filepath.EvalSymlinks(cur)
		if err == nil {
			return path.Clean(path.Join(filepath.ToSlash(r), rest)), nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return "", err
		}
		if _, lerr := os.Lstat(cur); lerr == nil {
			return "", err // exists but dangling or looping: refuse
		}
		parent := path.Dir(cur)
		if parent == cur {
			return path.Clean(p), nil
		}
		rest = path.Join(path.Base(cur), rest)
		cur = parent
	}
}

// clip shortens s to at most n bytes (on a rune boundary) for messages.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xc0 == 0x80 {
		n--
	}
	return s[:n] + "…"
}
