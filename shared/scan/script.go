package scan

import (
	"strings"
	"sync"
)

// The script analyzer reads Python and JavaScript as code, line by line, with
// a light data flow: which values come from credential material (environment
// variables named like secrets, credential files), and whether such a value,
// or the code's data, reaches a network call, a shell, eval or a SQL string.
// It records what the code does (network, exec, file writes) for the
// skill-level checks in correlate.

var (
	// Enumerating the whole environment.
	envEnumRE = lazyRE(`os\.environ\.(items|keys|values|copy)\(\)|for\s+\w+(\s*,\s*\w+)?\s+in\s+os\.environ\b|dict\(\s*os\.environ\s*\)|\*\*os\.environ\b|Object\.(keys|entries|values)\(\s*process\.env\s*\)|JSON\.stringify\(\s*process\.env\b|\.\.\.process\.env\b|in\s+process\.env\s*\)`)
	// Enumerating the environment with its values (names alone are no harvest).
	envValuesRE = lazyRE(`os\.environ\.(items|values|copy)\(\)|dict\(\s*os\.environ\s*\)|\*\*os\.environ\b|Object\.(entries|values)\(\s*process\.env\s*\)|JSON\.stringify\(\s*process\.env\b|\.\.\.process\.env\b|process\.env\[\s*\w+\s*\]|os\.environ\[\s*[a-z_]\w*\s*\]`)
	// A string literal naming a kind of secret, as a filter over names.
	secretWordRE = lazyRE(`["'](API_?KEY|KEY|SECRET|TOKEN|PASSWORD|PASSWD|CREDENTIALS?|AUTH|PRIVATE|_KEY|_TOKEN|_SECRET)["']`)
	// A variable assigned from a secret-named environment variable.
	secretEnvRE = lazyRE(`\b(\w+)\s*(?::\s*\w+\s*)?=\s*(?:os\.environ\.get\(|os\.getenv\(|os\.environ\[|process\.env\[)\s*["']([A-Za-z0-9_]*(?:KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL|AUTH)[A-Za-z0-9_]*)["']|\b(?:const|let|var)\s+(\w+)\s*=\s*process\.env\.([A-Za-z0-9_]*(?:KEY|TOKEN|SECRET|PASSWORD|CREDENTIAL)[A-Za-z0-9_]*)`)
	// Credential stores named in code (string literals or expanduser).
	credPathRE = lazyRE(`(?i)["'\x60][^"'\x60\n]*(\.ssh/(id_|authorized_keys)|\.ssh["'\x60]|\.aws/credentials|\.azure/|gcloud/(application_default|credentials)|\.kube/config|\.docker/config\.json|\.netrc|\.git-credentials|\.gnupg|Login Data|Local State|/Cookies|wallet\.dat|Keychains/|login\.keychain|Local Storage/leveldb|/etc/shadow)`)
	// The home directory packed into an archive.
	homeArchiveCodeRE = lazyRE(`(make_archive|\.add|\.write|tar\.c|archiver\.directory|zip\.addLocalFolder)\([^)\n]*(expanduser\(\s*["']~/?["']\s*\)|Path\.home\(\)|os\.homedir\(\)|environ\[["']HOME["']\]|getenv\(["']HOME["']\))`)
	// Browser stores among the credential paths: cookie and login syncing is
	// a legitimate (if risky) product, so these weigh less than key files.
	browserStoreRE = lazyRE(`(?i)Login Data|Local State|/Cookies|Local Storage`)
	// Calls that reach the network.
	netCallRE = lazyRE(`\b(requests|httpx|aiohttp|urllib3)\.(post|put|patch|get|request|delete)\(|\b(session|client|http|sess)\.(post|put|patch)\(|urllib\.request\.(urlopen|Request)\(|\burlopen\(|http\.client\.HTTPS?Connection\(|\bsocket\.(socket|create_connection)\(|\b(sock|socket|s|conn|ws)\.sendall?\(|\bfetch\(|\baxios(\.(post|put|patch|get|request))?\(|smtplib\.SMTP|ftplib\.FTP|\bhttps?\.request\(|\bnew\s+WebSocket\(|\bpaho\b`)
	// Calls that send a body.
	netSendRE = lazyRE(`\.(post|put|patch)\(|urlopen\([^)]*data=|\b(sock|socket|s|conn|ws)\.sendall?\(|\bmethod\s*[:=]\s*["'](POST|PUT|PATCH)["']|urllib\.request\.Request\([^)]*data=|smtplib\.SMTP|ftplib\.FTP`)
	// DNS lookups of a name built from data.
	dnsDataRE = lazyRE(`(gethostbyname(_ex)?|getaddrinfo|dns\.resolver\.(resolve|query)|resolver\.(resolve|query)|dns\.(lookup|resolve\w*)|dns\.promises\.\w+)\(\s*(f["'][^"'\n]*\{[^}]+\}[^"'\n]*\.|[\w.]+\s*\+\s*["']\.|["'\x60][^"'\x60\n]*\$\{[^}]+\}[^"'\x60\n]*\.)`)
	// eval / exec of something other than a string literal.
	pyEvalRE = lazyRE(`(?:^|[^.\w])(eval|exec)\(\s*([A-Za-z_][\w.\[\]'"]*\s*[),]|f["'])`)
	jsEvalRE = lazyRE(`(?:^|[^.\w])eval\(\s*[A-Za-z_$\x60]|\bnew\s+Function\(\s*[A-Za-z_$\x60]`)
	// Shell commands built from data.
	shellTrueRE = lazyRE(`shell\s*=\s*True`)
	fmtStringRE = lazyRE(`\bf["'][^"'\n]*\{[^}]+\}|["'][^"'\n]*["']\s*(%\s*[\w(]|\.format\(|\+\s*[A-Za-z_])|[A-Za-z_]\w*\s*\+\s*["']`)
	osSystemRE  = lazyRE(`\b(os\.system|os\.popen|subprocess\.getoutput|subprocess\.getstatusoutput|commands\.getoutput)\(\s*(f["'][^"'\n]*\{|[^"'\s)][^)]*\+|["'][^"'\n]*["']\s*(%|\.format\(|\+))`)
	shDashCRE   = lazyRE(`["'](ba|z|da)?sh["']\s*,\s*["']-c["']\s*,\s*(f["'][^"'\n]*\{|[A-Za-z_]\w*\s*[\],+]|["'][^"'\n]*["']\s*(%|\.format\(|\+))`)
	jsExecTplRE = lazyRE(`\b(exec|execSync|spawnSync|spawn)\(\s*(\x60[^\x60]*\$\{|["'][^"'\n]*["']\s*\+\s*[A-Za-z_])`)
	sqlFormatRE = lazyRE(`(?i)(\bf["']|["'])\s*(SELECT\s[^"'\n]*\bFROM|INSERT\s+INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM)\b[^"'\n]*(\{[^}]+\}|["']\s*(%\s*[\w(]|\.format\(|\+))`)
	pathBuildRE = lazyRE(`^\s*(\w+)\s*=\s*(os\.path\.join\([^)\n]*,\s*[A-Za-z_]\w*\s*\)|f["']/[^"'\n]*\{[A-Za-z_]\w*\}[^"'\n]*["'])\s*(#.*)?$`)
	whileTrueRE = lazyRE(`^(\s*)while\s+(True|1)\s*:\s*$`)
	loopExitRE  = lazyRE(`\b(break|return|raise|sleep|exit|yield|await|input|wait|join|get|recv|accept|read)\b`)
	hugeAllocRE = lazyRE(`\]\s*\*\s*\d{7,}\b|\*\s*10\s*\*\*\s*([7-9]|\d\d)\b|\b(bytearray|bytes)\(\s*\d{10,}`)
	execUseRE   = lazyRE(`\bsubprocess\.\w+\(|\bos\.(system|popen|exec\w*|spawn\w*)\(|child_process|\bexecSync\(|\bspawn(Sync)?\(|\bpty\.spawn\(`)
	writeUseRE  = lazyRE(`\bopen\([^)\n]*,\s*(mode\s*=\s*)?["'][wax]b?\+?["']|\.write_(text|bytes)\(|\bos\.(remove|unlink|rmdir|removedirs|rename|replace|chmod|chown|truncate)\(|\bshutil\.(move|rmtree|copy\w*)\(|\.unlink\(|\bfs\.(writeFile|appendFile|unlink|rm|rmdir|rename|chmod)(Sync)?\(|\bwriteFileSync\(`)
	authFlowRE  = lazyRE(`(?i)oauth|/token|access_token|tenant_access|grant_type|client_secret|app_secret|/auth\b|/login`)
	headersRE   = lazyRE(`(?s)\b(headers|auth)\s*[=:]\s*(\{[^}]*\}|\([^)]*\)|\w+)`)
)

