package api

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/hex"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/openagents/trust/shared/httpapi"
	"github.com/openagents/trust/shared/pagestyle"
	"github.com/openagents/trust/shared/trust"
)

// The Agent status page (docs/pages.md): server-rendered HTML for a user of
// one tenant — agents, machines and their state, usage and credits, alerts,
// SSH credentials with a revoke button, and the SSH audit log with filters
// and export. It needs no JavaScript and loads nothing from elsewhere.
//
// A user logs in with their user credential on a form (POST, never in a
// URL); the edge exchanges it for a session (Tenancy.CreateSession) and sets
// the session token as an HttpOnly, SameSite=Strict cookie, Secure behind
// HTTPS. Every page request authenticates that cookie through
// Tenancy.Authenticate, so everything shown comes through the session's
// tenant handle: another tenant's row is not found, as on the JSON routes.
// A POST must come from a page of this origin (Origin, else Referer) and
// carry the form token derived from the session (pageCSRF).

// Page cookie and form field names.
const (
	pageCookie    = "trust_session"
	pageCSRFField = "csrf"
	pageBodyLimit = 8 << 10
)

// pageAlertActions are the audit actions shown as alerts.
var pageAlertActions = []string{"guard.canary", "guard.anomaly", "usage.anomaly", "machine.suspend", "machine.unsuspend", "ssh_credential.revoke"}

// pageReadLimit bounds the rows a page reads from one list (ten full pages).
const pageReadLimit = 10 * trust.MaxListLimit

//go:embed pagetmpl/*.html
var pageFS embed.FS

// pageTemplates are the page templates, each with the shared layout.
var pageTemplates = template.Must(template.New("").Funcs(template.FuncMap{
	"time": func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05Z") },
}).ParseFS(pageFS, "pagetmpl/*.html"))

// pageCSS is the shared stylesheet, inlined in every page and allowed by its
// hash in the Content-Security-Policy (shared/pagestyle).
var pageCSS, pageCSP = pagestyle.CSS, pagestyle.CSP

// pageRoutes registers the status page's routes.
func (s *Server) pageRoutes() {
	s.mux.HandleFunc("GET /status/login", s.handleStatusLoginFind)
	s.mux.HandleFunc("POST /status/login", s.handleStatusLoginCreate)
	s.mux.Handle("POST /status/logout", s.requirePageSession(s.handleStatusLogout))
	s.mux.Handle("GET /status", s.requirePageSession(s.handleStatusFind))
	s.mux.Handle("GET /status/ssh-attempts/export", s.requirePageSession(s.handleStatusSSHExport))
	s.mux.Handle("POST /status/ssh-credentials/{id}/revoke", s.requirePageSession(s.handleStatusSSHRevoke))
}

// pageHandler serves a page with the session's tenant handle and the form
// token of its session.
type pageHandler func(w http.ResponseWriter, r *http.Request, ts trust.TenantStore, csrf string)

// requirePageSession authenticates the session cookie. Without a valid one,
// a GET is sent to the login form and a POST refused (401). A POST must
// also pass the origin check and carry the session's form token (403).
func (s *Server) requirePageSession(h pageHandler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := r.Cookie(pageCookie)
		if err != nil || !strings.HasPrefix(c.Value, trust.UserSessionPrefix) || s.Tenancy == nil {
			s.pageUnauthenticated(w, r)
			return
		}
		ts, err := s.Tenancy.Authenticate(r.Context(), c.Value)
		if err != nil {
			if trust.ErrorCode(err) == trust.EINTERNAL {
				s.pageError(w, r, err)
				return
			}
			s.pageUnauthenticated(w, r)
			return
		}
		if ts.Principal().Kind != trust.PrincipalUser {
			// A Machine token is no session cookie.
			s.pageUnauthenticated(w, r)
			return
		}
		infoFrom(r.Context()).principal = principalUser
		csrf := pageCSRF(c.Value)
		if r.Method == http.MethodPost {
			if err := checkPageOrigin(r); err != nil {
				s.pageError(w, r, err)
				return
			}
			r.Body = http.MaxBytesReader(w, r.Body, pageBodyLimit)
			got := r.PostFormValue(pageCSRFField)
			if subtle.ConstantTimeCompare([]byte(got), []byte(csrf)) != 1 {
				s.pageError(w, r, trust.Errorf(trust.EFORBIDDEN, "the form is stale or from another site: reload the page and try again"))
				return
			}
		}
		h(w, r, ts, csrf)
	})
}

// pageCSRF is the form token of a session: an HMAC of a fixed label keyed
// with the session token. It changes with every session, needs no storage,
// and reveals nothing about the token.
func pageCSRF(session string) string {
	m := hmac.New(sha256.New, []byte(session))
	m.Write([]byte("trust status page form token"))
	return hex.EncodeToString(m.Sum(nil))
}

