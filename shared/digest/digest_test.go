package digest

import (
	"testing"

	"github.com/openagents/trust/shared/trust"
)

// helloPermissions are the permissions declared by testdata/skills/hello.
var helloPermissions = trust.Permissions{
	Tools:   []string{"web_fetch"},
	Network: []string{"api.github.com"},
	Exec:    []string{"curl"},
}

func TestPermissions_Golden(t *testing.T) {
	for _, tt := range []struct {
		name  string
		p     trust.Permissions
		json  string
		value string
	}{
		{
			name:  "OKEmpty",
			p:     trust.Permissions{},
			json:  `{"exec":[],"filesystem":{"read":[],"write":[]},"network":[],"tools":[]}`,
			value: "sha256:f0526ddc8b8bc83f07860734bdc6da92bb13a86b7c82b9d160c91d038b537c85",
		},
		{
			name:  "OKHello",
			p:     helloPermissions,
			json:  `{"exec":["curl"],"filesystem":{"read":[],"write":[]},"network":["api.github.com"],"tools":["web_fetch"]}`,
			value: "sha256:5459fd580f091e30b4f1bd42575edc07260688edf5c181adfd7b7cf44e0794d4",
		},
		{
			name: "OKFull",
			p: trust.Permissions{
				Tools:      []string{"web_fetch", "Bash(git log:*)", "mcp__appdeploy"},
				Network:    []string{"api.github.com", "*.example.com:8443", "[::1]"},
				Exec:       []string{"curl", "/usr/bin/git"},
				Filesystem: trust.FilesystemPermissions{Read: []string{"./data", "/données"}, Write: []string{"/tmp/<out>&"}},
			},
			json: `{"exec":["/usr/bin/git","curl"],"filesystem":{"read":["./data","/données"],"write":["/tmp/<out>&"]},` +
				`"network":["*.example.com:8443","[::1]","api.github.com"],"tools":["Bash(git log:*)","mcp__appdeploy","web_fetch"]}`,
			value: "sha256:064396e87110246217a1f276b0c4b842d066e0c10cbed2f16a96873f3337310b",
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b, err := CanonicalPermissions(tt.p)
			if err != nil {
				t.Fatal(err)
			} else if got := string(b); got != tt.json {
				t.Errorf("got  %s\nwant %s", got, tt.json)
			}
			if got := MustPermissions(t, tt.p); got != tt.value {
				t.Errorf("got digest %s, want %s", got, tt.value)
			}
		})
	}
}

func TestPermissions_OrderAndDuplicates(t *testing.T) {
	want := MustPermissions(t, trust.Permissions{
		Tools:      []string{"a", "b"},
		Network:    []string{"x.example.com", "y.example.com"},
		Exec:       []string{"curl", "git"},
		Filesystem: trust.FilesystemPermissions{Read: []string{"/r1", "/r2"}, Write: []string{"/w"}},
	})
	got := MustPermissions(t, trust.Permissions{
		Tools:      []string{"b", "a", "b", " a "},
		Network:    []string{"y.example.com", "x.example.com", "x.example.com"},
		Exec:       []string{"git", "", "curl", "git"},
		Filesystem: trust.FilesystemPermissions{Read: []string{"/r2", "/r1", "/r2"}, Write: []string{"/w", "/w"}},
	})
	if got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

func TestPermissions_NilEqualsEmpty(t *testing.T) {
	empty := trust.Permissions{
		Tools: []string{}, Network: []string{}, Exec: []string{},
		Filesystem: trust.FilesystemPermissions{Read: []string{}, Write: []string{}},
	}
	if got, want := MustPermissions(t, trust.Permissions{}), MustPermissions(t, empty); got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

func TestPermissions_Changed(t *testing.T) {
	base := trust.Permissions{
		Tools:      []string{"web_fetch"},
		Network:    []string{"api.github.com"},
		Exec:       []string{"curl"},
		Filesystem: trust.FilesystemPermissions{Read: []string{"/data"}, Write: []string{"/tmp"}},
	}
	seen := map[string]string{MustPermissions(t, base): "base"}
	for _, tt := range []struct {
		name   string
		change func(p *trust.Permissions)
	}{
		{"ToolRenamed", func(p *trust.Permissions) { p.Tools = []string{"web_search"} }},
		{"ToolAdded", func(p *trust.Permissions) { p.Tools = []string{"web_fetch", "read"} }},
		{"ToolRemoved", func(p *trust.Permissions) { p.Tools = nil }},
		{"HostChanged", func(p *trust.Permissions) { p.Network = []string{"api.github.com:443"} }},
		{"ExecChanged", func(p *trust.Permissions) { p.Exec = []string{"wget"} }},
		{"ReadChanged", func(p *trust.Permissions) { p.Filesystem.Read = []string{"/data/"} }},
		{"WriteAdded", func(p *trust.Permissions) { p.Filesystem.Write = []string{"/tmp", "/home"} }},
		{"ReadMovedToWrite", func(p *trust.Permissions) {
			p.Filesystem.Read, p.Filesystem.Write = nil, []string{"/data", "/tmp"}
		}},
		{"EntryMovedBetweenLists", func(p *trust.Permissions) { p.Tools, p.Exec = []string{"curl"}, []string{"web_fetch"} }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := base
			tt.change(&p)
			got := MustPermissions(t, p)
			if other, ok := seen[got]; ok {
				t.Errorf("digest %s is the same as for %s", got, other)
			}
			seen[got] = tt.name
		})
	}
}

func TestPermissions_ErrInvalidUTF8(t *testing.T) {
	_, err := Permissions(trust.Permissions{Network: []string{"a.example.com", "b\xff.example.com"}})
	MustInvalid(t, err, `permissions.network: entry "b\xff.example.com" is not valid UTF-8`)
}

// MustPermissions returns the permissions digest of p, failing the test on error.
func MustPermissions(tb testing.TB, p trust.Permissions) string {
	tb.Helper()
	d, err := Permissions(p)
	if err != nil {
		tb.Fatal(err)
	} else if !trust.ValidDigest(d) {
		tb.Fatalf("got malformed digest %q", d)
	}
	return d
}
