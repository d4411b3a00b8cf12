package vuln

import (
	"bytes"
	"encoding/json"
	"path"
	"regexp"
	"sort"
	"strings"
)

// Kind says where a dependency comes from.
type Kind string

const (
	FromRegistry Kind = "registry" // a name and a version constraint
	FromURL      Kind = "url"      // an archive URL or a VCS reference
	FromPath     Kind = "path"     // a local path
	FromIndex    Kind = "index"    // a package index other than the public one
	FromInclude  Kind = "include"  // requirements.txt -r/-c of another file
)

// Dep is one dependency a manifest or lock file declares.
type Dep struct {
	Ecosystem string
	Name      string
	Spec      string // the version constraint as written, "" when none
	Kind      Kind
	Target    string // the URL, path or included file, for the non-registry kinds
	Line      int
	Locked    bool // from a lock file: Spec is the exact resolved version
}

// ManifestKind recognizes a dependency file by its slash-separated path:
// "requirements", "pyproject", "package.json", "package-lock", "yarn.lock",
// "pnpm-lock", "python-lock" (poetry.lock, uv.lock, pdm.lock),
// "pipfile-lock", or "" for any other file.
func ManifestKind(name string) string {
	base := strings.ToLower(path.Base(name))
	dir := strings.ToLower(path.Base(path.Dir(name)))
	switch {
	case base == "pyproject.toml":
		return "pyproject"
	case base == "package.json":
		return "package.json"
	case base == "package-lock.json" || base == "npm-shrinkwrap.json":
		return "package-lock"
	case base == "yarn.lock":
		return "yarn.lock"
	case base == "pnpm-lock.yaml":
		return "pnpm-lock"
	case base == "poetry.lock" || base == "uv.lock" || base == "pdm.lock":
		return "python-lock"
	case base == "pipfile.lock":
		return "pipfile-lock"
	case (strings.HasSuffix(base, ".txt") || strings.HasSuffix(base, ".in")) &&
		(strings.Contains(base, "requirements") || strings.HasPrefix(base, "constraints") || dir == "requirements"):
		return "requirements"
	}
	return ""
}

// ParseManifest returns the dependencies a file of kind ManifestKind(name)
// declares. It never fails: what it cannot read it skips.
func ParseManifest(name string, data []byte) []Dep {
	switch ManifestKind(name) {
	case "requirements":
		return parseRequirements(string(data))
	case "pyproject":
		return parsePyproject(string(data))
	case "package.json":
		return parsePackageJSON(data)
	case "package-lock":
		return parsePackageLock(data)
	case "yarn.lock":
		return parseYarnLock(string(data))
	case "pnpm-lock":
		return parsePnpmLock(string(data))
	case "python-lock":
		return parsePythonLock(string(data))
	case "pipfile-lock":
		return parsePipfileLock(data)
	}
	return nil
}

// pep508 is a requirement: name, optional [extras], then a version
// specifier, an "@ url", or nothing; a ";" starts the environment marker.
var pep508 = regexp.MustCompile(`^([A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)\s*(\[[^\]]*\])?\s*(.*)$`)

// parseRequirements reads pip's requirements file format.
func parseRequirements(text string) []Dep {
	var deps []Dep
	lines := strings.Split(text, "\n")
	for i := 0; i < len(lines); i++ {
		lineNo := i + 1
		line := strings.TrimRight(lines[i], "\r")
		for strings.HasSuffix(line, "\\") && i+1 < len(lines) {
			i++
			line = strings.TrimSuffix(line, "\\") + " " + strings.TrimRight(lines[i], "\r")
		}
		line = stripComment(line)
		if line == "" {
			continue
		}
		if strings.HasPrefix(line, "-") {
			if d, ok := requirementsOption(line); ok {
				d.Line = lineNo
				deps = append(deps, d)
			}
			continue
		}
		if d, ok := parseRequirement(line); ok {
			d.Line = lineNo
			deps = append(deps, d)
		}
	}
	return deps
}

