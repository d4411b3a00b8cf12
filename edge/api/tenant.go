package api

import (
	"net/http"
	"strconv"

	"github.com/openagents/trust/shared/edgeapi"
	"github.com/openagents/trust/shared/httpapi"
	"github.com/openagents/trust/shared/trust"
)

// The tenant API (docs/tenancy.md). Handlers of tenant routes receive a
// trust.TenantStore bound to the caller's tenant by the guard below and
// never see a tenant ID from the request; the service routes get the service
// handle, made from the service credential itself.

// principalUser is the request log's name for a user session.
const principalUser = "user"

// agentBodyLimit bounds the body of an agent instance (its config included).
const agentBodyLimit = trust.MaxAgentConfigSize + 16<<10

// tenantRoutes registers the tenant API.
func (s *Server) tenantRoutes() {
	// Service: tenants, users and user credentials.
	s.mux.Handle("POST /v1/service/tenants", s.requireService(s.handleTenantCreate))
	s.mux.Handle("GET /v1/service/tenants/{id}", s.requireService(s.handleTenantFind))
	s.mux.Handle("POST /v1/service/tenants/{id}/users", s.requireService(s.handleUserCreate))
	s.mux.Handle("POST /v1/service/tenants/{id}/users/{user}/credentials", s.requireService(s.handleUserCredentialCreate))
	s.mux.Handle("POST /v1/service/tenants/{id}/users/{user}/revoke", s.requireService(s.handleUserRevoke))

	// Users: a session, opened with a user credential.
	s.mux.HandleFunc("POST /v1/sessions", s.handleSessionCreate)
	s.mux.Handle("GET /v1/session", s.requireTenant(trust.PrincipalUser, s.handleSessionFind))
	s.mux.Handle("DELETE /v1/session", s.requireTenant(trust.PrincipalUser, s.handleSessionDelete))
	s.mux.Handle("POST /v1/tenant/agents", s.requireTenant(trust.PrincipalUser, s.handleAgentInstanceCreate))
	s.mux.Handle("GET /v1/tenant/agents", s.requireTenant(trust.PrincipalUser, s.handleAgentInstancesFind))
	s.mux.Handle("GET /v1/tenant/agents/{id}", s.requireTenant(trust.PrincipalUser, s.handleAgentInstanceFind))
	s.mux.Handle("PUT /v1/tenant/agents/{id}", s.requireTenant(trust.PrincipalUser, s.handleAgentInstanceUpdate))
	s.mux.Handle("DELETE /v1/tenant/agents/{id}", s.requireTenant(trust.PrincipalUser, s.handleAgentInstanceDelete))
	s.mux.Handle("GET /v1/tenant/usage", s.requireTenant(trust.PrincipalUser, s.handleUsageRecordsFind))
	s.mux.Handle("GET /v1/tenant/audit-events", s.requireTenant(trust.PrincipalUser, s.handleAuditEventsFind))

	// Machines: their own tenant's usage and audit.
	s.mux.Handle("POST /v1/tenant/usage", s.requireTenant(trust.PrincipalMachine, s.handleUsageRecordCreate))
	s.mux.Handle("POST /v1/tenant/audit-events", s.requireTenant(trust.PrincipalMachine, s.handleAuditEventCreate))
}

// tenantHandler serves a tenant route with the caller's tenant handle.
type tenantHandler func(w http.ResponseWriter, r *http.Request, ts trust.TenantStore)

// requireTenant authenticates a tenant route and hands h a handle bound to
// the caller's tenant. kind is the principal the route is for: a user
// session or a Machine token of the other kind is 403; the service
// credential acts as the tenant named by the Trust-Tenant header (400
// without it); anything else is 401.
func (s *Server) requireTenant(kind string, h tenantHandler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, info := r.Context(), infoFrom(r.Context())
		token := httpapi.BearerToken(r)
		switch {
		case token == "":
			s.unauthorized(w, r, errNoCredential())
			return
		case s.isServiceToken(token):
			info.principal = principalService
			ts, err := s.serviceAsTenant(r, token)
			if err != nil {
				s.error(w, r, err)
				return
			}
			h(w, r, ts)
			return
		case s.Tenancy == nil:
			// Without the tenant store only Machine tokens can be checked:
			// enough to answer 401 and 403 correctly.
			m, err := s.MachineTokenService.AuthenticateMachine(ctx, token)
			if err != nil {
				s.unauthorized(w, r, authError(err))
				return
			}
			info.principal, info.machineID = principalMachine, m.ID
			if kind != trust.PrincipalMachine {
				s.error(w, r, errWrongPrincipal(kind))
				return
			}
			s.error(w, r, errNoTenancy())
			return
		}
		ts, err := s.Tenancy.Authenticate(ctx, token)
		if err != nil {
			s.unauthorized(w, r, authError(err))
			return
		}
		switch p := ts.Principal(); p.Kind {
		case trust.PrincipalMachine:
			info.principal, info.machineID = principalMachine, p.MachineID
			// A suspended Machine is refused here too (audit events, SSH),
			// not only on the routes requireMachine guards.
			if err := s.checkSuspended(ctx, p.TenantID, p.MachineID); err != nil {
				s.error(w, r, err)
				return
			}
		default:
			info.principal = principalUser
		}
		if ts.Principal().Kind != kind {
			s.error(w, r, errWrongPrincipal(kind))
			return
		}
		h(w, r, ts)
	})
}