// sinkLookback is how many lines a call's arguments may span.
const sinkLookback = 8

// scriptFacts is what one code file does, for the skill-level checks.
type scriptFacts struct {
	credSource    *Finding // reads credential material (secret env values, key and credential files)
	browserSource *Finding // reads a browser's cookie or login store
	netSend       *Finding // sends data over the network
	network       *Finding // any network use
	exec          *Finding // runs programs
	write         *Finding // writes, moves or deletes files
	rawPath       *Finding // opens a path built from a variable, never normalised
}

func isJS(name string) bool {
	for _, e := range []string{".js", ".ts", ".mjs", ".cjs", ".jsx", ".tsx"} {
		if strings.HasSuffix(strings.ToLower(name), e) {
			return true
		}
	}
	return false
}

// code analyzes a Python or JavaScript source (first = line of its first
// line in the file; js selects JavaScript rules).
//
// In Markdown (doc) only the data-flow checks run: documentation quotes
// vulnerable code as examples, instructions to exfiltrate are not examples.
func (s *scanner) code(name string, first int, text string, js, doc bool) {
	var (
		onEval   = !doc
		onInject = !doc
		onSQL    = !doc && (strings.Contains(text, ".execute") || strings.Contains(text, ".raw(") || strings.Contains(text, ".query("))
		onLoop   = !doc && !js
		onAlloc  = !doc
	)
	lines := strings.Split(text, "\n")
	at := func(i int, ev string) Finding {
		return Finding{File: name, Line: first + i, Evidence: truncate(ev)}
	}
	note := func(p **Finding, f Finding) {
		if *p == nil {
			*p = &f
		}
	}
	facts := &scriptFacts{}
	defer s.merge(name, text, facts)
	ls := codeLines(text, len(lines))
	if !doc && !js && strings.Contains(text, "open(") && !normalisesPaths(text) {
		rawPaths(lines, func(i int) { note(&facts.rawPath, at(i, strings.TrimSpace(lines[i]))) })
	}
	// Network use counts for declarations only toward a remote host.
	remote := remoteURL(text)
	// Harvest: the file enumerates the environment and names secret words.
	harvestFilter := ls.some(gEnvEnum) && secretWordRE().MatchString(text)
	tainted := map[string]string{} // variable -> the secret env var it holds
	for i, line := range lines {
		if !ls.any(i) {
			continue
		}
		t := strings.TrimSpace(line)
		if t == "" || strings.HasPrefix(t, "#") || strings.HasPrefix(t, "//") {
			continue
		}
		if ls.has(gEnvEnum, i) && envValuesRE().MatchString(line) && harvestFilter {
			f := at(i, t)
			f.RuleID, f.Category, f.Severity = "SC002", CatCredentials, High
			f.Why = "enumerates the environment and keeps the variables named like secrets (KEY, TOKEN, SECRET…): credential harvesting"
			s.add(f)
			note(&facts.credSource, f)
		}
		if ls.has(gHome, i) && homeArchiveCodeRE().MatchString(line) {
			note(&facts.credSource, at(i, t))
		}
		if ls.has(gCred, i) {
			if m := credPathRE().FindStringSubmatch(line); m != nil && !strings.Contains(m[0], ".pub") {
				if browserStoreRE().MatchString(m[1]) {
					note(&facts.browserSource, at(i, t))
				} else {
					note(&facts.credSource, at(i, t))
				}
			}
		}
		for _, m := range secretEnvMatches(ls.has(gSecretEnv, i), line) {
			if m[1] != "" {
				tainted[m[1]] = m[2]
			} else {
				tainted[m[3]] = m[4]
			}
		}
		if ls.has(gNet, i) && netCallRE().MatchString(line) {
			if remote {
				note(&facts.network, at(i, t))
			}
			call := callText(lines, i)
			if netSendRE().MatchString(call) {
				note(&facts.netSend, at(i, t))
			}
			if strings.Contains(call, "os.environ") && envEnumRE().MatchString(call) || strings.Contains(call, "process.env") && envEnumRE().MatchString(call) {
				f := at(i, t)
				f.RuleID, f.Category, f.Severity = "SC001", CatCredentials, Critical
				f.Why = "the whole environment (API keys, tokens) is sent over the network"
				s.add(f)
			}
			body := codeOnly(headersRE().ReplaceAllString(call, ""))
			for v, env := range tainted {
				if containsWord(body, v) && !authFlowRE().MatchString(call) {
					f := at(i, t)
					f.RuleID, f.Category, f.Severity = "SC003", CatCredentials, High
					f.Why = "the secret in " + env + " is put in the body or URL of a network request (not an auth header): it leaves for a host that did not issue it"
					s.add(f)
				}
			}
		}
		if ls.has(gDNS, i) && dnsDataRE().MatchString(line) {
			f := at(i, t)
			f.RuleID, f.Category, f.Severity = "SC006", CatCredentials, High
			f.Why = "a DNS lookup of a name built from data: DNS exfiltration passes firewalls"
			s.add(f)
		}
		if ls.has(gExec, i) && execUseRE().MatchString(line) {
			note(&facts.exec, at(i, t))
		}
		if ls.has(gWrite, i) && writeUseRE().MatchString(line) {
			note(&facts.write, at(i, t))
		}
		evalRE := pyEvalRE
		if js {
			evalRE = jsEvalRE
		}
		if onEval && ls.has(gEval, i) && evalRE().MatchString(line) {
			f := at(i, t)
			f.RuleID, f.Category, f.Severity = "SC004", CatMaliciousCode, High
			f.Why = "eval/exec of a value that is not a literal: whoever controls the value runs code"
			s.add(f)
		}
		if onInject && ls.has(gInject, i) && s.injection(line, lines, i, js) {
			f := at(i, t)
			f.RuleID, f.Category, f.Severity = "SC005", CatMaliciousCode, High
			f.Why = "a shell command is built by string formatting: data in it becomes commands (command injection)"
			s.add(f)
		}
		if onSQL && ls.has(gSQL, i) && sqlFormatRE().MatchString(line) {
			f := at(i, t)
			f.RuleID, f.Category, f.Severity = "SC007", CatMaliciousCode, High
			f.Why = "SQL built by string formatting instead of parameters: SQL injection"
			s.add(f)
		}
		if onLoop && ls.has(gWhile, i) {
			if m := whileTrueRE().FindStringSubmatch(line); m != nil && !loopExits(lines, i, len(m[1])) && !inTry(lines, i, len(m[1])) {
				f := at(i, t)
				f.RuleID, f.Category, f.Severity = "SC008", CatMaliciousCode, Medium
				f.Why = "an infinite loop with no break, return or wait: it exhausts the CPU"
				s.add(f)
			}
		}
		if onAlloc && ls.has(gAlloc, i) && hugeAllocRE().MatchString(line) {
			f := at(i, t)
			f.RuleID, f.Category, f.Severity = "SC009", CatMaliciousCode, Medium
			f.Why = "allocates tens of millions of elements at once: memory exhaustion"
			s.add(f)
		}
	}
}