// stripComment drops a "#" comment: at the start of the line or after
// whitespace (a URL's "#egg=" fragment stays).
func stripComment(line string) string {
	for i := 0; i < len(line); i++ {
		if line[i] == '#' && (i == 0 || line[i-1] == ' ' || line[i-1] == '\t') {
			line = line[:i]
			break
		}
	}
	return strings.TrimSpace(line)
}

func optionValue(line string, names ...string) (string, bool) {
	for _, n := range names {
		if rest, ok := strings.CutPrefix(line, n); ok {
			if rest == "" || !(rest[0] == ' ' || rest[0] == '=' || rest[0] == '\t' || len(n) == 2) {
				continue
			}
			rest = strings.TrimLeft(rest, " =\t")
			if f := strings.Fields(rest); len(f) > 0 {
				return f[0], true
			}
		}
	}
	return "", false
}

// requirementsOption reads the options that name other sources: includes,
// editable installs, and package indexes.
func requirementsOption(line string) (Dep, bool) {
	eco := PyPI
	if v, ok := optionValue(line, "--requirement", "--constraint", "-r", "-c"); ok {
		return Dep{Ecosystem: eco, Kind: FromInclude, Target: v}, true
	}
	if v, ok := optionValue(line, "--editable", "-e"); ok {
		if d, ok := parseRequirement(v); ok && d.Kind != FromRegistry {
			return d, true
		}
		return Dep{Ecosystem: eco, Kind: FromPath, Target: v}, true
	}
	if v, ok := optionValue(line, "--index-url", "--extra-index-url", "-i"); ok {
		if !publicIndex(v) {
			return Dep{Ecosystem: eco, Kind: FromIndex, Target: v}, true
		}
		return Dep{}, false
	}
	if v, ok := optionValue(line, "--find-links", "-f", "--trusted-host"); ok {
		return Dep{Ecosystem: eco, Kind: FromIndex, Target: v}, true
	}
	return Dep{}, false
}

// publicIndex reports whether an index URL is PyPI's own.
func publicIndex(u string) bool {
	u = strings.TrimSuffix(strings.ToLower(u), "/")
	return u == "https://pypi.org/simple" || u == "https://pypi.python.org/simple"
}

var vcsPrefixes = []string{"git+", "hg+", "svn+", "bzr+", "git://", "http://", "https://", "ftp://", "file:"}

// parseRequirement reads one PEP 508 requirement (pip's syntax).
func parseRequirement(s string) (Dep, bool) {
	s = strings.TrimSpace(s)
	// Hashes and per-requirement options come after the requirement.
	if i := strings.Index(s, " --"); i >= 0 {
		s = strings.TrimSpace(s[:i])
	}
	if s == "" {
		return Dep{}, false
	}
	lower := strings.ToLower(s)
	for _, p := range vcsPrefixes {
		if strings.HasPrefix(lower, p) {
			return Dep{Ecosystem: PyPI, Name: eggName(s), Kind: FromURL, Target: s}, true
		}
	}
	if strings.HasPrefix(s, ".") || strings.HasPrefix(s, "/") || strings.HasPrefix(s, "~") {
		return Dep{Ecosystem: PyPI, Kind: FromPath, Target: s}, true
	}
	if i := strings.IndexByte(s, ';'); i >= 0 {
		s = strings.TrimSpace(s[:i]) // environment marker
	}
	m := pep508.FindStringSubmatch(s)
	if m == nil {
		return Dep{}, false
	}
	rest := strings.TrimSpace(m[3])
	if u, ok := strings.CutPrefix(rest, "@"); ok {
		return Dep{Ecosystem: PyPI, Name: m[1], Kind: FromURL, Target: strings.TrimSpace(u)}, true
	}
	rest = strings.TrimSpace(strings.TrimSuffix(strings.TrimPrefix(rest, "("), ")"))
	if rest != "" && !strings.ContainsAny(rest[:1], "=<>!~") {
		return Dep{}, false // not a requirement (prose in a .txt file)
	}
	return Dep{Ecosystem: PyPI, Name: m[1], Spec: strings.ReplaceAll(rest, " ", ""), Kind: FromRegistry}, true
}

