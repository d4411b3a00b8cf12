// Package api is the edge node's HTTP API: catalog reads for Agent Machines
// (Machine token) and catalog writes for the functions (service credential),
// served with the standard library's method+path ServeMux.
//
// Handlers are handle<Noun><Verb> methods on *Server. Every error goes through
// httpapi.WriteError, so callers see {"error":{"code","message"}} with the
// shared code→status map. Every request is logged as one structured line
// (method, path, status, duration, principal); credentials never reach a log,
// an error or a response. docs/edge-api.md describes the routes.
package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/openagents/trust/shared/httpapi"
	"github.com/openagents/trust/shared/trust"
)

// Timeouts and limits of the HTTP server.
const (
	ReadHeaderTimeout = 5 * time.Second
	ReadTimeout       = 15 * time.Second
	WriteTimeout      = 30 * time.Second
	IdleTimeout       = 2 * time.Minute
	MaxHeaderBytes    = 16 << 10
	ShutdownTimeout   = 10 * time.Second
)

// Server serves the edge API.
type Server struct {
	ln     net.Listener
	server *http.Server
	mux    *http.ServeMux

	// Addr is the address Open listens on; ":0" picks a free port.
	Addr string

	// Logger receives one line per request and the causes of internal errors.
	Logger *slog.Logger

	// The catalog services.
	SkillVersionService trust.SkillVersionService
	SignatureService    trust.SignatureService
	KeyService          trust.KeyService
	MachineTokenService trust.MachineTokenService

	// Tenancy is the tenant store (tenant.go); nil answers its routes 503.
	Tenancy trust.Tenancy

	// The submission pipeline's catalog (submission.go); nil answers its routes 503.
	PublisherService  trust.PublisherService
	SubmissionService trust.SubmissionService

	// Replication routes writes in a replicated catalog (replication.go);
	// nil or Standalone on a single node.
	Replication trust.Replication

	// ServiceToken is the service credential: the bearer token the functions
	// present for writes. It is compared in constant time, by SHA-256. Empty
	// means no request is the service.
	ServiceToken string

	// Now returns the time envelopes are verified at.
	Now func() time.Time

	// KeyringWatch serves GET /v1/keyring/watch; its zero value is ready.
	KeyringWatch KeyringWatch

	// API keys (apikey.go): platform key versions, tenants' own keys and
	// metering. nil answers their routes 503; a nil Meter leaves usage
	// reports unmetered.
	APIKeyService trust.APIKeyService
	UserKeys      trust.UserKeyStore
	Meter         trust.Meter

	// SSH is the SSH credential store (ssh.go); nil answers its routes 503.
	SSH trust.SSHStore
}

// NewServer returns a Server with defaults and its routes; set the services
// and the service credential before use.
func NewServer() *Server {
	s := &Server{
		Addr:   "127.0.0.1:8080",
		Logger: slog.Default(),
		Now:    time.Now,
		mux:    http.NewServeMux(),
	}
	s.routes()
	return s
}

// routes registers every route on the mux.
func (s *Server) routes() {
	s.mux.HandleFunc("GET /healthz", s.handleHealthFind)

	// Machine reads: a Machine token or the service credential.
	s.mux.Handle("GET /v1/keyring", s.requireMachine(s.handleKeyringFind))
	s.mux.Handle("GET /v1/keyring/watch", s.requireMachine(s.handleKeyringWatch))
	s.mux.Handle("GET /v1/skills/{name}/versions/{version}/signatures", s.requireMachine(s.handleSignaturesFind))
	s.mux.Handle("POST /v1/signatures/batch", s.requireMachine(s.handleSignaturesBatch))

	// Service writes: the service credential only.
	s.mux.Handle("POST /v1/service/keys", s.requireService(s.handleKeyVersionCreate))
	s.mux.Handle("POST /v1/service/keys/{id}/versions/{version}/retire", s.requireService(s.handleKeyVersionRetire))
	s.mux.Handle("POST /v1/service/keys/{id}/versions/{version}/revoke", s.requireService(s.handleKeyVersionRevoke))
	s.mux.Handle("PUT /v1/service/skills/{name}/versions/{version}", s.requireService(s.handleSkillVersionPut))
	s.mux.Handle("GET /v1/service/skills/{name}/versions/{version}", s.requireService(s.handleSkillVersionFind))
	s.mux.Handle("POST /v1/service/skills/{name}/versions/{version}/state", s.requireService(s.handleSkillVersionStateUpdate))
	s.mux.Handle("POST /v1/service/signatures", s.requireService(s.handleSignatureCreate))
	s.mux.Handle("POST /v1/service/machine-tokens", s.requireService(s.handleMachineTokenCreate))
	s.mux.Handle("POST /v1/service/machines/{id}/revoke-tokens", s.requireService(s.handleMachineTokensRevoke))
	s.tenantRoutes() // tenant.go
	s.submissionRoutes()
	s.apiKeyRoutes() // apikey.go
	s.sshRoutes()    // ssh.go
	s.pageRoutes()   // page.go
}

