package api

import (
	"net/http"

	"github.com/openagents/trust/shared/edgeapi"
	"github.com/openagents/trust/shared/httpapi"
	"github.com/openagents/trust/shared/trust"
)

// handleUsageRecordCreate answers POST /v1/tenant/usage: a Machine reports the
// usage of a session, once per idempotency key of its tenant — 201 when
// recorded, 200 with the stored record for a replay, 409 for a key reused
// with other numbers.
func (s *Server) handleUsageRecordCreate(w http.ResponseWriter, r *http.Request, ts trust.TenantStore) {
	var req edgeapi.UsageRequest
	if err := httpapi.ReadJSON(w, r, smallBodyLimit, &req); err != nil {
		s.error(w, r, err)
		return
	}
	in := &trust.UsageRecord{
		SessionID: req.SessionID, Model: req.Model, InputTokens: req.InputTokens,
		OutputTokens: req.OutputTokens, IdempotencyKey: req.IdempotencyKey,
	}
	if s.Meter != nil {
		s.reportMeteredUsage(w, r, ts, in)
		return
	}
	rec, created, err := ts.CreateUsageRecord(r.Context(), in)
	if err != nil {
		s.error(w, r, err)
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	httpapi.WriteJSON(w, status, edgeapi.UsageResponse{UsageRecord: *rec, Created: created})
}

// reportMeteredUsage records usage through the meter: credits deducted once
// per record, the Machine's hourly limit (429), a suspended Machine or a
// tenant without credits refused (403); a report that suspends the Machine
// is still recorded and says so.
func (s *Server) reportMeteredUsage(w http.ResponseWriter, r *http.Request, ts trust.TenantStore, in *trust.UsageRecord) {
	rep, err := s.Meter.ReportUsage(r.Context(), ts, in)
	if err != nil {
		s.error(w, r, err)
		return
	}
	if rep.Suspended {
		s.logger().Warn("machine suspended on usage anomaly", "tenant_id", rep.Record.TenantID, "machine_id", rep.Record.MachineID,
			"tokens", rep.Record.InputTokens+rep.Record.OutputTokens)
	}
	status := http.StatusOK
	if rep.Created {
		status = http.StatusCreated
	}
	httpapi.WriteJSON(w, status, edgeapi.MeteredUsageResponse{
		UsageResponse: edgeapi.UsageResponse{UsageRecord: *rep.Record, Created: rep.Created},
		Charged:       rep.Charged, Balance: rep.Balance, Suspended: rep.Suspended,
	})
}

// handleUsageRecordsFind answers GET /v1/tenant/usage?limit=&offset=.
func (s *Server) handleUsageRecordsFind(w http.ResponseWriter, r *http.Request, ts trust.TenantStore) {
	limit, offset, err := page(r)
	if err != nil {
		s.error(w, r, err)
		return
	}
	rs, err := ts.FindUsageRecords(r.Context(), trust.UsageFilter{Limit: limit, Offset: offset})
	if err != nil {
		s.error(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, edgeapi.UsageRecordsResponse{UsageRecords: rs})
}

// handleAuditEventCreate answers POST /v1/tenant/audit-events: 201 with the
// event, its actor the Machine.
func (s *Server) handleAuditEventCreate(w http.ResponseWriter, r *http.Request, ts trust.TenantStore) {
	var req edgeapi.AuditEventRequest
	if err := httpapi.ReadJSON(w, r, smallBodyLimit, &req); err != nil {
		s.error(w, r, err)
		return
	}
	e, err := ts.CreateAuditEvent(r.Context(), &trust.AuditEvent{Action: req.Action, Target: req.Target, Detail: req.Detail})
	if err != nil {
		s.error(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusCreated, e)
}

// handleAuditEventsFind answers GET /v1/tenant/audit-events?limit=&offset=.
func (s *Server) handleAuditEventsFind(w http.ResponseWriter, r *http.Request, ts trust.TenantStore) {
	limit, offset, err := page(r)
	if err != nil {
		s.error(w, r, err)
		return
	}
	evs, err := ts.FindAuditEvents(r.Context(), trust.AuditEventFilter{Limit: limit, Offset: offset})
	if err != nil {
		s.error(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, edgeapi.AuditEventsResponse{AuditEvents: evs})
}
