package review

import (
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

var pageNow = time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)

func testPages() *Pages {
	h := NewHandler()
	h.ReviewerToken = strings.Repeat("k", MinTokenLength)
	h.Catalog = nil
	p := NewPages(h)
	p.Now = func() time.Time { return pageNow }
	return p
}

func TestSession(t *testing.T) {
	p := testPages()
	key := []byte("0123456789abcdef0123456789abcdef")
	value := sealSession(key, "alice", pageNow.Add(time.Hour))
	s, err := p.openSession(key, value)
	if err != nil || s.Reviewer != "alice" || len(s.CSRF) != 64 {
		t.Fatalf("open: %+v, %v", s, err)
	}
	other := sealSession(key, "alice", pageNow.Add(2*time.Hour))
	if s2, _ := p.openSession(key, other); s2.CSRF == s.CSRF {
		t.Fatal("two sessions share a form token")
	}
	for name, v := range map[string]string{
		"Expired":  sealSession(key, "alice", pageNow),
		"OtherKey": sealSession([]byte("another key of thirty-two bytes!"), "alice", pageNow.Add(time.Hour)),
		"Empty":    "",
		"Long":     strings.Repeat("a", 2000) + "." + strings.Repeat("b", 43),
	} {
		if _, err := p.openSession(key, v); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// FuzzOpenSession: no input panics, and only values sealed with the key
// open.
func FuzzOpenSession(f *testing.F) {
	key := []byte("0123456789abcdef0123456789abcdef")
	good := sealSession(key, "alice", pageNow.Add(time.Hour))
	for _, seed := range []string{good, good + "x", "", ".", "a.b", strings.Replace(good, "a", "b", 1)} {
		f.Add(seed)
	}
	p := testPages()
	f.Fuzz(func(t *testing.T, v string) {
		s, err := p.openSession(key, v)
		if err == nil && v != good {
			// A different value may only open if it decodes to the same
			// MAC-checked payload (base64 with ignored trailing bits).
			payload, _, _ := strings.Cut(v, ".")
			gp, _, _ := strings.Cut(good, ".")
			if payload != gp || s.Reviewer != "alice" {
				t.Fatalf("forged session opened: %q → %+v", v, s)
			}
		}
	})
}

// FuzzCheckOrigin: an accepted Origin names this host, whatever else it
// holds.
func FuzzCheckOrigin(f *testing.F) {
	for _, seed := range []string{"http://review.example", "https://review.example", "https://evil.example", "null", "",
		"//review.example", "http://review.example@evil.example", "http://evil.example/review.example", "HTTPS://Review.Example"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, origin string) {
		r := httptest.NewRequest("POST", "http://review.example/review/login", nil)
		r.Header.Set("Origin", origin)
		if checkOrigin(r) != nil {
			return
		}
		rest := strings.ToLower(origin)
		if after, ok := strings.CutPrefix(rest, "https://"); ok {
			rest = after
		} else if after, ok := strings.CutPrefix(rest, "http://"); ok {
			rest = after
		} else {
			t.Fatalf("accepted origin %q without an http(s) scheme", origin)
		}
		if at := strings.LastIndex(rest[:strings.IndexAny(rest+"/", "/?#")], "@"); at >= 0 {
			rest = rest[at+1:]
		}
		host, tail := rest, ""
		if i := strings.IndexAny(rest, "/?#"); i >= 0 {
			host, tail = rest[:i], rest[i:]
		}
		if host != "review.example" {
			t.Fatalf("accepted origin %q naming host %q (tail %q)", origin, host, tail)
		}
	})
}
