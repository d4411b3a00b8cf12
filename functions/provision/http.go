package provision

import (
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/openagents/trust/shared/httpapi"
	"github.com/openagents/trust/shared/trust"
)

// Handler serves the provisioning routes, for callers holding the operator
// credential (the platform's control plane, an operator):
//
//	PUT    /v1/provision/tenants/{tenant}/agents/{agent}          provision (201 created, 200 already there)
//	GET    /v1/provision/tenants/{tenant}/agents/{agent}          where the agent runs
//	POST   /v1/provision/tenants/{tenant}/agents/{agent}/suspend  stop its Machine
//	POST   /v1/provision/tenants/{tenant}/agents/{agent}/resume   start it again
//	DELETE /v1/provision/tenants/{tenant}/agents/{agent}          revoke its token, destroy its Machine
//	POST   /v1/provision/tenants/{tenant}/machines/{machine}/suspend  stop a Machine the edge suspended
//
// Answers are Agent objects; none carries a Machine's environment.
type Handler struct {
	Provisioner   *Provisioner
	OperatorToken string // credential callers present; required
	Logger        *slog.Logger

	mux *http.ServeMux
}

// NewHandler returns a Handler with defaults; set the exported fields before use.
func NewHandler() *Handler {
	h := &Handler{Logger: slog.Default()}
	const agent = "/v1/provision/tenants/{tenant}/agents/{agent}"
	h.mux = http.NewServeMux()
	h.mux.HandleFunc("PUT "+agent, h.handleAgentProvision)
	h.mux.HandleFunc("GET "+agent, h.handleAgentGet)
	h.mux.HandleFunc("POST "+agent+"/suspend", h.handleAgentSuspend)
	h.mux.HandleFunc("POST "+agent+"/resume", h.handleAgentResume)
	h.mux.HandleFunc("DELETE "+agent, h.handleAgentDestroy)
	h.mux.HandleFunc("POST /v1/provision/tenants/{tenant}/machines/{machine}/suspend", h.handleMachineSuspend)
	h.mux.HandleFunc("/", h.handleNotFound)
	return h
}

// ServeHTTP implements http.Handler: every route needs the operator credential.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := h.authenticate(r); err != nil {
		httpapi.WriteError(w, r, h.Logger, err)
		return
	}
	h.mux.ServeHTTP(w, r)
}

func (h *Handler) handleAgentProvision(w http.ResponseWriter, r *http.Request) {
	a, created, err := h.Provisioner.ProvisionAgent(r.Context(), r.PathValue("tenant"), r.PathValue("agent"))
	if err != nil {
		httpapi.WriteError(w, r, h.Logger, err)
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	httpapi.WriteJSON(w, status, a)
}

func (h *Handler) handleAgentGet(w http.ResponseWriter, r *http.Request) {
	a, err := h.Provisioner.FindAgent(r.Context(), r.PathValue("tenant"), r.PathValue("agent"))
	h.writeAgent(w, r, a, err)
}

func (h *Handler) handleAgentSuspend(w http.ResponseWriter, r *http.Request) {
	a, err := h.Provisioner.SuspendAgent(r.Context(), r.PathValue("tenant"), r.PathValue("agent"))
	h.writeAgent(w, r, a, err)
}

// handleMachineSuspend is the edge's Suspender calling: it knows the tenant
// and the Machine ID only.
func (h *Handler) handleMachineSuspend(w http.ResponseWriter, r *http.Request) {
	a, err := h.Provisioner.SuspendMachine(r.Context(), r.PathValue("tenant"), r.PathValue("machine"))
	h.writeAgent(w, r, a, err)
}

func (h *Handler) handleAgentResume(w http.ResponseWriter, r *http.Request) {
	a, err := h.Provisioner.ResumeAgent(r.Context(), r.PathValue("tenant"), r.PathValue("agent"))
	h.writeAgent(w, r, a, err)
}

func (h *Handler) handleAgentDestroy(w http.ResponseWriter, r *http.Request) {
	if err := h.Provisioner.DestroyAgent(r.Context(), r.PathValue("tenant"), r.PathValue("agent")); err != nil {
		httpapi.WriteError(w, r, h.Logger, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h *Handler) writeAgent(w http.ResponseWriter, r *http.Request, a *Agent, err error) {
	if err != nil {
		httpapi.WriteError(w, r, h.Logger, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, a)
}

// handleNotFound answers every other method and path in the shared error format.
func (h *Handler) handleNotFound(w http.ResponseWriter, r *http.Request) {
	httpapi.WriteError(w, r, h.Logger, trust.Errorf(trust.ENOTFOUND, "no such route"))
}

func (h *Handler) authenticate(r *http.Request) error {
	if h.OperatorToken == "" {
		return fmt.Errorf("provision: no operator credential configured")
	}
	got := sha256.Sum256([]byte(httpapi.BearerToken(r)))
	want := sha256.Sum256([]byte(h.OperatorToken))
	if subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
		return trust.Errorf(trust.EUNAUTHORIZED, "operator credential required")
	}
	return nil
}
