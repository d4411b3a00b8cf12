package sqlite

import (
	"context"
	"fmt"
	"log/slog"
	"regexp"
	"time"

	"github.com/openagents/trust/shared/trust"
)

// Metering: credits, per-Machine token limits and anomaly suspension, in
// the transaction that records the usage. Writes run on the primary (the
// API forwards them), so the hourly window and the balance are the
// catalog's, the same for every replica.

var _ trust.Meter = (*Meter)(nil)

// grantKeyPattern is the shape of a credit grant's idempotency key.
var grantKeyPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$`)

// Meter meters usage reports (trust.Meter).
type Meter struct {
	db *DB

	// TokensPerHour is each Machine's limit over the last hour.
	TokensPerHour int64

	// AnomalyFactor: a report of at least AnomalyFactor × the baseline
	// suspends the Machine.
	AnomalyFactor float64

	// BaselineFloor is the smallest baseline, in tokens per report: what a
	// new Machine is assumed to use, and never undercut by a quiet one.
	BaselineFloor float64

	// BaselineWeight is the weight of the newest report in the moving
	// average (0 < w ≤ 1).
	BaselineWeight float64

	// Suspender stops a suspended Machine on the provisioning side; nil
	// leaves only the catalog flag.
	Suspender trust.Suspender

	// Logger receives Suspender failures.
	Logger *slog.Logger
}

// NewMeter returns a meter with the trust defaults.
func NewMeter(db *DB) *Meter {
	return &Meter{
		db:             db,
		TokensPerHour:  trust.DefaultTokensPerHour,
		AnomalyFactor:  trust.DefaultAnomalyFactor,
		BaselineFloor:  trust.DefaultBaselineFloor,
		BaselineWeight: trust.DefaultBaselineWeight,
		Logger:         slog.Default(),
	}
}

// ReportUsage records, checks and charges a usage report (trust.Meter).
func (m *Meter) ReportUsage(ctx context.Context, ts trust.TenantStore, u *trust.UsageRecord) (*trust.UsageReport, error) {
	s, err := tenantHandle(ts)
	if err != nil {
		return nil, err
	} else if u == nil {
		return nil, trust.Errorf(trust.EINVALID, "usage record required")
	}
	in := *u
	switch s.principal.Kind {
	case trust.PrincipalMachine:
		in.MachineID = s.principal.MachineID
	case trust.PrincipalUser:
		return nil, trust.Errorf(trust.EFORBIDDEN, "usage is reported by machines")
	}
	if in.MachineID == "" {
		return nil, trust.Errorf(trust.EINVALID, "machine ID required")
	} else if err := in.Validate(); err != nil {
		return nil, err
	}
	tx, err := s.begin(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	tenantID := s.principal.TenantID

	// A replay is free and answered whatever the Machine's state now.
	if prev, err := findUsageByKey(ctx, tx, tenantID, in.IdempotencyKey); err != nil {
		return nil, err
	} else if prev != nil {
		if !trust.SameUsage(prev, &in) {
			return nil, trust.Errorf(trust.ECONFLICT, "idempotency key already used for other usage")
		}
		bal, err := balance(ctx, tx, tenantID)
		if err != nil {
			return nil, err
		}
		return &trust.UsageReport{Record: prev, Balance: bal}, nil
	}

	meter, err := findMachineMeter(ctx, tx, tenantID, in.MachineID)
	if err != nil && trust.ErrorCode(err) != trust.ENOTFOUND {
		return nil, err
	}
	if err := refuse(ctx, tx, tenantID, meter); err != nil {
		return nil, err
	}
	tokens := in.InputTokens + in.OutputTokens
	var used int64
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(SUM(input_tokens + output_tokens), 0) FROM usage_records WHERE tenant_id = ? AND machine_id = ? AND created_at > ?`,
		tenantID, in.MachineID, formatTime(tx.now.Add(-time.Hour))).Scan(&used); err != nil {
		return nil, fmt.Errorf("sum machine usage of the last hour: %w", err)
	} else if limit := m.TokensPerHour; limit > 0 && used >= limit {
		return nil, trust.Errorf(trust.ERATELIMIT, "machine reached its limit of %d tokens per hour; retry later", limit)
	}

	if err := insertUsageRecord(ctx, tx, tenantID, &in); err != nil {
		return nil, err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO usage_charges (usage_id, tenant_id, amount, created_at) VALUES (?, ?, ?, ?)`,
		in.ID, tenantID, tokens, formatTime(tx.now)); err != nil {
		return nil, fmt.Errorf("record charge: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE credit_accounts SET balance = balance - ?, updated_at = ? WHERE tenant_id = ?`,
		tokens, formatTime(tx.now), tenantID); err != nil {
		return nil, fmt.Errorf("deduct credits: %w", err)
	}
	rep := &trust.UsageReport{Record: &in, Created: true, Charged: tokens}
	if rep.Balance, err = balance(ctx, tx, tenantID); err != nil {
		return nil, err
	}

	// The anomaly check compares with the baseline before this report; an
	// anomalous report does not move the baseline.
	base := m.BaselineFloor
	if meter != nil && meter.Baseline > base {
		base = meter.Baseline
	}
	if m.AnomalyFactor > 0 && float64(tokens) >= m.AnomalyFactor*base {
		rep.Suspended = true
		reason := fmt.Sprintf("usage anomaly: %d tokens in one report, baseline %.0f", tokens, base)
		if err := m.suspend(ctx, tx, s.principal, in.MachineID, reason, meter == nil); err != nil {
			return nil, err
		}
	} else if err := m.updateBaseline(ctx, tx, tenantID, in.MachineID, meter, tokens); err != nil {
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, err
	}
	if rep.Suspended && m.Suspender != nil {
		// The catalog already refuses the Machine; stopping it must not
		// depend on the reporting request staying open.
		if err := m.Suspender.SuspendMachine(context.WithoutCancel(ctx), tenantID, in.MachineID, "usage anomaly"); err != nil {
			m.logger().Error("suspend machine at the provider", "tenant_id", tenantID, "machine_id", in.MachineID, "err", err)
		}
	}
	return rep, nil
}