// Literal groups of the script analyzer's line checks: a check's regex runs
// only on lines where one of its group's literals occurs. All groups are
// found in one Aho-Corasick pass per file.
const (
	gEnvEnum = iota
	gCred
	gSecretEnv
	gNet
	gDNS
	gExec
	gWrite
	gEval
	gInject
	gSQL
	gWhile
	gAlloc
	gHome
	nGroups
)

var codeGroups = [nGroups][]string{
	gEnvEnum:   {"environ", "process.env"},
	gCred:      {".ssh", ".aws", ".azure", "gcloud", ".kube", ".docker", "netrc", "git-credentials", ".gnupg", "Login Data", "Local State", "Cookies", "wallet", "Keychains", "keychain", "leveldb", "shadow"},
	gSecretEnv: {"environ", "getenv", "process.env"},
	gNet:       {"requests", "httpx", "aiohttp", "urllib", "http", "socket", "fetch", "axios", "SMTP", "FTP", ".send", "WebSocket", "paho", "session.", "client.", "sess."},
	gDNS:       {"gethostbyname", "getaddrinfo", "resolve", "dns.", "query("},
	gExec:      {"subprocess", "os.", "child_process", "exec", "spawn"},
	gWrite:     {"open(", "write", "remove", "unlink", "rmdir", "rename", "replace(", "chmod", "chown", "truncate", "shutil", "fs.", "rm("},
	gEval:      {"eval(", "exec(", "Function("},
	gInject:    {"system(", "popen(", "getoutput", "subprocess", "-c", "exec", "spawn"},
	gSQL:       {"SELECT", "select", "INSERT", "insert", "UPDATE", "update", "DELETE", "delete"},
	gWhile:     {"while"},
	gAlloc:     {"*", "bytes"},
	gHome:      {"expanduser", "Path.home", "homedir", "HOME"},
}

