// Package flyfake is a fake of the Fly Machines API — only the calls
// functions/provision makes (apps, Machines: list, launch, update, start,
// stop, destroy) — for tests that run the real fly-go flaps client against it
// (FLY_FLAPS_BASE_URL). It is a fake, not an emulator: state lives in memory,
// Machines change state at once, and nothing runs.
//
// It checks the shape of every request, from the Machines API's documented
// shapes: the bearer token; known routes and JSON bodies without unknown
// fields; an app created in a custom private network no other app uses; a
// Machine config with an image pinned by digest, guest CPU and memory limits
// and a restart policy; no file carrying a secret or SSH material; the
// required environment present before a Machine starts; and secret values
// (Forbidden, and the values of SecretEnv keys) nowhere in a request body but
// in those env keys. Each breach is answered 400 and recorded; New makes the
// test fail on any recorded breach when it ends.
package flyfake

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	fly "github.com/superfly/fly-go"
	"github.com/superfly/fly-go/flaps"
)

// Server is a running fake.
type Server struct {
	Token       string   // the API token requests must carry (Authorization: Bearer)
	Forbidden   []string // values that must appear in no request body, env included
	SecretEnv   []string // env keys whose values are secret: allowed there only
	RequiredEnv []string // env keys a Machine must have when it starts

	srv *httptest.Server

	mu         sync.Mutex
	apps       map[string]*flaps.App
	machines   map[string][]*fly.Machine // app → Machines, destroyed ones included
	bodies     [][]byte
	violations []string
	failures   map[string]int // operation → status of its next call
	calls      map[string]int // operation → number of calls
	nextID     int
}

// New starts a fake expecting token, closes it when the test ends, and fails
// tb then if any request broke a rule.
func New(tb testing.TB, token string) *Server {
	tb.Helper()
	s := NewServer(token)
	tb.Cleanup(func() {
		s.Close()
		for _, v := range s.Violations() {
			tb.Errorf("fly fake: %s", v)
		}
	})
	return s
}

// NewServer starts a fake expecting token; Close stops it. Check Violations
// yourself.
func NewServer(token string) *Server {
	s := &Server{
		Token:    token,
		apps:     map[string]*flaps.App{},
		machines: map[string][]*fly.Machine{},
		failures: map[string]int{},
		calls:    map[string]int{},
	}
	s.srv = httptest.NewServer(s.routes())
	return s
}

// Close stops the fake.
func (s *Server) Close() { s.srv.Close() }

// URL is the base URL for FLY_FLAPS_BASE_URL.
func (s *Server) URL() string { return s.srv.URL }

// Violations returns the rules requests broke so far.
func (s *Server) Violations() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.violations)
}

// Bodies returns every request body received, in order.
func (s *Server) Bodies() [][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.bodies)
}

// Calls returns how often an operation was called: "create_app", "get_app",
// "list", "launch", "update", "start", "stop", "destroy".
func (s *Server) Calls(op string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[op]
}

// FailNext makes the next call of op answer status, as a crash or an outage
// of the API would, without changing anything.
func (s *Server) FailNext(op string, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failures[op] = status
}

// App returns a copy of an app, or nil.
func (s *Server) App(name string) *flaps.App {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a := s.apps[name]; a != nil {
		c := *a
		return &c
	}
	return nil
}

// PutApp stores an app as if it had been created earlier (e.g. outside the
// provisioner, in another network).
func (s *Server) PutApp(app flaps.App) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.apps[app.Name] = &app
}

