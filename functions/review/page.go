package review

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/openagents/trust/shared/httpapi"
	"github.com/openagents/trust/shared/pagestyle"
	"github.com/openagents/trust/shared/trust"
)

// The review queue in a browser (docs/pages.md): server-rendered HTML under
// /review/, no JavaScript, nothing loaded from elsewhere. A reviewer logs in
// on a form with their name and the reviewer credential (POST, never in a
// URL) and gets a session cookie — HttpOnly, SameSite=Strict, Secure behind
// HTTPS, scoped to /review — that carries the reviewer's name and expiry,
// authenticated with an HMAC keyed from the reviewer credential. It needs no
// storage, so it works across function instances, and rotating the
// credential ends every session. A decision form must come from a page of
// this origin and carry the session's form token. Decisions go through the
// same Decide and Resume as the JSON route.

// Page defaults.
const (
	DefaultPageSessionTTL = 8 * time.Hour
	pageCookie            = "trust_review"
	pageBodyLimit         = maxDecisionBody
	pageQueueLimit        = 20
)

//go:embed pagetmpl/*.html
var pageFS embed.FS

var pageTemplates = template.Must(template.New("").Funcs(template.FuncMap{
	"time": func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05Z") },
	"decideData": func(csrf string, sub *trust.Submission) decideData {
		return decideData{CSRF: csrf, Submission: sub}
	},
}).ParseFS(pageFS, "pagetmpl/*.html"))

// pageCSS is the shared stylesheet, inlined in every page and allowed by its
// hash in the policy (shared/pagestyle).
var pageCSS, pageCSP = pagestyle.CSS, pagestyle.CSP

// Pages serves the reviewers' pages under /review/ and passes every other
// request to Handler, the JSON API, whose catalog, resumer, credential and
// logger it uses.
type Pages struct {
	Handler *Handler

	// SessionTTL is how long a login lasts.
	SessionTTL time.Duration

	// Now returns the current time.
	Now func() time.Time

	mux *http.ServeMux
}

// NewPages returns the pages of h with defaults.
func NewPages(h *Handler) *Pages {
	p := &Pages{Handler: h, SessionTTL: DefaultPageSessionTTL, Now: time.Now}
	p.mux = http.NewServeMux()
	p.mux.HandleFunc("GET /review/login", p.handleLoginFind)
	p.mux.HandleFunc("POST /review/login", p.handleLoginCreate)
	p.mux.HandleFunc("POST /review/logout", p.requireSession(p.handleLogout))
	p.mux.HandleFunc("GET /review/{$}", p.requireSession(p.handleQueuePage))
	// The same page under a name: API Gateway's /review/{proxy+} route does
	// not match the bare /review/, so links and redirects use this one.
	p.mux.HandleFunc("GET /review/queue", p.requireSession(p.handleQueuePage))
	p.mux.HandleFunc("GET /review/submissions/{id}", p.requireSession(p.handleSubmissionPage))
	p.mux.HandleFunc("POST /review/submissions/{id}", p.requireSession(p.handleDecisionPage))
	p.mux.HandleFunc("/review/", p.handleNoPage)
	return p
}

// QueuePage is the review queue's address.
const QueuePage = "/review/queue"

// ServeHTTP serves /review and /review/…; anything else goes to the JSON
// handler.
func (p *Pages) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path == "/review":
		http.Redirect(w, r, QueuePage, http.StatusSeeOther)
	case strings.HasPrefix(r.URL.Path, "/review/"):
		p.mux.ServeHTTP(w, r)
	default:
		p.Handler.ServeHTTP(w, r)
	}
}

// pageSession is a logged-in reviewer.
type pageSession struct {
	Reviewer string
	CSRF     string
}

type sessionHandler func(w http.ResponseWriter, r *http.Request, s pageSession)