// eggName takes the package name from a URL's "#egg=name" fragment.
func eggName(u string) string {
	if _, frag, ok := strings.Cut(u, "#egg="); ok {
		if i := strings.IndexAny(frag, "&[ "); i >= 0 {
			frag = frag[:i]
		}
		return frag
	}
	return ""
}

// parsePyproject reads [project] dependencies and optional-dependencies
// when they are plain arrays of strings, the common case.
func parsePyproject(text string) []Dep {
	var deps []Dep
	section := ""
	inArray := false
	for i, raw := range strings.Split(text, "\n") {
		line := strings.TrimSpace(tomlCode(raw))
		if line == "" {
			continue
		}
		if !inArray && strings.HasPrefix(line, "[") && !strings.Contains(line, "=") {
			section = strings.Trim(line, "[] ")
			continue
		}
		if !inArray {
			key, val, ok := strings.Cut(line, "=")
			key = strings.TrimSpace(key)
			val = strings.TrimSpace(val)
			wanted := section == "project" && key == "dependencies" ||
				section == "project.optional-dependencies" ||
				section == "dependency-groups"
			if !ok || !wanted || !strings.HasPrefix(val, "[") {
				continue
			}
			inArray = true
			line = val[1:]
		}
		for _, s := range quoted(line) {
			if d, ok := parseRequirement(s); ok {
				d.Line = i + 1
				deps = append(deps, d)
			}
		}
		if closesArray(line) {
			inArray = false
		}
	}
	return deps
}

// tomlCode drops a "#" comment outside quotes.
func tomlCode(line string) string {
	var q byte
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case q != 0 && c == '\\' && q == '"':
			i++
		case q != 0 && c == q:
			q = 0
		case q == 0 && (c == '"' || c == '\''):
			q = c
		case q == 0 && c == '#':
			return line[:i]
		}
	}
	return line
}

var quotedRE = regexp.MustCompile(`"([^"\\]*)"|'([^']*)'`)

func quoted(s string) []string {
	var out []string
	for _, m := range quotedRE.FindAllStringSubmatch(s, -1) {
		out = append(out, m[1]+m[2])
	}
	return out
}

// closesArray reports whether a "]" outside quotes ends the line's array.
func closesArray(s string) bool {
	return strings.Contains(quotedRE.ReplaceAllString(s, ""), "]")
}

// keyLine returns the line of the first `"key"` after the first
// `"field"` in a JSON text (0 when absent).
func keyLine(data []byte, field, key string) int {
	start := bytes.Index(data, []byte(`"`+field+`"`))
	if start < 0 {
		return 0
	}
	i := bytes.Index(data[start:], []byte(`"`+key+`"`))
	if i < 0 {
		return 0
	}
	return 1 + bytes.Count(data[:start+i], []byte{'\n'})
}

// parsePackageJSON reads dependencies, devDependencies and
// optionalDependencies.
func parsePackageJSON(data []byte) []Dep {
	var pj map[string]json.RawMessage
	if json.Unmarshal(data, &pj) != nil {
		return nil
	}
	var deps []Dep
	for _, field := range []string{"dependencies", "devDependencies", "optionalDependencies"} {
		var m map[string]string
		if json.Unmarshal(pj[field], &m) != nil {
			continue
		}
		names := make([]string, 0, len(m))
		for n := range m {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			d := npmDep(n, m[n])
			d.Line = keyLine(data, field, n)
			deps = append(deps, d)
		}
	}
	sort.SliceStable(deps, func(i, j int) bool { return deps[i].Line < deps[j].Line })
	return deps
}

var ghShorthand = regexp.MustCompile(`^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+(#.*)?$`)

