package vuln

import (
	"reflect"
	"testing"
)

func TestManifestKind(t *testing.T) {
	for name, want := range map[string]string{
		"requirements.txt":             "requirements",
		"scripts/requirements-dev.txt": "requirements",
		"dev-requirements.txt":         "requirements",
		"requirements/base.txt":        "requirements",
		"constraints.txt":              "requirements",
		"notes.txt":                    "",
		"pyproject.toml":               "pyproject",
		"web/package.json":             "package.json",
		"package-lock.json":            "package-lock",
		"npm-shrinkwrap.json":          "package-lock",
		"yarn.lock":                    "yarn.lock",
		"pnpm-lock.yaml":               "pnpm-lock",
		"SKILL.md":                     "",
	} {
		if got := ManifestKind(name); got != want {
			t.Errorf("ManifestKind(%q) = %q, want %q", name, got, want)
		}
	}
}

func TestParseRequirements(t *testing.T) {
	text := "# comment\n" +
		"requests==2.2.0  # pinned\n" +
		"Flask[async]>=2.0,<3 ; python_version >= \"3.8\"\n" +
		"numpy \\\n" +
		"    ==1.26.4 \\\n" +
		"    --hash=sha256:0123456789abcdef\n" +
		"-r other.txt\n" +
		"--requirement=../outside.txt\n" +
		"-e git+https://github.com/org/tool.git@v1#egg=tool\n" +
		"pkg @ https://example.com/pkg-1.0.tar.gz\n" +
		"git+https://github.com/org/lib.git#egg=lib\n" +
		"--extra-index-url https://user:s3cr3t@pkgs.example.com/simple\n" +
		"--index-url https://pypi.org/simple\n" +
		"./local/pkg\n" +
		"django (>=4.2)\n" +
		"this is prose, not a requirement\n" +
		"rich\n"
	want := []Dep{
		{Ecosystem: PyPI, Name: "requests", Spec: "==2.2.0", Kind: FromRegistry, Line: 2},
		{Ecosystem: PyPI, Name: "Flask", Spec: ">=2.0,<3", Kind: FromRegistry, Line: 3},
		{Ecosystem: PyPI, Name: "numpy", Spec: "==1.26.4", Kind: FromRegistry, Line: 4},
		{Ecosystem: PyPI, Kind: FromInclude, Target: "other.txt", Line: 7},
		{Ecosystem: PyPI, Kind: FromInclude, Target: "../outside.txt", Line: 8},
		{Ecosystem: PyPI, Name: "tool", Kind: FromURL, Target: "git+https://github.com/org/tool.git@v1#egg=tool", Line: 9},
		{Ecosystem: PyPI, Name: "pkg", Kind: FromURL, Target: "https://example.com/pkg-1.0.tar.gz", Line: 10},
		{Ecosystem: PyPI, Name: "lib", Kind: FromURL, Target: "git+https://github.com/org/lib.git#egg=lib", Line: 11},
		{Ecosystem: PyPI, Kind: FromIndex, Target: "https://user:s3cr3t@pkgs.example.com/simple", Line: 12},
		{Ecosystem: PyPI, Kind: FromPath, Target: "./local/pkg", Line: 14},
		{Ecosystem: PyPI, Name: "django", Spec: ">=4.2", Kind: FromRegistry, Line: 15},
		{Ecosystem: PyPI, Name: "rich", Kind: FromRegistry, Line: 17},
	}
	got := parseRequirements(text)
	if !reflect.DeepEqual(got, want) {
		for i := range max(len(got), len(want)) {
			var g, w Dep
			if i < len(got) {
				g = got[i]
			}
			if i < len(want) {
				w = want[i]
			}
			if g != w {
				t.Errorf("dep %d:\n got %+v\nwant %+v", i, g, w)
			}
		}
	}
}

func TestParsePyproject(t *testing.T) {
	text := `[build-system]
requires = ["hatchling"]

[project]
name = "demo"
dependencies = [
  "httpx>=0.27",  # comment with ] bracket
  'pyyaml==6.0.1',
]

[project.optional-dependencies]
dev = ["pytest==8.0.0", "reqeusts"]

[tool.other]
dependencies = ["ignored==1.0"]
`
	want := []Dep{
		{Ecosystem: PyPI, Name: "httpx", Spec: ">=0.27", Kind: FromRegistry, Line: 7},
		{Ecosystem: PyPI, Name: "pyyaml", Spec: "==6.0.1", Kind: FromRegistry, Line: 8},
		{Ecosystem: PyPI, Name: "pytest", Spec: "==8.0.0", Kind: FromRegistry, Line: 12},
		{Ecosystem: PyPI, Name: "reqeusts", Kind: FromRegistry, Line: 12},
	}
	if got := parsePyproject(text); !reflect.DeepEqual(got, want) {
		t.Errorf("parsePyproject =\n%+v\nwant\n%+v", got, want)
	}
}