// requireSession authenticates the session cookie. Without a valid one, a
// GET goes to the login form and a POST is refused (401); a POST must also
// pass the origin check and carry the session's form token (403).
func (p *Pages) requireSession(h sessionHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		key, err := p.key()
		if err != nil {
			p.error(w, r, err)
			return
		}
		c, err := r.Cookie(pageCookie)
		var sess pageSession
		if err == nil {
			sess, err = p.openSession(key, c.Value)
		}
		if err != nil {
			if r.Method == http.MethodGet {
				http.Redirect(w, r, "/review/login", http.StatusSeeOther)
				return
			}
			p.error(w, r, trust.Errorf(trust.EUNAUTHORIZED, "your session ended: log in again"))
			return
		}
		if r.Method == http.MethodPost {
			if err := checkOrigin(r); err != nil {
				p.error(w, r, err)
				return
			}
			r.Body = http.MaxBytesReader(w, r.Body, pageBodyLimit)
			if subtle.ConstantTimeCompare([]byte(r.PostFormValue("csrf")), []byte(sess.CSRF)) != 1 {
				p.error(w, r, trust.Errorf(trust.EFORBIDDEN, "the form is stale or from another site: reload the page and try again"))
				return
			}
		}
		h(w, r, sess)
	}
}

// key derives the session key from the reviewer credential. It fails closed
// as the JSON handler does: no credential of MinTokenLength, no catalog.
func (p *Pages) key() ([]byte, error) {
	h := p.Handler
	if h == nil || len(h.ReviewerToken) < MinTokenLength || h.Catalog == nil {
		return nil, errors.New("review pages: no reviewer credential (of at least 32 characters) or catalog configured")
	}
	m := hmac.New(sha256.New, []byte(h.ReviewerToken))
	m.Write([]byte("trust review page session key"))
	return m.Sum(nil), nil
}

// sealSession makes a cookie value: base64url(reviewer "\n" expiry) "."
// base64url(HMAC).
func sealSession(key []byte, reviewer string, expires time.Time) string {
	payload := base64.RawURLEncoding.EncodeToString([]byte(reviewer + "\n" + strconv.FormatInt(expires.Unix(), 10)))
	m := hmac.New(sha256.New, key)
	m.Write([]byte(payload))
	return payload + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// openSession checks a cookie value and returns its session.
func (p *Pages) openSession(key []byte, value string) (pageSession, error) {
	bad := trust.Errorf(trust.EUNAUTHORIZED, "invalid session")
	payload, sig, ok := strings.Cut(value, ".")
	if !ok || len(value) > 1024 {
		return pageSession{}, bad
	}
	got, err := base64.RawURLEncoding.DecodeString(sig)
	m := hmac.New(sha256.New, key)
	m.Write([]byte(payload))
	if err != nil || !hmac.Equal(got, m.Sum(nil)) {
		return pageSession{}, bad
	}
	raw, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		return pageSession{}, bad
	}
	reviewer, exp, ok := strings.Cut(string(raw), "\n")
	unix, err := strconv.ParseInt(exp, 10, 64)
	if !ok || err != nil || !p.now().Before(time.Unix(unix, 0)) {
		return pageSession{}, bad
	}
	c := hmac.New(sha256.New, key)
	c.Write([]byte("csrf\n" + value))
	return pageSession{Reviewer: reviewer, CSRF: hex.EncodeToString(c.Sum(nil))}, nil
}

// checkOrigin refuses a POST that does not come from a page of this host:
// Origin, or Referer when there is no Origin, must name r.Host.
func checkOrigin(r *http.Request) error {
	src := r.Header.Get("Origin")
	if src == "" {
		src = r.Header.Get("Referer")
	}
	if u, err := url.Parse(src); src != "" && err == nil && u.Host != "" && strings.EqualFold(u.Host, r.Host) &&
		(u.Scheme == "http" || u.Scheme == "https") {
		return nil
	}
	return trust.Errorf(trust.EFORBIDDEN, "cross-site form refused: submit it from this site's page")
}

// loginPage is the login form's data.
type loginPage struct {
	Error    string
	Reviewer string
}

func (p *Pages) handleLoginFind(w http.ResponseWriter, r *http.Request) {
	p.render(w, r, http.StatusOK, "login.html", loginPage{})
}