// npmDep classifies a package.json dependency value.
func npmDep(name, spec string) Dep {
	d := Dep{Ecosystem: Npm, Name: name, Spec: strings.TrimSpace(spec), Kind: FromRegistry}
	lower := strings.ToLower(d.Spec)
	switch {
	case strings.HasPrefix(lower, "npm:"):
		// An alias installs another package under this name.
		alias := d.Spec[4:]
		if i := strings.LastIndexByte(alias, '@'); i > 0 {
			d.Name, d.Spec = alias[:i], alias[i+1:]
		} else {
			d.Name, d.Spec = alias, ""
		}
	case strings.HasPrefix(lower, "file:"), strings.HasPrefix(lower, "link:"), strings.HasPrefix(lower, "workspace:"),
		strings.HasPrefix(lower, "./"), strings.HasPrefix(lower, "../"), strings.HasPrefix(lower, "/"):
		d.Kind, d.Target, d.Spec = FromPath, d.Spec, ""
	case strings.Contains(lower, "://"), strings.HasPrefix(lower, "git+"), strings.HasPrefix(lower, "git@"),
		strings.HasPrefix(lower, "github:"), strings.HasPrefix(lower, "gitlab:"), strings.HasPrefix(lower, "bitbucket:"),
		strings.HasPrefix(lower, "gist:"), ghShorthand.MatchString(d.Spec):
		d.Kind, d.Target, d.Spec = FromURL, d.Spec, ""
	}
	return d
}

// parsePackageLock reads a package-lock.json: the v2/v3 "packages" map, or
// the v1 nested "dependencies".
func parsePackageLock(data []byte) []Dep {
	var lock struct {
		Packages map[string]struct {
			Name     string `json:"name"`
			Version  string `json:"version"`
			Resolved string `json:"resolved"`
			Link     bool   `json:"link"`
		} `json:"packages"`
		Dependencies map[string]json.RawMessage `json:"dependencies"`
	}
	if json.Unmarshal(data, &lock) != nil {
		return nil
	}
	var deps []Dep
	lines := jsonKeyLines(data)
	if len(lock.Packages) > 0 {
		keys := make([]string, 0, len(lock.Packages))
		for k := range lock.Packages {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			p := lock.Packages[k]
			i := strings.LastIndex(k, "node_modules/")
			if i < 0 || p.Link {
				continue // the root project, or a workspace link
			}
			name := k[i+len("node_modules/"):]
			if p.Name != "" {
				name = p.Name
			}
			d := lockedNpm(name, p.Version, p.Resolved)
			d.Line = lines[k]
			deps = append(deps, d)
		}
		sort.SliceStable(deps, func(i, j int) bool { return deps[i].Line < deps[j].Line })
		return deps
	}
	var walk func(m map[string]json.RawMessage, depth int)
	walk = func(m map[string]json.RawMessage, depth int) {
		if depth > 32 {
			return
		}
		names := make([]string, 0, len(m))
		for n := range m {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			var d struct {
				Version      string                     `json:"version"`
				Resolved     string                     `json:"resolved"`
				Dependencies map[string]json.RawMessage `json:"dependencies"`
			}
			if json.Unmarshal(m[n], &d) != nil {
				continue
			}
			dep := lockedNpm(n, d.Version, d.Resolved)
			dep.Line = lines[n]
			deps = append(deps, dep)
			walk(d.Dependencies, depth+1)
		}
	}
	walk(lock.Dependencies, 0)
	return deps
}

// jsonKeyLines maps each object key of a JSON text to the line of its
// first occurrence, in one pass (a lock file can hold thousands of keys).
func jsonKeyLines(data []byte) map[string]int {
	m := map[string]int{}
	line := 1
	for i := 0; i < len(data); i++ {
		switch data[i] {
		case '\n':
			line++
		case '"':
			j := i + 1
			for j < len(data) && data[j] != '"' {
				if data[j] == '\\' {
					j++
				} else if data[j] == '\n' {
					break
				}
				j++
			}
			if j >= len(data) || data[j] != '"' {
				i = j - 1
				continue
			}
			k := j + 1
			for k < len(data) && (data[k] == ' ' || data[k] == '\t' || data[k] == '\r' || data[k] == '\n') {
				k++
			}
			if k < len(data) && data[k] == ':' {
				key := string(data[i+1 : j])
				if _, ok := m[key]; !ok {
					m[key] = line
				}
			}
			line += bytes.Count(data[i:j], []byte{'\n'})
			i = j
		}
	}
	return m
}

