package scan

import (
	"embed"
	"fmt"
	"io/fs"
	"regexp"
	"sort"
	"strings"
	"sync"

	"go.yaml.in/yaml/v3"
)

// Rule is one line rule from a rule pack.
type Rule struct {
	ID       string   `yaml:"id"`
	Category string   `yaml:"category"`
	Severity Severity `yaml:"severity"`
	Why      string   `yaml:"why"`
	Keywords []string `yaml:"keywords"` // lowercase literals; the patterns run only when one occurs
	Patterns []string `yaml:"patterns"`
	Match    []string `yaml:"match"`   // lines the rule must match
	NoMatch  []string `yaml:"nomatch"` // lines it must not match

	res []*regexp.Regexp
	pre [][]string // per pattern: literals one of which every match holds (nil: none known)
}

// Pack is a set of rules.
type Pack struct {
	Rules []*Rule `yaml:"rules"`

	keywords *automaton // every rule keyword, then the extra literals, matched in one pass
	kwRules  [][]int    // keyword index -> rules it admits
	always   []int      // rules without keywords
}

// index builds the keyword automaton of p. The extra literals (indicators)
// are matched in the same pass and reported by candidates.
func (p *Pack) index(extra []string) {
	ids := map[string]int{}
	var kws []string
	p.kwRules, p.always = nil, nil
	for ri, r := range p.Rules {
		if len(r.Keywords) == 0 {
			p.always = append(p.always, ri)
		}
		for _, k := range r.Keywords {
			ki, ok := ids[k]
			if !ok {
				ki = len(kws)
				ids[k] = ki
				kws = append(kws, k)
				p.kwRules = append(p.kwRules, nil)
			}
			p.kwRules[ki] = append(p.kwRules[ki], ri)
		}
	}
	p.keywords = newAutomaton(append(kws, extra...))
}

// candidates returns, for each rule, the lines of d where one of its
// keywords occurs (all lines for a rule without keywords). Patterns never
// cross a newline, so a regex needs to run only on these lines.
//
// extra is called for each occurrence of an extra literal, with its index
// among the extra literals and the offset just past it.
func (p *Pack) candidates(d *doc, extra func(i, end int)) [][]int {
	lines := make([][]int, len(p.Rules))
	nkw := len(p.kwRules)
	p.keywords.each(d.lower, func(k, end int) {
		if k >= nkw {
			if extra != nil {
				extra(k-nkw, end)
			}
			return
		}
		li := d.lineIndex(end - 1)
		for _, ri := range p.kwRules[k] {
			if l := lines[ri]; len(l) == 0 || l[len(l)-1] != li {
				lines[ri] = append(l, li)
			}
		}
	})
	for _, ri := range p.always {
		all := make([]int, len(d.starts))
		for i := range all {
			all[i] = i
		}
		lines[ri] = all
	}
	return lines
}

// relevant reports whether one of the rule's keywords occurs in lower.
func (r *Rule) relevant(lower string) bool {
	if len(r.Keywords) == 0 {
		return true
	}
	for _, k := range r.Keywords {
		if strings.Contains(lower, k) {
			return true
		}
	}
	return false
}

func (r *Rule) match(line string) []int {
	low := lowerASCII(line)
	if !r.relevant(low) {
		return nil
	}
	for i, re := range r.res {
		if r.pre[i] != nil && !containsAny(low, r.pre[i]) {
			continue
		}
		if loc := re.FindStringIndex(line); loc != nil {
			return loc
		}
	}
	return nil
}

//go:embed rules/*.yaml
var ruleFiles embed.FS

var validCategories = map[string]bool{CatPromptInjection: true, CatMaliciousCode: true, CatDownloads: true, CatCredentials: true,
	CatSecrets: true, CatThirdParty: true, CatDependencies: true, CatMoney: true, CatSystemServices: true}

// LoadPack reads every *.yaml rule file of fsys (at its root or under rules/).
func LoadPack(fsys fs.FS, glob string) (*Pack, error) {
	names, err := fs.Glob(fsys, glob)
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	p := &Pack{}
	ids := map[string]bool{}
	for _, n := range names {
		data, err := fs.ReadFile(fsys, n)
		if err != nil {
			return nil, err
		}
		var f Pack
		if err := yaml.Unmarshal(data, &f); err != nil {
			return nil, fmt.Errorf("rule pack %s: %w", n, err)
		}
		for _, r := range f.Rules {
			if r.ID == "" || ids[r.ID] {
				return nil, fmt.Errorf("rule pack %s: missing or duplicate rule id %q", n, r.ID)
			}
			ids[r.ID] = true
			if !validCategories[r.Category] {
				return nil, fmt.Errorf("rule %s: unknown category %q", r.ID, r.Category)
			}
			if r.Severity.Points() == 0 && r.Severity != Info {
				return nil, fmt.Errorf("rule %s: unknown severity %q", r.ID, r.Severity)
			}
			for _, k := range r.Keywords {
				if k != strings.ToLower(k) {
					return nil, fmt.Errorf("rule %s: keyword %q must be lowercase", r.ID, k)
				}
			}
			if len(r.Patterns) == 0 || len(r.Match) == 0 {
				return nil, fmt.Errorf("rule %s: patterns and match tests are required", r.ID)
			}
			for _, pat := range r.Patterns {
				re, err := regexp.Compile("(?m)" + pat)
				if err != nil {
					return nil, fmt.Errorf("rule %s: %w", r.ID, err)
				}
				r.res = append(r.res, re)
				lits, ok := required(pat)
				if !ok {
					lits = nil
				}
				r.pre = append(r.pre, lits)
			}
			for _, m := range r.Match {
				if !r.relevant(strings.ToLower(m)) {
					return nil, fmt.Errorf("rule %s: match case %q holds none of the keywords", r.ID, m)
				}
			}
			p.Rules = append(p.Rules, r)
		}
	}
	p.index(nil)
	return p, nil
}

// DefaultPack returns the embedded rule packs.
func DefaultPack() *Pack { return defaultPack() }

// defaultPack is built on first use, not at init: compiling the packs costs
// milliseconds that every trustctl command (verify at boot among them) would
// otherwise pay.
var defaultPack = sync.OnceValue(func() *Pack {
	p, err := LoadPack(ruleFiles, "rules/*.yaml")
	if err != nil {
		panic(err)
	}
	texts := make([]string, len(indicators))
	for i, in := range indicators {
		texts[i] = in.text
	}
	p.index(texts)
	return p
})
