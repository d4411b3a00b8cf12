package scan

import (
	"sort"
	"strings"
)

// doc is one text being analyzed, with what several analyzers need computed
// once: an ASCII-lowercased copy (same byte offsets as text) and the offsets
// where lines start.
type doc struct {
	text   string
	lower  string
	starts []int
}

func newDoc(text string) *doc {
	return &doc{text: text, lower: lowerASCII(text), starts: lineStarts(text)}
}

// lowerASCII lowercases ASCII letters only, so offsets into the result are
// offsets into s (strings.ToLower may change the length of non-ASCII text).
func lowerASCII(s string) string {
	i := 0
	for i < len(s) && (s[i] < 'A' || s[i] > 'Z') {
		i++
	}
	if i == len(s) {
		return s
	}
	b := []byte(s)
	for ; i < len(b); i++ {
		if c := b[i]; c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

func lineStarts(text string) []int {
	starts := make([]int, 1, 64)
	for i := 0; i < len(text); {
		j := strings.IndexByte(text[i:], '\n')
		if j < 0 {
			break
		}
		i += j + 1
		starts = append(starts, i)
	}
	return starts
}

// lineIndex returns the 0-based line holding byte offset off.
func (d *doc) lineIndex(off int) int { return sort.SearchInts(d.starts, off+1) - 1 }

// bounds returns the byte range of line i, without its newline.
func (d *doc) bounds(i int) (int, int) {
	end := len(d.text)
	if i+1 < len(d.starts) {
		end = d.starts[i+1] - 1
	}
	return d.starts[i], end
}

func (d *doc) line(i int) string {
	a, b := d.bounds(i)
	return d.text[a:b]
}

// linesWith returns, in order and once each, the lines whose lowercase text
// contains one of subs (lowercase).
func (d *doc) linesWith(subs ...string) []int {
	var out []int
	for _, sub := range subs {
		for off := 0; ; {
			j := strings.Index(d.lower[off:], sub)
			if j < 0 {
				break
			}
			li := d.lineIndex(off + j)
			out = append(out, li)
			_, end := d.bounds(li)
			off = end + 1
			if off >= len(d.lower) {
				break
			}
		}
	}
	if len(subs) > 1 {
		sort.Ints(out)
		out = compactInts(out)
	}
	return out
}

func compactInts(s []int) []int {
	if len(s) < 2 {
		return s
	}
	w := 1
	for i := 1; i < len(s); i++ {
		if s[i] != s[w-1] {
			s[w] = s[i]
			w++
		}
	}
	return s[:w]
}
