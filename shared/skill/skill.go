// Package skill reads a skill folder: the SKILL.md file at its root, whose YAML
// frontmatter names the skill, gives its version and description, and declares
// the permissions it needs. The schema is described in docs/skill-format.md.
//
// Parsing is strict where a mistake would weaken security (a misspelled key inside
// permissions is an error, not a silently dropped declaration) and lenient where
// it would not (unknown top-level keys such as author or tags are ignored). Every
// problem with the file is an EINVALID *trust.Error whose message names the file
// and, when there is one, the line: "SKILL.md:4: permissions.network[1]: ...".
package skill

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"regexp"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"

	"github.com/openagents/trust/shared/trust"
)

// ManifestFile is the name of the manifest at the root of every skill folder.
const ManifestFile = "SKILL.md"

// MaxManifestSize is the largest SKILL.md accepted, in bytes.
const MaxManifestSize = 1 << 20

// Manifest is what SKILL.md declares about a skill.
type Manifest struct {
	Name        string
	Version     string // as written in the file; empty when it gives none
	Description string
	Permissions trust.Permissions // normalized
}

// Ref returns the skill version the manifest names.
func (m *Manifest) Ref() trust.SkillRef { return trust.SkillRef{Name: m.Name, Version: m.Version} }

// Load reads dir/SKILL.md and parses it. SKILL.md must be a regular file (not a
// symlink). Problems with the file are EINVALID; a folder that cannot be opened
// is an internal error.
func Load(dir string) (*Manifest, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("open skill folder %s: %w", dir, err)
	}
	defer root.Close()

	fi, err := root.Lstat(ManifestFile)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, trust.Errorf(trust.EINVALID, "%s: not found: a skill folder must have a %s file at its root", ManifestFile, ManifestFile)
	} else if err != nil {
		return nil, fmt.Errorf("stat %s: %w", ManifestFile, err)
	} else if !fi.Mode().IsRegular() {
		return nil, trust.Errorf(trust.EINVALID, "%s: not a regular file (%s)", ManifestFile, fileType(fi.Mode()))
	} else if fi.Size() > MaxManifestSize {
		return nil, tooLarge(ManifestFile, fi.Size())
	}

	f, err := root.Open(ManifestFile)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", ManifestFile, err)
	}
	defer f.Close()
	if opened, err := f.Stat(); err != nil {
		return nil, fmt.Errorf("stat %s: %w", ManifestFile, err)
	} else if !os.SameFile(fi, opened) {
		return nil, fmt.Errorf("%s changed while it was being read", ManifestFile)
	}

	// Read one byte past the limit so a file that grew since Lstat is caught.
	data, err := io.ReadAll(io.LimitReader(f, MaxManifestSize+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", ManifestFile, err)
	}
	return ParseManifest(ManifestFile, data)
}

func tooLarge(filename string, size int64) error {
	return trust.Errorf(trust.EINVALID, "%s: file too large: %d bytes, at most %d (1 MiB)", filename, size, MaxManifestSize)
}

// fileType names the type of a file that is not a regular file.
func fileType(m fs.FileMode) string {
	switch {
	case m&fs.ModeSymlink != 0:
		return "a symlink"
	case m.IsDir():
		return "a directory"
	default:
		return "a special file"
	}
}

var bom = []byte("\xef\xbb\xbf")

// ParseManifest parses SKILL.md content. filename is used only in error messages.
// All errors are EINVALID *trust.Error values.
func ParseManifest(filename string, data []byte) (*Manifest, error) {
	if len(data) > MaxManifestSize {
		return nil, tooLarge(filename, int64(len(data)))
	}
	data = bytes.TrimPrefix(data, bom)
	// YAML treats CR LF and a lone CR as line breaks; make them LF so the lines
	// counted here are the ones YAML counts.
	data = bytes.ReplaceAll(data, []byte("\r\n"), []byte("\n"))
	data = bytes.ReplaceAll(data, []byte("\r"), []byte("\n"))

	fm, err := frontmatter(filename, data)
	if err != nil {
		return nil, err
	}
	p := &parser{file: filename}
	root, err := p.decode(fm)
	if err != nil {
		return nil, err
	}
	return p.manifest(root)
}