// Open checks the configuration, listens on Addr and serves in the background.
func (s *Server) Open() error {
	if s.SkillVersionService == nil || s.SignatureService == nil || s.KeyService == nil || s.MachineTokenService == nil {
		return fmt.Errorf("api: every catalog service is required")
	} else if s.ServiceToken == "" {
		return fmt.Errorf("api: service credential required")
	}
	ln, err := net.Listen("tcp", s.Addr)
	if err != nil {
		return fmt.Errorf("api: listen on %s: %w", s.Addr, err)
	}
	s.ln = ln
	s.server = &http.Server{
		Handler:           s,
		ReadHeaderTimeout: ReadHeaderTimeout,
		ReadTimeout:       ReadTimeout,
		WriteTimeout:      WriteTimeout,
		IdleTimeout:       IdleTimeout,
		MaxHeaderBytes:    MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(s.logger().Handler(), slog.LevelWarn),
	}
	go func() {
		if err := s.server.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.logger().Error("http server stopped", "err", err)
		}
	}()
	return nil
}

// Close stops accepting connections and waits, up to ShutdownTimeout, for the
// requests in flight.
func (s *Server) Close() error {
	s.KeyringWatch.close() // ends open watch streams, which Shutdown would wait for
	if s.server == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), ShutdownTimeout)
	defer cancel()
	if err := s.server.Shutdown(ctx); err != nil {
		return fmt.Errorf("api: shutdown: %w", err)
	}
	return nil
}

// URL returns the base URL the server listens on, once open. An unspecified
// host (":0", "0.0.0.0") is reported as localhost.
func (s *Server) URL() string {
	if s.ln == nil {
		return ""
	}
	addr := s.ln.Addr().(*net.TCPAddr)
	host := "localhost"
	if ip := addr.IP; ip != nil && !ip.IsUnspecified() {
		host = ip.String()
	}
	return (&url.URL{Scheme: "http", Host: net.JoinHostPort(host, fmt.Sprint(addr.Port))}).String()
}

// ServeHTTP serves one request: routed, authenticated per route, logged, and
// with panics answered as internal errors.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	info := &requestInfo{principal: "anonymous"}
	rw := &statusWriter{ResponseWriter: w}
	r = r.WithContext(context.WithValue(r.Context(), requestInfoKey{}, info))
	rw.Header().Set("Cache-Control", "no-store")

	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			if rw.status == 0 {
				httpapi.WriteError(rw, r, s.logger(), fmt.Errorf("panic: %v", v))
			} else {
				s.logger().Error("panic after response started", "method", r.Method, "path", r.URL.Path, "panic", fmt.Sprint(v))
			}
		}
		attrs := []slog.Attr{
			slog.String("method", r.Method),
			slog.String("path", r.URL.Path),
			slog.Int("status", rw.statusCode()),
			slog.Duration("duration", time.Since(start)),
			slog.String("principal", info.principal),
		}
		if info.machineID != "" {
			attrs = append(attrs, slog.String("machine_id", info.machineID))
		}
		s.logger().LogAttrs(r.Context(), slog.LevelInfo, "request", attrs...)
	}()

	if _, pattern := s.mux.Handler(r); pattern == "" {
		s.handleNoRoute(rw, r)
		return
	}
	s.replicate(rw, r)
}

// handleNoRoute answers a request no route matches: 405 with Allow when the
// path exists under another method, 404 otherwise.
func (s *Server) handleNoRoute(w http.ResponseWriter, r *http.Request) {
	var allow []string
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut} {
		probe := &http.Request{Method: m, URL: r.URL, Host: r.Host, Header: http.Header{}}
		if _, pattern := s.mux.Handler(probe); pattern != "" {
			allow = append(allow, m)
		}
	}
	if len(allow) == 0 {
		httpapi.WriteError(w, r, s.logger(), trust.Errorf(trust.ENOTFOUND, "no such route"))
		return
	}
	for _, m := range allow {
		w.Header().Add("Allow", m)
	}
	httpapi.WriteJSON(w, http.StatusMethodNotAllowed, httpapi.ErrorResponse{Error: httpapi.ErrorBody{
		Code: trust.EINVALID, Message: fmt.Sprintf("method %s not allowed", r.Method),
	}})
}

// handleHealthFind answers GET /healthz.
func (s *Server) handleHealthFind(w http.ResponseWriter, r *http.Request) {
	httpapi.WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// error writes err through the shared error writer.
func (s *Server) error(w http.ResponseWriter, r *http.Request, err error) {
	httpapi.WriteError(w, r, s.logger(), err)
}

// logger returns the configured logger or the default one.
func (s *Server) logger() *slog.Logger {
	if s.Logger == nil {
		return slog.Default()
	}
	return s.Logger
}

// now returns the verification time.
func (s *Server) now() time.Time {
	if s.Now == nil {
		return time.Now()
	}
	return s.Now()
}

// requestInfo is what handlers learn about a request for its log line.
type requestInfo struct {
	principal string // "anonymous", "machine" or "service"
	machineID string
}

type requestInfoKey struct{}

// infoFrom returns the request's log info (a throwaway one outside ServeHTTP).
func infoFrom(ctx context.Context) *requestInfo {
	if info, ok := ctx.Value(requestInfoKey{}).(*requestInfo); ok {
		return info
	}
	return &requestInfo{}
}

// statusWriter records the status written.
type statusWriter struct {
	http.ResponseWriter
	status int
}

// WriteHeader records the status.
func (w *statusWriter) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
	w.ResponseWriter.WriteHeader(status)
}

// Write records an implicit 200.
func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *statusWriter) statusCode() int {
	if w.status == 0 {
		return http.StatusOK
	}
	return w.status
}
