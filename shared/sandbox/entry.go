package sandbox

import (
	"io"
	"io/fs"
	"iter"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/openagents/trust/shared/skill"
)

// Entry is one way an agent would run the skill: a script with its
// interpreter, a shell code block from SKILL.md run with bash -c, or a link
// the instructions tell the agent to download or run, fetched with curl.
type Entry struct {
	Name string   `json:"name"`
	Kind string   `json:"kind"` // script, markdown or link
	Argv []string `json:"argv"` // argv[0] is a program name looked up in the sandbox PATH
}

// Entry kinds.
const (
	KindScript   = "script"
	KindMarkdown = "markdown"
	KindLink     = "link"
	KindDriver   = "driver" // a Python file imported and its functions called
)

// driverPath is the driver shim inside the sandbox (shims/python/_agent_driver.py).
const driverPath = "/opt/agent-shims/_agent_driver.py"

// definesFunctions finds top-level Python functions.
var definesFunctions = regexp.MustCompile(`(?m)^(async\s+)?def\s+[A-Za-z]\w*\s*\(`)

// maxLinks is how many instruction links are fetched per skill.
const maxLinks = 3

// interpreters maps a script extension to the program that runs it.
var interpreters = map[string]string{
	".sh": "bash", ".bash": "bash", ".py": "python3", ".js": "node", ".mjs": "node", ".cjs": "node",
}

// shellFences are the fenced code block languages run as shell commands.
var shellFences = map[string]bool{"bash": true, "sh": true, "shell": true, "console": true, "zsh": true, "shell-session": true}

