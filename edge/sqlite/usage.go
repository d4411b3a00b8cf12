package sqlite

import (
	"context"
	"fmt"
	"strings"

	"github.com/openagents/trust/shared/trust"
)

// Usage records and audit events, reached through a TenantStore. As in
// agent.go, every statement has "tenant_id = ?" bound from the handle.

// usageColumns are the columns scanUsage reads, in order.
const usageColumns = `id, tenant_id, machine_id, session_id, model, input_tokens, output_tokens, idempotency_key, created_at`

// auditColumns are the columns queryAuditEvents reads, in order.
const auditColumns = `id, tenant_id, actor, action, target, detail, created_at`

// CreateUsageRecord records the usage of a session once per idempotency key
// of the tenant. A Machine principal's ID is the record's Machine. A repeat
// with the same content returns the stored record and created=false.
// EINVALID for bad fields, ECONFLICT for a key reused with other content,
// EFORBIDDEN for a user principal.
func (s *TenantStore) CreateUsageRecord(ctx context.Context, u *trust.UsageRecord) (*trust.UsageRecord, bool, error) {
	if u == nil {
		return nil, false, trust.Errorf(trust.EINVALID, "usage record required")
	}
	in := *u
	switch s.principal.Kind {
	case trust.PrincipalMachine:
		in.MachineID = s.principal.MachineID
	case trust.PrincipalUser:
		return nil, false, trust.Errorf(trust.EFORBIDDEN, "usage is reported by machines")
	}
	if in.MachineID == "" {
		return nil, false, trust.Errorf(trust.EINVALID, "machine ID required")
	} else if err := in.Validate(); err != nil {
		return nil, false, err
	}
	tx, err := s.begin(ctx, nil)
	if err != nil {
		return nil, false, err
	}
	defer tx.Rollback()

	tenantID := s.principal.TenantID
	prev, err := queryUsageRecords(ctx, tx, `SELECT `+usageColumns+` FROM usage_records WHERE tenant_id = ? AND idempotency_key = ?`, tenantID, in.IdempotencyKey)
	if err != nil {
		return nil, false, err
	} else if len(prev) > 0 {
		if !trust.SameUsage(prev[0], &in) {
			return nil, false, trust.Errorf(trust.ECONFLICT, "idempotency key already used for other usage")
		}
		return prev[0], false, nil
	}
	if err := insertUsageRecord(ctx, tx, tenantID, &in); err != nil {
		return nil, false, err
	}
	return &in, true, tx.Commit()
}

// findUsageByKey returns the tenant's record with an idempotency key, or nil.
func findUsageByKey(ctx context.Context, tx *Tx, tenantID, key string) (*trust.UsageRecord, error) {
	prev, err := queryUsageRecords(ctx, tx, `SELECT `+usageColumns+` FROM usage_records WHERE tenant_id = ? AND idempotency_key = ?`, tenantID, key)
	if err != nil || len(prev) == 0 {
		return nil, err
	}
	return prev[0], nil
}

// insertUsageRecord records u for a tenant, setting its ID, tenant and time.
func insertUsageRecord(ctx context.Context, tx *Tx, tenantID string, u *trust.UsageRecord) error {
	id, err := newID("usg_")
	if err != nil {
		return err
	}
	u.ID, u.TenantID, u.CreatedAt = id, tenantID, tx.now
	if _, err := tx.ExecContext(ctx, `INSERT INTO usage_records (`+usageColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		u.ID, tenantID, u.MachineID, u.SessionID, u.Model, u.InputTokens, u.OutputTokens, u.IdempotencyKey, formatTime(tx.now)); err != nil {
		return fmt.Errorf("insert usage record: %w", err)
	}
	return nil
}

// FindUsageRecords returns the tenant's usage records, oldest first.
// EINVALID for a bad page.
func (s *TenantStore) FindUsageRecords(ctx context.Context, f trust.UsageFilter) ([]*trust.UsageRecord, error) {
	limit, err := trust.CheckPage(f.Limit, f.Offset)
	if err != nil {
		return nil, err
	}
	tx, err := s.begin(ctx, readOnly)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()

	where, args := []string{"tenant_id = ?"}, []any{s.principal.TenantID}
	if f.MachineID != nil {
		where, args = append(where, "machine_id = ?"), append(args, *f.MachineID)
	}
	if f.SessionID != nil {
		where, args = append(where, "session_id = ?"), append(args, *f.SessionID)
	}
	args = append(args, limit, f.Offset)
	return queryUsageRecords(ctx, tx, `SELECT `+usageColumns+` FROM usage_records WHERE `+strings.Join(where, " AND ")+` ORDER BY seq`+order(f.Newest)+` LIMIT ? OFFSET ?`, args...)
}