var codeLits, codeLitGroups = func() ([]string, [][]int) {
	idx := map[string]int{}
	var lits []string
	var groups [][]int
	for g, ls := range codeGroups {
		for _, l := range ls {
			i, ok := idx[l]
			if !ok {
				i = len(lits)
				idx[l] = i
				lits = append(lits, l)
				groups = append(groups, nil)
			}
			groups[i] = append(groups[i], g)
		}
	}
	return lits, groups
}()

var codeAuto = sync.OnceValue(func() *automaton { return newAutomaton(codeLits) })

// lineSets holds, per literal group, the lines where one of its literals
// occurs, as bitsets.
type lineSets struct {
	bits  [nGroups][]uint64
	union []uint64
	count [nGroups]int
}

func codeLines(text string, nlines int) *lineSets {
	words := (nlines + 63) / 64
	ls := &lineSets{union: make([]uint64, words)}
	for g := range ls.bits {
		ls.bits[g] = make([]uint64, words)
	}
	starts := lineStarts(text)
	cur := 0
	codeAuto().each(text, func(p, end int) {
		for cur+1 < len(starts) && starts[cur+1] <= end-1 {
			cur++
		}
		if cur >= nlines {
			return
		}
		w, b := cur>>6, uint64(1)<<(cur&63)
		for _, g := range codeLitGroups[p] {
			if ls.bits[g][w]&b == 0 {
				ls.bits[g][w] |= b
				ls.count[g]++
			}
		}
		ls.union[w] |= b
	})
	return ls
}

