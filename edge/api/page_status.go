package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"

	"github.com/openagents/trust/shared/edgeapi"
	"github.com/openagents/trust/shared/trust"
)

// statusPage is the status page's data, all read through one tenant handle.
type statusPage struct {
	CSRF     string
	Tenant   *trust.Tenant
	Actor    string
	Agents   []*trust.AgentInstance
	Machines []*machineStatus
	Usage    usageSummary
	Credits  *int64 // nil when metering is off on this node
	Alerts   []*trust.AuditEvent

	SSHEnabled  bool // the SSH store is configured
	Credentials []*trust.SSHCredential
	Attempts    []*trust.SSHAttempt // newest first, filtered, at most attemptsShown
	AttemptsAll int                 // how many match the filter
	Filter      sshFilter
	ExportJSONL string
	ExportCSV   string
	Notice      string
}

// machineStatus is one Machine of the tenant as its usage and alerts show it.
type machineStatus struct {
	ID        string
	Reports   int
	Tokens    int64
	Suspended bool
	Reason    string
}

// usageSummary totals the tenant's usage records.
type usageSummary struct {
	Records int
	Input   int64
	Output  int64
	Recent  []*trust.UsageRecord // newest first
}

// attemptsShown bounds the audit rows on the page; the export has them all.
const attemptsShown = 200

// sshFilter is the SSH audit log's filter, from the query string.
type sshFilter struct {
	CredentialID string
	Decision     string // "", allowed or refused
	Query        string // substring of the command
}

// readSSHFilter reads and checks the filter.
func readSSHFilter(r *http.Request) (sshFilter, error) {
	q := r.URL.Query()
	f := sshFilter{CredentialID: q.Get("credential_id"), Decision: q.Get("decision"), Query: q.Get("q")}
	switch {
	case f.Decision != "" && f.Decision != trust.SSHAllowed && f.Decision != trust.SSHRefused:
		return f, trust.Errorf(trust.EINVALID, "decision: want allowed or refused")
	case len(f.CredentialID) > 100 || len(f.Query) > 200:
		return f, trust.Errorf(trust.EINVALID, "filter too long")
	}
	return f, nil
}

// query is the filter as URL query parameters.
func (f sshFilter) query() url.Values {
	v := url.Values{}
	for k, s := range map[string]string{"credential_id": f.CredentialID, "decision": f.Decision, "q": f.Query} {
		if s != "" {
			v.Set(k, s)
		}
	}
	return v
}

// match reports whether an attempt passes the decision and command filters
// (the store applies the credential filter).
func (f sshFilter) match(a *trust.SSHAttempt) bool {
	return (f.Decision == "" || a.Decision == f.Decision) && (f.Query == "" || strings.Contains(a.Command, f.Query))
}

// handleStatusFind answers GET /status: the Agent status page.
func (s *Server) handleStatusFind(w http.ResponseWriter, r *http.Request, ts trust.TenantStore, csrf string) {
	ctx := r.Context()
	f, err := readSSHFilter(r)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	p := &statusPage{CSRF: csrf, Actor: ts.Principal().Actor(), Filter: f, SSHEnabled: s.SSH != nil}
	if r.URL.Query().Get("revoked") != "" {
		p.Notice = "SSH credential revoked: its next command is refused."
	}
	if p.Tenant, err = ts.FindTenant(ctx); err != nil {
		s.pageError(w, r, err)
		return
	}
	if err := s.readStatus(ctx, ts, p); err != nil {
		s.pageError(w, r, err)
		return
	}
	if s.SSH != nil {
		if p.Credentials, err = s.SSH.FindSSHCredentials(ctx, ts); err != nil {
			s.pageError(w, r, err)
			return
		}
		all, err := s.findSSHAttempts(ctx, ts, f)
		if err != nil {
			s.pageError(w, r, err)
			return
		}
		p.AttemptsAll = len(all)
		for i := len(all) - 1; i >= 0 && len(p.Attempts) < attemptsShown; i-- {
			p.Attempts = append(p.Attempts, all[i])
		}
		q := f.query()
		q.Set("format", edgeapi.SSHExportJSONL)
		p.ExportJSONL = "/status/ssh-attempts/export?" + q.Encode()
		q.Set("format", edgeapi.SSHExportCSV)
		p.ExportCSV = "/status/ssh-attempts/export?" + q.Encode()
	}
	s.renderPage(w, r, http.StatusOK, "status.html", p)
}