// Machines returns copies of an app's Machines that are not destroyed.
func (s *Server) Machines(app string) []*fly.Machine {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*fly.Machine
	for _, m := range s.machines[app] {
		if m.State != fly.MachineStateDestroyed {
			out = append(out, clone(m))
		}
	}
	return out
}

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/apps", s.op("create_app", s.handleAppCreate))
	mux.HandleFunc("GET /v1/apps/{app}", s.op("get_app", s.handleAppGet))
	mux.HandleFunc("GET /v1/apps/{app}/machines", s.op("list", s.handleMachineList))
	mux.HandleFunc("POST /v1/apps/{app}/machines", s.op("launch", s.handleMachineLaunch))
	mux.HandleFunc("GET /v1/apps/{app}/machines/{id}", s.op("get", s.handleMachineGet))
	mux.HandleFunc("POST /v1/apps/{app}/machines/{id}", s.op("update", s.handleMachineUpdate))
	mux.HandleFunc("POST /v1/apps/{app}/machines/{id}/start", s.op("start", s.handleMachineStart))
	mux.HandleFunc("POST /v1/apps/{app}/machines/{id}/stop", s.op("stop", s.handleMachineStop))
	mux.HandleFunc("DELETE /v1/apps/{app}/machines/{id}", s.op("destroy", s.handleMachineDestroy))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.violate(w, "unknown route %s %s", r.Method, r.URL.Path)
	})
	return mux
}

// handler is one route's handler, called with the lock held and the body read.
type handler func(w http.ResponseWriter, r *http.Request, body []byte)

// op checks what every request must satisfy, applies injected failures, and
// calls h under the lock.
func (s *Server) op(name string, h handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var buf bytes.Buffer
		_, _ = buf.ReadFrom(http.MaxBytesReader(w, r.Body, 1<<20))
		body := buf.Bytes()

		s.mu.Lock()
		defer s.mu.Unlock()
		s.calls[name]++
		s.bodies = append(s.bodies, slices.Clone(body))
		if r.Header.Get("Authorization") != "Bearer "+s.Token {
			// Not a violation of shape: the real API answers 401 too.
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "unauthorized"})
			return
		}
		if len(body) > 0 && r.Header.Get("Content-Type") != "application/json" {
			s.violateLocked(w, "%s: body without Content-Type application/json", name)
			return
		}
		if msg := s.leak(body); msg != "" {
			s.violateLocked(w, "%s: %s", name, msg)
			return
		}
		if status, ok := s.failures[name]; ok {
			delete(s.failures, name)
			writeJSON(w, status, map[string]string{"error": "injected failure"})
			return
		}
		h(w, r, body)
	}
}

// leak reports a secret value in body outside the env keys allowed to hold it.
func (s *Server) leak(body []byte) string {
	if len(body) == 0 {
		return ""
	}
	for _, f := range s.Forbidden {
		if f != "" && bytes.Contains(body, []byte(f)) {
			return "a forbidden secret value is in the request body"
		}
	}
	var in struct {
		Config *fly.MachineConfig `json:"config"`
	}
	if json.Unmarshal(body, &in) != nil || in.Config == nil || len(in.Config.Env) == 0 {
		return ""
	}
	var secrets []string
	for _, k := range s.SecretEnv {
		if v := in.Config.Env[k]; v != "" {
			secrets = append(secrets, v)
		}
	}
	// The body without the secret env values must not hold them anywhere.
	var generic map[string]any
	_ = json.Unmarshal(body, &generic)
	if cfg, ok := generic["config"].(map[string]any); ok {
		if env, ok := cfg["env"].(map[string]any); ok {
			for _, k := range s.SecretEnv {
				delete(env, k)
			}
		}
	}
	rest, _ := json.Marshal(generic)
	for _, v := range secrets {
		if bytes.Contains(rest, []byte(v)) || strings.Contains(string(rest), base64.StdEncoding.EncodeToString([]byte(v))) {
			return "a secret env value also appears outside its env key"
		}
	}
	return ""
}

func (s *Server) handleAppCreate(w http.ResponseWriter, r *http.Request, body []byte) {
	var in flaps.CreateAppRequest
	if err := decodeStrict(body, &in); err != nil {
		s.violateLocked(w, "create_app: %v", err)
		return
	}
	switch {
	case in.Name == "" || in.Org == "":
		s.violateLocked(w, "create_app: name and org_slug are required")
		return
	case in.Network == "" || in.Network == "default":
		s.violateLocked(w, "create_app: app %s created without a custom private network", in.Name)
		return
	}
	if s.apps[in.Name] != nil {
		writeJSON(w, http.StatusConflict, map[string]string{"error": "app name already taken"})
		return
	}
	for _, a := range s.apps {
		if a.Network == in.Network {
			s.violateLocked(w, "create_app: network %s is already used by app %s", in.Network, a.Name)
			return
		}
	}
	app := &flaps.App{ID: in.Name, Name: in.Name, Network: in.Network, Status: "pending",
		Organization: flaps.AppOrganizationInfo{Slug: in.Org}}
	s.apps[in.Name] = app
	writeJSON(w, http.StatusCreated, app)
}

