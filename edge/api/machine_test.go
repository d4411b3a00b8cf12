package api_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/openagents/trust/shared/edgeapi"
	"github.com/openagents/trust/shared/trust"
)

func TestServer_MachineTokens(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		s := MustOpenServer(t)
		rec := s.Do(t, "POST", "/v1/service/machine-tokens", ServiceToken, `{"machine_id":"e784079b449483","tenant_id":"tenant-1"}`)
		WantStatus(t, rec, http.StatusCreated)
		var resp struct {
			MachineID string `json:"machine_id"`
			Token     string `json:"token"`
		}
		MustDecode(t, rec, &resp)
		if resp.MachineID != "e784079b449483" || !strings.HasPrefix(resp.Token, "oamt_") {
			t.Fatalf("got %+v", resp)
		}
		WantStatus(t, s.Do(t, "GET", "/v1/keyring", resp.Token, nil), http.StatusOK)
		if strings.Contains(s.Logs.String(), resp.Token) {
			t.Fatal("token logged")
		}
	})

	t.Run("ErrInvalid", func(t *testing.T) {
		s := MustOpenServer(t)
		for _, body := range []string{`{"machine_id":"","tenant_id":"t"}`, `{"machine_id":"m"}`, `{"machine_id":"a b","tenant_id":"t"}`, `[]`} {
			WantError(t, s.Do(t, "POST", "/v1/service/machine-tokens", ServiceToken, body), http.StatusBadRequest, trust.EINVALID)
		}
	})
	t.Run("Revoke", func(t *testing.T) {
		s := MustOpenServer(t)
		a := s.MustMachineToken(t, "m1")
		b := s.MustMachineToken(t, "m1")
		other := s.MustMachineToken(t, "m2")
		for _, tok := range []string{a, b, other} {
			WantStatus(t, s.Do(t, "GET", "/v1/keyring", tok, nil), http.StatusOK)
		}

		rec := s.Do(t, "POST", "/v1/service/machines/m1/revoke-tokens", ServiceToken, nil)
		WantStatus(t, rec, http.StatusOK)
		var resp edgeapi.RevokeMachineTokensResponse
		MustDecode(t, rec, &resp)
		if resp != (edgeapi.RevokeMachineTokensResponse{MachineID: "m1", Revoked: true}) {
			t.Fatalf("got %+v, want m1 revoked", resp)
		}

		for _, tok := range []string{a, b} {
			WantError(t, s.Do(t, "GET", "/v1/keyring", tok, nil), http.StatusUnauthorized, trust.EUNAUTHORIZED)
			WantError(t, s.Do(t, "POST", "/v1/signatures/batch", tok, `{"skills":[{"name":"weather","version":"1"}]}`), http.StatusUnauthorized, trust.EUNAUTHORIZED)
		}
		WantStatus(t, s.Do(t, "GET", "/v1/keyring", other, nil), http.StatusOK)

		// Revoking again changes nothing; a new token works.
		WantStatus(t, s.Do(t, "POST", "/v1/service/machines/m1/revoke-tokens", ServiceToken, nil), http.StatusOK)
		WantStatus(t, s.Do(t, "GET", "/v1/keyring", s.MustMachineToken(t, "m1"), nil), http.StatusOK)
		if strings.Contains(s.Logs.String(), a) || strings.Contains(s.Logs.String(), b) {
			t.Fatal("token logged")
		}
	})

	t.Run("ErrRevokeNotFound", func(t *testing.T) {
		s := MustOpenServer(t)
		s.MustMachineToken(t, "m1")
		WantError(t, s.Do(t, "POST", "/v1/service/machines/never/revoke-tokens", ServiceToken, nil), http.StatusNotFound, trust.ENOTFOUND)
	})

	t.Run("ErrRevokeInvalid", func(t *testing.T) {
		s := MustOpenServer(t)
		WantError(t, s.Do(t, "POST", "/v1/service/machines/a%20b/revoke-tokens", ServiceToken, nil), http.StatusBadRequest, trust.EINVALID)
	})

	// A Machine cannot revoke tokens, not even its own.
	t.Run("ErrRevokeByMachine", func(t *testing.T) {
		s := MustOpenServer(t)
		token := s.MustMachineToken(t, "m1")
		WantError(t, s.Do(t, "POST", "/v1/service/machines/m1/revoke-tokens", token, nil), http.StatusForbidden, trust.EFORBIDDEN)
		WantStatus(t, s.Do(t, "GET", "/v1/keyring", token, nil), http.StatusOK)
	})
}