// frontmatter returns the YAML between the opening '---' line (line 1) and the
// next '---' line. Line n of the result is line n+1 of the file.
func frontmatter(filename string, data []byte) ([]byte, error) {
	first, rest, _ := bytes.Cut(data, []byte("\n"))
	if !isDelimiter(first) {
		return nil, trust.Errorf(trust.EINVALID, "%s: no frontmatter: the file must start with a '---' line", filename)
	}
	for off := 0; off < len(rest); {
		line := rest[off:]
		next := len(rest)
		if i := bytes.IndexByte(line, '\n'); i >= 0 {
			line, next = line[:i], off+i+1
		}
		if isDelimiter(line) {
			return rest[:off], nil
		}
		off = next
	}
	return nil, trust.Errorf(trust.EINVALID, "%s:1: frontmatter not closed: no '---' line after the opening one", filename)
}

// isDelimiter reports whether line is "---", allowing trailing spaces and tabs.
func isDelimiter(line []byte) bool {
	return string(bytes.TrimRight(line, " \t")) == "---"
}

// parser turns the frontmatter into a Manifest, remembering the file name for
// error messages.
type parser struct {
	file string
}

// errorf returns an EINVALID error at the file line of YAML line yamlLine
// (no line when yamlLine is 0).
func (p *parser) errorf(yamlLine int, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	if yamlLine <= 0 {
		return trust.Errorf(trust.EINVALID, "%s: %s", p.file, msg)
	}
	return trust.Errorf(trust.EINVALID, "%s:%d: %s", p.file, yamlLine+1, msg)
}

var (
	yamlLineRE   = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)
	yamlAnchorRE = regexp.MustCompile(`^yaml: unknown anchor '(.*)' referenced$`)
)

// decode parses the frontmatter into its root node (nil when it is empty).
func (p *parser) decode(fm []byte) (*yaml.Node, error) {
	if err := p.checkText(fm); err != nil {
		return nil, err
	}
	dec := yaml.NewDecoder(bytes.NewReader(fm))
	var doc yaml.Node
	if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
		return nil, nil
	} else if err != nil {
		return nil, p.yamlError(fm, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, p.errorf(extra.Line, "frontmatter holds more than one YAML document")
	} else if !errors.Is(err, io.EOF) {
		return nil, p.yamlError(fm, err)
	}
	if len(doc.Content) == 0 {
		return nil, nil
	}
	return doc.Content[0], nil
}

// checkText reports invalid UTF-8 and control characters with their line: YAML
// refuses both but without saying where.
func (p *parser) checkText(fm []byte) error {
	line := 1
	for i := 0; i < len(fm); {
		r, size := utf8.DecodeRune(fm[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			return p.errorf(line, "invalid UTF-8")
		case r == '\n':
			line++
		case r != '\t' && unicode.IsControl(r):
			return p.errorf(line, "control character %U not allowed", r)
		}
		i += size
	}
	return nil
}

// yamlError rewrites a YAML syntax error to name the file line. YAML omits the
// line when the problem is on the first one.
func (p *parser) yamlError(fm []byte, err error) error {
	msg := err.Error()
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		n, _ := strconv.Atoi(m[1])
		return p.errorf(n, "yaml: %s", m[2])
	}
	msg = strings.TrimPrefix(msg, "yaml: ")
	line := 1
	if m := yamlAnchorRE.FindStringSubmatch(err.Error()); m != nil {
		if i := bytes.Index(fm, []byte("*"+m[1])); i >= 0 {
			line += bytes.Count(fm[:i], []byte("\n"))
		}
	}
	return p.errorf(line, "yaml: %s", msg)
}

