package skill

import (
	"reflect"
	"strings"
	"testing"
)

// validatorTest is one case of a permission entry validator: in gives want, or
// the error err.
type validatorTest struct {
	name string
	in   string
	want string
	err  string
}

var hostTests = []validatorTest{
	{name: "OK", in: "api.github.com", want: "api.github.com"},
	{name: "OKSingleLabel", in: "localhost", want: "localhost"},
	{name: "OKPort", in: "api.github.com:443", want: "api.github.com:443"},
	{name: "OKWildcard", in: "*.example.com", want: "*.example.com"},
	{name: "OKWildcardPort", in: "*.example.com:8443", want: "*.example.com:8443"},
	{name: "OKUpperCase", in: "API.Example.COM", want: "api.example.com"},
	{name: "OKHyphenDigits", in: "s3-eu-1.amazonaws.com", want: "s3-eu-1.amazonaws.com"},
	{name: "OKIPv4", in: "10.0.0.1", want: "10.0.0.1"},
	{name: "OKIPv4Port", in: "127.0.0.1:8080", want: "127.0.0.1:8080"},
	{name: "OKIPv6", in: "2001:DB8:0:0::1", want: "[2001:db8::1]"},
	{name: "OKIPv6Brackets", in: "[::1]", want: "[::1]"},
	{name: "OKIPv6Port", in: "[2001:db8::1]:443", want: "[2001:db8::1]:443"},
	{name: "ErrURL", in: "http://x", err: `invalid host "http://x": write a host name, not a URL`},
	{name: "ErrPath", in: "example.com/api", err: `invalid host "example.com/api": write a host name, without a path, query or user`},
	{name: "ErrUser", in: "me@example.com", err: `invalid host "me@example.com": write a host name, without a path, query or user`},
	{name: "ErrBareWildcard", in: "*", err: `invalid host "*": a wildcard is allowed only as a leading "*."`},
	{name: "ErrInnerWildcard", in: "api.*.com", err: `invalid host "api.*.com": a wildcard is allowed only as a leading "*."`},
	{name: "ErrWildcardIP", in: "*.10.0.0.1", err: `invalid host "*.10.0.0.1": not a valid IP address, and a host name cannot end in a number`},
	{name: "ErrUnderscore", in: "my_host.example.com", err: `invalid host "my_host.example.com": a host name uses letters, digits, '-' and '.'`},
	{name: "ErrSpace", in: "example .com", err: `invalid host "example .com": a host name uses letters, digits, '-' and '.'`},
	{name: "ErrEmptyLabel", in: "example..com", err: `invalid host "example..com": empty label in host name`},
	{name: "ErrTrailingDot", in: "example.com.", err: `invalid host "example.com.": empty label in host name`},
	{name: "ErrHyphen", in: "-example.com", err: `invalid host "-example.com": a label cannot start or end with '-'`},
	{name: "ErrLongLabel", in: strings.Repeat("a", 64) + ".com", err: `invalid host "` + strings.Repeat("a", 64) + `.com": label longer than 63 bytes`},
	{name: "ErrBadIPv4", in: "999.1.1.1", err: `invalid host "999.1.1.1": not a valid IP address, and a host name cannot end in a number`},
	{name: "ErrIPv4LeadingZero", in: "010.0.0.1", err: `invalid host "010.0.0.1": not a valid IP address, and a host name cannot end in a number`},
	{name: "ErrPortZero", in: "example.com:0", err: `invalid host "example.com:0": port must be a number from 1 to 65535`},
	{name: "ErrPortTooLarge", in: "example.com:65536", err: `invalid host "example.com:65536": port must be a number from 1 to 65535`},
	{name: "ErrPortLeadingZero", in: "example.com:0443", err: `invalid host "example.com:0443": port must be a number from 1 to 65535`},
	{name: "ErrPortEmpty", in: "example.com:", err: `invalid host "example.com:": port must be a number from 1 to 65535`},
	{name: "ErrPortSign", in: "example.com:+80", err: `invalid host "example.com:+80": port must be a number from 1 to 65535`},
	{name: "ErrBracketsIPv4", in: "[10.0.0.1]", err: `invalid host "[10.0.0.1]": brackets must hold an IPv6 address`},
	{name: "ErrBracketsUnclosed", in: "[::1", err: `invalid host "[::1": missing ']'`},
	{name: "ErrIPv6Zone", in: "[fe80::1%eth0]", err: `invalid host "[fe80::1%eth0]": brackets must hold an IPv6 address`},
	{name: "ErrControl", in: "a\x00b.com", err: `invalid host "a\x00b.com": control character U+0000 not allowed`},
	{name: "ErrNonASCII", in: "bücher.de", err: `invalid host "b\u00fccher.de": a host name uses letters, digits, '-' and '.'`},
}

