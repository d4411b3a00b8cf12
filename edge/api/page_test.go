package api_test

import (
	"encoding/csv"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/openagents/trust/edge/sqlite"
	"github.com/openagents/trust/shared/edgeapi"
	"github.com/openagents/trust/shared/trust"
)

// Hostile text planted in every field the status page shows: the page must
// show it as text.
const (
	hostileName    = `<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">`
	hostileCommand = `ls "<b>bold</b>" '</code><script>window.__pwned=3</script>'`
	hostileOutput  = `</pre><script>window.__pwned=4</script>`
)

// statusFixture is a metered node with the SSH store, and a tenant with an
// agent of a hostile name, credits, usage, a canary alert, an SSH credential
// and two attempts, one refused with a formula-like command.
type statusFixture struct {
	*TestServer
	*sshSetup
}

func MustStatusFixture(tb testing.TB, tenantID string) *statusFixture {
	tb.Helper()
	s := MustOpenSSHServer(tb)
	s.Meter = sqlite.NewMeter(s.DB)
	return &statusFixture{TestServer: s, sshSetup: s.MustStatusTenant(tb, tenantID)}
}

// MustStatusTenant fills a tenant with what the status page shows.
func (s *TestServer) MustStatusTenant(tb testing.TB, tenantID string) *sshSetup {
	tb.Helper()
	f := s.mustSSHSetup(tb, tenantID)
	s.MustCreateAgent(tb, f.Session, hostileName)
	WantStatus(tb, s.Do(tb, "POST", "/v1/service/tenants/"+tenantID+"/credits", ServiceToken,
		edgeapi.CreditGrantRequest{Amount: 1_000_000, IdempotencyKey: "grant-1"}), http.StatusOK)
	WantStatus(tb, s.Do(tb, "POST", "/v1/tenant/usage", f.Machine, edgeapi.UsageRequest{
		SessionID: "s-1", Model: "claude", InputTokens: 1200, OutputTokens: 300, IdempotencyKey: "u-1"}), http.StatusCreated)
	WantStatus(tb, s.Do(tb, "POST", "/v1/tenant/audit-events", f.Machine, edgeapi.AuditEventRequest{
		Action: "guard.canary", Target: "session:s-1", Detail: "canary in tool result " + hostileName}), http.StatusCreated)
	zero := 0
	for _, a := range []edgeapi.SSHAttemptRequest{
		{CredentialID: f.cred.ID, Command: hostileCommand, Decision: trust.SSHAllowed, ExitCode: &zero, Output: hostileOutput},
		{CredentialID: f.cred.ID, Command: "=HYPERLINK(\"http://evil.example\")", Decision: trust.SSHRefused, Reason: "not allowed"},
	} {
		WantStatus(tb, s.Do(tb, "POST", "/v1/tenant/ssh-attempts", f.Machine, a), http.StatusCreated)
	}
	return f
}

// pageRequest is one browser-like request to a page.
type pageRequest struct {
	method, path string
	session      string     // the session cookie, if any
	form         url.Values // a POST body
	origin       string     // the Origin header; "-" for none
}

