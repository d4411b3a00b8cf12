package api

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"net/http"

	"github.com/openagents/trust/shared/httpapi"
	"github.com/openagents/trust/shared/trust"
)

// The two principals. A Machine reads the catalog with its Machine token; the
// functions write it with the service credential, which may also read.
const (
	principalMachine = "machine"
	principalService = "service"
)

// authenticate identifies the bearer of a request — the service, or a Machine —
// and records it for the request log. Missing or unknown credentials are 401.
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request) (principal string, ok bool) {
	token := httpapi.BearerToken(r)
	if token == "" {
		s.unauthorized(w, r, errNoCredential())
		return "", false
	} else if s.isServiceToken(token) {
		infoFrom(r.Context()).principal = principalService
		return principalService, true
	}
	m, err := s.authenticateMachine(r.Context(), token) // cache.go
	if m == nil {
		s.unauthorized(w, r, authError(err))
		return "", false
	}
	info := infoFrom(r.Context())
	info.principal, info.machineID = principalMachine, m.ID
	if err != nil { // a known Machine, refused: suspended
		s.error(w, r, err)
		return "", false
	}
	return principalMachine, true
}

// suspensionChecker is a Meter that can refuse a suspended Machine from its
// identity alone (sqlite.Meter does).
type suspensionChecker interface {
	// CheckMachineSuspended returns EFORBIDDEN ("machine suspended: …") for
	// a suspended Machine, nil for any other.
	CheckMachineSuspended(ctx context.Context, tenantID, machineID string) error
}

// checkSuspended is the suspension gate every Machine principal passes:
// EFORBIDDEN for a Machine the meter suspended. authenticateMachine calls it;
// requireTenant (tenant.go) should too, after Tenancy.Authenticate, for a
// Machine principal. Without a Meter no Machine
// can be suspended; a Meter that cannot answer fails closed (EINTERNAL), so
// a misconfigured node refuses Machines rather than serving suspended ones.
func (s *Server) checkSuspended(ctx context.Context, tenantID, machineID string) error {
	if s.Meter == nil {
		return nil
	}
	sc, ok := s.Meter.(suspensionChecker)
	if !ok {
		return fmt.Errorf("meter %T cannot check machine suspension", s.Meter)
	}
	return sc.CheckMachineSuspended(ctx, tenantID, machineID)
}

// requireMachine lets through a request bearing a valid Machine token or the
// service credential; anything else is 401.
func (s *Server) requireMachine(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := s.authenticate(w, r); ok {
			h(w, r)
		}
	})
}

// requireService lets through a request bearing the service credential. A
// valid Machine token is 403 (known, but not allowed); anything else is 401.
func (s *Server) requireService(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch p, ok := s.authenticate(w, r); {
		case !ok:
		case p == principalService:
			h(w, r)
		default:
			s.error(w, r, trust.Errorf(trust.EFORBIDDEN, "this route needs the service credential, not a machine token"))
		}
	})
}

// isServiceToken reports whether token is the service credential, comparing
// SHA-256 digests in constant time so neither content nor length leaks.
func (s *Server) isServiceToken(token string) bool {
	if s.ServiceToken == "" {
		return false
	}
	got := sha256.Sum256([]byte(token))
	want := sha256.Sum256([]byte(s.ServiceToken))
	return subtle.ConstantTimeCompare(got[:], want[:]) == 1
}

// errNoCredential is the answer to a request without a bearer token.
func errNoCredential() error {
	return trust.Errorf(trust.EUNAUTHORIZED, "missing credential: send an Authorization: Bearer header")
}

// authError keeps an internal failure internal and turns every refusal into
// the same 401, so a caller learns nothing about which tokens exist.
func authError(err error) error {
	if trust.ErrorCode(err) == trust.EINTERNAL {
		return err
	}
	return trust.Errorf(trust.EUNAUTHORIZED, "invalid credential")
}

// unauthorized writes an authentication failure with its challenge.
func (s *Server) unauthorized(w http.ResponseWriter, r *http.Request, err error) {
	if trust.ErrorCode(err) == trust.EUNAUTHORIZED {
		w.Header().Set("WWW-Authenticate", `Bearer realm="trust-edge"`)
	}
	s.error(w, r, err)
}
