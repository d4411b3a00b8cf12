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
	rec, created, err := ts.CreateUsageRecord(r.Context(), &trust.UsageRecord{
		SessionID: req.SessionID, Model: req.Model, InputTokens: req.InputTokens,
		OutputTokens: req.OutputTokens, IdempotencyKey: req.IdempotencyKey,
	})
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
