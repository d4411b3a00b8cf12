package skill

import (
	"fmt"
	"net/netip"
	"path"
	"regexp"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"

	"github.com/openagents/trust/shared/trust"
)

// Limits on the length of one permission entry, in bytes.
const (
	maxToolLen    = 1024
	maxProgramLen = 1024
	maxPathLen    = 4096
)

// permissions reads the permissions mapping into perms. A key it does not know is
// an error: a misspelled key would otherwise drop a declaration without a word.
func (p *parser) permissions(v *yaml.Node, perms *trust.Permissions) error {
	if isNull(v) {
		return nil
	} else if v.Kind != yaml.MappingNode {
		return p.errorf(v.Line, "permissions: must be a mapping with the keys tools, network, exec and filesystem, not %s", kindName(v))
	}
	seen := make(map[string]int)
	for i := 0; i+1 < len(v.Content); i += 2 {
		k, val := v.Content[i], resolve(v.Content[i+1])
		field := "permissions." + k.Value
		if line, ok := seen[k.Value]; ok {
			return p.errorf(k.Line, "%s: duplicate key (first at line %d)", field, line+1)
		}
		seen[k.Value] = k.Line

		var err error
		switch k.Value {
		case "tools":
			err = p.list(field, val, validTool, &perms.Tools)
		case "network":
			err = p.list(field, val, validHost, &perms.Network)
		case "exec":
			err = p.list(field, val, validProgram, &perms.Exec)
		case "filesystem":
			err = p.filesystem(val, &perms.Filesystem)
		default:
			err = p.errorf(k.Line, "permissions: unknown key %s (want tools, network, exec or filesystem)", quote(k.Value))
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// filesystem reads the permissions.filesystem mapping of read and write lists.
func (p *parser) filesystem(v *yaml.Node, fs *trust.FilesystemPermissions) error {
	if isNull(v) {
		return nil
	} else if v.Kind != yaml.MappingNode {
		return p.errorf(v.Line, "permissions.filesystem: must be a mapping with the keys read and write, not %s", kindName(v))
	}
	seen := make(map[string]int)
	for i := 0; i+1 < len(v.Content); i += 2 {
		k, val := v.Content[i], resolve(v.Content[i+1])
		field := "permissions.filesystem." + k.Value
		if line, ok := seen[k.Value]; ok {
			return p.errorf(k.Line, "%s: duplicate key (first at line %d)", field, line+1)
		}
		seen[k.Value] = k.Line

		var err error
		switch k.Value {
		case "read":
			err = p.list(field, val, validPath, &fs.Read)
		case "write":
			err = p.list(field, val, validPath, &fs.Write)
		default:
			err = p.errorf(k.Line, "permissions.filesystem: unknown key %s (want read or write)", quote(k.Value))
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// list appends the entries of a YAML list to out, each checked by valid, which
// returns the entry in the form to record.
func (p *parser) list(field string, v *yaml.Node, valid func(string) (string, error), out *[]string) error {
	if isNull(v) {
		return nil
	} else if v.Kind != yaml.SequenceNode {
		return p.errorf(v.Line, "%s: must be a list, not %s", field, kindName(v))
	}
	for i, item := range v.Content {
		item = resolve(item)
		if item.Kind != yaml.ScalarNode {
			return p.errorf(item.Line, "%s[%d]: must be a string, not %s", field, i, kindName(item))
		}
		s := strings.TrimSpace(item.Value)
		if s == "" || isNull(item) {
			return p.errorf(item.Line, "%s[%d]: empty entry", field, i)
		}
		s, err := valid(s)
		if err != nil {
			return p.errorf(item.Line, "%s[%d]: %s", field, i, err)
		}
		*out = append(*out, s)
	}
	return nil
}

// toolDeclaration reads a top-level tools or allowed-tools key, written as a
// YAML list or as one string of names separated by commas or spaces.
func (p *parser) toolDeclaration(field string, v *yaml.Node, out *[]string) error {
	if v.Kind != yaml.ScalarNode || isNull(v) {
		return p.list(field, v, validTool, out)
	}
	tools, err := splitTools(v.Value)
	if err != nil {
		return p.errorf(v.Line, "%s: %s", field, err)
	}
	for i, s := range tools {
		s, err := validTool(s)
		if err != nil {
			return p.errorf(v.Line, "%s[%d]: %s", field, i, err)
		}
		*out = append(*out, s)
	}
	return nil
}

// splitTools splits a tool string such as "Read, Grep Bash(git log:*)" at commas
// and spaces outside parentheses.
func splitTools(s string) ([]string, error) {
	var (
		out   []string
		depth int
		start = -1
	)
	for i, r := range s {
		switch {
		case r == '(':
			depth++
		case r == ')':
			if depth--; depth < 0 {
				return nil, fmt.Errorf("unbalanced parentheses in %s", quote(s))
			}
		case depth == 0 && (r == ',' || unicode.IsSpace(r)):
			if start >= 0 {
				out = append(out, s[start:i])
				start = -1
			}
			continue
		}
		if start < 0 {
			start = i
		}
	}
	if depth != 0 {
		return nil, fmt.Errorf("unbalanced parentheses in %s", quote(s))
	} else if start >= 0 {
		out = append(out, s[start:])
	}
	return out, nil
}

var toolNameRE = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)

// validTool checks a tool name such as web_fetch or mcp__appdeploy, optionally
// followed by an argument pattern in parentheses, as in Bash(git log:*).
func validTool(s string) (string, error) {
	name, pattern, hasPattern := strings.Cut(s, "(")
	switch {
	case len(s) > maxToolLen:
		return "", fmt.Errorf("invalid tool %s: longer than %d bytes", quote(s), maxToolLen)
	case !toolNameRE.MatchString(name):
		return "", fmt.Errorf("invalid tool %s: a tool name uses letters, digits, '_', '.' and '-'", quote(s))
	case !hasPattern:
		return s, nil
	case !strings.HasSuffix(pattern, ")"):
		return "", fmt.Errorf("invalid tool %s: an argument pattern must end with ')'", quote(s))
	case pattern == ")":
		return "", fmt.Errorf("invalid tool %s: empty argument pattern", quote(s))
	}
	if err := checkText(pattern); err != nil {
		return "", fmt.Errorf("invalid tool %s: %s", quote(s), err)
	}
	depth := 0
	for _, r := range pattern[:len(pattern)-1] {
		if r == '(' {
			depth++
		} else if r == ')' {
			if depth--; depth < 0 {
				break
			}
		}
	}
	if depth != 0 {
		return "", fmt.Errorf("invalid tool %s: unbalanced parentheses", quote(s))
	}
	return s, nil
}

// validHost checks a network entry: a DNS name, optionally starting with "*."
// to match any subdomain, or an IP address, with an optional ":port". It returns
// the host in lower case, with an IPv6 address in brackets and in its canonical
// form.
func validHost(s string) (string, error) {
	bad := func(why string) (string, error) {
		return "", fmt.Errorf("invalid host %s: %s", quote(s), why)
	}
	if strings.Contains(s, "://") {
		return bad("write a host name, not a URL")
	} else if strings.ContainsAny(s, "/?#@") {
		return bad("write a host name, without a path, query or user")
	} else if err := checkText(s); err != nil {
		return bad(err.Error())
	}
	h := strings.ToLower(s)

	// An IPv6 address, bare or in brackets with an optional port.
	if addr, err := netip.ParseAddr(h); err == nil && addr.Is6() && addr.Zone() == "" {
		return "[" + addr.String() + "]", nil
	}
	var port string
	if strings.HasPrefix(h, "[") {
		end := strings.IndexByte(h, ']')
		if end < 0 {
			return bad("missing ']'")
		}
		addr, err := netip.ParseAddr(h[1:end])
		if err != nil || !addr.Is6() || addr.Zone() != "" {
			return bad("brackets must hold an IPv6 address")
		}
		if rest := h[end+1:]; rest != "" {
			if port, err = validPort(rest); err != nil {
				return bad(err.Error())
			}
		}
		return "[" + addr.String() + "]" + port, nil
	}
	if i := strings.LastIndexByte(h, ':'); i >= 0 {
		var err error
		if port, err = validPort(h[i:]); err != nil {
			return bad(err.Error())
		}
		h = h[:i]
	}
	if addr, err := netip.ParseAddr(h); err == nil && addr.Is4() {
		return addr.String() + port, nil
	}
	name := strings.TrimPrefix(h, "*.")
	if strings.Contains(name, "*") {
		return bad("a wildcard is allowed only as a leading \"*.\"")
	} else if why := checkDNSName(name); why != "" {
		return bad(why)
	}
	return h + port, nil
}

// validPort checks ":port" and returns it unchanged.
func validPort(s string) (string, error) {
	digits := strings.TrimPrefix(s, ":")
	n, err := strconv.Atoi(digits)
	if digits == "" || err != nil || digits[0] < '1' || digits[0] > '9' || n > 65535 || digits != strconv.Itoa(n) {
		return "", fmt.Errorf("port must be a number from 1 to 65535")
	}
	return s, nil
}

// checkDNSName returns why name is not a DNS host name, or "".
func checkDNSName(name string) string {
	if name == "" {
		return "empty host name"
	} else if len(name) > 253 {
		return "host name longer than 253 bytes"
	}
	labels := strings.Split(name, ".")
	for _, l := range labels {
		if l == "" {
			return "empty label in host name"
		} else if len(l) > 63 {
			return "label longer than 63 bytes"
		} else if l[0] == '-' || l[len(l)-1] == '-' {
			return "a label cannot start or end with '-'"
		}
		for i := 0; i < len(l); i++ {
			if c := l[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return "a host name uses letters, digits, '-' and '.'"
			}
		}
	}
	if strings.Trim(labels[len(labels)-1], "0123456789") == "" {
		return "not a valid IP address, and a host name cannot end in a number"
	}
	return ""
}

var (
	programRE     = regexp.MustCompile(`^[A-Za-z0-9_+][A-Za-z0-9._+-]*$`)
	programPathRE = regexp.MustCompile(`^(/[A-Za-z0-9._+-]+)+$`)
)

// validProgram checks an exec entry: a program name such as curl, or an absolute
// path such as /usr/bin/curl. Arguments are not part of it.
func validProgram(s string) (string, error) {
	if len(s) > maxProgramLen {
		return "", fmt.Errorf("invalid program %s: longer than %d bytes", quote(s), maxProgramLen)
	}
	if !strings.HasPrefix(s, "/") {
		if !programRE.MatchString(s) {
			return "", fmt.Errorf("invalid program %s: write a program name like curl or an absolute path like /usr/bin/curl, without arguments", quote(s))
		}
		return s, nil
	}
	if path.Clean(s) != s || s == "/" {
		return "", fmt.Errorf("invalid program %s: the path must be clean (no '.', '..', '//' or trailing '/')", quote(s))
	}
	if !programPathRE.MatchString(s) {
		return "", fmt.Errorf("invalid program %s: path components use letters, digits, '.', '_', '+' and '-'", quote(s))
	}
	return s, nil
}

// validPath checks a filesystem entry: any path or pattern without control
// characters.
func validPath(s string) (string, error) {
	if len(s) > maxPathLen {
		return "", fmt.Errorf("invalid path %s: longer than %d bytes", quote(s), maxPathLen)
	} else if err := checkText(s); err != nil {
		return "", fmt.Errorf("invalid path %s: %s", quote(s), err)
	}
	return s, nil
}

// checkText reports invalid UTF-8 and control characters.
func checkText(s string) error {
	if !utf8.ValidString(s) {
		return fmt.Errorf("invalid UTF-8")
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return fmt.Errorf("control character %U not allowed", r)
		}
	}
	return nil
}