// Page serves a page request in-process. POSTs come from the node's own
// origin unless the request says otherwise.
func (s *TestServer) Page(tb testing.TB, pr pageRequest) *httptest.ResponseRecorder {
	tb.Helper()
	var req *http.Request
	if pr.form != nil {
		req = httptest.NewRequest(pr.method, pr.path, strings.NewReader(pr.form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	} else {
		req = httptest.NewRequest(pr.method, pr.path, nil)
	}
	switch {
	case pr.origin == "" && pr.method == http.MethodPost:
		req.Header.Set("Origin", "http://"+req.Host)
	case pr.origin != "" && pr.origin != "-":
		req.Header.Set("Origin", pr.origin)
	}
	if pr.session != "" {
		req.AddCookie(&http.Cookie{Name: "trust_session", Value: pr.session})
	}
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	return rec
}

// MustPageCSRF reads the form token from the status page of a session.
func (s *TestServer) MustPageCSRF(tb testing.TB, session string) string {
	tb.Helper()
	rec := s.Page(tb, pageRequest{method: "GET", path: "/status", session: session})
	WantStatus(tb, rec, http.StatusOK)
	_, rest, ok := strings.Cut(rec.Body.String(), `name="csrf" value="`)
	if !ok {
		tb.Fatal("no form token on the status page")
	}
	token, _, _ := strings.Cut(rest, `"`)
	return token
}

func TestStatusPage_Login(t *testing.T) {
	s := MustOpenTenantServer(t)
	f := s.MustTenant(t, "acme")
	login := func(v url.Values) url.Values { return v }

	t.Run("RedirectWithoutSession", func(t *testing.T) {
		rec := s.Page(t, pageRequest{method: "GET", path: "/status"})
		if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/status/login" {
			t.Fatalf("got %d to %q, want 303 to the login form", rec.Code, rec.Header().Get("Location"))
		}
	})
	t.Run("Form", func(t *testing.T) {
		rec := s.Page(t, pageRequest{method: "GET", path: "/status/login"})
		WantStatus(t, rec, http.StatusOK)
		if body := rec.Body.String(); !strings.Contains(body, `type="password"`) || !strings.Contains(body, `method="post"`) {
			t.Fatalf("login form: %s", body)
		}
		if csp := rec.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || strings.Contains(csp, "unsafe-inline") {
			t.Fatalf("CSP = %q", csp)
		}
	})
	t.Run("OK", func(t *testing.T) {
		rec := s.Page(t, pageRequest{method: "POST", path: "/status/login", form: login(url.Values{"credential": {f.Credential}})})
		if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/status" {
			t.Fatalf("got %d to %q: %s", rec.Code, rec.Header().Get("Location"), rec.Body)
		}
		c := rec.Result().Cookies()
		if len(c) != 1 || c[0].Name != "trust_session" || !strings.HasPrefix(c[0].Value, trust.UserSessionPrefix) ||
			!c[0].HttpOnly || c[0].SameSite != http.SameSiteStrictMode || c[0].Secure || c[0].Path != "/status" {
			t.Fatalf("cookie %+v", c)
		}
		WantStatus(t, s.Page(t, pageRequest{method: "GET", path: "/status", session: c[0].Value}), http.StatusOK)
		if strings.Contains(rec.Body.String()+s.Logs.String(), f.Credential) {
			t.Fatal("the credential reached a response or a log")
		}
	})
	t.Run("SecureBehindHTTPS", func(t *testing.T) {
		req := httptest.NewRequest("POST", "/status/login", strings.NewReader(url.Values{"credential": {f.Credential}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", "https://"+req.Host)
		req.Header.Set("X-Forwarded-Proto", "https")
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		if c := rec.Result().Cookies(); len(c) != 1 || !c[0].Secure {
			t.Fatalf("cookie %+v, want Secure", c)
		}
	})
	for name, tc := range map[string]struct {
		pr     pageRequest
		status int
	}{
		"ErrUnknownCredential": {pageRequest{method: "POST", path: "/status/login", form: url.Values{"credential": {trust.UserCredentialPrefix + "nope"}}}, http.StatusUnauthorized},
		"ErrSessionToken":      {pageRequest{method: "POST", path: "/status/login", form: url.Values{"credential": {f.Session}}}, http.StatusUnauthorized},
		"ErrCredentialInURL":   {pageRequest{method: "POST", path: "/status/login?credential=" + f.Credential, form: url.Values{}}, http.StatusUnauthorized},
		"ErrCrossSite":         {pageRequest{method: "POST", path: "/status/login", form: url.Values{"credential": {f.Credential}}, origin: "http://evil.example"}, http.StatusForbidden},
		"ErrNoOrigin":          {pageRequest{method: "POST", path: "/status/login", form: url.Values{"credential": {f.Credential}}, origin: "-"}, http.StatusForbidden},
	} {
		t.Run(name, func(t *testing.T) {
			rec := s.Page(t, tc.pr)
			WantStatus(t, rec, tc.status)
			if len(rec.Result().Cookies()) != 0 {
				t.Fatal("a refused login set a cookie")
			}
			if ct := rec.Header().Get("Content-Type"); ct != "text/html; charset=utf-8" {
				t.Fatalf("Content-Type = %q", ct)
			}
		})
	}
	t.Run("ErrMachineTokenCookie", func(t *testing.T) {
		rec := s.Page(t, pageRequest{method: "GET", path: "/status", session: f.Machine})
		WantStatus(t, rec, http.StatusSeeOther)
	})
}

func TestStatusPage_OK(t *testing.T) {
	s := MustStatusFixture(t, "acme")
	rec := s.Page(t, pageRequest{method: "GET", path: "/status", session: s.Session})
	WantStatus(t, rec, http.StatusOK)
	body := rec.Body.String()
	for _, want := range []string{
		"Tenant acme", s.agent.ID, s.cred.ID, "m-acme", "guard.canary", "1500", // tokens of m-acme
		"&lt;script&gt;window.__pwned=1&lt;/script&gt;", "&lt;/pre&gt;&lt;script&gt;window.__pwned=4",
		`id="credits">998500<`, // 1,000,000 granted, 1,500 spent
		`href="/status/ssh-attempts/export?format=jsonl"`, `id="revoke-` + s.cred.ID + `"`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Contains(body, "<script") || strings.Contains(body, "<img") || strings.Contains(body, "<b>") {
		t.Error("hostile markup reached the page unescaped")
	}
	for _, secret := range []string{s.Session, s.Credential, s.Machine, ServiceToken} {
		if strings.Contains(body, secret) {
			t.Error("a credential reached the page")
		}
	}
	for h, want := range map[string]string{"X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff", "Cache-Control": "no-store", "Referrer-Policy": "same-origin"} {
		if got := rec.Header().Get(h); got != want {
			t.Errorf("%s = %q, want %q", h, got, want)
		}
	}

	t.Run("Filter", func(t *testing.T) {
		rec := s.Page(t, pageRequest{method: "GET", path: "/status?decision=refused", session: s.Session})
		WantStatus(t, rec, http.StatusOK)
		if body := rec.Body.String(); !strings.Contains(body, "HYPERLINK") || strings.Contains(body, "__pwned=3") {
			t.Fatal("decision filter: want the refused attempt only")
		}
		rec = s.Page(t, pageRequest{method: "GET", path: "/status?q=bold", session: s.Session})
		if body := rec.Body.String(); strings.Contains(body, "HYPERLINK") || !strings.Contains(body, "__pwned=3") {
			t.Fatal("command filter: want the allowed attempt only")
		}
		WantStatus(t, s.Page(t, pageRequest{method: "GET", path: "/status?decision=maybe", session: s.Session}), http.StatusBadRequest)
	})
}

func TestStatusPage_Export(t *testing.T) {
	s := MustStatusFixture(t, "acme")
	t.Run("JSONL", func(t *testing.T) {
		rec := s.Page(t, pageRequest{method: "GET", path: "/status/ssh-attempts/export?format=jsonl", session: s.Session})
		WantStatus(t, rec, http.StatusOK)
		if cd := rec.Header().Get("Content-Disposition"); !strings.Contains(cd, "attachment") {
			t.Fatalf("Content-Disposition = %q", cd)
		}
		lines := strings.Split(strings.TrimSpace(rec.Body.String()), "\n")
		var a trust.SSHAttempt
		if len(lines) != 2 || json.Unmarshal([]byte(lines[0]), &a) != nil || a.Command != hostileCommand {
			t.Fatalf("export: %s", rec.Body)
		}
	})
	t.Run("CSV", func(t *testing.T) {
		rec := s.Page(t, pageRequest{method: "GET", path: "/status/ssh-attempts/export?format=csv&decision=refused", session: s.Session})
		WantStatus(t, rec, http.StatusOK)
		rows, err := csv.NewReader(rec.Body).ReadAll()
		if err != nil || len(rows) != 2 || rows[0][0] != "id" || rows[1][4] != `'=HYPERLINK("http://evil.example")` {
			t.Fatalf("csv %q, %v", rows, err)
		}
	})
	t.Run("ErrFormat", func(t *testing.T) {
		WantStatus(t, s.Page(t, pageRequest{method: "GET", path: "/status/ssh-attempts/export?format=xml", session: s.Session}), http.StatusBadRequest)
	})
	t.Run("ErrNoSession", func(t *testing.T) {
		WantStatus(t, s.Page(t, pageRequest{method: "GET", path: "/status/ssh-attempts/export?format=csv"}), http.StatusSeeOther)
	})
}

func TestStatusPage_Revoke(t *testing.T) {
	s := MustStatusFixture(t, "acme")
	csrf := s.MustPageCSRF(t, s.Session)
	path := "/status/ssh-credentials/" + s.cred.ID + "/revoke"
	for name, tc := range map[string]struct {
		pr     pageRequest
		status int
	}{
		"ErrNoToken":    {pageRequest{method: "POST", path: path, session: s.Session, form: url.Values{}}, http.StatusForbidden},
		"ErrWrongToken": {pageRequest{method: "POST", path: path, session: s.Session, form: url.Values{"csrf": {csrf[1:] + "0"}}}, http.StatusForbidden},
		"ErrCrossSite":  {pageRequest{method: "POST", path: path, session: s.Session, form: url.Values{"csrf": {csrf}}, origin: "http://evil.example"}, http.StatusForbidden},
		"ErrNoOrigin":   {pageRequest{method: "POST", path: path, session: s.Session, form: url.Values{"csrf": {csrf}}, origin: "-"}, http.StatusForbidden},
		"ErrNoSession":  {pageRequest{method: "POST", path: path, form: url.Values{"csrf": {csrf}}}, http.StatusUnauthorized},
	} {
		t.Run(name, func(t *testing.T) {
			WantStatus(t, s.Page(t, tc.pr), tc.status)
			WantStatus(t, s.Do(t, "GET", "/v1/tenant/ssh-credentials/"+s.cred.ID+"/status", s.Machine, nil), http.StatusOK)
		})
	}
	t.Run("OK", func(t *testing.T) {
		rec := s.Page(t, pageRequest{method: "POST", path: path, session: s.Session, form: url.Values{"csrf": {csrf}}})
		if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/status?revoked=1" {
			t.Fatalf("got %d to %q: %s", rec.Code, rec.Header().Get("Location"), rec.Body)
		}
		// The Machine's next status check, made before every command, fails.
		WantStatus(t, s.Do(t, "GET", "/v1/tenant/ssh-credentials/"+s.cred.ID+"/status", s.Machine, nil), http.StatusNotFound)
		WantStatus(t, s.Page(t, pageRequest{method: "POST", path: path, session: s.Session, form: url.Values{"csrf": {csrf}}}), http.StatusNotFound)
	})
}

func TestStatusPage_Logout(t *testing.T) {
	s := MustOpenTenantServer(t)
	f := s.MustTenant(t, "acme")
	csrf := s.MustPageCSRF(t, f.Session)
	WantStatus(t, s.Page(t, pageRequest{method: "POST", path: "/status/logout", session: f.Session, form: url.Values{}}), http.StatusForbidden)
	rec := s.Page(t, pageRequest{method: "POST", path: "/status/logout", session: f.Session, form: url.Values{"csrf": {csrf}}})
	if rec.Code != http.StatusSeeOther {
		t.Fatalf("logout: %d %s", rec.Code, rec.Body)
	}
	if c := rec.Result().Cookies(); len(c) != 1 || c[0].MaxAge >= 0 {
		t.Fatalf("logout cookie %+v, want it cleared", c)
	}
	WantStatus(t, s.Page(t, pageRequest{method: "GET", path: "/status", session: f.Session}), http.StatusSeeOther)
	WantStatus(t, s.Do(t, "GET", "/v1/session", f.Session, nil), http.StatusUnauthorized)
}

// TestStatusPage_TenantIsolation: nothing of tenant acme is reachable from
// tenant beta's session, by reading, filtering, exporting or revoking.
func TestStatusPage_TenantIsolation(t *testing.T) {
	s := MustStatusFixture(t, "acme")
	b := s.MustStatusTenant(t, "beta")
	own := []string{s.agent.ID, s.cred.ID, "m-acme", "Tenant acme"}

	pages := []string{
		"/status", "/status?credential_id=" + s.cred.ID,
		"/status/ssh-attempts/export?format=jsonl", "/status/ssh-attempts/export?format=csv",
		"/status/ssh-attempts/export?format=jsonl&credential_id=" + s.cred.ID,
	}
	for _, p := range pages {
		rec := s.Page(t, pageRequest{method: "GET", path: p, session: b.Session})
		WantStatus(t, rec, http.StatusOK)
		body := rec.Body.String()
		if strings.Contains(p, "credential_id") {
			// The filter names acme's credential (beta typed it): no row may match.
			body = strings.ReplaceAll(body, url.QueryEscape(s.cred.ID), "")
			if strings.HasPrefix(p, "/status?") && !strings.Contains(body, "0 attempts") {
				t.Errorf("beta's %s matched acme's attempts", p)
			}
		}
		for _, id := range own {
			if strings.Contains(body, id) {
				t.Errorf("beta's %s shows acme's %s", p, id)
			}
		}
	}
	rec := s.Page(t, pageRequest{method: "GET", path: "/status/ssh-attempts/export?format=jsonl&credential_id=" + s.cred.ID, session: b.Session})
	if strings.TrimSpace(rec.Body.String()) != "" {
		t.Errorf("beta exported acme's attempts: %s", rec.Body)
	}
	csrf := s.MustPageCSRF(t, b.Session)
	WantStatus(t, s.Page(t, pageRequest{method: "POST", path: "/status/ssh-credentials/" + s.cred.ID + "/revoke",
		session: b.Session, form: url.Values{"csrf": {csrf}}}), http.StatusNotFound)
	WantStatus(t, s.Do(t, "GET", "/v1/tenant/ssh-credentials/"+s.cred.ID+"/status", s.Machine, nil), http.StatusOK)
	// acme's form token does not work with beta's session.
	WantStatus(t, s.Page(t, pageRequest{method: "POST", path: "/status/ssh-credentials/" + b.cred.ID + "/revoke",
		session: b.Session, form: url.Values{"csrf": {s.MustPageCSRF(t, s.Session)}}}), http.StatusForbidden)
}

// BenchmarkStatusPage renders the status page of a tenant with 1,000 SSH
// attempts (200 shown) in-process.
func BenchmarkStatusPage(b *testing.B) {
	s := MustStatusFixture(b, "acme")
	for i := range 998 {
		WantStatus(b, s.Do(b, "POST", "/v1/tenant/ssh-attempts", s.Machine, edgeapi.SSHAttemptRequest{
			CredentialID: s.cred.ID, Command: "uptime " + strings.Repeat("x", i%50), Decision: trust.SSHRefused, Reason: "bench"}), http.StatusCreated)
	}
	for b.Loop() {
		if rec := s.Page(b, pageRequest{method: "GET", path: "/status", session: s.Session}); rec.Code != http.StatusOK {
			b.Fatal(rec.Code)
		}
	}
}
