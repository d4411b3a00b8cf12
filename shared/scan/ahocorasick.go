package scan

// automaton is an Aho-Corasick automaton over bytes: it finds every pattern
// occurring in a text in one pass, whatever the number of patterns.
type automaton struct {
	next [][256]int32 // goto function completed with failure links (a DFA)
	out  [][]int      // pattern indexes ending at each state
}

// newAutomaton builds the automaton for patterns (matched byte for byte).
func newAutomaton(patterns []string) *automaton {
	a := &automaton{next: make([][256]int32, 1), out: make([][]int, 1)}
	for i := range a.next[0] {
		a.next[0][i] = -1
	}
	for pi, p := range patterns {
		st := int32(0)
		for i := 0; i < len(p); i++ {
			c := p[i]
			if a.next[st][c] <= 0 {
				var row [256]int32
				for j := range row {
					row[j] = -1
				}
				a.next = append(a.next, row)
				a.out = append(a.out, nil)
				a.next[st][c] = int32(len(a.next) - 1)
			}
			st = a.next[st][c]
		}
		a.out[st] = append(a.out[st], pi)
	}
	fail := make([]int32, len(a.next))
	queue := []int32{}
	for c := 0; c < 256; c++ {
		if s := a.next[0][c]; s > 0 {
			fail[s] = 0
			queue = append(queue, s)
		} else {
			a.next[0][c] = 0
		}
	}
	for len(queue) > 0 {
		st := queue[0]
		queue = queue[1:]
		for c := 0; c < 256; c++ {
			s := a.next[st][c]
			if s < 0 {
				a.next[st][c] = a.next[fail[st]][c]
				continue
			}
			fail[s] = a.next[fail[st]][c]
			a.out[s] = append(a.out[s], a.out[fail[s]]...)
			queue = append(queue, s)
		}
	}
	return a
}

// each calls fn for every occurrence of a pattern in text, with the
// pattern's index and the offset just past its last byte.
func (a *automaton) each(text string, fn func(pat, end int)) {
	st := int32(0)
	for i := 0; i < len(text); i++ {
		st = a.next[st][text[i]]
		for _, p := range a.out[st] {
			fn(p, i+1)
		}
	}
}

// find returns the indexes of the patterns found in text, each once, in the
// order first seen.
func (a *automaton) find(text string) []int {
	var hits []int
	st := int32(0)
	for i := 0; i < len(text); i++ {
		st = a.next[st][text[i]]
		for _, p := range a.out[st] {
			dup := false
			for _, h := range hits {
				if h == p {
					dup = true
					break
				}
			}
			if !dup {
				hits = append(hits, p)
			}
		}
	}
	return hits
}
