package api

import (
	"encoding/csv"
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/openagents/trust/shared/edgeapi"
	"github.com/openagents/trust/shared/httpapi"
	"github.com/openagents/trust/shared/trust"
)

// SSH to the user's machine (docs/ssh.md). Users create and revoke
// credentials, issue unseal grants and read or export the audit trail;
// Machines fetch a key with a grant, check a credential's status before each
// command and record every attempt; the service purges attempts past the
// retention. The private key appears in exactly one response, the one that
// spends a grant, and a grant in the one that issues it. Every route answers
// 503 when the SSH store is not configured.

// sshAttemptBodyLimit bounds an attempt: output (cut to 4 KiB by the store,
// but a Machine may send up to 64 KiB), command and reason.
const sshAttemptBodyLimit = 96 << 10

// sshRoutes registers the SSH routes.
func (s *Server) sshRoutes() {
	s.mux.Handle("POST /v1/tenant/ssh-credentials", s.requireTenant(trust.PrincipalUser, s.handleSSHCredentialCreate))
	s.mux.Handle("GET /v1/tenant/ssh-credentials", s.requireTenant(trust.PrincipalUser, s.handleSSHCredentialsFind))
	s.mux.Handle("GET /v1/tenant/ssh-credentials/{id}", s.requireTenant(trust.PrincipalUser, s.handleSSHCredentialFind))
	s.mux.Handle("DELETE /v1/tenant/ssh-credentials/{id}", s.requireTenant(trust.PrincipalUser, s.handleSSHCredentialDelete))
	s.mux.Handle("POST /v1/tenant/ssh-credentials/{id}/grants", s.requireTenant(trust.PrincipalUser, s.handleSSHGrantCreate))
	s.mux.Handle("GET /v1/tenant/ssh-attempts", s.requireTenant(trust.PrincipalUser, s.handleSSHAttemptsFind))

	s.mux.Handle("POST /v1/tenant/ssh-credentials/{id}/key", s.requireTenant(trust.PrincipalMachine, s.handleSSHKeyUnseal))
	s.mux.Handle("GET /v1/tenant/ssh-credentials/{id}/status", s.requireTenant(trust.PrincipalMachine, s.handleSSHCredentialStatus))
	s.mux.Handle("POST /v1/tenant/ssh-attempts", s.requireTenant(trust.PrincipalMachine, s.handleSSHAttemptCreate))

	s.mux.Handle("POST /v1/service/ssh-attempts/purge", s.requireService(s.handleSSHAttemptsPurge))
}

// sshStore returns the SSH store, or answers 503 and false.
func (s *Server) sshStore(w http.ResponseWriter, r *http.Request) (trust.SSHStore, bool) {
	if s.SSH == nil {
		s.error(w, r, trust.Errorf(trust.EUNAVAILABLE, "ssh store not configured on this node"))
		return nil, false
	}
	return s.SSH, true
}