// refuse reports EFORBIDDEN for a suspended Machine or a tenant without
// credits.
func refuse(ctx context.Context, tx *Tx, tenantID string, meter *trust.MachineMeter) error {
	if err := suspended(meter); err != nil {
		return err
	}
	bal, err := balance(ctx, tx, tenantID)
	if err != nil {
		return err
	} else if bal <= 0 {
		return trust.Errorf(trust.EFORBIDDEN, "no credits left: the tenant's balance is %d", bal)
	}
	return nil
}

// suspend flags a Machine and records the alert and the suspension. The
// events' actor is the service (the edge decided), their target the Machine.
func (m *Meter) suspend(ctx context.Context, tx *Tx, p trust.Principal, machineID, reason string, isNew bool) error {
	var err error
	if isNew {
		_, err = tx.ExecContext(ctx, `INSERT INTO machine_meters (tenant_id, machine_id, baseline, reports, suspended_at, suspend_reason) VALUES (?, ?, ?, 0, ?, ?)`,
			p.TenantID, machineID, m.BaselineFloor, formatTime(tx.now), reason)
	} else {
		_, err = tx.ExecContext(ctx, `UPDATE machine_meters SET suspended_at = ?, suspend_reason = ? WHERE tenant_id = ? AND machine_id = ?`,
			formatTime(tx.now), reason, p.TenantID, machineID)
	}
	if err != nil {
		return fmt.Errorf("suspend machine %s: %w", machineID, err)
	}
	for _, action := range []string{"usage.anomaly", "machine.suspend"} {
		if err := insertAuditEvent(ctx, tx, p.TenantID, &trust.AuditEvent{Actor: trust.PrincipalService, Action: action, Target: "machine:" + machineID, Detail: reason}); err != nil {
			return err
		}
	}
	return nil
}

