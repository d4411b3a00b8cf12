package api_test

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync/atomic"
	"testing"

	"pgregory.net/rapid"

	"github.com/openagents/trust/edge/sqlite"
	"github.com/openagents/trust/shared/edgeapi"
	"github.com/openagents/trust/shared/trust"
)

// The isolation property: random tenants, each with several users and
// Machines, drive random create/read/update/delete/list operations over the
// HTTP API, aimed at their own rows and at other tenants' alike. A model says
// what each tenant owns and what each answer must be. Every row a tenant
// writes carries that tenant's canary, a random string; then
//
//   - no response to a tenant ever contains another tenant's canary or the ID
//     of another tenant's row;
//   - every answer is the model's (another tenant's row is 404, exactly like a
//     row that never existed);
//   - after the run, the catalog read through the service handle is exactly
//     the model: no write ever touched another tenant's rows.

// propTenant is the model of one tenant.
type propTenant struct {
	id, canary string
	sessions   []string // one per user
	machines   []string // Machine tokens
	agents     map[string]trust.AgentInstance
	usage      map[string]trust.UsageRecord // by idempotency key
	audits     int                          // audit events expected
	ids        map[string]bool              // every ID the tenant ever owned
}

// agentNames is the pool of agent names: small, and shared by every tenant,
// so names collide within a tenant (409) and across tenants (no conflict).
var agentNames = []string{"writer", "reviewer", "planner", "coder"}

// usageKeys is the pool of idempotency keys, shared by every tenant.
var usageKeys = []string{"k1", "k2", "k3", "k4", "k5"}

// propSteps counts the operations of every run.
var propSteps atomic.Int64

func TestTenantIsolation_Property(t *testing.T) {
	propSteps.Store(0)
	rapid.Check(t, func(rt *rapid.T) {
		s := MustOpenTenantServer(t)
		defer s.DB.Close()
		p := &propRun{rt: rt, s: s}
		nTenants := rapid.IntRange(3, 4).Draw(rt, "tenants")
		for i := range nTenants {
			p.tenants = append(p.tenants, p.newTenant(t, fmt.Sprintf("t%d", i)))
		}
		ops := map[string]func(*propTenant){
			"createAgent": p.createAgent, "readAgent": p.readAgent, "updateAgent": p.updateAgent,
			"deleteAgent": p.deleteAgent, "listAgents": p.listAgents, "reportUsage": p.reportUsage,
			"listUsage": p.listUsage, "reportAudit": p.reportAudit, "listAudit": p.listAudit,
			"wrongPrincipal": p.wrongPrincipal, "serviceAsTenant": p.serviceAsTenant, "session": p.session,
		}
		names := make([]string, 0, len(ops))
		for name := range ops {
			names = append(names, name)
		}
		sort.Strings(names)
		steps := rapid.IntRange(30, 60).Draw(rt, "steps")
		for range steps {
			tn := p.tenants[rapid.IntRange(0, len(p.tenants)-1).Draw(rt, "tenant")]
			op := rapid.SampledFrom(names).Draw(rt, "op")
			ops[op](tn)
			propSteps.Add(1)
		}
		p.checkCatalog()
	})
	t.Logf("%d operations", propSteps.Load())
}

// propRun is one run of the property: a fresh node and its tenants.
type propRun struct {
	rt      *rapid.T
	s       *TestServer
	tenants []*propTenant
}

// newTenant creates a tenant with three users (a session each) and two
// Machines, through the API; its name and user emails carry its canary.
func (p *propRun) newTenant(t *testing.T, id string) *propTenant {
	buf := make([]byte, 8)
	rand.Read(buf)
	tn := &propTenant{
		id: id, canary: "CANARY-" + id + "-" + hex.EncodeToString(buf),
		agents: map[string]trust.AgentInstance{}, usage: map[string]trust.UsageRecord{}, ids: map[string]bool{},
	}
	WantStatus(t, p.s.Do(t, "POST", "/v1/service/tenants", ServiceToken, edgeapi.TenantRequest{ID: id, Name: tn.canary}), http.StatusCreated)
	for i := range 3 {
		_, _, session := p.s.MustUser(t, id, fmt.Sprintf("u%d@%s.example", i, tn.canary))
		tn.sessions = append(tn.sessions, session)
	}
	for i := range 2 {
		rec := p.s.Do(t, "POST", "/v1/service/machine-tokens", ServiceToken, edgeapi.MachineTokenRequest{MachineID: fmt.Sprintf("m%d-%s", i, tn.canary), TenantID: id})
		WantStatus(t, rec, http.StatusCreated)
		var mt edgeapi.MachineTokenResponse
		MustDecode(t, rec, &mt)
		tn.machines = append(tn.machines, mt.Token)
	}
	return tn
}