// serviceAsTenant returns a handle of the tenant named by the Trust-Tenant
// header, acting as the service.
func (s *Server) serviceAsTenant(r *http.Request, credential string) (trust.TenantStore, error) {
	svc, err := s.service(r, credential)
	if err != nil {
		return nil, err
	}
	id := r.Header.Get(edgeapi.TenantHeader)
	if id == "" {
		return nil, trust.Errorf(trust.EINVALID, "the service credential belongs to no tenant: name one with the %s header", edgeapi.TenantHeader)
	}
	return svc.Tenant(r.Context(), id)
}

// service returns the service handle for the request's credential.
func (s *Server) service(r *http.Request, credential string) (trust.ServiceStore, error) {
	if s.Tenancy == nil {
		return nil, errNoTenancy()
	}
	svc, err := s.Tenancy.Service(r.Context(), credential)
	if err != nil {
		return nil, authError(err)
	}
	return svc, nil
}

// handleTenantCreate answers POST /v1/service/tenants: 201 with the tenant.
func (s *Server) handleTenantCreate(w http.ResponseWriter, r *http.Request) {
	var req edgeapi.TenantRequest
	if err := httpapi.ReadJSON(w, r, smallBodyLimit, &req); err != nil {
		s.error(w, r, err)
		return
	}
	svc, err := s.service(r, httpapi.BearerToken(r))
	if err != nil {
		s.error(w, r, err)
		return
	}
	t, err := svc.CreateTenant(r.Context(), &trust.Tenant{ID: req.ID, Name: req.Name})
	if err != nil {
		s.error(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusCreated, t)
}

// handleTenantFind answers GET /v1/service/tenants/{id}.
func (s *Server) handleTenantFind(w http.ResponseWriter, r *http.Request) {
	svc, err := s.service(r, httpapi.BearerToken(r))
	if err != nil {
		s.error(w, r, err)
		return
	}
	t, err := svc.FindTenantByID(r.Context(), r.PathValue("id"))
	if err != nil {
		s.error(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, t)
}

// handleUserCreate answers POST /v1/service/tenants/{id}/users: 201 with the
// user.
func (s *Server) handleUserCreate(w http.ResponseWriter, r *http.Request) {
	var req edgeapi.UserRequest
	if err := httpapi.ReadJSON(w, r, smallBodyLimit, &req); err != nil {
		s.error(w, r, err)
		return
	}
	svc, err := s.service(r, httpapi.BearerToken(r))
	if err != nil {
		s.error(w, r, err)
		return
	}
	u, err := svc.CreateUser(r.Context(), &trust.User{TenantID: r.PathValue("id"), Email: req.Email})
	if err != nil {
		s.error(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusCreated, u)
}

// handleUserCredentialCreate answers
// POST /v1/service/tenants/{id}/users/{user}/credentials: 201 with a new
// credential, shown this once.
func (s *Server) handleUserCredentialCreate(w http.ResponseWriter, r *http.Request) {
	svc, err := s.service(r, httpapi.BearerToken(r))
	if err != nil {
		s.error(w, r, err)
		return
	}
	tenantID, userID := r.PathValue("id"), r.PathValue("user")
	cred, err := svc.CreateUserCredential(r.Context(), tenantID, userID)
	if err != nil {
		s.error(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusCreated, edgeapi.UserCredentialResponse{TenantID: tenantID, UserID: userID, Credential: cred})
}

// handleUserRevoke answers POST /v1/service/tenants/{id}/users/{user}/revoke:
// every credential and session of the user stops working at once.
func (s *Server) handleUserRevoke(w http.ResponseWriter, r *http.Request) {
	svc, err := s.service(r, httpapi.BearerToken(r))
	if err != nil {
		s.error(w, r, err)
		return
	}
	userID := r.PathValue("user")
	if err := svc.RevokeUser(r.Context(), r.PathValue("id"), userID); err != nil {
		s.error(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, edgeapi.RevokeUserResponse{UserID: userID, Revoked: true})
}

// page reads the limit and offset query parameters. EINVALID when one is not
// a number.
func page(r *http.Request) (limit, offset int, err error) {
	q := r.URL.Query()
	for name, dst := range map[string]*int{"limit": &limit, "offset": &offset} {
		if v := q.Get(name); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil {
				return 0, 0, trust.Errorf(trust.EINVALID, "%s: want a number", name)
			}
			*dst = n
		}
	}
	return limit, offset, nil
}

// errWrongPrincipal answers a valid credential of the wrong kind.
func errWrongPrincipal(kind string) error {
	if kind == trust.PrincipalMachine {
		return trust.Errorf(trust.EFORBIDDEN, "this route needs a machine token")
	}
	return trust.Errorf(trust.EFORBIDDEN, "this route needs a user session")
}

// errNoTenancy answers a tenant route on a node configured without tenancy.
func errNoTenancy() error {
	return trust.Errorf(trust.EUNAVAILABLE, "tenant store not configured on this node")
}