func (ls *lineSets) has(g, i int) bool { return ls.bits[g][i>>6]&(1<<(i&63)) != 0 }
func (ls *lineSets) any(i int) bool    { return ls.union[i>>6]&(1<<(i&63)) != 0 }
func (ls *lineSets) some(g int) bool   { return ls.count[g] > 0 }

func secretEnvMatches(gate bool, line string) [][]string {
	if !gate {
		return nil
	}
	return secretEnvRE().FindAllStringSubmatch(line, -1)
}

// merge adds one file's facts to the skill's, and checks the file's own
// claims ("read-only", "no side effects") against what it does.
func (s *scanner) merge(name, text string, f *scriptFacts) {
	first := func(dst **Finding, src *Finding) {
		if *dst == nil && src != nil {
			*dst = src
		}
	}
	first(&s.facts.credSource, f.credSource)
	first(&s.facts.browserSource, f.browserSource)
	first(&s.facts.netSend, f.netSend)
	first(&s.facts.network, f.network)
	first(&s.facts.exec, f.exec)
	first(&s.facts.write, f.write)
	first(&s.facts.rawPath, f.rawPath)
	if f.write != nil {
		if m := claimIn(text, claimReadOnlyRE(), claimReadOnlyWords); m != "" {
			x := *f.write
			x.RuleID, x.Category, x.Severity = "CL001", CatThirdParty, High
			x.Why = name + " says \"" + truncate(m) + "\", but the code writes, moves or deletes files"
			s.add(x)
		}
	}
}

// injection reports whether line i runs a shell command built by formatting.
func (s *scanner) injection(line string, lines []string, i int, js bool) bool {
	if js {
		return jsExecTplRE().MatchString(line)
	}
	if osSystemRE().MatchString(line) || shDashCRE().MatchString(line) {
		return true
	}
	if strings.Contains(line, "subprocess.") {
		call := callText(lines, i)
		if shellTrueRE().MatchString(call) {
			if j := strings.Index(call, "("); j >= 0 && fmtStringRE().MatchString(call[j:]) {
				return true
			}
		}
	}
	return false
}