// call sends one request as tn and checks that the answer has want status
// and no trace of another tenant; it decodes a 2xx body into out.
func (p *propRun) call(tn *propTenant, method, path, token string, body any, header http.Header, want int, out any) {
	p.rt.Helper()
	var rd *strings.Reader
	if body != nil {
		buf, _ := json.Marshal(body)
		rd = strings.NewReader(string(buf))
	} else {
		rd = strings.NewReader("")
	}
	req := httptest.NewRequest(method, path, rd)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	for k, v := range header {
		req.Header[k] = v
	}
	rec := httptest.NewRecorder()
	p.s.ServeHTTP(rec, req)
	got := rec.Body.String()
	for _, other := range p.tenants {
		if other == tn {
			continue
		}
		if strings.Contains(got, other.canary) {
			p.rt.Fatalf("%s %s as %s: response holds %s's canary: %s", method, path, tn.id, other.id, got)
		}
		for id := range other.ids {
			if strings.Contains(got, id) {
				p.rt.Fatalf("%s %s as %s: response holds %s's row %s: %s", method, path, tn.id, other.id, id, got)
			}
		}
	}
	if rec.Code != want {
		p.rt.Fatalf("%s %s as %s: status %d, want %d: %s", method, path, tn.id, rec.Code, want, got)
	}
	if out != nil && rec.Code < 300 {
		if err := json.Unmarshal(rec.Body.Bytes(), out); err != nil {
			p.rt.Fatalf("decode %s: %v", got, err)
		}
	}
}

// user and machine draw a principal of tn.
func (p *propRun) user(tn *propTenant) string {
	return tn.sessions[rapid.IntRange(0, len(tn.sessions)-1).Draw(p.rt, "user")]
}
func (p *propRun) machine(tn *propTenant) string {
	return tn.machines[rapid.IntRange(0, len(tn.machines)-1).Draw(p.rt, "machine")]
}

// anyAgentID draws the ID of an agent instance of any tenant, live or
// deleted, or one that never existed.
func (p *propRun) anyAgentID() string {
	var ids []string
	for _, tn := range p.tenants {
		for id := range tn.ids {
			if strings.HasPrefix(id, "agt_") {
				ids = append(ids, id)
			}
		}
	}
	sort.Strings(ids)
	ids = append(ids, "agt_000000000000000000000000")
	return rapid.SampledFrom(ids).Draw(p.rt, "agent")
}

// nameTaken reports whether another agent instance of tn (not id) has name.
func nameTaken(tn *propTenant, name, id string) bool {
	for _, a := range tn.agents {
		if a.Name == name && a.ID != id {
			return true
		}
	}
	return false
}

func (p *propRun) createAgent(tn *propTenant) {
	name := rapid.SampledFrom(agentNames).Draw(p.rt, "name")
	config := tn.canary + ": " + rapid.StringMatching(`[a-z]{0,8}`).Draw(p.rt, "config")
	want := http.StatusCreated
	if nameTaken(tn, name, "") {
		want = http.StatusConflict
	}
	var a trust.AgentInstance
	p.call(tn, "POST", "/v1/tenant/agents", p.user(tn), edgeapi.AgentInstanceRequest{Name: name, Config: config}, nil, want, &a)
	if want == http.StatusCreated {
		if a.TenantID != tn.id || a.Name != name || a.Config != config {
			p.rt.Fatalf("created %+v", a)
		}
		tn.agents[a.ID], tn.ids[a.ID] = a, true
		tn.audits++
	}
}

func (p *propRun) readAgent(tn *propTenant) {
	id := p.anyAgentID()
	want, ok := tn.agents[id]
	status := http.StatusNotFound
	if ok {
		status = http.StatusOK
	}
	var got trust.AgentInstance
	p.call(tn, "GET", "/v1/tenant/agents/"+id, p.user(tn), nil, nil, status, &got)
	if ok && (got.ID != want.ID || got.Name != want.Name || got.Config != want.Config || got.TenantID != tn.id) {
		p.rt.Fatalf("read %+v, want %+v", got, want)
	}
}

func (p *propRun) updateAgent(tn *propTenant) {
	id := p.anyAgentID()
	name := rapid.SampledFrom(agentNames).Draw(p.rt, "name")
	config := tn.canary + ": " + rapid.StringMatching(`[a-z]{0,8}`).Draw(p.rt, "config")
	a, ok := tn.agents[id]
	status := http.StatusNotFound
	switch {
	case !ok:
	case nameTaken(tn, name, id):
		status = http.StatusConflict
	default:
		status = http.StatusOK
	}
	var got trust.AgentInstance
	p.call(tn, "PUT", "/v1/tenant/agents/"+id, p.user(tn), trust.AgentInstanceUpdate{Name: &name, Config: &config}, nil, status, &got)
	if status == http.StatusOK {
		a.Name, a.Config = name, config
		if got.ID != id || got.Name != name || got.Config != config || got.TenantID != tn.id {
			p.rt.Fatalf("updated %+v", got)
		}
		tn.agents[id] = a
		tn.audits++
	}
}