func TestParsePackageJSON(t *testing.T) {
	data := []byte(`{
  "name": "demo",
  "dependencies": {
    "lodash": "^4.17.0",
    "left": "npm:lodash@4.17.20",
    "local": "file:../outside",
    "gh": "someone/repo#main",
    "tarball": "https://example.com/x.tgz"
  },
  "devDependencies": {
    "jest": "29.7.0"
  }
}`)
	want := []Dep{
		{Ecosystem: Npm, Name: "lodash", Spec: "^4.17.0", Kind: FromRegistry, Line: 4},
		{Ecosystem: Npm, Name: "lodash", Spec: "4.17.20", Kind: FromRegistry, Line: 5},
		{Ecosystem: Npm, Name: "local", Kind: FromPath, Target: "file:../outside", Line: 6},
		{Ecosystem: Npm, Name: "gh", Kind: FromURL, Target: "someone/repo#main", Line: 7},
		{Ecosystem: Npm, Name: "tarball", Kind: FromURL, Target: "https://example.com/x.tgz", Line: 8},
		{Ecosystem: Npm, Name: "jest", Spec: "29.7.0", Kind: FromRegistry, Line: 11},
	}
	if got := parsePackageJSON(data); !reflect.DeepEqual(got, want) {
		t.Errorf("parsePackageJSON =\n%+v\nwant\n%+v", got, want)
	}
}

func TestParsePackageLock(t *testing.T) {
	v3 := []byte(`{
  "name": "demo",
  "lockfileVersion": 3,
  "packages": {
    "": {"name": "demo"},
    "node_modules/lodash": {
      "version": "4.17.20",
      "resolved": "https://registry.npmjs.org/lodash/-/lodash-4.17.20.tgz"
    },
    "node_modules/@scope/pkg": {"version": "1.0.0"},
    "node_modules/a/node_modules/b": {"version": "2.0.0", "resolved": "git+ssh://git@github.com/x/b.git#abc"}
  }
}`)
	want := []Dep{
		{Ecosystem: Npm, Name: "lodash", Spec: "4.17.20", Kind: FromRegistry, Line: 6, Locked: true},
		{Ecosystem: Npm, Name: "@scope/pkg", Spec: "1.0.0", Kind: FromRegistry, Line: 10, Locked: true},
		{Ecosystem: Npm, Name: "b", Spec: "2.0.0", Kind: FromURL, Target: "git+ssh://git@github.com/x/b.git#abc", Line: 11, Locked: true},
	}
	if got := parsePackageLock(v3); !reflect.DeepEqual(got, want) {
		t.Errorf("v3 =\n%+v\nwant\n%+v", got, want)
	}
	v1 := []byte(`{
  "lockfileVersion": 1,
  "dependencies": {
    "lodash": {"version": "4.17.4", "dependencies": {"minimist": {"version": "0.0.8"}}}
  }
}`)
	want = []Dep{
		{Ecosystem: Npm, Name: "lodash", Spec: "4.17.4", Kind: FromRegistry, Line: 4, Locked: true},
		{Ecosystem: Npm, Name: "minimist", Spec: "0.0.8", Kind: FromRegistry, Line: 4, Locked: true},
	}
	if got := parsePackageLock(v1); !reflect.DeepEqual(got, want) {
		t.Errorf("v1 =\n%+v\nwant\n%+v", got, want)
	}
}

func TestParseYarnLock(t *testing.T) {
	classic := `# yarn lockfile v1

"@babel/code-frame@^7.0.0", "@babel/code-frame@^7.10.4":
  version "7.12.13"
  resolved "https://registry.yarnpkg.com/@babel/code-frame/-/code-frame-7.12.13.tgz"

lodash@^4.17.0:
  version "4.17.20"
`
	berry := `__metadata:
  version: 6

"lodash@npm:^4.17.0":
  version: 4.17.20
  resolution: "lodash@npm:4.17.20"
`
	want := []Dep{
		{Ecosystem: Npm, Name: "@babel/code-frame", Spec: "7.12.13", Kind: FromRegistry, Line: 3, Locked: true},
		{Ecosystem: Npm, Name: "lodash", Spec: "4.17.20", Kind: FromRegistry, Line: 7, Locked: true},
	}
	if got := parseYarnLock(classic); !reflect.DeepEqual(got, want) {
		t.Errorf("classic =\n%+v\nwant\n%+v", got, want)
	}
	got := parseYarnLock(berry)
	if len(got) != 1 || got[0].Name != "lodash@npm:^4.17.0"[:len("lodash")] || got[0].Spec != "4.17.20" || got[0].Line != 4 {
		t.Errorf("berry = %+v", got)
	}
}

