package skill

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/openagents/trust/shared/trust"
)

// perms builds normalized permissions for test expectations.
func perms(tools, network, exec, read, write []string) trust.Permissions {
	return trust.Permissions{
		Tools: tools, Network: network, Exec: exec,
		Filesystem: trust.FilesystemPermissions{Read: read, Write: write},
	}.Normalize()
}

var noPerms = trust.Permissions{}.Normalize()

// parseTests are the ParseManifest cases; FuzzParseManifest is seeded from them.
// A case has either want or err (the exact error message).
var parseTests = []struct {
	name string
	data string
	want *Manifest
	err  string
}{
	{
		name: "OK",
		data: "---\nname: hello\nversion: 1.0.0\ndescription: Says hello.\npermissions:\n" +
			"  tools: [web_fetch, mcp__appdeploy]\n  network: [api.github.com, \"*.example.com:8443\"]\n" +
			"  exec: [curl, /usr/bin/git]\n  filesystem:\n    read: [./data, ~/notes/*.md]\n    write: [/tmp/hello]\n" +
			"---\n\n# Hello\n",
		want: &Manifest{Name: "hello", Version: "1.0.0", Description: "Says hello.", Permissions: perms(
			[]string{"mcp__appdeploy", "web_fetch"}, []string{"*.example.com:8443", "api.github.com"},
			[]string{"/usr/bin/git", "curl"}, []string{"./data", "~/notes/*.md"}, []string{"/tmp/hello"})},
	},
	{
		name: "OKNameOnly",
		data: "---\nname: minimal\n---\n",
		want: &Manifest{Name: "minimal", Permissions: noPerms},
	},
	{
		name: "OKNoBody",
		data: "---\nname: minimal\n---",
		want: &Manifest{Name: "minimal", Permissions: noPerms},
	},
	{
		name: "OKVersionAsFloat",
		data: "---\nname: x\nversion: 1.0\n---\n",
		want: &Manifest{Name: "x", Version: "1.0", Permissions: noPerms},
	},
	{
		name: "OKVersionAsInt",
		data: "---\nname: x\nversion: 2\n---\n",
		want: &Manifest{Name: "x", Version: "2", Permissions: noPerms},
	},
	{
		name: "OKVersionTrailingZeros",
		data: "---\nname: x\nversion: 1.10\n---\n",
		want: &Manifest{Name: "x", Version: "1.10", Permissions: noPerms},
	},
	{
		name: "OKMetadataVersion",
		data: "---\nname: x\nmetadata:\n  author: me\n  version: \"2.1\"\n---\n",
		want: &Manifest{Name: "x", Version: "2.1", Permissions: noPerms},
	},
	{
		name: "OKVersionWinsOverMetadata",
		data: "---\nname: x\nmetadata: {version: 9.9}\nversion: 1.0.0\n---\n",
		want: &Manifest{Name: "x", Version: "1.0.0", Permissions: noPerms},
	},
	{
		name: "OKCRLFAndBOM",
		data: "\xef\xbb\xbf---\r\nname: x\r\nversion: 1.0.0\r\npermissions:\r\n  exec: [curl]\r\n---\r\nbody\r\n",
		want: &Manifest{Name: "x", Version: "1.0.0", Permissions: perms(nil, nil, []string{"curl"}, nil, nil)},
	},
	{
		name: "OKDelimiterTrailingSpace",
		data: "--- \nname: x\n---\t\n",
		want: &Manifest{Name: "x", Permissions: noPerms},
	},
	{
		name: "OKUnknownKeysIgnored",
		data: "---\nname: x\nauthor: me\ntags: [a, b]\nmetadata: {openclaw: {emoji: \"x\"}}\nhomepage: https://example.com\n" +
			"author: twice\n---\n",
		want: &Manifest{Name: "x", Permissions: noPerms},
	},
	{
		name: "OKAllowedToolsString",
		data: "---\nname: x\nallowed-tools: Read, Grep Bash(git log:*),Bash(npx awal@2.0.3 status*)\n---\n",
		want: &Manifest{Name: "x", Permissions: perms(
			[]string{"Read", "Grep", "Bash(git log:*)", "Bash(npx awal@2.0.3 status*)"}, nil, nil, nil, nil)},
	},
	{
		name: "OKToolsMerged",
		data: "---\nname: x\ntools: [web_fetch, Read]\nallowed-tools:\n  - \"Read\"\n  - mcp__appdeploy\npermissions:\n  tools: [web_fetch]\n---\n",
		want: &Manifest{Name: "x", Permissions: perms([]string{"Read", "mcp__appdeploy", "web_fetch"}, nil, nil, nil, nil)},
	},
	{
		name: "OKNullAndEmpty",
		data: "---\nname: x\ndescription:\ntools:\nallowed-tools: \"\"\npermissions:\n  tools: []\n  network:\n  filesystem:\n---\n",
		want: &Manifest{Name: "x", Permissions: noPerms},
	},
	{
		name: "OKNullPermissions",
		data: "---\nname: x\npermissions:\n---\n",
		want: &Manifest{Name: "x", Permissions: noPerms},
	},
	{
		name: "OKHostsNormalized",
		data: "---\nname: x\npermissions:\n  network: [API.GitHub.com, \"10.0.0.1:8080\", \"[2001:DB8::1]:443\", \"::1\", localhost]\n---\n",
		want: &Manifest{Name: "x", Permissions: perms(nil,
			[]string{"api.github.com", "10.0.0.1:8080", "[2001:db8::1]:443", "[::1]", "localhost"}, nil, nil, nil)},
	},
	{
		name: "OKEntriesTrimmedAndDeduplicated",
		data: "---\nname: x\npermissions:\n  exec: [\" curl \", curl, bash]\n---\n",
		want: &Manifest{Name: "x", Permissions: perms(nil, nil, []string{"bash", "curl"}, nil, nil)},
	},
	{
		name: "OKAlias",
		data: "---\nname: x\nhosts: &hosts [api.github.com]\npermissions:\n  network: *hosts\n---\n",
		want: &Manifest{Name: "x", Permissions: perms(nil, []string{"api.github.com"}, nil, nil, nil)},
	},
	{
		name: "OKMultilineDescription",
		data: "---\nname: x\ndescription: |\n  Line one.\n  Line two.\n---\n",
		want: &Manifest{Name: "x", Description: "Line one.\nLine two.\n", Permissions: noPerms},
	},

	{name: "ErrEmptyFile", data: "", err: "SKILL.md: no frontmatter: the file must start with a '---' line"},
	{name: "ErrNoFrontmatter", data: "# Title\n", err: "SKILL.md: no frontmatter: the file must start with a '---' line"},
	{name: "ErrLeadingBlankLine", data: "\n---\nname: x\n---\n", err: "SKILL.md: no frontmatter: the file must start with a '---' line"},
	{name: "ErrDelimiterWithText", data: "--- name: x\n---\n", err: "SKILL.md: no frontmatter: the file must start with a '---' line"},
	{name: "ErrNotClosed", data: "---\nname: x\n\n# Body\n", err: "SKILL.md:1: frontmatter not closed: no '---' line after the opening one"},
	{name: "ErrEmptyFrontmatter", data: "---\n---\n", err: "SKILL.md: frontmatter is empty: name required"},
	{name: "ErrCommentOnly", data: "---\n# nothing\n---\n", err: "SKILL.md: frontmatter is empty: name required"},
	{name: "ErrNameRequired", data: "---\ndescription: x\n---\n", err: "SKILL.md: name required"},
	{name: "ErrNameNull", data: "---\ndescription: x\nname:\n---\n", err: "SKILL.md:3: name required"},
	{name: "ErrNameEmpty", data: "---\nname: \"\"\n---\n", err: "SKILL.md:2: name required"},
	{
		name: "ErrNameInvalid",
		data: "---\nname: Chat with PDF\n---\n",
		err:  `SKILL.md:2: invalid skill name "Chat with PDF": use letters, digits, '.', '_' and '-' (at most 128)`,
	},
	{
		name: "ErrNameNonASCII",
		data: "---\nname: re\u0430d_data\n---\n",
		err:  `SKILL.md:2: invalid skill name "re\u0430d_data": non-ASCII character U+0430 at byte 2`,
	},
	{
		name: "ErrVersionNonASCII",
		data: "---\nname: x\nversion: 1.0\uff41\n---\n",
		err:  `SKILL.md:3: invalid skill version "1.0\uff41": non-ASCII character U+FF41 at byte 3`,
	},
	{name: "ErrNameList", data: "---\nname: [a, b]\n---\n", err: "SKILL.md:2: name: must be a string, not a list"},
	{
		name: "ErrVersionInvalid",
		data: "---\nname: x\nversion: v 1\n---\n",
		err:  `SKILL.md:3: invalid skill version "v 1": use letters, digits, '.', '+', '_' and '-' (at most 64)`,
	},
	{
		name: "ErrMetadataVersionInvalid",
		data: "---\nname: x\nmetadata:\n  version: \"1 0\"\n---\n",
		err:  `SKILL.md:4: invalid skill version "1 0": use letters, digits, '.', '+', '_' and '-' (at most 64)`,
	},
	{name: "ErrDescriptionMapping", data: "---\nname: x\ndescription:\n  a: b\n---\n", err: "SKILL.md:4: description: must be a string, not a mapping"},
	{
		name: "ErrYAMLSyntax",
		data: "---\nname: x\ndescription: Use for: everything\n---\n",
		err:  "SKILL.md:3: yaml: mapping values are not allowed in this context",
	},
	{
		name: "ErrYAMLSyntaxFirstLine",
		data: "---\nname: x: y\n---\n",
		err:  "SKILL.md:2: yaml: mapping values are not allowed in this context",
	},
	{
		name: "ErrYAMLUnknownAnchor",
		data: "---\nname: x\n\npermissions:\n  network: *hosts\n---\n",
		err:  "SKILL.md:5: yaml: unknown anchor 'hosts' referenced",
	},
	{name: "ErrControlCharacter", data: "---\nname: x\ndescription: a\x01b\n---\n", err: "SKILL.md:3: control character U+0001 not allowed"},
	{name: "ErrInvalidUTF8", data: "---\nname: x\n\ndescription: \xff\n---\n", err: "SKILL.md:4: invalid UTF-8"},
	{name: "ErrNotMapping", data: "---\n- name: x\n---\n", err: "SKILL.md:2: frontmatter must be a YAML mapping of keys to values, not a list"},
	{name: "ErrScalarFrontmatter", data: "---\nhello\n---\n", err: "SKILL.md:2: frontmatter must be a YAML mapping of keys to values, not a single value"},
	{name: "ErrDocumentEnd", data: "---\nname: x\n...\nname: y\n---\n", err: "SKILL.md:3: yaml: did not find expected <document start>"},
	{name: "ErrSecondDocument", data: "---\nname: x\n--- {name: y}\n---\n", err: "SKILL.md:3: frontmatter holds more than one YAML document"},
	{name: "ErrDuplicateName", data: "---\nname: x\nversion: 1\nname: y\n---\n", err: "SKILL.md:4: name: duplicate key (first at line 2)"},
	{
		name: "ErrPermissionsList",
		data: "---\nname: x\npermissions:\n  - read\n---\n",
		err:  "SKILL.md:4: permissions: must be a mapping with the keys tools, network, exec and filesystem, not a list",
	},
	{
		name: "ErrPermissionsUnknownKey",
		data: "---\nname: x\npermissions:\n  tools: [web_fetch]\n  netwrok: [api.example.com]\n---\n",
		err:  `SKILL.md:5: permissions: unknown key "netwrok" (want tools, network, exec or filesystem)`,
	},
	{
		name: "ErrPermissionsDuplicateKey",
		data: "---\nname: x\npermissions:\n  network: [a.example.com]\n  network: [b.example.com]\n---\n",
		err:  "SKILL.md:5: permissions.network: duplicate key (first at line 4)",
	},
	{
		name: "ErrFilesystemUnknownKey",
		data: "---\nname: x\npermissions:\n  filesystem:\n    read: [/tmp]\n    exec: [/bin]\n---\n",
		err:  `SKILL.md:6: permissions.filesystem: unknown key "exec" (want read or write)`,
	},
	{
		name: "ErrFilesystemList",
		data: "---\nname: x\npermissions:\n  filesystem: [/tmp]\n---\n",
		err:  "SKILL.md:4: permissions.filesystem: must be a mapping with the keys read and write, not a list",
	},
	{
		name: "ErrToolsMapping",
		data: "---\nname: x\npermissions:\n  tools:\n    allow: [read]\n---\n",
		err:  "SKILL.md:5: permissions.tools: must be a list, not a mapping",
	},
	{
		name: "ErrNetworkString",
		data: "---\nname: x\npermissions:\n  network: api.github.com\n---\n",
		err:  "SKILL.md:4: permissions.network: must be a list, not a single value",
	},
	{
		name: "ErrInvalidHost",
		data: "---\nname: x\npermissions:\n  network: [api.github.com, \"http://x\"]\n---\n",
		err:  `SKILL.md:4: permissions.network[1]: invalid host "http://x": write a host name, not a URL`,
	},
	{
		name: "ErrInvalidHostOnItsLine",
		data: "---\nname: x\npermissions:\n  network:\n    - api.github.com\n    - \"*\"\n---\n",
		err:  `SKILL.md:6: permissions.network[1]: invalid host "*": a wildcard is allowed only as a leading "*."`,
	},
	{
		name: "ErrEmptyEntry",
		data: "---\nname: x\npermissions:\n  exec: [curl, \" \"]\n---\n",
		err:  "SKILL.md:4: permissions.exec[1]: empty entry",
	},
	{
		name: "ErrNullEntry",
		data: "---\nname: x\npermissions:\n  tools:\n    -\n---\n",
		err:  "SKILL.md:5: permissions.tools[0]: empty entry",
	},
	{
		name: "ErrEntryNotString",
		data: "---\nname: x\npermissions:\n  tools:\n    - {name: web_fetch}\n---\n",
		err:  "SKILL.md:5: permissions.tools[0]: must be a string, not a mapping",
	},
	{
		name: "ErrInvalidTool",
		data: "---\nname: x\nallowed-tools: Read, Web Fetch!\n---\n",
		err:  `SKILL.md:3: allowed-tools[2]: invalid tool "Fetch!": a tool name uses letters, digits, '_', '.' and '-'`,
	},
	{
		name: "ErrToolsUnbalanced",
		data: "---\nname: x\nallowed-tools: Read Bash(git log\n---\n",
		err:  `SKILL.md:3: allowed-tools: unbalanced parentheses in "Read Bash(git log"`,
	},
	{
		name: "ErrInvalidProgram",
		data: "---\nname: x\npermissions:\n  exec: [\"curl -fsS\"]\n---\n",
		err:  `SKILL.md:4: permissions.exec[0]: invalid program "curl -fsS": write a program name like curl or an absolute path like /usr/bin/curl, without arguments`,
	},
	{
		name: "ErrPathControlCharacter",
		data: "---\nname: x\npermissions:\n  filesystem:\n    write: [\"/tmp/a\\tb\"]\n---\n",
		err:  `SKILL.md:5: permissions.filesystem.write[0]: invalid path "/tmp/a\tb": control character U+0009 not allowed`,
	},
	{
		name: "ErrTooLarge",
		data: "---\nname: x\n---\n" + strings.Repeat("x", MaxManifestSize),
		err:  "SKILL.md: file too large: 1048592 bytes, at most 1048576 (1 MiB)",
	},
}