func (s *Server) handleAppGet(w http.ResponseWriter, r *http.Request, _ []byte) {
	app := s.apps[r.PathValue("app")]
	if app == nil {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "app not found"})
		return
	}
	writeJSON(w, http.StatusOK, app)
}

func (s *Server) handleMachineList(w http.ResponseWriter, r *http.Request, _ []byte) {
	name := r.PathValue("app")
	if s.apps[name] == nil {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "app not found"})
		return
	}
	out := []*fly.Machine{}
	for _, m := range s.machines[name] {
		if m.State != fly.MachineStateDestroyed {
			out = append(out, m)
		}
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) handleMachineLaunch(w http.ResponseWriter, r *http.Request, body []byte) {
	name := r.PathValue("app")
	if s.apps[name] == nil {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "app not found"})
		return
	}
	var in fly.LaunchMachineInput
	if err := decodeStrict(body, &in); err != nil {
		s.violateLocked(w, "launch: %v", err)
		return
	} else if msg := checkConfig(in.Config); msg != "" {
		s.violateLocked(w, "launch: %s", msg)
		return
	}
	for _, m := range s.machines[name] {
		if m.State != fly.MachineStateDestroyed && in.Name != "" && m.Name == in.Name {
			s.violateLocked(w, "launch: a second live Machine named %s in app %s", in.Name, name)
			return
		}
	}
	if !in.SkipLaunch && !s.hasEnv(in.Config) {
		s.violateLocked(w, "launch: Machine started without its required environment")
		return
	}
	s.nextID++
	m := &fly.Machine{
		ID:     fmt.Sprintf("e784%010x", s.nextID),
		Name:   in.Name,
		Region: in.Region,
		State:  fly.MachineStateStarted,
		Config: in.Config,
	}
	if m.Region == "" {
		m.Region = "iad"
	}
	if in.SkipLaunch {
		m.State = fly.MachineStateCreated
	}
	s.machines[name] = append(s.machines[name], m)
	writeJSON(w, http.StatusOK, m)
}

func (s *Server) handleMachineGet(w http.ResponseWriter, r *http.Request, _ []byte) {
	if m := s.machine(w, r); m != nil {
		writeJSON(w, http.StatusOK, m)
	}
}

func (s *Server) handleMachineUpdate(w http.ResponseWriter, r *http.Request, body []byte) {
	m := s.machine(w, r)
	if m == nil {
		return
	}
	var in fly.LaunchMachineInput
	if err := decodeStrict(body, &in); err != nil {
		s.violateLocked(w, "update: %v", err)
		return
	} else if msg := checkConfig(in.Config); msg != "" {
		s.violateLocked(w, "update: %s", msg)
		return
	} else if in.Name != "" && in.Name != m.Name {
		s.violateLocked(w, "update: renames Machine %s", m.ID)
		return
	}
	m.Config = in.Config
	writeJSON(w, http.StatusOK, m)
}

func (s *Server) handleMachineStart(w http.ResponseWriter, r *http.Request, _ []byte) {
	m := s.machine(w, r)
	if m == nil {
		return
	}
	if !s.hasEnv(m.Config) {
		s.violateLocked(w, "start: Machine %s lacks its required environment", m.ID)
		return
	}
	prev := m.State
	m.State = fly.MachineStateStarted
	writeJSON(w, http.StatusOK, fly.MachineStartResponse{Status: "started", PreviousState: prev})
}

