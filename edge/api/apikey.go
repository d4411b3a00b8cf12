package api

import (
	"net/http"
	"time"

	"github.com/openagents/trust/shared/edgeapi"
	"github.com/openagents/trust/shared/httpapi"
	"github.com/openagents/trust/shared/trust"
)

// API keys (docs/apikeys.md): platform key versions and credits for the
// service, tenants' own keys for users, the current key version for
// Machines. A raw key arrives only in the body of the request that stores
// it; no response, log line or error carries it. Each route answers 503
// when its service is not configured on this node.

// apiKeyRoutes registers the API-key routes.
func (s *Server) apiKeyRoutes() {
	s.mux.Handle("POST /v1/service/api-keys/{provider}/versions", s.requireService(s.handleAPIKeyVersionCreate))
	s.mux.Handle("GET /v1/service/api-keys/{provider}/versions", s.requireService(s.handleAPIKeyVersionsFind))
	s.mux.Handle("POST /v1/service/api-keys/{provider}/retire", s.requireService(s.handleAPIKeyVersionsRetire))
	s.mux.Handle("POST /v1/service/api-keys/{provider}/staged", s.requireService(s.handleAPIKeyStage))
	s.mux.Handle("GET /v1/service/api-keys/{provider}/staged", s.requireService(s.handleStagedAPIKeyFind))
	s.mux.Handle("POST /v1/service/api-keys/{provider}/rotate", s.requireService(s.handleAPIKeyRotate))
	s.mux.Handle("POST /v1/service/tenants/{id}/credits", s.requireService(s.handleCreditGrant))
	s.mux.Handle("GET /v1/service/tenants/{id}/credits", s.requireService(s.handleCreditAccountFind))
	s.mux.Handle("GET /v1/service/tenants/{id}/meters/{machine}", s.requireService(s.handleMachineMeterFind))
	s.mux.Handle("POST /v1/service/tenants/{id}/meters/{machine}/unsuspend", s.requireService(s.handleMachineUnsuspend))

	s.mux.Handle("PUT /v1/tenant/user-keys/{provider}", s.requireTenant(trust.PrincipalUser, s.handleUserAPIKeyPut))
	s.mux.Handle("GET /v1/tenant/user-keys", s.requireTenant(trust.PrincipalUser, s.handleUserAPIKeysFind))
	s.mux.Handle("DELETE /v1/tenant/user-keys/{provider}", s.requireTenant(trust.PrincipalUser, s.handleUserAPIKeyDelete))

	s.mux.Handle("GET /v1/tenant/key-version/{provider}", s.requireTenant(trust.PrincipalMachine, s.handleKeyVersionFind))
}

// errNotConfigured answers a route whose service this node lacks.
func errNotConfigured(what string) error {
	return trust.Errorf(trust.EUNAVAILABLE, "%s not configured on this node", what)
}