// handleSSHCredentialCreate answers POST /v1/tenant/ssh-credentials: 201 with
// the credential and the public key to install.
func (s *Server) handleSSHCredentialCreate(w http.ResponseWriter, r *http.Request, ts trust.TenantStore) {
	store, ok := s.sshStore(w, r)
	if !ok {
		return
	}
	var req edgeapi.SSHCredentialRequest
	if err := httpapi.ReadJSON(w, r, smallBodyLimit, &req); err != nil {
		s.error(w, r, err)
		return
	}
	c, err := store.CreateSSHCredential(r.Context(), ts, &trust.SSHCredentialCreate{
		AgentID: req.AgentID,
		Target:  trust.SSHTarget{Host: req.Host, Port: req.Port, User: req.User, HostKey: req.HostKey},
		Policy:  trust.SSHPolicy{Allow: req.Allow, Deny: req.Deny},
	})
	if err != nil {
		s.error(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusCreated, c)
}

// handleSSHCredentialsFind answers GET /v1/tenant/ssh-credentials.
func (s *Server) handleSSHCredentialsFind(w http.ResponseWriter, r *http.Request, ts trust.TenantStore) {
	store, ok := s.sshStore(w, r)
	if !ok {
		return
	}
	cs, err := store.FindSSHCredentials(r.Context(), ts)
	if err != nil {
		s.error(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, edgeapi.SSHCredentialsResponse{SSHCredentials: cs})
}

// handleSSHCredentialFind answers GET /v1/tenant/ssh-credentials/{id}.
func (s *Server) handleSSHCredentialFind(w http.ResponseWriter, r *http.Request, ts trust.TenantStore) {
	store, ok := s.sshStore(w, r)
	if !ok {
		return
	}
	c, err := store.FindSSHCredentialByID(r.Context(), ts, r.PathValue("id"))
	if err != nil {
		s.error(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, c)
}

// handleSSHCredentialDelete answers DELETE /v1/tenant/ssh-credentials/{id}:
// the credential is revoked and its sealed key deleted at once.
func (s *Server) handleSSHCredentialDelete(w http.ResponseWriter, r *http.Request, ts trust.TenantStore) {
	store, ok := s.sshStore(w, r)
	if !ok {
		return
	}
	id := r.PathValue("id")
	if err := store.RevokeSSHCredential(r.Context(), ts, id); err != nil {
		s.error(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, edgeapi.DeleteResponse{ID: id, Deleted: true})
}

// handleSSHGrantCreate answers POST /v1/tenant/ssh-credentials/{id}/grants:
// 201 with a single-use grant, shown this once.
func (s *Server) handleSSHGrantCreate(w http.ResponseWriter, r *http.Request, ts trust.TenantStore) {
	store, ok := s.sshStore(w, r)
	if !ok {
		return
	}
	g, err := store.CreateSSHGrant(r.Context(), ts, r.PathValue("id"))
	if err != nil {
		s.error(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusCreated, g)
}

// handleSSHKeyUnseal answers POST /v1/tenant/ssh-credentials/{id}/key: the
// grant is spent and the private key returned, this once.
func (s *Server) handleSSHKeyUnseal(w http.ResponseWriter, r *http.Request, ts trust.TenantStore) {
	store, ok := s.sshStore(w, r)
	if !ok {
		return
	}
	var req edgeapi.SSHKeyRequest
	if err := httpapi.ReadJSON(w, r, smallBodyLimit, &req); err != nil {
		s.error(w, r, err)
		return
	}
	k, err := store.UnsealSSHKey(r.Context(), ts, r.PathValue("id"), req.AgentID, req.Grant)
	if err != nil {
		s.error(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, k)
}

// handleSSHCredentialStatus answers GET /v1/tenant/ssh-credentials/{id}/status:
// 200 while the credential stands, 404 once revoked.
func (s *Server) handleSSHCredentialStatus(w http.ResponseWriter, r *http.Request, ts trust.TenantStore) {
	store, ok := s.sshStore(w, r)
	if !ok {
		return
	}
	c, err := store.FindSSHCredentialByID(r.Context(), ts, r.PathValue("id"))
	if err != nil {
		s.error(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, edgeapi.SSHStatusResponse{ID: c.ID, Active: true})
}

// handleSSHAttemptCreate answers POST /v1/tenant/ssh-attempts: 201 with the
// recorded attempt.
func (s *Server) handleSSHAttemptCreate(w http.ResponseWriter, r *http.Request, ts trust.TenantStore) {
	store, ok := s.sshStore(w, r)
	if !ok {
		return
	}
	var req edgeapi.SSHAttemptRequest
	if err := httpapi.ReadJSON(w, r, sshAttemptBodyLimit, &req); err != nil {
		s.error(w, r, err)
		return
	}
	a, err := store.CreateSSHAttempt(r.Context(), ts, &trust.SSHAttempt{
		CredentialID: req.CredentialID, Command: req.Command, Decision: req.Decision, Reason: req.Reason,
		ExitCode: req.ExitCode, Output: req.Output, Truncated: req.Truncated,
	})
	if err != nil {
		s.error(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusCreated, a)
}

// handleSSHAttemptsFind answers GET /v1/tenant/ssh-attempts: a page as JSON,
// or with format=jsonl or format=csv every attempt as an export.
func (s *Server) handleSSHAttemptsFind(w http.ResponseWriter, r *http.Request, ts trust.TenantStore) {
	store, ok := s.sshStore(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	f := trust.SSHAttemptFilter{CredentialID: q.Get("credential_id")}
	format := q.Get("format")
	switch format {
	case "", edgeapi.SSHExportJSON:
		limit, offset, err := page(r)
		if err != nil {
			s.error(w, r, err)
			return
		}
		f.Limit, f.Offset = limit, offset
		as, err := store.FindSSHAttempts(r.Context(), ts, f)
		if err != nil {
			s.error(w, r, err)
			return
		}
		httpapi.WriteJSON(w, http.StatusOK, edgeapi.SSHAttemptsResponse{SSHAttempts: as})
		return
	case edgeapi.SSHExportJSONL, edgeapi.SSHExportCSV:
	default:
		s.error(w, r, trust.Errorf(trust.EINVALID, "format: want json, jsonl or csv"))
		return
	}
	// An export reads every page first, so an error is still a clean answer.
	var all []*trust.SSHAttempt
	for f.Limit, f.Offset = trust.MaxListLimit, 0; ; f.Offset += trust.MaxListLimit {
		as, err := store.FindSSHAttempts(r.Context(), ts, f)
		if err != nil {
			s.error(w, r, err)
			return
		}
		all = append(all, as...)
		if len(as) < trust.MaxListLimit {
			break
		}
	}
	if format == edgeapi.SSHExportJSONL {
		w.Header().Set("Content-Type", "application/jsonl")
		w.Header().Set("Content-Disposition", `attachment; filename="ssh-attempts.jsonl"`)
		w.WriteHeader(http.StatusOK)
		enc := json.NewEncoder(w)
		for _, a := range all {
			enc.Encode(a)
		}
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="ssh-attempts.csv"`)
	w.WriteHeader(http.StatusOK)
	WriteSSHAttemptsCSV(w, all)
}

// sshCSVHeader names the CSV export's columns.
var sshCSVHeader = []string{"id", "at", "credential_id", "actor", "command", "decision", "reason", "exit_code", "output", "truncated"}

// WriteSSHAttemptsCSV writes attempts as CSV, every cell made safe for
// spreadsheets (CSVCell).
func WriteSSHAttemptsCSV(w interface{ Write([]byte) (int, error) }, as []*trust.SSHAttempt) error {
	cw := csv.NewWriter(w)
	cw.Write(sshCSVHeader)
	for _, a := range as {
		code := ""
		if a.ExitCode != nil {
			code = strconv.Itoa(*a.ExitCode)
		}
		row := []string{a.ID, a.At.UTC().Format(time.RFC3339Nano), a.CredentialID, a.Actor, a.Command, a.Decision, a.Reason, code, a.Output, strconv.FormatBool(a.Truncated)}
		for i := range row {
			row[i] = CSVCell(row[i])
		}
		cw.Write(row)
	}
	cw.Flush()
	return cw.Error()
}

// CSVCell defuses formula injection: a cell a spreadsheet would read as a
// formula — starting with =, +, -, @, a tab or a carriage return — gets a
// leading apostrophe, so it is shown as text.
func CSVCell(s string) string {
	if s == "" {
		return s
	}
	switch s[0] {
	case '=', '+', '-', '@', '\t', '\r':
		return "'" + s
	}
	return s
}

// handleSSHAttemptsPurge answers POST /v1/service/ssh-attempts/purge: the
// retention job deletes attempts older than before (default: 90 days ago).
func (s *Server) handleSSHAttemptsPurge(w http.ResponseWriter, r *http.Request) {
	store, ok := s.sshStore(w, r)
	if !ok {
		return
	}
	var req edgeapi.SSHPurgeRequest
	if err := httpapi.ReadJSON(w, r, smallBodyLimit, &req); err != nil {
		s.error(w, r, err)
		return
	}
	svc, err := s.service(r, httpapi.BearerToken(r))
	if err != nil {
		s.error(w, r, err)
		return
	}
	before := req.Before
	if before.IsZero() {
		before = s.now().Add(-trust.SSHAuditRetention)
	}
	n, err := store.PurgeSSHAttempts(r.Context(), svc, before)
	if err != nil {
		s.error(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, edgeapi.SSHPurgeResponse{Before: before.UTC(), Deleted: n})
}