func TestParsePnpmLock(t *testing.T) {
	text := `lockfileVersion: '9.0'

importers:
  .:
    dependencies:
      lodash:
        specifier: ^4.17.0
        version: 4.17.20

packages:
  lodash@4.17.20:
    resolution: {integrity: sha512-x}
  '@scope/pkg@1.0.0(react@18.2.0)':
    resolution: {integrity: sha512-y}

snapshots:
  lodash@4.17.20: {}
`
	want := []Dep{
		{Ecosystem: Npm, Name: "lodash", Spec: "4.17.20", Kind: FromRegistry, Line: 11, Locked: true},
		{Ecosystem: Npm, Name: "@scope/pkg", Spec: "1.0.0", Kind: FromRegistry, Line: 13, Locked: true},
	}
	if got := parsePnpmLock(text); !reflect.DeepEqual(got, want) {
		t.Errorf("parsePnpmLock =\n%+v\nwant\n%+v", got, want)
	}
}

func FuzzParseManifest(f *testing.F) {
	f.Add("requirements.txt", "requests==2.2.0\n-r x.txt\npkg @ https://x/y.tgz\n")
	f.Add("pyproject.toml", "[project]\ndependencies = [\"a>=1\",\n]\n")
	f.Add("package.json", `{"dependencies": {"a": "^1.0.0", "b": "npm:c@1"}}`)
	f.Add("package-lock.json", `{"packages": {"node_modules/a": {"version": "1.0.0"}}}`)
	f.Add("yarn.lock", "a@^1:\n  version \"1.0.0\"\n")
	f.Add("pnpm-lock.yaml", "packages:\n  a@1.0.0:\n")
	f.Add("poetry.lock", "[[package]]\nname = \"a\"\nversion = \"1.0\"\n[package.source]\ntype = \"git\"\nurl = \"x\"\n")
	f.Add("Pipfile.lock", `{"default": {"a": {"version": "==1.0"}}}`)
	f.Fuzz(func(t *testing.T, name, body string) {
		for _, d := range ParseManifest(name, []byte(body)) {
			if d.Line < 0 {
				t.Errorf("negative line in %+v", d)
			}
		}
	})
}

func TestParsePythonLock(t *testing.T) {
	poetry := `[[package]]
name = "requests"
version = "2.2.1"
description = "HTTP for Humans."
optional = false

[package.dependencies]
idna = ">=2.5"

[[package]]
name = "tool"
version = "0.1.0"

[package.source]
type = "git"
url = "https://github.com/org/tool.git"

[metadata]
lock-version = "2.0"
`
	uv := `version = 1

[[package]]
name = "httpx"
version = "0.27.0"
source = { registry = "https://pypi.org/simple" }

[[package]]
name = "internal-lib"
version = "1.0.0"
source = { registry = "https://pkgs.example.com/simple" }

[[package]]
name = "demo"
version = "0.1.0"
source = { editable = "." }
`
	for name, tt := range map[string]struct {
		text string
		want []Dep
	}{
		"Poetry": {poetry, []Dep{
			{Ecosystem: PyPI, Name: "requests", Spec: "==2.2.1", Kind: FromRegistry, Line: 1, Locked: true},
			{Ecosystem: PyPI, Name: "tool", Kind: FromURL, Target: "https://github.com/org/tool.git", Line: 10},
		}},
		"UV": {uv, []Dep{
			{Ecosystem: PyPI, Name: "httpx", Spec: "==0.27.0", Kind: FromRegistry, Line: 3, Locked: true},
			{Ecosystem: PyPI, Name: "internal-lib", Kind: FromIndex, Target: "https://pkgs.example.com/simple", Line: 8},
			{Ecosystem: PyPI, Name: "demo", Kind: FromPath, Target: ".", Line: 13},
		}},
	} {
		if got := parsePythonLock(tt.text); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s =\n%+v\nwant\n%+v", name, got, tt.want)
		}
	}
}

func TestParsePipfileLock(t *testing.T) {
	data := []byte(`{
  "_meta": {"hash": {"sha256": "x"}},
  "default": {
    "requests": {"hashes": ["sha256:x"], "version": "==2.2.1"},
    "tool": {"git": "https://github.com/org/tool.git", "ref": "abc"}
  },
  "develop": {
    "pytest": {"version": "==8.0.0"}
  }
}`)
	want := []Dep{
		{Ecosystem: PyPI, Name: "requests", Spec: "==2.2.1", Kind: FromRegistry, Line: 4, Locked: true},
		{Ecosystem: PyPI, Name: "tool", Kind: FromURL, Target: "https://github.com/org/tool.git", Line: 5},
		{Ecosystem: PyPI, Name: "pytest", Spec: "==8.0.0", Kind: FromRegistry, Line: 8, Locked: true},
	}
	if got := parsePipfileLock(data); !reflect.DeepEqual(got, want) {
		t.Errorf("parsePipfileLock =\n%+v\nwant\n%+v", got, want)
	}
}
