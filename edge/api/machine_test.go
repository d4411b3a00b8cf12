package api_test

import (
	"net/http"
	"strings"
	"testing"

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
}