func (p *propRun) deleteAgent(tn *propTenant) {
	id := p.anyAgentID()
	_, ok := tn.agents[id]
	status := http.StatusNotFound
	if ok {
		status = http.StatusOK
	}
	p.call(tn, "DELETE", "/v1/tenant/agents/"+id, p.user(tn), nil, nil, status, nil)
	if ok {
		delete(tn.agents, id)
		tn.audits++
	}
}

func (p *propRun) listAgents(tn *propTenant) {
	var list edgeapi.AgentInstancesResponse
	p.call(tn, "GET", "/v1/tenant/agents", p.user(tn), nil, nil, http.StatusOK, &list)
	p.wantAgents(tn, list.AgentInstances)
}

// wantAgents checks a list of agent instances against tn's model.
func (p *propRun) wantAgents(tn *propTenant, as []*trust.AgentInstance) {
	p.rt.Helper()
	if len(as) != len(tn.agents) {
		p.rt.Fatalf("%s has %d agent instances, want %d", tn.id, len(as), len(tn.agents))
	}
	for _, a := range as {
		want, ok := tn.agents[a.ID]
		if !ok || a.TenantID != tn.id || a.Name != want.Name || a.Config != want.Config {
			p.rt.Fatalf("%s: agent instance %+v, model %+v", tn.id, a, want)
		}
	}
}

func (p *propRun) reportUsage(tn *propTenant) {
	req := edgeapi.UsageRequest{
		SessionID:      tn.canary,
		Model:          "model-" + tn.canary,
		InputTokens:    int64(rapid.IntRange(0, 3).Draw(p.rt, "input")),
		OutputTokens:   int64(rapid.IntRange(0, 3).Draw(p.rt, "output")),
		IdempotencyKey: rapid.SampledFrom(usageKeys).Draw(p.rt, "key"),
	}
	token := p.machine(tn)
	prev, seen := tn.usage[req.IdempotencyKey]
	status := http.StatusCreated
	if seen {
		status = http.StatusConflict
		if prev.InputTokens == req.InputTokens && prev.OutputTokens == req.OutputTokens && prev.MachineID == p.machineID(tn, token) {
			status = http.StatusOK
		}
	}
	var got edgeapi.UsageResponse
	p.call(tn, "POST", "/v1/tenant/usage", token, req, nil, status, &got)
	switch status {
	case http.StatusCreated:
		if got.TenantID != tn.id || !got.Created {
			p.rt.Fatalf("usage %+v", got)
		}
		tn.usage[req.IdempotencyKey], tn.ids[got.ID] = got.UsageRecord, true
	case http.StatusOK:
		if got.ID != prev.ID || got.Created {
			p.rt.Fatalf("replay %+v, want %+v", got, prev)
		}
	}
}

// machineID returns the Machine ID of one of tn's tokens (by its index).
func (p *propRun) machineID(tn *propTenant, token string) string {
	for i, m := range tn.machines {
		if m == token {
			return fmt.Sprintf("m%d-%s", i, tn.canary)
		}
	}
	return ""
}

func (p *propRun) listUsage(tn *propTenant) {
	var list edgeapi.UsageRecordsResponse
	p.call(tn, "GET", "/v1/tenant/usage", p.user(tn), nil, nil, http.StatusOK, &list)
	p.wantUsage(tn, list.UsageRecords)
}

// wantUsage checks a list of usage records against tn's model.
func (p *propRun) wantUsage(tn *propTenant, rs []*trust.UsageRecord) {
	p.rt.Helper()
	if len(rs) != len(tn.usage) {
		p.rt.Fatalf("%s has %d usage records, want %d", tn.id, len(rs), len(tn.usage))
	}
	for _, r := range rs {
		if want, ok := tn.usage[r.IdempotencyKey]; !ok || r.ID != want.ID || r.TenantID != tn.id || !trust.SameUsage(r, &want) {
			p.rt.Fatalf("%s: usage %+v, model %+v", tn.id, r, want)
		}
	}
}

func (p *propRun) reportAudit(tn *propTenant) {
	var e trust.AuditEvent
	p.call(tn, "POST", "/v1/tenant/audit-events", p.machine(tn), edgeapi.AuditEventRequest{Action: "ssh.command", Target: tn.canary, Detail: "ls " + tn.canary}, nil, http.StatusCreated, &e)
	if e.TenantID != tn.id || !strings.HasPrefix(e.Actor, "machine:m") {
		p.rt.Fatalf("audit event %+v", e)
	}
	tn.ids[e.ID] = true
	tn.audits++
}