// Entries lists the entry points of the skill folder dir as an agent meets
// them: SKILL.md's shell blocks, the inline commands and links its prose says
// to run or download (in document order), then the scripts (in path order, with the arguments
// SKILL.md shows them called with, if it shows any), then a driver run
// for each Python file that defines functions; at most max in all.
// have reports whether an interpreter is available; scripts without one are
// skipped.
func Entries(dir string, max int, have func(prog string) bool) ([]Entry, error) {
	var scripts []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if d.IsDir() {
			if n := d.Name(); p != dir && (n == ".git" || n == "node_modules" || n == "__pycache__") {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() {
			return nil
		}
		if prog, ok := interpreters[strings.ToLower(filepath.Ext(p))]; ok && have(prog) {
			rel, _ := filepath.Rel(dir, p)
			scripts = append(scripts, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.Strings(scripts)
	var out []Entry
	md := readManifest(dir)
	// SKILL.md's shell blocks, the inline commands and the links its prose
	// says to run or fetch, in the order of the document: a prerequisite at
	// the top comes before the examples further down, whatever its form.
	type at struct {
		line int
		e    Entry
	}
	var doc []at
	if have("bash") {
		for _, b := range shellBlocks(md) {
			doc = append(doc, at{b.line, Entry{Name: "SKILL.md:" + strconv.Itoa(b.line), Kind: KindMarkdown, Argv: []string{"bash", "-c", placeholders.Replace(b.text)}}})
		}
		for _, c := range instructionCommands(md) {
			doc = append(doc, at{c.line, Entry{Name: "SKILL.md:" + strconv.Itoa(c.line) + " (inline)", Kind: KindMarkdown, Argv: []string{"bash", "-c", placeholders.Replace(c.text)}}})
		}
	}
	if have("curl") {
		for _, l := range instructionLinks(md) {
			doc = append(doc, at{l.line, Entry{Name: "SKILL.md:" + strconv.Itoa(l.line), Kind: KindLink,
				Argv: []string{"curl", "-fsSL", "--max-time", "3", "-o", TmpDir + "/agent-download", "--", l.text}}})
		}
	}
	sort.SliceStable(doc, func(i, j int) bool { return doc[i].line < doc[j].line })
	for _, d := range doc {
		out = append(out, d.e)
	}
	for _, s := range scripts {
		e := Entry{Name: s, Kind: KindScript, Argv: []string{interpreters[strings.ToLower(path.Ext(s))], s}}
		// Called with the arguments SKILL.md shows, unless a shell block
		// already runs it that way (then the bare run covers another path).
		if args, ok := invocation(s, md); ok && !inBlocks(out, path.Base(s)+" "+strings.Join(args, " ")) {
			e = withArgs(e, args, "as SKILL.md shows")
		}
		out = append(out, e)
	}
	for _, s := range scripts {
		if strings.ToLower(path.Ext(s)) == ".py" && pyLibrary(filepath.Join(dir, filepath.FromSlash(s))) {
			out = append(out, Entry{Name: s + " (functions)", Kind: KindDriver, Argv: []string{"python3", driverPath, s}})
		}
	}
	if len(out) > max {
		out = out[:max]
	}
	return out, nil
}

// inBlocks reports whether a SKILL.md shell block entry of es holds cmd.
func inBlocks(es []Entry, cmd string) bool {
	for _, e := range es {
		if e.Kind == KindMarkdown && strings.Contains(e.Argv[len(e.Argv)-1], cmd) {
			return true
		}
	}
	return false
}

var (
	inlineCodeRE = regexp.MustCompile("`([^`\n]{3,})`") // at most maxInlineCommand long, checked after
	runThisRE    = regexp.MustCompile(`(?i)\b(run|execute|paste|copy|type|enter)\b`)
	commandRE    = regexp.MustCompile(`^[A-Za-z_./~][\w./~+-]*\s+\S`)
)

// maxInlineCommands is how many inline commands of the prose are run, and
// maxInlineCommand the longest taken.
const (
	maxInlineCommands = 3
	maxInlineCommand  = 1000
)

// instructionCommands returns the inline code spans of the prose of SKILL.md
// (outside code blocks) on lines that tell the reader to run, paste or copy
// them, when they look like a command with arguments: the ClawHavoc "copy the
// command `echo … | base64 -D | bash` and run it in Terminal" pattern. At
// most maxInlineCommands.
func instructionCommands(md string) []block {
	var out []block
	for i, l := range proseLines(md) {
		if !runThisRE.MatchString(l) {
			continue
		}
		for _, m := range inlineCodeRE.FindAllStringSubmatch(l, -1) {
			if c := strings.TrimPrefix(strings.TrimSpace(m[1]), "$ "); len(c) <= maxInlineCommand && commandRE.MatchString(c) {
				out = append(out, block{line: i + 1, text: c})
				if len(out) == maxInlineCommands {
					return out
				}
			}
		}
	}
	return out
}

// pyLibrary reports whether a Python file defines top-level functions (the
// first 256 KiB are read).
func pyLibrary(p string) bool {
	f, err := os.Open(p)
	if err != nil {
		return false
	}
	defer f.Close()
	b, _ := io.ReadAll(io.LimitReader(f, 256<<10))
	return definesFunctions.Match(b)
}

// readManifest returns SKILL.md when it is a regular file (never a link, which
// could point at a host file) of at most skill.MaxManifestSize bytes.
func readManifest(dir string) string {
	root, err := os.OpenRoot(dir) // a link swapped in later still cannot leave dir
	if err != nil {
		return ""
	}
	defer root.Close()
	fi, err := root.Lstat(skill.ManifestFile)
	if err != nil || !fi.Mode().IsRegular() || fi.Size() > skill.MaxManifestSize {
		return ""
	}
	f, err := root.Open(skill.ManifestFile)
	if err != nil {
		return ""
	}
	defer f.Close()
	b, _ := io.ReadAll(io.LimitReader(f, skill.MaxManifestSize))
	return string(b)
}

// placeholders are the skill-folder variables agents substitute in SKILL.md
// commands.
var placeholders = strings.NewReplacer("{baseDir}", WorkDir, "${baseDir}", WorkDir, "{skillDir}", WorkDir,
	"${CLAUDE_SKILL_DIR}", WorkDir, "$CLAUDE_SKILL_DIR", WorkDir, "{SKILL_DIR}", WorkDir)

type block struct {
	line int // line of the first command
	text string
}

// shellBlocks returns the shell fenced code blocks of a Markdown text, with
// "$ " prompts stripped. In console blocks only prompted lines (and their
// backslash continuations) are commands; the rest is output.
func shellBlocks(md string) []block {
	var out []block
	lines := strings.Split(strings.ReplaceAll(md, "\r\n", "\n"), "\n")
	inFence, fence, lang, start := false, "", "", 0
	var body []string
	for i, l := range lines {
		t := strings.TrimSpace(l)
		if !inFence {
			if strings.HasPrefix(t, "```") || strings.HasPrefix(t, "~~~") {
				inFence, fence, start, body = true, t[:3], i+2, body[:0]
				lang = strings.ToLower(strings.TrimSpace(strings.Trim(t, "`~")))
				if j := strings.IndexAny(lang, " {,"); j >= 0 {
					lang = lang[:j]
				}
			}
			continue
		}
		if strings.HasPrefix(t, fence) && strings.Trim(t, fence[:1]) == "" {
			inFence = false
			if shellFences[lang] {
				if text := commands(body, lang == "console" || lang == "shell-session"); strings.TrimSpace(text) != "" {
					out = append(out, block{line: start, text: text})
				}
			}
			continue
		}
		body = append(body, l)
	}
	return out
}

func commands(body []string, console bool) string {
	var cmds []string
	cont := false
	for _, l := range body {
		t := strings.TrimLeft(l, " \t")
		prompted := strings.HasPrefix(t, "$ ") || t == "$"
		if prompted {
			t = strings.TrimPrefix(strings.TrimPrefix(t, "$"), " ")
		}
		if console && !prompted && !cont {
			continue
		}
		if !console && !prompted {
			t = l
		}
		cmds = append(cmds, t)
		cont = strings.HasSuffix(strings.TrimRight(t, " \t"), `\`)
	}
	return strings.Join(cmds, "\n")
}

var (
	urlRE    = regexp.MustCompile(`https?://[^\s)<>"'\]\x60]+`)
	followRE = regexp.MustCompile(`(?i)\b(download|install|run|execute|paste|prerequisites?|required|setup)\b`)
	fetchExt = regexp.MustCompile(`(?i)\.(zip|7z|rar|tar\.gz|tgz|sh|bash|py|js|ps1|exe|dmg|pkg|deb|rpm|appimage|bin|jar)$`)
)

// proseLines yields the lines of a Markdown text outside fenced code blocks,
// with their index (0-based).
func proseLines(md string) iter.Seq2[int, string] {
	return func(yield func(int, string) bool) {
		inFence, fence := false, ""
		for i, l := range strings.Split(strings.ReplaceAll(md, "\r\n", "\n"), "\n") {
			t := strings.TrimSpace(l)
			if strings.HasPrefix(t, "```") || strings.HasPrefix(t, "~~~") {
				if !inFence {
					inFence, fence = true, t[:3]
				} else if strings.HasPrefix(t, fence) && strings.Trim(t, fence[:1]) == "" {
					inFence = false
				}
				continue
			}
			if !inFence && !yield(i, l) {
				return
			}
		}
	}
}

// instructionLinks returns the URLs in the prose of SKILL.md (outside code
// blocks) that an agent following the instructions would fetch: links on a
// line that says to download, install or run something, and links to
// archives, scripts and executables. At most maxLinks, first ones first.
func instructionLinks(md string) []block {
	var out []block
	seen := map[string]bool{}
	for i, l := range proseLines(md) {
		follow := followRE.MatchString(l)
		for _, u := range urlRE.FindAllString(l, -1) {
			u = strings.TrimRight(u, ".,;:!?*_")
			p, err := url.Parse(u)
			if err != nil || p.Host == "" || seen[u] {
				continue
			}
			if follow || fetchExt.MatchString(p.Path) {
				seen[u] = true
				out = append(out, block{line: i + 1, text: u})
				if len(out) == maxLinks {
					return out
				}
			}
		}
	}
	return out
}
