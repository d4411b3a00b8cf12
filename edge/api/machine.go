package api

import (
	"net/http"

	"github.com/openagents/trust/shared/edgeapi"
	"github.com/openagents/trust/shared/httpapi"
)

// handleMachineTokenCreate answers POST /v1/service/machine-tokens: it issues a
// Machine token and returns it, this once. The token is in the response body
// only; the request log line has the path and status, never the token.
func (s *Server) handleMachineTokenCreate(w http.ResponseWriter, r *http.Request) {
	var req edgeapi.MachineTokenRequest
	if err := httpapi.ReadJSON(w, r, smallBodyLimit, &req); err != nil {
		s.error(w, r, err)
		return
	}
	token, err := s.MachineTokenService.CreateMachineToken(r.Context(), req.MachineID, req.TenantID)
	if err != nil {
		s.error(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusCreated, edgeapi.MachineTokenResponse{MachineID: req.MachineID, Token: token})
}

// handleMachineTokensRevoke answers POST /v1/service/machines/{id}/revoke-tokens:
// every token of the Machine stops authenticating at once. Revoking again
// changes nothing; 404 when the Machine never had a token. No body.
func (s *Server) handleMachineTokensRevoke(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if err := s.MachineTokenService.RevokeMachineTokens(r.Context(), id); err != nil {
		s.error(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, edgeapi.RevokeMachineTokensResponse{MachineID: id, Revoked: true})
}
