package scan

import (
	"embed"
	"fmt"
	"io/fs"
	"regexp"
	"sort"
	"strings"

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
}

// Pack is a set of rules.
type Pack struct {
	Rules []*Rule `yaml:"rules"`
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
	if !r.relevant(strings.ToLower(line)) {
		return nil
	}
	for _, re := range r.res {
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
			}
			p.Rules = append(p.Rules, r)
		}
	}
	return p, nil
}

// DefaultPack returns the embedded rule packs.
func DefaultPack() *Pack { return defaultPack }

var defaultPack = func() *Pack {
	p, err := LoadPack(ruleFiles, "rules/*.yaml")
	if err != nil {
		panic(err)
	}
	return p
}()