// handleAPIKeyVersionCreate answers POST /v1/service/api-keys/{provider}/versions:
// 201 with the new version (no key), 200 with the existing one when the
// period already has a version.
func (s *Server) handleAPIKeyVersionCreate(w http.ResponseWriter, r *http.Request) {
	if s.APIKeyService == nil {
		s.error(w, r, errNotConfigured("API key service"))
		return
	}
	var req edgeapi.APIKeyVersionRequest
	if err := httpapi.ReadJSON(w, r, smallBodyLimit, &req); err != nil {
		s.error(w, r, err)
		return
	}
	if req.OverlapSeconds < 0 || req.OverlapSeconds > int64(trust.MaxAPIKeyOverlap/time.Second) {
		s.error(w, r, trust.Errorf(trust.EINVALID, "overlap_seconds must be between 0 and %d", int64(trust.MaxAPIKeyOverlap/time.Second)))
		return
	}
	v, created, err := s.APIKeyService.CreateAPIKeyVersion(r.Context(), &trust.APIKeyVersionCreate{
		Provider: r.PathValue("provider"), Key: req.Key, Period: req.Period,
		Overlap: time.Duration(req.OverlapSeconds) * time.Second,
	})
	if err != nil {
		s.error(w, r, err)
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	httpapi.WriteJSON(w, status, edgeapi.APIKeyVersionResponse{APIKeyVersion: *v, Created: created})
}

// handleAPIKeyVersionsFind answers GET /v1/service/api-keys/{provider}/versions.
func (s *Server) handleAPIKeyVersionsFind(w http.ResponseWriter, r *http.Request) {
	if s.APIKeyService == nil {
		s.error(w, r, errNotConfigured("API key service"))
		return
	}
	vs, err := s.APIKeyService.FindAPIKeyVersions(r.Context(), r.PathValue("provider"))
	if err != nil {
		s.error(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, edgeapi.APIKeyVersionsResponse{Versions: vs})
}

// handleAPIKeyVersionsRetire answers POST /v1/service/api-keys/{provider}/retire
// with the versions it retired.
func (s *Server) handleAPIKeyVersionsRetire(w http.ResponseWriter, r *http.Request) {
	if s.APIKeyService == nil {
		s.error(w, r, errNotConfigured("API key service"))
		return
	}
	vs, err := s.APIKeyService.RetireAPIKeyVersions(r.Context(), r.PathValue("provider"))
	if err != nil {
		s.error(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, edgeapi.APIKeyVersionsResponse{Versions: vs})
}

// handleAPIKeyStage answers POST /v1/service/api-keys/{provider}/staged: the
// key is sealed at once and replaces any staged one; 201 with its record
// (fingerprint only).
func (s *Server) handleAPIKeyStage(w http.ResponseWriter, r *http.Request) {
	if s.APIKeyService == nil {
		s.error(w, r, errNotConfigured("API key service"))
		return
	}
	var req edgeapi.StageAPIKeyRequest
	if err := httpapi.ReadJSON(w, r, smallBodyLimit, &req); err != nil {
		s.error(w, r, err)
		return
	}
	if req.StagedBy == "" {
		req.StagedBy = "service"
	}
	st, err := s.APIKeyService.StageAPIKey(r.Context(), &trust.APIKeyStage{Provider: r.PathValue("provider"), Key: req.Key, StagedBy: req.StagedBy})
	if err != nil {
		s.error(w, r, err)
		return
	}
	s.logger().Info("api key staged", "provider", st.Provider, "fingerprint", st.Fingerprint, "staged_by", st.StagedBy)
	httpapi.WriteJSON(w, http.StatusCreated, st)
}

// handleStagedAPIKeyFind answers GET /v1/service/api-keys/{provider}/staged.
func (s *Server) handleStagedAPIKeyFind(w http.ResponseWriter, r *http.Request) {
	if s.APIKeyService == nil {
		s.error(w, r, errNotConfigured("API key service"))
		return
	}
	st, err := s.APIKeyService.FindStagedAPIKey(r.Context(), r.PathValue("provider"))
	if err != nil {
		s.error(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, st)
}

// handleAPIKeyRotate answers POST /v1/service/api-keys/{provider}/rotate:
// 201 with the version the staged key became, 200 with the period's existing
// version, 409 when nothing is staged (also logged as a warning, so
// operators notice before the overlap window matters).
func (s *Server) handleAPIKeyRotate(w http.ResponseWriter, r *http.Request) {
	if s.APIKeyService == nil {
		s.error(w, r, errNotConfigured("API key service"))
		return
	}
	var req edgeapi.RotateAPIKeyRequest
	if err := httpapi.ReadJSON(w, r, smallBodyLimit, &req); err != nil {
		s.error(w, r, err)
		return
	}
	if req.OverlapSeconds < 0 || req.OverlapSeconds > int64(trust.MaxAPIKeyOverlap/time.Second) {
		s.error(w, r, trust.Errorf(trust.EINVALID, "overlap_seconds must be between 0 and %d", int64(trust.MaxAPIKeyOverlap/time.Second)))
		return
	}
	provider := r.PathValue("provider")
	v, created, err := s.APIKeyService.PromoteStagedAPIKey(r.Context(), &trust.APIKeyPromote{
		Provider: provider, Period: req.Period, Overlap: time.Duration(req.OverlapSeconds) * time.Second,
	})
	if trust.ErrorCode(err) == trust.ECONFLICT {
		s.logger().Warn("api key rotation without a staged key", "provider", provider, "period", req.Period, "err", trust.ErrorMessage(err))
	}
	if err != nil {
		s.error(w, r, err)
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
		s.logger().Info("api key rotated", "provider", v.Provider, "period", v.Period, "version", v.Version)
	}
	httpapi.WriteJSON(w, status, edgeapi.APIKeyVersionResponse{APIKeyVersion: *v, Created: created})
}

// handleKeyVersionFind answers GET /v1/tenant/key-version/{provider} for a
// Machine: the version of the tenant's own key if it set one, of the
// platform's otherwise. A suspended Machine or a tenant without credits is
// refused (403): this is the gate of a key fetch.
func (s *Server) handleKeyVersionFind(w http.ResponseWriter, r *http.Request, ts trust.TenantStore) {
	ctx, provider := r.Context(), r.PathValue("provider")
	if err := trust.ValidProvider(provider); err != nil {
		s.error(w, r, err)
		return
	} else if s.APIKeyService == nil {
		s.error(w, r, errNotConfigured("API key service"))
		return
	}
	if s.Meter != nil {
		if err := s.Meter.CheckMachine(ctx, ts); err != nil {
			s.error(w, r, err)
			return
		}
	}
	if s.UserKeys != nil {
		keys, err := s.UserKeys.FindUserAPIKeys(ctx, ts)
		if err != nil {
			s.error(w, r, err)
			return
		}
		for _, k := range keys {
			if k.Provider == provider {
				httpapi.WriteJSON(w, http.StatusOK, edgeapi.KeyVersionResponse{Provider: provider, Source: edgeapi.KeySourceUser, Version: k.Version})
				return
			}
		}
	}
	v, err := s.APIKeyService.FindCurrentAPIKeyVersion(ctx, provider)
	if err != nil {
		s.error(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, edgeapi.KeyVersionResponse{Provider: provider, Source: edgeapi.KeySourcePlatform, Version: v.Version})
}

// handleUserAPIKeyPut answers PUT /v1/tenant/user-keys/{provider}: the key
// is sealed for the caller's tenant; the answer names its version only.
func (s *Server) handleUserAPIKeyPut(w http.ResponseWriter, r *http.Request, ts trust.TenantStore) {
	if s.UserKeys == nil {
		s.error(w, r, errNotConfigured("user key store"))
		return
	}
	var req edgeapi.UserAPIKeyRequest
	if err := httpapi.ReadJSON(w, r, smallBodyLimit, &req); err != nil {
		s.error(w, r, err)
		return
	}
	k, err := s.UserKeys.PutUserAPIKey(r.Context(), ts, r.PathValue("provider"), req.Key)
	if err != nil {
		s.error(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, k)
}

// handleUserAPIKeysFind answers GET /v1/tenant/user-keys.
func (s *Server) handleUserAPIKeysFind(w http.ResponseWriter, r *http.Request, ts trust.TenantStore) {
	if s.UserKeys == nil {
		s.error(w, r, errNotConfigured("user key store"))
		return
	}
	keys, err := s.UserKeys.FindUserAPIKeys(r.Context(), ts)
	if err != nil {
		s.error(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, edgeapi.UserAPIKeysResponse{Keys: keys})
}

// handleUserAPIKeyDelete answers DELETE /v1/tenant/user-keys/{provider}.
func (s *Server) handleUserAPIKeyDelete(w http.ResponseWriter, r *http.Request, ts trust.TenantStore) {
	if s.UserKeys == nil {
		s.error(w, r, errNotConfigured("user key store"))
		return
	}
	provider := r.PathValue("provider")
	if err := s.UserKeys.DeleteUserAPIKey(r.Context(), ts, provider); err != nil {
		s.error(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, edgeapi.DeleteResponse{ID: provider, Deleted: true})
}

// meterService returns the service handle and the meter, or the error to
// answer.
func (s *Server) meterService(r *http.Request) (trust.ServiceStore, error) {
	if s.Meter == nil {
		return nil, errNotConfigured("metering")
	}
	return s.service(r, httpapi.BearerToken(r))
}

// handleCreditGrant answers POST /v1/service/tenants/{id}/credits with the
// account after the grant (applied once per idempotency key).
func (s *Server) handleCreditGrant(w http.ResponseWriter, r *http.Request) {
	svc, err := s.meterService(r)
	if err != nil {
		s.error(w, r, err)
		return
	}
	var req edgeapi.CreditGrantRequest
	if err := httpapi.ReadJSON(w, r, smallBodyLimit, &req); err != nil {
		s.error(w, r, err)
		return
	}
	acct, err := s.Meter.GrantCredits(r.Context(), svc, r.PathValue("id"), req.Amount, req.IdempotencyKey)
	if err != nil {
		s.error(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, acct)
}

// handleCreditAccountFind answers GET /v1/service/tenants/{id}/credits.
func (s *Server) handleCreditAccountFind(w http.ResponseWriter, r *http.Request) {
	svc, err := s.meterService(r)
	if err != nil {
		s.error(w, r, err)
		return
	}
	acct, err := s.Meter.FindCreditAccount(r.Context(), svc, r.PathValue("id"))
	if err != nil {
		s.error(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, acct)
}

// handleMachineMeterFind answers GET /v1/service/tenants/{id}/meters/{machine}.
func (s *Server) handleMachineMeterFind(w http.ResponseWriter, r *http.Request) {
	svc, err := s.meterService(r)
	if err != nil {
		s.error(w, r, err)
		return
	}
	mm, err := s.Meter.FindMachineMeter(r.Context(), svc, r.PathValue("id"), r.PathValue("machine"))
	if err != nil {
		s.error(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, mm)
}

// handleMachineUnsuspend answers
// POST /v1/service/tenants/{id}/meters/{machine}/unsuspend.
func (s *Server) handleMachineUnsuspend(w http.ResponseWriter, r *http.Request) {
	svc, err := s.meterService(r)
	if err != nil {
		s.error(w, r, err)
		return
	}
	ctx, tenantID, machineID := r.Context(), r.PathValue("id"), r.PathValue("machine")
	if err := s.Meter.UnsuspendMachine(ctx, svc, tenantID, machineID); err != nil {
		s.error(w, r, err)
		return
	}
	mm, err := s.Meter.FindMachineMeter(ctx, svc, tenantID, machineID)
	if err != nil {
		s.error(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, mm)
}