// readStatus fills in agents, machines, usage, credits and alerts.
func (s *Server) readStatus(ctx context.Context, ts trust.TenantStore, p *statusPage) error {
	for off := 0; off < pageReadLimit; off += trust.MaxListLimit {
		as, err := ts.FindAgentInstances(ctx, trust.AgentInstanceFilter{Limit: trust.MaxListLimit, Offset: off})
		if err != nil {
			return err
		}
		p.Agents = append(p.Agents, as...)
		if len(as) < trust.MaxListLimit {
			break
		}
	}
	machines := map[string]*machineStatus{}
	machine := func(id string) *machineStatus {
		if machines[id] == nil {
			machines[id] = &machineStatus{ID: id}
		}
		return machines[id]
	}
	var usage []*trust.UsageRecord
	for off := 0; off < pageReadLimit; off += trust.MaxListLimit {
		us, err := ts.FindUsageRecords(ctx, trust.UsageFilter{Limit: trust.MaxListLimit, Offset: off, Newest: true})
		if err != nil {
			return err
		}
		usage = append(usage, us...)
		if len(us) < trust.MaxListLimit {
			break
		}
	}
	p.Usage.Records = len(usage)
	for _, u := range usage { // newest first
		p.Usage.Input += u.InputTokens
		p.Usage.Output += u.OutputTokens
		if len(p.Usage.Recent) < 20 {
			p.Usage.Recent = append(p.Usage.Recent, u)
		}
		if u.MachineID != "" {
			m := machine(u.MachineID)
			m.Reports++
			m.Tokens += u.InputTokens + u.OutputTokens
		}
	}
	for _, action := range pageAlertActions {
		a := action
		evs, err := ts.FindAuditEvents(ctx, trust.AuditEventFilter{Action: &a, Limit: trust.MaxListLimit, Newest: true})
		if err != nil {
			return err
		}
		p.Alerts = append(p.Alerts, evs...)
	}
	// Oldest first, so the last suspend or unsuspend of a Machine decides.
	sort.SliceStable(p.Alerts, func(i, j int) bool { return p.Alerts[i].CreatedAt.Before(p.Alerts[j].CreatedAt) })
	for _, e := range p.Alerts {
		id, ok := strings.CutPrefix(e.Target, "machine:")
		if !ok {
			continue
		}
		if e.Actor != trust.PrincipalService {
			continue // only the edge itself suspends; a Machine's event proves nothing
		}
		switch e.Action {
		case "machine.suspend":
			m := machine(id)
			m.Suspended, m.Reason = true, e.Detail
		case "machine.unsuspend":
			m := machine(id)
			m.Suspended, m.Reason = false, ""
		}
	}
	for i, j := 0, len(p.Alerts)-1; i < j; i, j = i+1, j-1 {
		p.Alerts[i], p.Alerts[j] = p.Alerts[j], p.Alerts[i]
	}
	for _, m := range machines {
		p.Machines = append(p.Machines, m)
	}
	sort.Slice(p.Machines, func(i, j int) bool { return p.Machines[i].ID < p.Machines[j].ID })

	if s.Meter != nil {
		balance, err := s.tenantCredits(ctx, ts)
		if err != nil {
			return err
		}
		p.Credits = &balance
	}
	return nil
}

// tenantCredits reads the balance of the handle's tenant. The Meter reads
// balances only as the service, so the edge asks with its own service
// credential for exactly the tenant the session is bound to — never a
// tenant named by the request.
func (s *Server) tenantCredits(ctx context.Context, ts trust.TenantStore) (int64, error) {
	if s.Tenancy == nil {
		return 0, errNoTenancy()
	}
	svc, err := s.Tenancy.Service(ctx, s.ServiceToken)
	if err != nil {
		return 0, fmt.Errorf("status page: service handle: %w", err)
	}
	acct, err := s.Meter.FindCreditAccount(ctx, svc, ts.Principal().TenantID)
	if err != nil {
		return 0, fmt.Errorf("status page: credits: %w", err)
	}
	return acct.Balance, nil
}

// findSSHAttempts reads the tenant's newest attempts matching f, up to
// pageReadLimit read, and returns them oldest first.
func (s *Server) findSSHAttempts(ctx context.Context, ts trust.TenantStore, f sshFilter) ([]*trust.SSHAttempt, error) {
	var out []*trust.SSHAttempt
	sf := trust.SSHAttemptFilter{CredentialID: f.CredentialID, Limit: trust.MaxListLimit, Newest: true}
	for ; sf.Offset < pageReadLimit; sf.Offset += trust.MaxListLimit {
		as, err := s.SSH.FindSSHAttempts(ctx, ts, sf)
		if err != nil {
			return nil, err
		}
		for _, a := range as {
			if f.match(a) {
				out = append(out, a)
			}
		}
		if len(as) < trust.MaxListLimit {
			break
		}
	}
	slices.Reverse(out)
	return out, nil
}

// handleStatusSSHExport answers GET /status/ssh-attempts/export: the
// filtered SSH audit log as JSON Lines or CSV (CSV cells defused as in
// WriteSSHAttemptsCSV).
func (s *Server) handleStatusSSHExport(w http.ResponseWriter, r *http.Request, ts trust.TenantStore, _ string) {
	if s.SSH == nil {
		s.pageError(w, r, trust.Errorf(trust.EUNAVAILABLE, "ssh store not configured on this node"))
		return
	}
	f, err := readSSHFilter(r)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	format := r.URL.Query().Get("format")
	if format != edgeapi.SSHExportJSONL && format != edgeapi.SSHExportCSV {
		s.pageError(w, r, trust.Errorf(trust.EINVALID, "format: want jsonl or csv"))
		return
	}
	all, err := s.findSSHAttempts(r.Context(), ts, f)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	h := w.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'none'; sandbox")
	if format == edgeapi.SSHExportJSONL {
		h.Set("Content-Type", "application/jsonl")
		h.Set("Content-Disposition", `attachment; filename="ssh-attempts.jsonl"`)
		enc := json.NewEncoder(w)
		for _, a := range all {
			if err := enc.Encode(a); err != nil {
				return
			}
		}
		return
	}
	h.Set("Content-Type", "text/csv; charset=utf-8")
	h.Set("Content-Disposition", `attachment; filename="ssh-attempts.csv"`)
	WriteSSHAttemptsCSV(w, all)
}

// handleStatusSSHRevoke answers POST /status/ssh-credentials/{id}/revoke: the
// credential is revoked at once (the Machine's next status check fails) and
// the page shown again.
func (s *Server) handleStatusSSHRevoke(w http.ResponseWriter, r *http.Request, ts trust.TenantStore, _ string) {
	if s.SSH == nil {
		s.pageError(w, r, trust.Errorf(trust.EUNAVAILABLE, "ssh store not configured on this node"))
		return
	}
	if err := s.SSH.RevokeSSHCredential(r.Context(), ts, r.PathValue("id")); err != nil {
		s.pageError(w, r, err)
		return
	}
	http.Redirect(w, r, "/status?revoked=1", http.StatusSeeOther)
}