func TestParseManifest(t *testing.T) {
	for _, tt := range parseTests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseManifest("SKILL.md", []byte(tt.data))
			if tt.err != "" {
				MustInvalid(t, err, tt.err)
				if got != nil {
					t.Errorf("got manifest %+v with the error, want nil", got)
				}
				return
			}
			if err != nil {
				t.Fatalf("got error %v, want none", err)
			} else if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestParseManifest_Filename(t *testing.T) {
	_, err := ParseManifest("skills/x/SKILL.md", []byte("---\nname: x\nversion: v 1\n---\n"))
	MustInvalid(t, err, `skills/x/SKILL.md:3: invalid skill version "v 1": use letters, digits, '.', '+', '_' and '-' (at most 64)`)
}

func TestParseManifest_LongValueShortened(t *testing.T) {
	long := strings.Repeat("a", 200)
	_, err := ParseManifest("SKILL.md", []byte("---\nname: x\npermissions:\n  exec: [\""+long+" b\"]\n---\n"))
	want := `SKILL.md:4: permissions.exec[0]: invalid program "` + strings.Repeat("a", 80) + `"...: write a program name like curl or an absolute path like /usr/bin/curl, without arguments`
	MustInvalid(t, err, want)
}

func TestManifest_Ref(t *testing.T) {
	m := MustParseManifest(t, "---\nname: hello\nversion: 1.0.0\n---\n")
	if got, want := m.Ref(), (trust.SkillRef{Name: "hello", Version: "1.0.0"}); got != want {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestLoad(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		m, err := Load(filepath.Join("..", "..", "testdata", "skills", "hello"))
		if err != nil {
			t.Fatal(err)
		}
		want := &Manifest{
			Name:        "hello",
			Version:     "1.0.0",
			Description: "Greets the user and, given a GitHub login, shows that user's public profile. A small sample skill for the OpenAgents Trust walkthrough.",
			Permissions: perms([]string{"web_fetch"}, []string{"api.github.com"}, []string{"curl"}, nil, nil),
		}
		if !reflect.DeepEqual(m, want) {
			t.Errorf("got  %+v\nwant %+v", m, want)
		}
	})

	t.Run("OKAllowedTools", func(t *testing.T) {
		m, err := Load(filepath.Join("..", "..", "testdata", "skills", "allowed-tools"))
		if err != nil {
			t.Fatal(err)
		}
		if got, want := m.Version, "2.1"; got != want {
			t.Errorf("got version %q, want %q", got, want)
		}
		if got, want := m.Permissions.Tools, []string{"Bash(git log:*)", "Grep", "Read"}; !reflect.DeepEqual(got, want) {
			t.Errorf("got tools %q, want %q", got, want)
		}
	})

	t.Run("OKRootIsSymlink", func(t *testing.T) {
		dir := t.TempDir()
		MustWriteFile(t, filepath.Join(dir, "real", ManifestFile), "---\nname: x\n---\n")
		MustSymlink(t, "real", filepath.Join(dir, "link"))
		if _, err := Load(filepath.Join(dir, "link")); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("ErrUnknownPermissionKey", func(t *testing.T) {
		_, err := Load(filepath.Join("..", "..", "testdata", "skills", "unknown-permission-key"))
		MustInvalid(t, err, `SKILL.md:7: permissions: unknown key "netwrok" (want tools, network, exec or filesystem)`)
	})

	t.Run("ErrNotFound", func(t *testing.T) {
		_, err := Load(t.TempDir())
		MustInvalid(t, err, "SKILL.md: not found: a skill folder must have a SKILL.md file at its root")
	})

	t.Run("ErrSymlink", func(t *testing.T) {
		dir := t.TempDir()
		MustWriteFile(t, filepath.Join(dir, "other.md"), "---\nname: x\n---\n")
		MustSymlink(t, "other.md", filepath.Join(dir, ManifestFile))
		_, err := Load(dir)
		MustInvalid(t, err, "SKILL.md: not a regular file (a symlink)")
	})

	t.Run("ErrDirectory", func(t *testing.T) {
		dir := t.TempDir()
		if err := os.Mkdir(filepath.Join(dir, ManifestFile), 0o755); err != nil {
			t.Fatal(err)
		}
		_, err := Load(dir)
		MustInvalid(t, err, "SKILL.md: not a regular file (a directory)")
	})

	t.Run("ErrTooLarge", func(t *testing.T) {
		dir := t.TempDir()
		MustWriteFile(t, filepath.Join(dir, ManifestFile), "---\nname: x\n---\n"+strings.Repeat("x", MaxManifestSize))
		_, err := Load(dir)
		MustInvalid(t, err, "SKILL.md: file too large: 1048592 bytes, at most 1048576 (1 MiB)")
	})

	t.Run("ErrNoFolder", func(t *testing.T) {
		_, err := Load(filepath.Join(t.TempDir(), "missing"))
		if err == nil {
			t.Fatal("got no error")
		} else if !errors.Is(err, os.ErrNotExist) {
			t.Errorf("got %v, want a not-exist error", err)
		}
	})
}

// MustParseManifest parses data as SKILL.md and fails the test on error.
func MustParseManifest(tb testing.TB, data string) *Manifest {
	tb.Helper()
	m, err := ParseManifest(ManifestFile, []byte(data))
	if err != nil {
		tb.Fatal(err)
	}
	return m
}

// MustInvalid fails the test unless err is an EINVALID *trust.Error with the
// message want.
func MustInvalid(tb testing.TB, err error, want string) {
	tb.Helper()
	var e *trust.Error
	if err == nil {
		tb.Fatalf("got no error, want %q", want)
	} else if !errors.As(err, &e) {
		tb.Fatalf("got %T %v, want a *trust.Error", err, err)
	} else if e.Code != trust.EINVALID {
		tb.Errorf("got code %q, want %q", e.Code, trust.EINVALID)
	}
	if e.Message != want {
		tb.Errorf("got message  %q\nwant message %q", e.Message, want)
	}
}

// MustWriteFile writes data to name, creating its parent directories.
func MustWriteFile(tb testing.TB, name, data string) {
	tb.Helper()
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		tb.Fatal(err)
	} else if err := os.WriteFile(name, []byte(data), 0o644); err != nil {
		tb.Fatal(err)
	}
}

// MustSymlink creates the symlink name pointing at target.
func MustSymlink(tb testing.TB, target, name string) {
	tb.Helper()
	if err := os.Symlink(target, name); err != nil {
		tb.Fatal(err)
	}
}