// handleLoginCreate checks the credential from the form (constant time, by
// SHA-256, as the JSON handler) and sets the session cookie.
func (p *Pages) handleLoginCreate(w http.ResponseWriter, r *http.Request) {
	if err := checkOrigin(r); err != nil {
		p.error(w, r, err)
		return
	}
	key, err := p.key()
	if err != nil {
		p.error(w, r, err)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, pageBodyLimit)
	reviewer := strings.TrimSpace(r.PostFormValue("reviewer"))
	got := sha256.Sum256([]byte(r.PostFormValue("credential"))) // the body only, never the query
	want := sha256.Sum256([]byte(p.Handler.ReviewerToken))
	if subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
		p.Handler.Logger.Warn("reviewer login refused", "remote", r.RemoteAddr)
		p.render(w, r, http.StatusUnauthorized, "login.html", loginPage{Error: "Wrong reviewer credential.", Reviewer: reviewer})
		return
	}
	// The name is checked as a decision's reviewer field will be.
	d := Decision{Decision: DecisionApprove, Reason: "-", Reviewer: reviewer}
	if err := d.Validate(); err != nil {
		p.render(w, r, http.StatusBadRequest, "login.html", loginPage{Error: "Your name: " + trust.ErrorMessage(err), Reviewer: reviewer})
		return
	}
	expires := p.now().Add(p.SessionTTL)
	http.SetCookie(w, &http.Cookie{
		Name: pageCookie, Value: sealSession(key, d.Reviewer, expires), Path: "/review", Expires: expires,
		HttpOnly: true, Secure: secure(r), SameSite: http.SameSiteStrictMode,
	})
	p.Handler.Logger.Info("reviewer logged in", "reviewer", d.Reviewer)
	http.Redirect(w, r, QueuePage, http.StatusSeeOther)
}