// lockedNpm is a resolved npm package; one resolved from outside the public
// registry is a URL dependency.
func lockedNpm(name, version, resolved string) Dep {
	d := Dep{Ecosystem: Npm, Name: name, Spec: version, Kind: FromRegistry, Locked: true}
	r := strings.ToLower(resolved)
	switch {
	case r == "" || strings.HasPrefix(r, "https://registry.npmjs.org/") || strings.HasPrefix(r, "https://registry.yarnpkg.com/"):
	case strings.HasPrefix(r, "file:"):
		d.Kind, d.Target = FromPath, resolved
	default:
		d.Kind, d.Target = FromURL, resolved
	}
	if _, err := ParseConstraint(Npm, version); err != nil || strings.ContainsAny(version, ":/") {
		d.Kind, d.Target, d.Spec, d.Locked = FromURL, version, "", false
	}
	return d
}

// parseYarnLock reads yarn.lock, classic (v1) and berry: a header line of
// one or more "name@range" keys, then an indented "version".
func parseYarnLock(text string) []Dep {
	var deps []Dep
	name, line := "", 0
	for i, raw := range strings.Split(text, "\n") {
		raw = strings.TrimRight(raw, "\r")
		if raw == "" || strings.HasPrefix(raw, "#") {
			continue
		}
		if raw[0] != ' ' && strings.HasSuffix(raw, ":") {
			first := strings.TrimSpace(strings.Split(strings.TrimSuffix(raw, ":"), ",")[0])
			first = strings.Trim(first, `"`)
			if j := strings.LastIndexByte(first, '@'); j > 0 {
				name, line = first[:j], i+1
			} else {
				name = ""
			}
			continue
		}
		t := strings.TrimSpace(raw)
		if name == "" || !strings.HasPrefix(t, "version") {
			continue
		}
		v := strings.Trim(strings.TrimSpace(strings.TrimLeft(t[len("version"):], ":")), `"`)
		d := lockedNpm(name, v, "")
		d.Line = line
		deps = append(deps, d)
		name = ""
	}
	return deps
}

// pnpmKey is a pnpm-lock.yaml (v6 and later) package key:
// "/name@1.2.3:", "name@1.2.3(peer@2.0.0):", quoted or not.
var pnpmKey = regexp.MustCompile(`^  '?/?((?:@[^@/\s]+/)?[^@/\s]+)@([0-9][^():'\s]*)(?:\([^']*\))?'?:\s*$`)

func parsePnpmLock(text string) []Dep {
	var deps []Dep
	inPackages := false
	for i, raw := range strings.Split(text, "\n") {
		raw = strings.TrimRight(raw, "\r")
		if raw != "" && raw[0] != ' ' {
			inPackages = strings.HasPrefix(raw, "packages:") || strings.HasPrefix(raw, "snapshots:")
			continue
		}
		if !inPackages {
			continue
		}
		if m := pnpmKey.FindStringSubmatch(raw); m != nil {
			d := lockedNpm(m[1], m[2], "")
			d.Line = i + 1
			deps = append(deps, d)
		}
	}
	return dedupe(deps)
}

// dedupe drops repeated name@version pairs, keeping the first line.
func dedupe(deps []Dep) []Dep {
	seen := map[string]bool{}
	out := deps[:0]
	for _, d := range deps {
		k := d.Name + "@" + d.Spec
		if !seen[k] {
			seen[k] = true
			out = append(out, d)
		}
	}
	return out
}

// lockSource is a uv.lock source table: { registry = "…" }, { git = "…" }…
var lockSource = regexp.MustCompile(`\b(registry|git|url|path|editable|directory)\s*=\s*"([^"]+)"`)

