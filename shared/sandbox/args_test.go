package sandbox

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestInvocation(t *testing.T) {
	for _, tt := range []struct {
		name, script, text string
		want               []string
	}{
		{"JSONUsage", "index.js", `{"example": "node index.js --latitude 32.0853 --longitude 34.7818",`, []string{"--latitude", "32.0853", "--longitude", "34.7818"}},
		{"PlainUsage", "scripts/fetch.py", "Example: python3 scripts/fetch.py AAPL --days 5\n", []string{"AAPL", "--days", "5"}},
		{"Markdown", "run.sh", "Run `bash run.sh report.csv` to build it.", []string{"report.csv"}},
		{"Quoted", "say.py", `python3 say.py "hello world" --n 2`, []string{"hello world", "--n", "2"}},
		{"Comment", "a.py", "python a.py --x 1  # the x\n", []string{"--x", "1"}},
		{"FirstConcreteWins", "a.py", "usage: a.py <file> [--v]\nexample: a.py notes.txt\n", []string{"notes.txt"}},
		{"PlaceholderOnly", "a.py", "usage: python a.py <input> [options]", nil},
		{"Ellipsis", "a.py", "a.py FILE...", nil},
		{"ShellSyntax", "a.py", "a.py $(cat /etc/passwd)", nil},
		{"Variable", "a.py", "a.py $HOME", nil},
		{"Pipe", "a.py", "a.py x | sh", nil},
		{"NoArgs", "a.py", "run a.py\nthen stop", nil},
		{"NotTheName", "a.py", "data.py --x 1", nil},
		{"Suffix", "a.py", "a.pyc --x", nil},
		{"UnclosedQuote", "a.py", `a.py "oops`, nil},
		{"TooMany", "a.py", "a.py 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17", nil},
		{"Empty", "a.py", "", nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := invocation(tt.script, tt.text)
			if ok != (tt.want != nil) || !slices.Equal(got, tt.want) {
				t.Errorf("invocation(%q, %q) = %q, %v; want %q", tt.script, tt.text, got, ok, tt.want)
			}
		})
	}
}

func FuzzInvocation(f *testing.F) {
	f.Add("index.js", `"node index.js --a 1",`)
	f.Add("a.py", "a.py \"x y\" 'z'")
	f.Fuzz(func(t *testing.T, script, text string) {
		args, ok := invocation(script, text)
		if ok && (len(args) == 0 || len(args) > maxInvocationArgs) {
			t.Fatalf("accepted %d words", len(args))
		}
		for _, a := range args {
			if a == "" || len(a) > maxInvocationArg {
				t.Fatalf("accepted word %q", a)
			}
		}
	})
}

// A script SKILL.md shows being called with arguments is run with them.
func TestEntriesDocumentedArgs(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "SKILL.md"), []byte("---\nname: t\n---\nCall `python3 tool.py --city Paris` for a report.\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "tool.py"), []byte("print(1)\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "other.py"), []byte("print(2)\n"), 0o644)
	es, err := Entries(dir, 12, func(string) bool { return true })
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{
		"other.py":                    {"python3", "other.py"},
		"tool.py (as SKILL.md shows)": {"python3", "tool.py", "--city", "Paris"},
	}
	if len(es) != len(want) {
		t.Fatalf("entries: %+v", es)
	}
	for _, e := range es {
		if !slices.Equal(e.Argv, want[e.Name]) || e.Kind != KindScript {
			t.Errorf("entry %+v, want argv %q", e, want[e.Name])
		}
	}
}

func TestInstructionCommands(t *testing.T) {
	md := "# X\n" +
		"For macOS: copy the command `echo 'aGk=' | base64 -D | bash` and run it in Terminal.\n" +
		"Run `npm test` before you start, then `ls`.\n" +
		"The file `config.yaml holds` settings.\n" + // no instruction on the line
		"```bash\nrun `inside a fence` here\n```\n" +
		"Paste `--flag value` somewhere.\n" // not a command
	got := instructionCommands(md)
	want := []block{{2, "echo 'aGk=' | base64 -D | bash"}, {3, "npm test"}}
	if !slices.Equal(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
}

// SKILL.md's entries come in document order, whatever their form: a
// prerequisite at the top runs before the examples below it.
func TestEntriesDocumentOrder(t *testing.T) {
	dir := t.TempDir()
	md := "---\nname: t\n---\n" +
		"Run `setup-tool --init now` first.\n" + // line 4
		"Download [the helper](https://dl.example/helper.zip) and run it.\n" + // line 5
		"```bash\necho example\n```\n" // block, first command on line 7
	os.WriteFile(filepath.Join(dir, "SKILL.md"), []byte(md), 0o644)
	es, err := Entries(dir, 12, func(string) bool { return true })
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name)
	}
	if want := []string{"SKILL.md:4 (inline)", "SKILL.md:5", "SKILL.md:7"}; !slices.Equal(names, want) {
		t.Errorf("entries %q, want %q", names, want)
	}
}
