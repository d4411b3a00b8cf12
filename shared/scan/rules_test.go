package scan

import (
	"os"
	"testing"
)

// TestRulePacks runs every rule's own match/nomatch cases.
func TestRulePacks(t *testing.T) {
	p, err := LoadPack(os.DirFS("."), "rules/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Rules) == 0 {
		t.Fatal("no rules loaded")
	}
	for _, r := range p.Rules {
		t.Run(r.ID, func(t *testing.T) {
			for _, m := range r.Match {
				if r.match(m) == nil {
					t.Errorf("%s does not match %q", r.ID, m)
				}
			}
			for _, m := range r.NoMatch {
				if loc := r.match(m); loc != nil {
					t.Errorf("%s matches %q (at %q)", r.ID, m, m[loc[0]:loc[1]])
				}
			}
		})
	}
}

func TestAutomaton(t *testing.T) {
	a := newAutomaton([]string{"he", "she", "his", "hers", "glot.io/"})
	for _, tt := range []struct {
		text string
		want []int
	}{
		{"ushers", []int{1, 0, 3}},
		{"see https://glot.io/snippets/x", []int{4}},
		{"nothing", nil},
	} {
		got := a.find(tt.text)
		if len(got) != len(tt.want) {
			t.Errorf("find(%q) = %v, want %v", tt.text, got, tt.want)
			continue
		}
		for i := range got {
			if got[i] != tt.want[i] {
				t.Errorf("find(%q) = %v, want %v", tt.text, got, tt.want)
			}
		}
	}
}
