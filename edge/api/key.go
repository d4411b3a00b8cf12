package api

import (
	"net/http"
	"strconv"

	"github.com/openagents/trust/shared/edgeapi"
	"github.com/openagents/trust/shared/httpapi"
	"github.com/openagents/trust/shared/trust"
)

// smallBodyLimit bounds the small JSON bodies: a key version, a revocation, a
// state change, a token request.
const smallBodyLimit = 64 << 10

// handleKeyringFind answers GET /v1/keyring with the whole keyring.
func (s *Server) handleKeyringFind(w http.ResponseWriter, r *http.Request) {
	kr, err := s.KeyService.FindKeyring(r.Context())
	if err != nil {
		s.error(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, kr)
}

// handleKeyVersionCreate answers POST /v1/service/keys: it publishes a key
// version (state active unless given; created_at is the server's). A version
// of 0, or none, asks for the key ID's next one; the answer carries the number
// assigned. A public key is published once: 409 if it already is, under any
// key ID or version, revoked or not.
func (s *Server) handleKeyVersionCreate(w http.ResponseWriter, r *http.Request) {
	var k trust.KeyVersion
	if err := httpapi.ReadJSON(w, r, smallBodyLimit, &k); err != nil {
		s.error(w, r, err)
		return
	}
	if k.State == "" {
		k.State = trust.KeyActive
	}
	if err := s.KeyService.CreateKeyVersion(r.Context(), &k); err != nil {
		s.error(w, r, err)
		return
	}
	s.KeyringWatch.Wake() // watchers on this node hear it now, not at the next poll
	httpapi.WriteJSON(w, http.StatusCreated, &k)
}

// handleKeyVersionRetire answers POST /v1/service/keys/{id}/versions/{version}/retire.
func (s *Server) handleKeyVersionRetire(w http.ResponseWriter, r *http.Request) {
	id, version, err := keyVersionPath(r)
	if err != nil {
		s.error(w, r, err)
		return
	}
	k, err := s.KeyService.RetireKeyVersion(r.Context(), id, version)
	if err != nil {
		s.error(w, r, err)
		return
	}
	s.KeyringWatch.Wake()
	httpapi.WriteJSON(w, http.StatusOK, k)
}

// handleKeyVersionRevoke answers POST /v1/service/keys/{id}/versions/{version}/revoke
// with body {"reason"}.
func (s *Server) handleKeyVersionRevoke(w http.ResponseWriter, r *http.Request) {
	id, version, err := keyVersionPath(r)
	if err != nil {
		s.error(w, r, err)
		return
	}
	var req edgeapi.RevokeRequest
	if err := httpapi.ReadJSON(w, r, smallBodyLimit, &req); err != nil {
		s.error(w, r, err)
		return
	}
	k, err := s.KeyService.RevokeKeyVersion(r.Context(), id, version, req.Reason)
	if err != nil {
		s.error(w, r, err)
		return
	}
	s.KeyringWatch.Wake()
	httpapi.WriteJSON(w, http.StatusOK, k)
}

// keyVersionPath reads {id} and {version} from the path.
func keyVersionPath(r *http.Request) (string, int, error) {
	id := r.PathValue("id")
	if err := trust.ValidateKeyID(id); err != nil {
		return "", 0, err
	}
	version, err := strconv.Atoi(r.PathValue("version"))
	if err != nil || version < 1 {
		return "", 0, trust.Errorf(trust.EINVALID, "key version must be a positive integer")
	}
	return id, version, nil
}
