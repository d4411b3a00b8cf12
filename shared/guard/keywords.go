package guard

// keywordIndex finds which of a set of lowercase ASCII keywords occur in a
// text, ignoring ASCII case, in one pass (Aho-Corasick, compiled to a DFA
// over bytes). Non-ASCII bytes match only themselves, so keywords may hold
// UTF-8 (lowercase already).
type keywordIndex struct {
	delta [][256]int32 // DFA transitions: goto completed with failure links
	out   [][]int32    // keyword indexes recognised in each state
	n     int          // number of keywords
}

func newKeywordIndex(keywords []string) *keywordIndex {
	k := &keywordIndex{delta: make([][256]int32, 1), out: make([][]int32, 1), n: len(keywords)}
	const none = -1
	for c := range k.delta[0] {
		k.delta[0][c] = none
	}
	for i, kw := range keywords {
		st := int32(0)
		for j := 0; j < len(kw); j++ {
			c := kw[j]
			if k.delta[st][c] == none {
				var row [256]int32
				for x := range row {
					row[x] = none
				}
				k.delta = append(k.delta, row)
				k.out = append(k.out, nil)
				k.delta[st][c] = int32(len(k.delta) - 1)
			}
			st = k.delta[st][c]
		}
		k.out[st] = append(k.out[st], int32(i))
	}
	fail := make([]int32, len(k.delta))
	var queue []int32
	for c := 0; c < 256; c++ {
		if s := k.delta[0][c]; s != none {
			queue = append(queue, s)
		} else {
			k.delta[0][c] = 0
		}
	}
	for len(queue) > 0 {
		st := queue[0]
		queue = queue[1:]
		for c := 0; c < 256; c++ {
			s := k.delta[st][c]
			if s == none {
				k.delta[st][c] = k.delta[fail[st]][c]
				continue
			}
			fail[s] = k.delta[fail[st]][c]
			k.out[s] = append(k.out[s], k.out[fail[s]]...)
			queue = append(queue, s)
		}
	}
	return k
}

// lowerASCII maps A–Z to a–z and leaves every other byte alone.
var lowerASCII = func() (t [256]byte) {
	for i := range t {
		t[i] = byte(i)
		if i >= 'A' && i <= 'Z' {
			t[i] = byte(i) + 'a' - 'A'
		}
	}
	return t
}()

// each calls fn for every occurrence of a keyword in text, with the
// keyword's index and the offset just past its last byte.
func (k *keywordIndex) each(text string, fn func(kw, end int)) {
	st := int32(0)
	for i := 0; i < len(text); i++ {
		st = k.delta[st][lowerASCII[text[i]]]
		for _, p := range k.out[st] {
			fn(int(p), i+1)
		}
	}
}