func (s *Server) handleMachineStop(w http.ResponseWriter, r *http.Request, body []byte) {
	m := s.machine(w, r)
	if m == nil {
		return
	}
	var in fly.StopMachineInput
	if err := decodeStrict(body, &in); err != nil {
		s.violateLocked(w, "stop: %v", err)
		return
	} else if in.ID != m.ID {
		s.violateLocked(w, "stop: body names Machine %q, path %q", in.ID, m.ID)
		return
	}
	m.State = fly.MachineStateStopped
	writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
}

func (s *Server) handleMachineDestroy(w http.ResponseWriter, r *http.Request, _ []byte) {
	m := s.machine(w, r)
	if m == nil {
		return
	}
	if m.State == fly.MachineStateStarted && r.URL.Query().Get("kill") != "true" {
		writeJSON(w, http.StatusPreconditionFailed, map[string]string{"error": "machine is running: stop it or pass kill=true"})
		return
	}
	m.State = fly.MachineStateDestroyed
	writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
}

// machine returns the Machine the path names, or answers 404.
func (s *Server) machine(w http.ResponseWriter, r *http.Request) *fly.Machine {
	for _, m := range s.machines[r.PathValue("app")] {
		if m.ID == r.PathValue("id") && m.State != fly.MachineStateDestroyed {
			return m
		}
	}
	writeJSON(w, http.StatusNotFound, map[string]string{"error": "machine not found"})
	return nil
}

// hasEnv reports whether cfg holds every required env key, non-empty.
func (s *Server) hasEnv(cfg *fly.MachineConfig) bool {
	for _, k := range s.RequiredEnv {
		if cfg == nil || cfg.Env[k] == "" {
			return false
		}
	}
	return true
}

// checkConfig checks a Machine config's shape; "" when it is fine.
func checkConfig(c *fly.MachineConfig) string {
	if c == nil {
		return "no config"
	}
	if i := strings.LastIndex(c.Image, "@sha256:"); i <= 0 || len(c.Image)-i != len("@sha256:")+64 {
		return "image not pinned by digest"
	}
	g := c.Guest
	switch {
	case g == nil:
		return "no guest limits"
	case g.CPUKind != "shared" && g.CPUKind != "performance":
		return fmt.Sprintf("guest cpu_kind %q", g.CPUKind)
	case !slices.Contains([]int{1, 2, 4, 8, 16}, g.CPUs):
		return fmt.Sprintf("guest cpus %d", g.CPUs)
	case g.MemoryMB < 256 || g.MemoryMB%256 != 0:
		return fmt.Sprintf("guest memory_mb %d", g.MemoryMB)
	}
	if c.Restart == nil || !slices.Contains([]fly.MachineRestartPolicy{fly.MachineRestartPolicyNo,
		fly.MachineRestartPolicyAlways, fly.MachineRestartPolicyOnFailure}, c.Restart.Policy) {
		return "no restart policy"
	}
	for _, f := range c.Files {
		if f == nil {
			continue
		}
		if p := strings.ToLower(f.GuestPath); strings.Contains(p, "ssh") || strings.Contains(p, "authorized_keys") {
			return fmt.Sprintf("file %s is SSH material", f.GuestPath)
		}
		if f.RawValue != nil {
			raw, _ := base64.StdEncoding.DecodeString(*f.RawValue)
			if bytes.Contains(raw, []byte("PRIVATE KEY")) || strings.Contains(*f.RawValue, "PRIVATE KEY") {
				return fmt.Sprintf("file %s holds a private key", f.GuestPath)
			}
		}
	}
	for k := range c.Env {
		if strings.Contains(strings.ToUpper(k), "SSH") {
			return fmt.Sprintf("env %s is SSH material", k)
		}
	}
	return ""
}

func (s *Server) violate(w http.ResponseWriter, format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.violateLocked(w, format, args...)
}

func (s *Server) violateLocked(w http.ResponseWriter, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	s.violations = append(s.violations, msg)
	writeJSON(w, http.StatusBadRequest, map[string]string{"error": "fake: request breaks a rule"})
}

func decodeStrict(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("body: %w", err)
	}
	return nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func clone(m *fly.Machine) *fly.Machine {
	b, _ := json.Marshal(m)
	var c fly.Machine
	_ = json.Unmarshal(b, &c)
	return &c
}
