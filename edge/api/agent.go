package api

import (
	"net/http"

	"github.com/openagents/trust/shared/edgeapi"
	"github.com/openagents/trust/shared/httpapi"
	"github.com/openagents/trust/shared/trust"
)

// handleAgentInstanceCreate answers POST /v1/tenant/agents: 201 with the
// agent instance, owned by the session's tenant.
func (s *Server) handleAgentInstanceCreate(w http.ResponseWriter, r *http.Request, ts trust.TenantStore) {
	var req edgeapi.AgentInstanceRequest
	if err := httpapi.ReadJSON(w, r, agentBodyLimit, &req); err != nil {
		s.error(w, r, err)
		return
	}
	a, err := ts.CreateAgentInstance(r.Context(), &trust.AgentInstance{Name: req.Name, Config: req.Config})
	if err != nil {
		s.error(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusCreated, a)
}

// handleAgentInstancesFind answers GET /v1/tenant/agents?limit=&offset=.
func (s *Server) handleAgentInstancesFind(w http.ResponseWriter, r *http.Request, ts trust.TenantStore) {
	limit, offset, err := page(r)
	if err != nil {
		s.error(w, r, err)
		return
	}
	as, err := ts.FindAgentInstances(r.Context(), trust.AgentInstanceFilter{Limit: limit, Offset: offset})
	if err != nil {
		s.error(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, edgeapi.AgentInstancesResponse{AgentInstances: as})
}

// handleAgentInstanceFind answers GET /v1/tenant/agents/{id}: 404 unless the
// session's tenant has it.
func (s *Server) handleAgentInstanceFind(w http.ResponseWriter, r *http.Request, ts trust.TenantStore) {
	a, err := ts.FindAgentInstanceByID(r.Context(), r.PathValue("id"))
	if err != nil {
		s.error(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, a)
}

// handleAgentInstanceUpdate answers PUT /v1/tenant/agents/{id}: absent fields
// stay; 404 unless the session's tenant has it.
func (s *Server) handleAgentInstanceUpdate(w http.ResponseWriter, r *http.Request, ts trust.TenantStore) {
	var upd trust.AgentInstanceUpdate
	if err := httpapi.ReadJSON(w, r, agentBodyLimit, &upd); err != nil {
		s.error(w, r, err)
		return
	}
	a, err := ts.UpdateAgentInstance(r.Context(), r.PathValue("id"), upd)
	if err != nil {
		s.error(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, a)
}

// handleAgentInstanceDelete answers DELETE /v1/tenant/agents/{id}: 404 unless
// the session's tenant has it.
func (s *Server) handleAgentInstanceDelete(w http.ResponseWriter, r *http.Request, ts trust.TenantStore) {
	id := r.PathValue("id")
	if err := ts.DeleteAgentInstance(r.Context(), id); err != nil {
		s.error(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, edgeapi.DeleteResponse{ID: id, Deleted: true})
}