func (p *Pages) handleLogout(w http.ResponseWriter, r *http.Request, _ pageSession) {
	http.SetCookie(w, &http.Cookie{Name: pageCookie, Value: "", Path: "/review", MaxAge: -1,
		HttpOnly: true, Secure: secure(r), SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r, "/review/login", http.StatusSeeOther)
}

// queuePage is the queue's data: flagged submissions with their findings.
type queuePage struct {
	Session     pageSession
	Submissions []*trust.Submission
	Offset      int
	Prev, Next  string
}

// handleQueuePage answers GET /review/: a page of flagged submissions, each
// with its findings and a decision form.
func (p *Pages) handleQueuePage(w http.ResponseWriter, r *http.Request, s pageSession) {
	offset, err := queryInt(r, "offset", 0, 0, 1<<30)
	if err != nil {
		p.error(w, r, err)
		return
	}
	ctx := r.Context()
	subs, err := p.Handler.Catalog.FindSubmissions(ctx, trust.SubmissionFilter{State: trust.SubmissionFlagged, Limit: pageQueueLimit + 1, Offset: offset})
	if err != nil {
		p.error(w, r, internalError("list flagged submissions", err))
		return
	}
	q := queuePage{Session: s, Offset: offset}
	if len(subs) > pageQueueLimit {
		subs = subs[:pageQueueLimit]
		q.Next = "/review/?offset=" + strconv.Itoa(offset+pageQueueLimit)
	}
	if offset > 0 {
		q.Prev = "/review/?offset=" + strconv.Itoa(max(0, offset-pageQueueLimit))
	}
	for _, sub := range subs {
		full, err := p.Handler.Catalog.FindSubmissionByID(ctx, sub.ID)
		if trust.ErrorCode(err) == trust.ENOTFOUND {
			continue
		} else if err != nil {
			p.error(w, r, internalError("find submission "+sub.ID, err))
			return
		}
		q.Submissions = append(q.Submissions, full)
	}
	p.render(w, r, http.StatusOK, "queue.html", q)
}

// decideData is the decision form's data.
type decideData struct {
	CSRF       string
	Submission *trust.Submission
}

// submissionPage is one submission's data.
type submissionPage struct {
	Session    pageSession
	Submission *trust.Submission
	Notice     string
}

// handleSubmissionPage answers GET /review/submissions/{id}.
func (p *Pages) handleSubmissionPage(w http.ResponseWriter, r *http.Request, s pageSession) {
	id := r.PathValue("id")
	if err := validateID(id); err != nil {
		p.error(w, r, err)
		return
	}
	sub, err := p.Handler.Catalog.FindSubmissionByID(r.Context(), id)
	if err != nil {
		p.error(w, r, internalError("find submission "+id, err, trust.ENOTFOUND))
		return
	}
	var notice string
	switch r.URL.Query().Get("decided") {
	case "1":
		notice = "Decision recorded: the submission is now " + sub.State + "."
	case "pending":
		notice = "Decision recorded (" + sub.State + "); the pipeline finishes it on its next scheduled run."
	}
	p.render(w, r, http.StatusOK, "submission.html", submissionPage{Session: s, Submission: sub, Notice: notice})
}

// handleDecisionPage answers POST /review/submissions/{id}: the decision is
// recorded in the session reviewer's name, the pipeline resumed, and the
// submission shown again.
func (p *Pages) handleDecisionPage(w http.ResponseWriter, r *http.Request, s pageSession) {
	id := r.PathValue("id")
	if err := validateID(id); err != nil {
		p.error(w, r, err)
		return
	}
	d := Decision{Decision: r.PostFormValue("decision"), Reason: r.PostFormValue("reason"), Reviewer: s.Reviewer}
	if err := d.Validate(); err != nil {
		p.error(w, r, err)
		return
	}
	h := p.Handler
	if h.Resumer == nil {
		p.error(w, r, errors.New("review pages: no pipeline resumer configured"))
		return
	}
	sub, err := h.Decide(r.Context(), id, d)
	if err != nil {
		p.error(w, r, err)
		return
	}
	h.Logger.Info("submission reviewed", "submission", id, "reviewer", d.Reviewer, "decision", d.Decision,
		"publisher", sub.Publisher, "skill", sub.Name, "version", sub.Version, "via", "page")
	decided := "1"
	if _, err := h.Resumer.Resume(r.Context(), id); err != nil {
		h.Logger.Error("resume after review failed; the scheduled resume will retry", "submission", id, "state", sub.State, "err", err)
		decided = "pending"
	}
	http.Redirect(w, r, "/review/submissions/"+id+"?decided="+decided, http.StatusSeeOther)
}

func (p *Pages) handleNoPage(w http.ResponseWriter, r *http.Request) {
	p.error(w, r, trust.Errorf(trust.ENOTFOUND, "no such page"))
}

// errorPage is the error page's data.
type errorPage struct {
	Status  int
	Code    string
	Message string
}

// error renders err as an HTML page with the shared code→status map; an
// internal error is logged with its cause and shown as "internal error".
func (p *Pages) error(w http.ResponseWriter, r *http.Request, err error) {
	code := trust.ErrorCode(err)
	if code == trust.EINTERNAL {
		p.Handler.Logger.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	status := httpapi.Status(code)
	p.render(w, r, status, "error.html", errorPage{Status: status, Code: code, Message: trust.ErrorMessage(err)})
}

// render executes a template into a buffer, then writes it with the page
// headers; a template error is a plain 500.
func (p *Pages) render(w http.ResponseWriter, r *http.Request, status int, name string, data any) {
	var buf bytes.Buffer
	h := w.Header()
	if err := pageTemplates.ExecuteTemplate(&buf, name, struct {
		CSS  template.CSS
		Data any
	}{pageCSS, data}); err != nil {
		p.Handler.Logger.Error("render page", "page", name, "err", err)
		buf.Reset()
		buf.WriteString("internal error\n")
		status = http.StatusInternalServerError
		h.Set("Content-Type", "text/plain; charset=utf-8")
	} else {
		h.Set("Content-Type", "text/html; charset=utf-8")
	}
	h.Set("Content-Security-Policy", pageCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

func (p *Pages) now() time.Time {
	if p.Now == nil {
		return time.Now()
	}
	return p.Now()
}

// secure reports whether the page was reached over HTTPS, directly or
// through API Gateway (which terminates TLS).
func secure(r *http.Request) bool {
	return r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")
}