// CreateAuditEvent records an audit event of the tenant with the handle's
// principal as its actor. EINVALID for bad fields.
func (s *TenantStore) CreateAuditEvent(ctx context.Context, e *trust.AuditEvent) (*trust.AuditEvent, error) {
	if e == nil {
		return nil, trust.Errorf(trust.EINVALID, "audit event required")
	}
	in := *e
	in.Actor = s.principal.Actor()
	if err := in.Validate(); err != nil {
		return nil, err
	} else if s.principal.Kind != trust.PrincipalService && reservedAuditAction(in.Action) {
		return nil, trust.Errorf(trust.EFORBIDDEN, "audit action %q is recorded by the edge itself", in.Action)
	}
	tx, err := s.begin(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	if err := insertAuditEvent(ctx, tx, s.principal.TenantID, &in); err != nil {
		return nil, err
	}
	return &in, tx.Commit()
}

// FindAuditEvents returns the tenant's audit events, oldest first. EINVALID
// for a bad page.
func (s *TenantStore) FindAuditEvents(ctx context.Context, f trust.AuditEventFilter) ([]*trust.AuditEvent, error) {
	limit, err := trust.CheckPage(f.Limit, f.Offset)
	if err != nil {
		return nil, err
	}
	tx, err := s.begin(ctx, readOnly)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()

	where, args := []string{"tenant_id = ?"}, []any{s.principal.TenantID}
	if f.Action != nil {
		where, args = append(where, "action = ?"), append(args, *f.Action)
	}
	args = append(args, limit, f.Offset)
	return queryAuditEvents(ctx, tx, `SELECT `+auditColumns+` FROM audit_events WHERE `+strings.Join(where, " AND ")+` ORDER BY seq`+order(f.Newest)+` LIMIT ? OFFSET ?`, args...)
}

// FindUsageRecords returns the usage records of one tenant, or of all for "".
func (s *ServiceStore) FindUsageRecords(ctx context.Context, tenantID string) ([]*trust.UsageRecord, error) {
	tx, err := s.begin(ctx, readOnly)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	return queryUsageRecords(ctx, tx, `SELECT `+usageColumns+` FROM usage_records WHERE ? = '' OR tenant_id = ? ORDER BY seq`, tenantID, tenantID)
}

// FindAuditEvents returns the audit events of one tenant, or of all for "".
func (s *ServiceStore) FindAuditEvents(ctx context.Context, tenantID string) ([]*trust.AuditEvent, error) {
	tx, err := s.begin(ctx, readOnly)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	return queryAuditEvents(ctx, tx, `SELECT `+auditColumns+` FROM audit_events WHERE ? = '' OR tenant_id = ? ORDER BY seq`, tenantID, tenantID)
}

// insertAuditEvent records e for a tenant, setting its ID, tenant and time.
func insertAuditEvent(ctx context.Context, tx *Tx, tenantID string, e *trust.AuditEvent) error {
	id, err := newID("aud_")
	if err != nil {
		return err
	}
	e.ID, e.TenantID, e.CreatedAt = id, tenantID, tx.now
	if _, err := tx.ExecContext(ctx, `INSERT INTO audit_events (`+auditColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		e.ID, tenantID, e.Actor, e.Action, e.Target, e.Detail, formatTime(tx.now)); err != nil {
		return fmt.Errorf("insert audit event %s: %w", e.Action, err)
	}
	return nil
}

// queryUsageRecords runs a query selecting usageColumns.
func queryUsageRecords(ctx context.Context, tx *Tx, query string, args ...any) ([]*trust.UsageRecord, error) {
	rows, err := tx.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("find usage records: %w", err)
	}
	defer rows.Close()
	out := []*trust.UsageRecord{}
	for rows.Next() {
		var u trust.UsageRecord
		if err := rows.Scan(&u.ID, &u.TenantID, &u.MachineID, &u.SessionID, &u.Model, &u.InputTokens, &u.OutputTokens, &u.IdempotencyKey, timeScanner{&u.CreatedAt}); err != nil {
			return nil, fmt.Errorf("scan usage record: %w", err)
		}
		out = append(out, &u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("find usage records: %w", err)
	}
	return out, nil
}

// queryAuditEvents runs a query selecting auditColumns.
func queryAuditEvents(ctx context.Context, tx *Tx, query string, args ...any) ([]*trust.AuditEvent, error) {
	rows, err := tx.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("find audit events: %w", err)
	}
	defer rows.Close()
	out := []*trust.AuditEvent{}
	for rows.Next() {
		var e trust.AuditEvent
		if err := rows.Scan(&e.ID, &e.TenantID, &e.Actor, &e.Action, &e.Target, &e.Detail, timeScanner{&e.CreatedAt}); err != nil {
			return nil, fmt.Errorf("scan audit event: %w", err)
		}
		out = append(out, &e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("find audit events: %w", err)
	}
	return out, nil
}

// order is the direction of a listing by seq: " DESC" for newest first.
func order(newest bool) string {
	if newest {
		return " DESC"
	}
	return ""
}

// reservedAuditAction reports an action only the edge records (suspensions,
// anomalies, credits, SSH credential changes): a user or a Machine posting
// one could forge what the status page shows.
func reservedAuditAction(action string) bool {
	for _, p := range []string{"machine.", "usage.", "credits.", "ssh_credential."} {
		if strings.HasPrefix(action, p) {
			return true
		}
	}
	return false
}
