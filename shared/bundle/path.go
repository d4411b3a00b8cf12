package bundle

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// cleanName checks an entry name as written in the archive and returns it as a
// slash-separated relative path with "." and empty components dropped ("./a/"
// is "a"). It returns "" for a name that is only the archive root ("./").
func cleanName(name string, lim Limits) (string, error) {
	if name == "" {
		return "", refuse(RulePathInvalid, name, "empty name")
	}
	if !utf8.ValidString(name) {
		return "", refuse(RulePathInvalid, name, "name is not valid UTF-8")
	}
	for _, r := range name {
		if r == 0 || unicode.IsControl(r) {
			return "", refuse(RulePathInvalid, name, "name has a control character")
		}
	}
	if strings.Contains(name, `\`) {
		return "", refuse(RulePathInvalid, name, "name has a backslash")
	}
	if strings.HasPrefix(name, "/") {
		return "", refuse(RulePathAbsolute, name, "absolute path")
	}
	if len(name) >= 2 && name[1] == ':' && isASCIILetter(name[0]) {
		return "", refuse(RulePathAbsolute, name, "path starts with a drive letter")
	}
	if len(name) > lim.MaxPathLen {
		return "", refuse(RulePathLength, name, "path longer than %d bytes", lim.MaxPathLen)
	}
	parts := strings.Split(name, "/")
	out := parts[:0]
	for _, p := range parts {
		switch p {
		case "", ".":
			continue
		case "..":
			return "", refuse(RulePathEscape, name, "path escapes the skill folder")
		}
		if len(p) > lim.MaxNameLen {
			return "", refuse(RulePathLength, name, "path component longer than %d bytes", lim.MaxNameLen)
		}
		out = append(out, p)
	}
	if len(out) > lim.MaxDepth {
		return "", refuse(RulePathDepth, name, "path deeper than %d levels", lim.MaxDepth)
	}
	return strings.Join(out, "/"), nil
}

func isASCIILetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

// tree records the paths extracted so far, to refuse duplicates, case-only
// duplicates and files used as directories, and lists what must be created.
type tree struct {
	kinds  map[string]bool   // path -> is directory
	folded map[string]string // lower-cased path -> path
}

func newTree() *tree {
	return &tree{kinds: map[string]bool{}, folded: map[string]string{}}
}

// add records p (a cleaned path) as a directory or file, with its parents as
// directories. It returns the paths of the directories that are new, parents
// first. name is the entry's name for messages.
func (t *tree) add(name, p string, dir bool) (newDirs []string, err error) {
	parts := strings.Split(p, "/")
	for i := range parts {
		q := strings.Join(parts[:i+1], "/")
		isDir := dir || i < len(parts)-1
		if prev, ok := t.folded[strings.ToLower(q)]; ok && prev != q {
			return nil, refuse(RuleCaseDuplicate, name, "path differs only in case from %s", quote(prev))
		}
		wasDir, seen := t.kinds[q]
		switch {
		case !seen:
			t.kinds[q] = isDir
			t.folded[strings.ToLower(q)] = q
			if isDir {
				newDirs = append(newDirs, q)
			}
		case !wasDir && i < len(parts)-1:
			return nil, refuse(RuleDuplicate, name, "parent %s is a file", quote(q))
		case i == len(parts)-1 && !(wasDir && dir):
			// A directory may be listed again (or after its contents);
			// anything else is a second entry for the same path.
			return nil, refuse(RuleDuplicate, name, "duplicate entry")
		}
	}
	return newDirs, nil
}
