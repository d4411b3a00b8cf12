package sqlite

import (
	"context"
	"fmt"
	"strings"

	"github.com/openagents/trust/shared/trust"
)

// Agent instances, reached through a TenantStore. Every statement here has
// "tenant_id = ?" bound from the handle; the service's cross-tenant read is a
// separate ServiceStore method.

// agentColumns are the columns scanAgentInstance reads, in order.
const agentColumns = `id, tenant_id, name, config, created_by, created_at, updated_at`

// CreateAgentInstance creates an agent instance of the handle's tenant and
// records an audit event. EINVALID for a bad name or config, ECONFLICT for a
// name the tenant already uses.
func (s *TenantStore) CreateAgentInstance(ctx context.Context, a *trust.AgentInstance) (*trust.AgentInstance, error) {
	if a == nil {
		return nil, trust.Errorf(trust.EINVALID, "agent instance required")
	} else if err := a.Validate(); err != nil {
		return nil, err
	}
	tx, err := s.begin(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()

	tenantID := s.principal.TenantID
	if err := checkAgentName(ctx, tx, tenantID, a.Name, ""); err != nil {
		return nil, err
	}
	id, err := newID("agt_")
	if err != nil {
		return nil, err
	}
	out := &trust.AgentInstance{
		ID: id, TenantID: tenantID, Name: a.Name, Config: a.Config,
		CreatedBy: s.principal.Actor(), CreatedAt: tx.now, UpdatedAt: tx.now,
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO agent_instances (id, tenant_id, name, config, created_by, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		out.ID, tenantID, out.Name, out.Config, out.CreatedBy, formatTime(tx.now), formatTime(tx.now)); err != nil {
		return nil, fmt.Errorf("insert agent instance: %w", err)
	}
	if err := insertAuditEvent(ctx, tx, tenantID, &trust.AuditEvent{Actor: s.principal.Actor(), Action: "agent_instance.create", Target: out.ID}); err != nil {
		return nil, err
	}
	return out, tx.Commit()
}

// FindAgentInstanceByID returns one of the tenant's agent instances.
// ENOTFOUND if the tenant has none with that ID.
func (s *TenantStore) FindAgentInstanceByID(ctx context.Context, id string) (*trust.AgentInstance, error) {
	tx, err := s.begin(ctx, readOnly)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	return findAgentInstanceByID(ctx, tx, s.principal.TenantID, id)
}

// FindAgentInstances returns the tenant's agent instances, oldest first.
// EINVALID for a bad page.
func (s *TenantStore) FindAgentInstances(ctx context.Context, f trust.AgentInstanceFilter) ([]*trust.AgentInstance, error) {
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
	if f.Name != nil {
		where, args = append(where, "name = ?"), append(args, *f.Name)
	}
	args = append(args, limit, f.Offset)
	return queryAgentInstances(ctx, tx, `SELECT `+agentColumns+` FROM agent_instances WHERE `+strings.Join(where, " AND ")+` ORDER BY seq LIMIT ? OFFSET ?`, args...)
}

// UpdateAgentInstance applies upd to one of the tenant's agent instances and
// records an audit event. ENOTFOUND if the tenant has none with that ID,
// EINVALID for bad fields, ECONFLICT for a name already used.
func (s *TenantStore) UpdateAgentInstance(ctx context.Context, id string, upd trust.AgentInstanceUpdate) (*trust.AgentInstance, error) {
	tx, err := s.begin(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()

	tenantID := s.principal.TenantID
	a, err := findAgentInstanceByID(ctx, tx, tenantID, id)
	if err != nil {
		return nil, err
	}
	if upd.Name != nil {
		a.Name = *upd.Name
	}
	if upd.Config != nil {
		a.Config = *upd.Config
	}
	if err := a.Validate(); err != nil {
		return nil, err
	} else if err := checkAgentName(ctx, tx, tenantID, a.Name, a.ID); err != nil {
		return nil, err
	}
	a.UpdatedAt = tx.now
	if _, err := tx.ExecContext(ctx, `UPDATE agent_instances SET name = ?, config = ?, updated_at = ? WHERE tenant_id = ? AND id = ?`,
		a.Name, a.Config, formatTime(tx.now), tenantID, id); err != nil {
		return nil, fmt.Errorf("update agent instance: %w", err)
	}
	if err := insertAuditEvent(ctx, tx, tenantID, &trust.AuditEvent{Actor: s.principal.Actor(), Action: "agent_instance.update", Target: id}); err != nil {
		return nil, err
	}
	return a, tx.Commit()
}

// DeleteAgentInstance deletes one of the tenant's agent instances and records
// an audit event. ENOTFOUND if the tenant has none with that ID.
func (s *TenantStore) DeleteAgentInstance(ctx context.Context, id string) error {
	tx, err := s.begin(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()

	tenantID := s.principal.TenantID
	res, err := tx.ExecContext(ctx, `DELETE FROM agent_instances WHERE tenant_id = ? AND id = ?`, tenantID, id)
	if err != nil {
		return fmt.Errorf("delete agent instance: %w", err)
	} else if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("delete agent instance: %w", err)
	} else if n == 0 {
		return errNotFound("agent instance not found")
	}
	if err := insertAuditEvent(ctx, tx, tenantID, &trust.AuditEvent{Actor: s.principal.Actor(), Action: "agent_instance.delete", Target: id}); err != nil {
		return err
	}
	return tx.Commit()
}

// FindAgentInstances returns the agent instances of one tenant, or of all for
// "", oldest first.
func (s *ServiceStore) FindAgentInstances(ctx context.Context, tenantID string) ([]*trust.AgentInstance, error) {
	tx, err := s.begin(ctx, readOnly)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	return queryAgentInstances(ctx, tx, `SELECT `+agentColumns+` FROM agent_instances WHERE ? = '' OR tenant_id = ? ORDER BY seq`, tenantID, tenantID)
}

// findAgentInstanceByID returns one agent instance of a tenant. ENOTFOUND if
// the tenant has none with that ID, whether or not another tenant does.
func findAgentInstanceByID(ctx context.Context, tx *Tx, tenantID, id string) (*trust.AgentInstance, error) {
	as, err := queryAgentInstances(ctx, tx, `SELECT `+agentColumns+` FROM agent_instances WHERE tenant_id = ? AND id = ?`, tenantID, id)
	if err != nil {
		return nil, err
	} else if len(as) == 0 {
		return nil, errNotFound("agent instance not found")
	}
	return as[0], nil
}

// checkAgentName reports ECONFLICT when another agent instance of the tenant
// (not exceptID) has name.
func checkAgentName(ctx context.Context, tx *Tx, tenantID, name, exceptID string) error {
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM agent_instances WHERE tenant_id = ? AND name = ? AND id <> ?`,
		tenantID, name, exceptID).Scan(&n); err != nil {
		return fmt.Errorf("check agent name: %w", err)
	} else if n > 0 {
		return trust.Errorf(trust.ECONFLICT, "an agent instance with that name exists")
	}
	return nil
}

// queryAgentInstances runs a query selecting agentColumns.
func queryAgentInstances(ctx context.Context, tx *Tx, query string, args ...any) ([]*trust.AgentInstance, error) {
	rows, err := tx.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("find agent instances: %w", err)
	}
	defer rows.Close()
	out := []*trust.AgentInstance{}
	for rows.Next() {
		var a trust.AgentInstance
		if err := rows.Scan(&a.ID, &a.TenantID, &a.Name, &a.Config, &a.CreatedBy, timeScanner{&a.CreatedAt}, timeScanner{&a.UpdatedAt}); err != nil {
			return nil, fmt.Errorf("scan agent instance: %w", err)
		}
		out = append(out, &a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("find agent instances: %w", err)
	}
	return out, nil
}