// parsePythonLock reads the [[package]] tables of poetry.lock, uv.lock and
// pdm.lock: name, version, and a source that is not the public index.
func parsePythonLock(text string) []Dep {
	var deps []Dep
	var cur *Dep
	sub, srcType := "", "" // the current sub-table; poetry's [package.source] type
	flush := func() {
		if cur != nil && cur.Name != "" && cur.Spec != "" {
			deps = append(deps, *cur)
		}
		cur = nil
	}
	for i, raw := range strings.Split(text, "\n") {
		line := strings.TrimSpace(tomlCode(raw))
		switch {
		case line == "[[package]]":
			flush()
			cur = &Dep{Ecosystem: PyPI, Kind: FromRegistry, Locked: true, Line: i + 1}
			sub, srcType = "", ""
			continue
		case strings.HasPrefix(line, "["):
			if cur != nil && strings.HasPrefix(line, "[package.") {
				sub = strings.Trim(line, "[]") // a sub-table of the current package
				continue
			}
			flush()
			continue
		}
		if cur == nil {
			continue
		}
		key, val, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		key, val = strings.TrimSpace(key), strings.TrimSpace(val)
		if sub == "package.source" {
			// poetry: type = "git" | "url" | "file" | "directory" | "legacy", url = "…"
			q := quoted(val)
			switch {
			case len(q) != 1:
			case key == "type":
				srcType = q[0]
			case key == "url" && (srcType == "git" || srcType == "url"):
				cur.Kind, cur.Target = FromURL, q[0]
			case key == "url" && (srcType == "file" || srcType == "directory"):
				cur.Kind, cur.Target = FromPath, q[0]
			case key == "url" && !publicIndex(q[0]):
				cur.Kind, cur.Target = FromIndex, q[0]
			}
			continue
		}
		if sub != "" {
			continue
		}
		switch key {
		case "name":
			if q := quoted(val); len(q) == 1 {
				cur.Name = q[0]
			}
		case "version":
			if q := quoted(val); len(q) == 1 {
				cur.Spec = "==" + q[0]
			}
		case "source":
			// uv: source = { registry = "https://pypi.org/simple" } or
			// { git = "…" }, { url = "…" }, { path = "…" }.
			if m := lockSource.FindStringSubmatch(val); m != nil {
				switch {
				case m[1] == "git" || m[1] == "url":
					cur.Kind, cur.Target = FromURL, m[2]
				case m[1] == "path" || m[1] == "editable" || m[1] == "directory":
					cur.Kind, cur.Target = FromPath, m[2]
				case m[1] == "registry" && !publicIndex(m[2]):
					cur.Kind, cur.Target = FromIndex, m[2]
				}
			}
		}
	}
	flush()
	for i := range deps {
		if deps[i].Kind != FromRegistry {
			deps[i].Spec, deps[i].Locked = "", false
		}
	}
	return deps
}

// parsePipfileLock reads Pipfile.lock's "default" and "develop" sections.
func parsePipfileLock(data []byte) []Dep {
	var lock map[string]json.RawMessage
	if json.Unmarshal(data, &lock) != nil {
		return nil
	}
	lines := jsonKeyLines(data)
	var deps []Dep
	for _, section := range []string{"default", "develop"} {
		var m map[string]struct {
			Version string `json:"version"`
			Git     string `json:"git"`
			File    string `json:"file"`
			Path    string `json:"path"`
		}
		if json.Unmarshal(lock[section], &m) != nil {
			continue
		}
		names := make([]string, 0, len(m))
		for n := range m {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			p := m[n]
			d := Dep{Ecosystem: PyPI, Name: n, Spec: p.Version, Kind: FromRegistry, Locked: p.Version != "", Line: lines[n]}
			switch {
			case p.Git != "":
				d.Kind, d.Target, d.Spec, d.Locked = FromURL, p.Git, "", false
			case p.File != "":
				d.Kind, d.Target, d.Spec, d.Locked = FromURL, p.File, "", false
			case p.Path != "":
				d.Kind, d.Target, d.Spec, d.Locked = FromPath, p.Path, "", false
			}
			deps = append(deps, d)
		}
	}
	sort.SliceStable(deps, func(i, j int) bool { return deps[i].Line < deps[j].Line })
	return deps
}
