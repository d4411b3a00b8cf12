package trust

import (
	"regexp"
	"sync"
)

// Pattern is a regular expression compiled on first use. The shapes this
// package checks (names up to 128 characters, IDs, digests) compile to large
// programs; compiling them all at start cost every binary that imports the
// package — trustctl at Machine boot, each Lambda cold start — milliseconds
// before main ran.
type Pattern struct {
	src  string
	once sync.Once
	re   *regexp.Regexp
}

// NewPattern returns a Pattern for src; a bad src panics on first use (the
// package's tests use every pattern).
func NewPattern(src string) *Pattern { return &Pattern{src: src} }

// MatchString reports whether s matches.
func (p *Pattern) MatchString(s string) bool {
	p.once.Do(func() { p.re = regexp.MustCompile(p.src) })
	return p.re.MatchString(s)
}

// String returns the expression.
func (p *Pattern) String() string { return p.src }