func (p *propRun) listAudit(tn *propTenant) {
	var list edgeapi.AuditEventsResponse
	p.call(tn, "GET", "/v1/tenant/audit-events?limit=1000", p.user(tn), nil, nil, http.StatusOK, &list)
	if len(list.AuditEvents) != tn.audits {
		p.rt.Fatalf("%s has %d audit events, want %d", tn.id, len(list.AuditEvents), tn.audits)
	}
	for _, e := range list.AuditEvents {
		if e.TenantID != tn.id {
			p.rt.Fatalf("%s sees audit event %+v", tn.id, e)
		}
	}
}

// wrongPrincipal uses a credential of tn on a route for the other kind.
func (p *propRun) wrongPrincipal(tn *propTenant) {
	if rapid.Bool().Draw(p.rt, "machineOnUserRoute") {
		p.call(tn, "GET", "/v1/tenant/agents", p.machine(tn), nil, nil, http.StatusForbidden, nil)
	} else {
		p.call(tn, "POST", "/v1/tenant/audit-events", p.user(tn), edgeapi.AuditEventRequest{Action: "x"}, nil, http.StatusForbidden, nil)
	}
}

// serviceAsTenant lists tn's agent instances as the service acting as tn.
func (p *propRun) serviceAsTenant(tn *propTenant) {
	var list edgeapi.AgentInstancesResponse
	p.call(tn, "GET", "/v1/tenant/agents", ServiceToken, nil, http.Header{"Trust-Tenant": {tn.id}}, http.StatusOK, &list)
	p.wantAgents(tn, list.AgentInstances)
}

func (p *propRun) session(tn *propTenant) {
	var got edgeapi.SessionResponse
	p.call(tn, "GET", "/v1/session", p.user(tn), nil, nil, http.StatusOK, &got)
	if got.Principal.TenantID != tn.id || got.Tenant.ID != tn.id || got.Tenant.Name != tn.canary {
		p.rt.Fatalf("session %+v", got)
	}
}

// checkCatalog compares the whole catalog, read through the service handle,
// with the model: every row belongs to the tenant that wrote it, and holds
// what that tenant wrote.
func (p *propRun) checkCatalog() {
	ctx := p.rt.Context()
	svc, err := sqlite.NewTenancy(p.s.DB, ServiceToken).Service(ctx, ServiceToken)
	if err != nil {
		p.rt.Fatal(err)
	}
	byID := map[string]*propTenant{}
	for _, tn := range p.tenants {
		byID[tn.id] = tn
	}
	as, err := svc.FindAgentInstances(ctx, "")
	if err != nil {
		p.rt.Fatal(err)
	}
	rs, err := svc.FindUsageRecords(ctx, "")
	if err != nil {
		p.rt.Fatal(err)
	}
	evs, err := svc.FindAuditEvents(ctx, "")
	if err != nil {
		p.rt.Fatal(err)
	}
	agents, usage, audits := map[string][]*trust.AgentInstance{}, map[string][]*trust.UsageRecord{}, map[string]int{}
	for _, a := range as {
		agents[a.TenantID] = append(agents[a.TenantID], a)
	}
	for _, r := range rs {
		usage[r.TenantID] = append(usage[r.TenantID], r)
	}
	for _, e := range evs {
		if tn := byID[e.TenantID]; tn == nil || (strings.Contains(e.Detail+e.Target, "CANARY") && !strings.Contains(e.Detail+e.Target, tn.canary)) {
			p.rt.Fatalf("audit event %+v in the wrong tenant", e)
		}
		audits[e.TenantID]++
	}
	for _, tn := range p.tenants {
		p.wantAgents(tn, agents[tn.id])
		p.wantUsage(tn, usage[tn.id])
		if audits[tn.id] != tn.audits {
			p.rt.Fatalf("%s has %d audit events in the catalog, want %d", tn.id, audits[tn.id], tn.audits)
		}
		for _, a := range agents[tn.id] {
			if !strings.HasPrefix(a.Config, tn.canary) {
				p.rt.Fatalf("%s holds another tenant's data: %+v", tn.id, a)
			}
		}
	}
	if len(agents)+len(usage) > 0 {
		for id := range agents {
			if byID[id] == nil {
				p.rt.Fatalf("agent instances of unknown tenant %q", id)
			}
		}
		for id := range usage {
			if byID[id] == nil {
				p.rt.Fatalf("usage of unknown tenant %q", id)
			}
		}
	}
}