// updateBaseline folds a report into the Machine's moving average.
func (m *Meter) updateBaseline(ctx context.Context, tx *Tx, tenantID, machineID string, meter *trust.MachineMeter, tokens int64) error {
	var err error
	if meter == nil {
		_, err = tx.ExecContext(ctx, `INSERT INTO machine_meters (tenant_id, machine_id, baseline, reports) VALUES (?, ?, ?, 1)`,
			tenantID, machineID, float64(tokens))
	} else {
		w := m.BaselineWeight
		if w <= 0 || w > 1 {
			w = trust.DefaultBaselineWeight
		}
		_, err = tx.ExecContext(ctx, `UPDATE machine_meters SET baseline = ?, reports = reports + 1 WHERE tenant_id = ? AND machine_id = ?`,
			(1-w)*meter.Baseline+w*float64(tokens), tenantID, machineID)
	}
	if err != nil {
		return fmt.Errorf("update baseline of machine %s: %w", machineID, err)
	}
	return nil
}

// CheckMachine refuses a suspended Machine or a tenant without credits.
func (m *Meter) CheckMachine(ctx context.Context, ts trust.TenantStore) error {
	s, err := tenantHandle(ts)
	if err != nil {
		return err
	}
	tx, err := s.begin(ctx, readOnly)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var meter *trust.MachineMeter
	if id := s.principal.MachineID; id != "" {
		if meter, err = findMachineMeter(ctx, tx, s.principal.TenantID, id); err != nil && trust.ErrorCode(err) != trust.ENOTFOUND {
			return err
		}
	}
	return refuse(ctx, tx, s.principal.TenantID, meter)
}

// CheckMachineSuspended refuses a suspended Machine with EFORBIDDEN ("machine
// suspended: …"); a Machine that never reported is not suspended. Unlike
// CheckMachine it ignores credits and needs no tenant handle: it is the gate
// of every route a Machine token opens, called by the edge API right after
// the token authenticated the Machine (tenant and Machine are the token's).
func (m *Meter) CheckMachineSuspended(ctx context.Context, tenantID, machineID string) error {
	tx, err := m.db.BeginTx(ctx, readOnly)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	meter, err := findMachineMeter(ctx, tx, tenantID, machineID)
	if trust.ErrorCode(err) == trust.ENOTFOUND {
		return nil
	} else if err != nil {
		return err
	}
	return suspended(meter)
}

// suspended reports a suspended Machine as EFORBIDDEN, with the reason.
func suspended(meter *trust.MachineMeter) error {
	if meter != nil && meter.SuspendedAt != nil {
		return trust.Errorf(trust.EFORBIDDEN, "machine suspended: %s", meter.Reason)
	}
	return nil
}