// checkPageOrigin refuses a POST that does not come from a page of this
// host: Origin, or Referer when a browser sent no Origin, must name r.Host.
// Neither header at all is refused too (fail closed).
func checkPageOrigin(r *http.Request) error {
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

// pageUnauthenticated sends a GET to the login form and refuses a POST.
func (s *Server) pageUnauthenticated(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodGet {
		http.Redirect(w, r, "/status/login", http.StatusSeeOther)
		return
	}
	s.pageError(w, r, trust.Errorf(trust.EUNAUTHORIZED, "your session ended: log in again"))
}

// handleStatusLoginFind answers GET /status/login: the login form.
func (s *Server) handleStatusLoginFind(w http.ResponseWriter, r *http.Request) {
	s.renderPage(w, r, http.StatusOK, "login.html", loginPage{})
}

// loginPage is the login form's data.
type loginPage struct {
	Error string
}

// handleStatusLoginCreate answers POST /status/login: the user credential
// from the form is exchanged for a session, set as the session cookie.
func (s *Server) handleStatusLoginCreate(w http.ResponseWriter, r *http.Request) {
	if err := checkPageOrigin(r); err != nil {
		s.pageError(w, r, err)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, pageBodyLimit)
	credential := strings.TrimSpace(r.PostFormValue("credential")) // the body only, never the query
	if s.Tenancy == nil {
		s.pageError(w, r, errNoTenancy())
		return
	}
	if !strings.HasPrefix(credential, trust.UserCredentialPrefix) {
		s.renderPage(w, r, http.StatusUnauthorized, "login.html", loginPage{Error: "That is not a user credential (oauc_…)."})
		return
	}
	sess, err := s.Tenancy.CreateSession(r.Context(), credential)
	if err != nil {
		if trust.ErrorCode(err) == trust.EINTERNAL {
			s.pageError(w, r, err)
			return
		}
		s.renderPage(w, r, http.StatusUnauthorized, "login.html", loginPage{Error: "Unknown or revoked credential."})
		return
	}
	infoFrom(r.Context()).principal = principalUser
	http.SetCookie(w, &http.Cookie{
		Name: pageCookie, Value: sess.Token, Path: "/status", Expires: sess.ExpiresAt,
		HttpOnly: true, Secure: pageSecure(r), SameSite: http.SameSiteStrictMode,
	})
	http.Redirect(w, r, "/status", http.StatusSeeOther)
}

// handleStatusLogout answers POST /status/logout: the session is revoked
// and its cookie cleared.
func (s *Server) handleStatusLogout(w http.ResponseWriter, r *http.Request, ts trust.TenantStore, _ string) {
	if err := ts.RevokeSession(r.Context()); err != nil {
		s.pageError(w, r, err)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: pageCookie, Value: "", Path: "/status", MaxAge: -1,
		HttpOnly: true, Secure: pageSecure(r), SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r, "/status/login", http.StatusSeeOther)
}

// pageSecure reports whether the page was reached over HTTPS, directly or
// through the TLS-terminating proxy in front of the edge.
func pageSecure(r *http.Request) bool {
	return r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")
}

// errorPage is the error page's data.
type errorPage struct {
	Status  int
	Code    string
	Message string
}

// pageError renders err as an HTML page with the shared code→status map;
// an internal error is logged with its cause and shown as "internal error".
func (s *Server) pageError(w http.ResponseWriter, r *http.Request, err error) {
	code := trust.ErrorCode(err)
	if code == trust.EINTERNAL {
		s.logger().Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	status := httpapi.Status(code)
	s.renderPage(w, r, status, "error.html", errorPage{Status: status, Code: code, Message: trust.ErrorMessage(err)})
}

// renderPage executes a template into a buffer first, so a template error
// is a clean 500, then writes it with the page headers.
func (s *Server) renderPage(w http.ResponseWriter, r *http.Request, status int, name string, data any) {
	var buf bytes.Buffer
	if err := pageTemplates.ExecuteTemplate(&buf, name, pageData{CSS: pageCSS, Data: data}); err != nil {
		s.logger().Error("render page", "page", name, "err", err)
		buf.Reset()
		status = http.StatusInternalServerError
		buf.WriteString("internal error\n")
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	} else {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
	}
	setPageHeaders(w.Header())
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// pageData wraps a page's data with the stylesheet.
type pageData struct {
	CSS  template.CSS
	Data any
}

// setPageHeaders sets the security headers of every page.
func setPageHeaders(h http.Header) {
	h.Set("Content-Security-Policy", pageCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cache-Control", "no-store")
}
