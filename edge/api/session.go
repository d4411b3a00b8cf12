package api

import (
	"net/http"
	"strings"

	"github.com/openagents/trust/shared/edgeapi"
	"github.com/openagents/trust/shared/httpapi"
	"github.com/openagents/trust/shared/trust"
)

// handleSessionCreate answers POST /v1/sessions: the bearer is a user
// credential, exchanged for a session whose token is in the 201 body, this
// once. A Machine token is 403; the service credential opens no session (400).
func (s *Server) handleSessionCreate(w http.ResponseWriter, r *http.Request) {
	ctx, info := r.Context(), infoFrom(r.Context())
	token := httpapi.BearerToken(r)
	switch {
	case token == "":
		s.unauthorized(w, r, errNoCredential())
		return
	case s.isServiceToken(token):
		info.principal = principalService
		s.error(w, r, trust.Errorf(trust.EINVALID, "the service credential opens no session: present a user credential"))
		return
	case !strings.HasPrefix(token, trust.UserCredentialPrefix):
		if m, err := s.MachineTokenService.AuthenticateMachine(ctx, token); err == nil {
			info.principal, info.machineID = principalMachine, m.ID
			s.error(w, r, trust.Errorf(trust.EFORBIDDEN, "this route needs a user credential"))
			return
		}
		s.unauthorized(w, r, trust.Errorf(trust.EUNAUTHORIZED, "invalid credential"))
		return
	case s.Tenancy == nil:
		s.error(w, r, errNoTenancy())
		return
	}
	sess, err := s.Tenancy.CreateSession(ctx, token)
	if err != nil {
		s.unauthorized(w, r, authError(err))
		return
	}
	info.principal = principalUser
	httpapi.WriteJSON(w, http.StatusCreated, sess)
}

// handleSessionFind answers GET /v1/session: who the session is.
func (s *Server) handleSessionFind(w http.ResponseWriter, r *http.Request, ts trust.TenantStore) {
	t, err := ts.FindTenant(r.Context())
	if err != nil {
		s.error(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, edgeapi.SessionResponse{Principal: ts.Principal(), Tenant: t})
}

// handleSessionDelete answers DELETE /v1/session: the session stops working.
func (s *Server) handleSessionDelete(w http.ResponseWriter, r *http.Request, ts trust.TenantStore) {
	if err := ts.RevokeSession(r.Context()); err != nil {
		s.error(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, edgeapi.DeleteResponse{ID: "session", Deleted: true})
}