// GrantCredits adds credits once per idempotency key.
func (m *Meter) GrantCredits(ctx context.Context, svc trust.ServiceStore, tenantID string, amount int64, key string) (*trust.CreditAccount, error) {
	s, err := serviceHandle(svc)
	if err != nil {
		return nil, err
	} else if amount <= 0 || amount > trust.MaxCreditGrant {
		return nil, trust.Errorf(trust.EINVALID, "amount must be between 1 and %d", int64(trust.MaxCreditGrant))
	} else if !grantKeyPattern.MatchString(key) {
		return nil, trust.Errorf(trust.EINVALID, "invalid idempotency key: use letters, digits, '.', '_', ':' and '-' (at most 128)")
	}
	tx, err := s.begin(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	if _, err := findTenantByID(ctx, tx, tenantID); err != nil {
		return nil, err
	}
	var prev int64
	switch err := tx.QueryRowContext(ctx, `SELECT amount FROM credit_grants WHERE tenant_id = ? AND idempotency_key = ?`, tenantID, key).Scan(&prev); {
	case err == nil && prev != amount:
		return nil, trust.Errorf(trust.ECONFLICT, "idempotency key already used for another amount")
	case err == nil:
		return findCreditAccount(ctx, tx, tenantID)
	case !isNotFound(err):
		return nil, fmt.Errorf("find credit grant: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO credit_grants (tenant_id, idempotency_key, amount, created_at) VALUES (?, ?, ?, ?)`,
		tenantID, key, amount, formatTime(tx.now)); err != nil {
		return nil, fmt.Errorf("insert credit grant: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `
		INSERT INTO credit_accounts (tenant_id, balance, updated_at) VALUES (?, ?, ?)
		ON CONFLICT (tenant_id) DO UPDATE SET balance = balance + excluded.balance, updated_at = excluded.updated_at`,
		tenantID, amount, formatTime(tx.now)); err != nil {
		return nil, fmt.Errorf("credit tenant %s: %w", tenantID, err)
	}
	if err := insertAuditEvent(ctx, tx, tenantID, &trust.AuditEvent{Actor: trust.PrincipalService, Action: "credits.grant", Detail: fmt.Sprintf("amount=%d", amount)}); err != nil {
		return nil, err
	}
	acct, err := findCreditAccount(ctx, tx, tenantID)
	if err != nil {
		return nil, err
	}
	return acct, tx.Commit()
}

// FindCreditAccount returns a tenant's balance.
func (m *Meter) FindCreditAccount(ctx context.Context, svc trust.ServiceStore, tenantID string) (*trust.CreditAccount, error) {
	s, err := serviceHandle(svc)
	if err != nil {
		return nil, err
	}
	tx, err := s.begin(ctx, readOnly)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	if _, err := findTenantByID(ctx, tx, tenantID); err != nil {
		return nil, err
	}
	return findCreditAccount(ctx, tx, tenantID)
}

// FindMachineMeter returns a Machine's metering state.
func (m *Meter) FindMachineMeter(ctx context.Context, svc trust.ServiceStore, tenantID, machineID string) (*trust.MachineMeter, error) {
	s, err := serviceHandle(svc)
	if err != nil {
		return nil, err
	}
	tx, err := s.begin(ctx, readOnly)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	return findMachineMeter(ctx, tx, tenantID, machineID)
}

// UnsuspendMachine clears a suspension and resets the baseline to the floor.
func (m *Meter) UnsuspendMachine(ctx context.Context, svc trust.ServiceStore, tenantID, machineID string) error {
	s, err := serviceHandle(svc)
	if err != nil {
		return err
	}
	tx, err := s.begin(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `UPDATE machine_meters SET suspended_at = NULL, suspend_reason = '', baseline = ?, reports = 0 WHERE tenant_id = ? AND machine_id = ?`,
		m.BaselineFloor, tenantID, machineID)
	if err != nil {
		return fmt.Errorf("unsuspend machine %s: %w", machineID, err)
	} else if n, _ := res.RowsAffected(); n == 0 {
		return errNotFound("machine has no meter")
	}
	if err := insertAuditEvent(ctx, tx, tenantID, &trust.AuditEvent{Actor: trust.PrincipalService, Action: "machine.unsuspend", Target: "machine:" + machineID}); err != nil {
		return err
	}
	return tx.Commit()
}

// balance returns a tenant's credits; zero without an account.
func balance(ctx context.Context, tx *Tx, tenantID string) (int64, error) {
	acct, err := findCreditAccount(ctx, tx, tenantID)
	if err != nil {
		return 0, err
	}
	return acct.Balance, nil
}

// findCreditAccount returns a tenant's account, zero without one.
func findCreditAccount(ctx context.Context, tx *Tx, tenantID string) (*trust.CreditAccount, error) {
	acct := &trust.CreditAccount{TenantID: tenantID}
	err := tx.QueryRowContext(ctx, `SELECT balance, updated_at FROM credit_accounts WHERE tenant_id = ?`, tenantID).Scan(&acct.Balance, timeScanner{&acct.UpdatedAt})
	if err != nil && !isNotFound(err) {
		return nil, fmt.Errorf("find credit account: %w", err)
	}
	return acct, nil
}

// findMachineMeter returns a Machine's meter. ENOTFOUND if it has none.
func findMachineMeter(ctx context.Context, tx *Tx, tenantID, machineID string) (*trust.MachineMeter, error) {
	mm := &trust.MachineMeter{TenantID: tenantID, MachineID: machineID}
	err := tx.QueryRowContext(ctx, `SELECT baseline, reports, suspended_at, suspend_reason FROM machine_meters WHERE tenant_id = ? AND machine_id = ?`,
		tenantID, machineID).Scan(&mm.Baseline, &mm.Reports, nullTimeScanner{&mm.SuspendedAt}, &mm.Reason)
	if isNotFound(err) {
		return nil, errNotFound("machine has no meter")
	} else if err != nil {
		return nil, fmt.Errorf("find machine meter: %w", err)
	}
	return mm, nil
}

// logger returns the configured logger or the default one.
func (m *Meter) logger() *slog.Logger {
	if m.Logger == nil {
		return slog.Default()
	}
	return m.Logger
}