var toolTests = []validatorTest{
	{name: "OK", in: "web_fetch", want: "web_fetch"},
	{name: "OKMCP", in: "mcp__appdeploy", want: "mcp__appdeploy"},
	{name: "OKMCPTool", in: "mcp__git-hub__create_issue", want: "mcp__git-hub__create_issue"},
	{name: "OKPattern", in: "Bash(git log:*)", want: "Bash(git log:*)"},
	{name: "OKNestedParentheses", in: `Bash(python -c "print(1)")`, want: `Bash(python -c "print(1)")`},
	{name: "ErrSpace", in: "web fetch", err: `invalid tool "web fetch": a tool name uses letters, digits, '_', '.' and '-'`},
	{name: "ErrWildcard", in: "*", err: `invalid tool "*": a tool name uses letters, digits, '_', '.' and '-'`},
	{name: "ErrLeadingDot", in: ".hidden", err: `invalid tool ".hidden": a tool name uses letters, digits, '_', '.' and '-'`},
	{name: "ErrEmptyPattern", in: "asTool()", err: `invalid tool "asTool()": empty argument pattern`},
	{name: "ErrPatternNotClosed", in: "Bash(git", err: `invalid tool "Bash(git": an argument pattern must end with ')'`},
	{name: "ErrPatternTrailing", in: "Bash(git)x", err: `invalid tool "Bash(git)x": an argument pattern must end with ')'`},
	{name: "ErrPatternUnbalanced", in: "Bash(a)b)", err: `invalid tool "Bash(a)b)": unbalanced parentheses`},
	{name: "ErrPatternControl", in: "Bash(a\nb)", err: `invalid tool "Bash(a\nb)": control character U+000A not allowed`},
	{name: "ErrTooLong", in: "Bash(" + strings.Repeat("a", maxToolLen) + ")", err: `invalid tool "Bash(` + strings.Repeat("a", 75) + `"...: longer than 1024 bytes`},
}

var programTests = []validatorTest{
	{name: "OK", in: "curl", want: "curl"},
	{name: "OKVersioned", in: "python3.12", want: "python3.12"},
	{name: "OKPlus", in: "g++", want: "g++"},
	{name: "OKAbsolute", in: "/usr/bin/curl", want: "/usr/bin/curl"},
	{name: "OKHiddenDirectory", in: "/home/me/.local/bin/tool", want: "/home/me/.local/bin/tool"},
	{name: "ErrArguments", in: "curl -fsS", err: `invalid program "curl -fsS": write a program name like curl or an absolute path like /usr/bin/curl, without arguments`},
	{name: "ErrRelativePath", in: "./run.sh", err: `invalid program "./run.sh": write a program name like curl or an absolute path like /usr/bin/curl, without arguments`},
	{name: "ErrRoot", in: "/", err: `invalid program "/": the path must be clean (no '.', '..', '//' or trailing '/')`},
	{name: "ErrDotDot", in: "/usr/../bin/sh", err: `invalid program "/usr/../bin/sh": the path must be clean (no '.', '..', '//' or trailing '/')`},
	{name: "ErrTrailingSlash", in: "/usr/bin/", err: `invalid program "/usr/bin/": the path must be clean (no '.', '..', '//' or trailing '/')`},
	{name: "ErrSpaceInPath", in: "/opt/my app/run", err: `invalid program "/opt/my app/run": path components use letters, digits, '.', '_', '+' and '-'`},
	{name: "ErrShell", in: "sh;rm", err: `invalid program "sh;rm": write a program name like curl or an absolute path like /usr/bin/curl, without arguments`},
}

var pathTests = []validatorTest{
	{name: "OK", in: "/tmp/hello", want: "/tmp/hello"},
	{name: "OKGlob", in: "~/notes/**/*.md", want: "~/notes/**/*.md"},
	{name: "OKRelative", in: "./data", want: "./data"},
	{name: "OKUnicode", in: "/données/été", want: "/données/été"},
	{name: "ErrNUL", in: "/tmp/a\x00", err: `invalid path "/tmp/a\x00": control character U+0000 not allowed`},
	{name: "ErrInvalidUTF8", in: "/tmp/\xff", err: `invalid path "/tmp/\xff": invalid UTF-8`},
	{name: "ErrC1Control", in: "/tmp/\u0085", err: `invalid path "/tmp/\u0085": control character U+0085 not allowed`},
	{name: "ErrTooLong", in: "/" + strings.Repeat("a", maxPathLen), err: `invalid path "/` + strings.Repeat("a", 79) + `"...: longer than 4096 bytes`},
}

func TestValidHost(t *testing.T)    { runValidatorTests(t, validHost, hostTests) }
func TestValidTool(t *testing.T)    { runValidatorTests(t, validTool, toolTests) }
func TestValidProgram(t *testing.T) { runValidatorTests(t, validProgram, programTests) }
func TestValidPath(t *testing.T)    { runValidatorTests(t, validPath, pathTests) }

func runValidatorTests(t *testing.T, valid func(string) (string, error), tests []validatorTest) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := valid(tt.in)
			if tt.err != "" {
				if err == nil {
					t.Fatalf("got %q, want error %q", got, tt.err)
				} else if err.Error() != tt.err {
					t.Errorf("got error  %q\nwant error %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("got error %q, want %q", err, tt.want)
			} else if got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

var splitToolsTests = []struct {
	name string
	in   string
	want []string
	err  string
}{
	{name: "OKCommas", in: "Read, Write,Edit", want: []string{"Read", "Write", "Edit"}},
	{name: "OKSpaces", in: "Bash(rover:*) Read\tWrite", want: []string{"Bash(rover:*)", "Read", "Write"}},
	{name: "OKPatternWithSpaces", in: "Read, Bash(node --version), Bash(npm ls *)", want: []string{"Read", "Bash(node --version)", "Bash(npm ls *)"}},
	{name: "OKEmpty", in: " , ", want: nil},
	{name: "ErrUnclosed", in: "Bash(ls", err: `unbalanced parentheses in "Bash(ls"`},
	{name: "ErrUnopened", in: "Read) Write", err: `unbalanced parentheses in "Read) Write"`},
}

func TestSplitTools(t *testing.T) {
	for _, tt := range splitToolsTests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := splitTools(tt.in)
			if tt.err != "" {
				if err == nil || err.Error() != tt.err {
					t.Errorf("got %q, %v; want error %q", got, err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			} else if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}