// callText returns line i and the following lines up to where its
// parentheses balance (at most sinkLookback lines).
func callText(lines []string, i int) string {
	depth := 0
	var b strings.Builder
	for j := i; j < len(lines) && j < i+sinkLookback; j++ {
		b.WriteString(lines[j])
		b.WriteByte('\n')
		depth += strings.Count(lines[j], "(") - strings.Count(lines[j], ")")
		if depth <= 0 {
			break
		}
	}
	return b.String()
}

// loopExits reports whether the block under the while at line i (indented
// deeper than indent) can leave the loop or waits.
func loopExits(lines []string, i, indent int) bool {
	for j := i + 1; j < len(lines); j++ {
		l := lines[j]
		t := strings.TrimSpace(l)
		if t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		if len(l)-len(strings.TrimLeft(l, " \t")) <= indent {
			return false
		}
		if loopExitRE().MatchString(l) {
			return true
		}
	}
	return false
}

// rawPaths calls found for each line that opens a variable assigned, earlier
// in the file, from os.path.join(…, name) or an f-string path with {name}
// in it. The caller has checked that nothing in the file normalises a path.
func rawPaths(lines []string, found func(i int)) {
	built := map[string]bool{}
	for i, l := range lines {
		if m := pathBuildRE().FindStringSubmatch(l); m != nil {
			built[m[1]] = true
			continue
		}
		for j := strings.Index(l, "open("); j >= 0; {
			rest := strings.TrimLeft(l[j+len("open("):], " ")
			k := 0
			for k < len(rest) && isWordByte(rest[k]) {
				k++
			}
			if k > 0 && built[rest[:k]] {
				found(i)
				return
			}
			n := strings.Index(l[j+1:], "open(")
			if n < 0 {
				break
			}
			j += 1 + n
		}
	}
}

// inTry reports whether the statement at line i (indented by indent) sits
// directly in a try block: the loop may end with an exception (EOFError…).
func inTry(lines []string, i, indent int) bool {
	for j := i - 1; j >= 0; j-- {
		l := lines[j]
		t := strings.TrimSpace(l)
		if t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		if len(l)-len(strings.TrimLeft(l, " \t")) < indent {
			return t == "try:"
		}
	}
	return false
}

// remoteURL reports whether text holds an http(s) URL to a host that is not
// the machine itself.
func remoteURL(text string) bool {
	n := 0
	for off := 0; n < 50; n++ {
		j := strings.Index(text[off:], "://")
		if j < 0 {
			return false
		}
		a, b := off+j, off+j+3
		for a > 0 && a > off+j-5 && text[a-1] >= 'A' {
			a--
		}
		for b < len(text) && text[b] != '\n' && b < off+j+300 {
			b++
		}
		if u := urlRE().FindString(text[a:b]); u != "" {
			if h := hostOf(u); h != "" && reputation(h) != repLocal {
				return true
			}
		}
		off = off + j + 3
	}
	return false
}

// normalisesPaths reports whether code calls something that normalises or
// checks a path (realpath, commonpath, is_relative_to, startswith…).
func normalisesPaths(text string) bool {
	for _, w := range []string{"abspath", "realpath", "normpath", ".resolve(", "commonpath", "is_relative_to", "secure_filename", "basename", ".startswith("} {
		if strings.Contains(text, w) {
			return true
		}
	}
	return false
}

var (
	stringLitRE = lazyRE("[fF]?\"[^\"\n]*\"|[fF]?'[^'\n]*'|\x60[^\x60]*\x60")
	interpRE    = lazyRE(`\{[^{}]*\}`)
)

// codeOnly replaces string literals by the expressions interpolated in them
// ({x} in f-strings, ${x} in template literals): a variable's name inside
// plain quotes is text, not the variable.
func codeOnly(src string) string {
	return stringLitRE().ReplaceAllStringFunc(src, func(lit string) string {
		return " " + strings.Join(interpRE().FindAllString(lit, -1), " ") + " "
	})
}

func containsWord(text, w string) bool {
	for off := 0; ; {
		j := strings.Index(text[off:], w)
		if j < 0 {
			return false
		}
		a, b := off+j, off+j+len(w)
		if (a == 0 || !isWordByte(text[a-1])) && (b == len(text) || !isWordByte(text[b])) {
			return true
		}
		off = b
	}
}

func isWordByte(c byte) bool {
	return c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}