// manifest reads the known keys of the frontmatter mapping, in file order, and
// returns the first problem found.
func (p *parser) manifest(root *yaml.Node) (*Manifest, error) {
	if root == nil {
		return nil, p.errorf(0, "frontmatter is empty: name required")
	}
	root = resolve(root)
	if root.Kind != yaml.MappingNode {
		return nil, p.errorf(root.Line, "frontmatter must be a YAML mapping of keys to values, not %s", kindName(root))
	}

	var (
		m        Manifest
		perms    trust.Permissions
		nameSeen bool
		metaVer  *yaml.Node // metadata.version, used when version is absent
		seen     = make(map[string]int)
	)
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], resolve(root.Content[i+1])
		if !knownKey(k.Value) {
			continue // author, license, tags, homepage, …
		}
		if line, ok := seen[k.Value]; ok {
			return nil, p.errorf(k.Line, "%s: duplicate key (first at line %d)", k.Value, line+1)
		}
		seen[k.Value] = k.Line

		var err error
		switch k.Value {
		case "name":
			nameSeen = true
			if m.Name, err = p.scalar(k.Value, v); err == nil {
				err = p.validateName(k, v, m.Name)
			}
		case "version":
			if m.Version, err = p.scalar(k.Value, v); err == nil && m.Version != "" {
				err = p.validateVersion(v, m.Version)
			}
		case "description":
			m.Description, err = p.scalar(k.Value, v)
		case "metadata":
			metaVer = metadataVersion(v)
		case "permissions":
			err = p.permissions(v, &perms)
		case "tools", "allowed-tools":
			err = p.toolDeclaration(k.Value, v, &perms.Tools)
		}
		if err != nil {
			return nil, err
		}
	}

	if !nameSeen || m.Name == "" {
		return nil, p.errorf(0, "name required")
	}
	if _, ok := seen["version"]; !ok && metaVer != nil {
		m.Version = metaVer.Value
		if err := p.validateVersion(metaVer, m.Version); err != nil {
			return nil, err
		}
	}
	m.Permissions = perms.Normalize()
	return &m, nil
}

func knownKey(k string) bool {
	switch k {
	case "name", "version", "description", "metadata", "permissions", "tools", "allowed-tools":
		return true
	}
	return false
}

// metadataVersion returns metadata.version when metadata is a mapping holding a
// non-null scalar version (the Agent Skills convention), or nil.
func metadataVersion(meta *yaml.Node) *yaml.Node {
	if meta.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(meta.Content); i += 2 {
		if meta.Content[i].Value == "version" {
			if v := resolve(meta.Content[i+1]); v.Kind == yaml.ScalarNode && !isNull(v) {
				return v
			}
			return nil
		}
	}
	return nil
}

// scalar returns the text of a scalar exactly as written (so version 1.0 stays
// "1.0"), "" for null, and an error for a list or mapping.
func (p *parser) scalar(field string, v *yaml.Node) (string, error) {
	if v.Kind != yaml.ScalarNode {
		return "", p.errorf(v.Line, "%s: must be a string, not %s", field, kindName(v))
	} else if isNull(v) {
		return "", nil
	}
	return v.Value, nil
}

func (p *parser) validateName(k, v *yaml.Node, name string) error {
	if name == "" {
		return p.errorf(k.Line, "name required")
	}
	if err := nonASCII("name", name); err != "" {
		return p.errorf(v.Line, "%s", err)
	}
	// The version is a valid placeholder: only the name is checked here.
	if err := trust.ValidateSkillRef(name, "0"); err != nil {
		return p.errorf(v.Line, "%s", trust.ErrorMessage(err))
	}
	return nil
}

func (p *parser) validateVersion(v *yaml.Node, version string) error {
	if err := nonASCII("version", version); err != "" {
		return p.errorf(v.Line, "%s", err)
	}
	// The name is a valid placeholder: only the version is checked here.
	if err := trust.ValidateSkillRef("x", version); err != nil {
		return p.errorf(v.Line, "%s", trust.ErrorMessage(err))
	}
	return nil
}

// nonASCII says which character of a name or version is not ASCII, or returns
// "". Names and versions are ASCII only, and a letter that could pass for an
// ASCII one, as the Cyrillic 'а' in "reаd_data" does, deserves pointing out.
func nonASCII(what, s string) string {
	for i, r := range s {
		if r >= utf8.RuneSelf {
			return fmt.Sprintf("invalid skill %s %s: non-ASCII character %U at byte %d", what, quote(s), r, i)
		}
	}
	return ""
}

// resolve follows an alias to the node it names.
func resolve(n *yaml.Node) *yaml.Node {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		return n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.SequenceNode:
		return "a list"
	case yaml.MappingNode:
		return "a mapping"
	case yaml.ScalarNode:
		return "a single value"
	default:
		return "an alias"
	}
}

// quote quotes s for an error message in ASCII, so that control characters and
// look-alike letters show as escapes, shortening it if it is long.
func quote(s string) string {
	const max = 80
	if len(s) <= max {
		return strconv.QuoteToASCII(s)
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return strconv.QuoteToASCII(s[:cut]) + "..."
}
