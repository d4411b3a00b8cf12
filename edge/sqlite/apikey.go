package sqlite

import (
	"context"
	"crypto/subtle"
	"database/sql"
	"fmt"
	"strconv"
	"time"

	"github.com/openagents/trust/shared/seal"
	"github.com/openagents/trust/shared/trust"
)

// API keys: the platform's key versions (service role) and tenants' own keys
// (through a tenant handle). Keys are sealed with shared/seal before they
// reach a statement; the sealed context names the row (purpose, tenant,
// provider, version), so a blob copied into another row does not open.
// Errors never carry a key: they name the provider and version only.

// Ensure the types implement the domain interfaces.
var (
	_ trust.APIKeyService = (*APIKeyService)(nil)
	_ trust.UserKeyStore  = (*UserKeyStore)(nil)
)

// Sealed-context purposes.
const (
	purposePlatformKey = "platform-api-key"
	purposeUserKey     = "user-api-key"
)

// platformKeyAD is the sealed context of a platform key version.
func platformKeyAD(provider string, version int) []byte {
	return seal.Context(purposePlatformKey, provider, strconv.Itoa(version))
}

// userKeyAD is the sealed context of a tenant's key.
func userKeyAD(tenantID, provider string, version int) []byte {
	return seal.Context(purposeUserKey, tenantID, provider, strconv.Itoa(version))
}

// APIKeyService manages platform key versions (trust.APIKeyService).
type APIKeyService struct {
	db     *DB
	sealer *seal.Sealer
}

// NewAPIKeyService returns the service; a nil sealer makes every method
// that seals or unseals answer EUNAVAILABLE.
func NewAPIKeyService(db *DB, sealer *seal.Sealer) *APIKeyService {
	return &APIKeyService{db: db, sealer: sealer}
}

// errNoSealer answers a node without a key-encryption key.
func errNoSealer() error {
	return trust.Errorf(trust.EUNAVAILABLE, "no key-encryption key configured on this node")
}

// apiKeyColumns are the columns scanAPIKeyVersion reads, in order.
const apiKeyColumns = `provider, version, state, period, kek_id, created_at, activated_at, retire_after, retired_at`

// CreateAPIKeyVersion seals and stores the next version of a provider's key
// and makes it active (see trust.APIKeyService).
func (s *APIKeyService) CreateAPIKeyVersion(ctx context.Context, c *trust.APIKeyVersionCreate) (*trust.APIKeyVersion, bool, error) {
	if c == nil {
		return nil, false, trust.Errorf(trust.EINVALID, "key version required")
	} else if err := c.Validate(); err != nil {
		return nil, false, err
	} else if s.sealer == nil {
		return nil, false, errNoSealer()
	}
	overlap := c.Overlap
	if overlap == 0 {
		overlap = trust.DefaultAPIKeyOverlap
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, false, err
	}
	defer tx.Rollback()

	if c.Period != "" {
		v, err := findAPIKeyVersion(ctx, tx, `provider = ? AND period = ?`, c.Provider, c.Period)
		if err == nil {
			return v, false, nil
		} else if trust.ErrorCode(err) != trust.ENOTFOUND {
			return nil, false, err
		}
	}
	v, err := s.insertActiveVersion(ctx, tx, c.Provider, c.Period, c.Key, overlap)
	if err != nil {
		return nil, false, err
	}
	return v, true, tx.Commit()
}

// insertActiveVersion seals key as the provider's next version, makes it
// active and demotes the active version to previous with its overlap window.
func (s *APIKeyService) insertActiveVersion(ctx context.Context, tx *Tx, provider, period, key string, overlap time.Duration) (*trust.APIKeyVersion, error) {
	var version int
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) + 1 FROM api_key_versions WHERE provider = ?`, provider).Scan(&version); err != nil {
		return nil, fmt.Errorf("next %s key version: %w", provider, err)
	}
	sealed, err := s.sealer.Seal(ctx, []byte(key), platformKeyAD(provider, version))
	if err != nil {
		return nil, fmt.Errorf("seal %s key version %d: %w", provider, version, err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE api_key_versions SET state = 'previous', retire_after = ? WHERE provider = ? AND state = 'active'`,
		formatTime(tx.now.Add(overlap)), provider); err != nil {
		return nil, fmt.Errorf("demote active %s key version: %w", provider, err)
	}
	v := &trust.APIKeyVersion{Provider: provider, Version: version, State: trust.APIKeyActive, Period: period,
		KEKID: s.sealer.KEK.ID(), CreatedAt: tx.now, ActivatedAt: tx.now}
	if _, err := tx.ExecContext(ctx, `INSERT INTO api_key_versions (provider, version, state, period, sealed_key, kek_id, created_at, activated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		v.Provider, v.Version, v.State, nullString(v.Period), sealed, v.KEKID, formatTime(tx.now), formatTime(tx.now)); err != nil {
		return nil, fmt.Errorf("insert %s key version %d: %w", provider, version, err)
	}
	return v, nil
}

// stagedKeyAD is the sealed context of a provider's staged key: no version
// is "staged", so a staged blob never opens as a version and vice versa.
func stagedKeyAD(provider string) []byte {
	return seal.Context(purposePlatformKey, provider, "staged")
}

// StageAPIKey seals and stores the provider's staged key, replacing any
// earlier one (see trust.APIKeyService).
func (s *APIKeyService) StageAPIKey(ctx context.Context, st *trust.APIKeyStage) (*trust.StagedAPIKey, error) {
	if st == nil {
		return nil, trust.Errorf(trust.EINVALID, "staged key required")
	} else if err := st.Validate(); err != nil {
		return nil, err
	} else if s.sealer == nil {
		return nil, errNoSealer()
	}
	sealed, err := s.sealer.Seal(ctx, []byte(st.Key), stagedKeyAD(st.Provider))
	if err != nil {
		return nil, fmt.Errorf("seal staged %s key: %w", st.Provider, err)
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	if same, err := s.isActiveKey(ctx, tx, st.Provider, []byte(st.Key)); err != nil {
		return nil, err
	} else if same {
		return nil, errStagedIsActive(st.Provider)
	}
	out := &trust.StagedAPIKey{Provider: st.Provider, Fingerprint: trust.APIKeyFingerprint(st.Key), KEKID: s.sealer.KEK.ID(),
		StagedBy: st.StagedBy, StagedAt: tx.now}
	if _, err := tx.ExecContext(ctx, `
		INSERT INTO api_key_staged (provider, sealed_key, kek_id, fingerprint, staged_by, staged_at) VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (provider) DO UPDATE SET sealed_key = excluded.sealed_key, kek_id = excluded.kek_id,
			fingerprint = excluded.fingerprint, staged_by = excluded.staged_by, staged_at = excluded.staged_at`,
		out.Provider, sealed, out.KEKID, out.Fingerprint, out.StagedBy, formatTime(tx.now)); err != nil {
		return nil, fmt.Errorf("store staged %s key: %w", st.Provider, err)
	}
	return out, tx.Commit()
}

// FindStagedAPIKey returns the provider's staged key record, without the key.
func (s *APIKeyService) FindStagedAPIKey(ctx context.Context, provider string) (*trust.StagedAPIKey, error) {
	if err := trust.ValidProvider(provider); err != nil {
		return nil, err
	}
	tx, err := s.db.BeginTx(ctx, readOnly)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	out := trust.StagedAPIKey{Provider: provider}
	err = tx.QueryRowContext(ctx, `SELECT kek_id, fingerprint, staged_by, staged_at FROM api_key_staged WHERE provider = ?`, provider).
		Scan(&out.KEKID, &out.Fingerprint, &out.StagedBy, timeScanner{&out.StagedAt})
	if isNotFound(err) {
		return nil, errNotFound("no staged %s key", provider)
	} else if err != nil {
		return nil, fmt.Errorf("find staged %s key: %w", provider, err)
	}
	return &out, nil
}

// errStagedIsActive answers a staged key that is the active key already:
// promoting it would make the operator revoke the live key after the overlap.
func errStagedIsActive(provider string) error {
	return trust.Errorf(trust.ECONFLICT, "the staged %s key is the active key: stage a new key", provider)
}

// isActiveKey reports whether key is the provider's active key (false when
// there is none). A blob that does not open is an internal error.
func (s *APIKeyService) isActiveKey(ctx context.Context, tx *Tx, provider string, key []byte) (bool, error) {
	var version int
	var sealed []byte
	err := tx.QueryRowContext(ctx, `SELECT version, sealed_key FROM api_key_versions WHERE provider = ? AND state = 'active'`, provider).Scan(&version, &sealed)
	if isNotFound(err) {
		return false, nil
	} else if err != nil {
		return false, fmt.Errorf("find active %s key version: %w", provider, err)
	}
	active, err := s.sealer.Open(ctx, sealed, platformKeyAD(provider, version))
	if err != nil {
		return false, fmt.Errorf("unseal %s key version %d: %w", provider, version, err)
	}
	defer clear(active)
	return subtle.ConstantTimeCompare(active, key) == 1, nil
}

// errNoStagedKey answers a rotation with nothing staged.
func errNoStagedKey(provider string) error {
	return trust.Errorf(trust.ECONFLICT, "no staged key for %s: stage the next key first", provider)
}

// PromoteStagedAPIKey turns the staged key into the period's active version
// in one transaction (see trust.APIKeyService).
func (s *APIKeyService) PromoteStagedAPIKey(ctx context.Context, p *trust.APIKeyPromote) (*trust.APIKeyVersion, bool, error) {
	if p == nil {
		return nil, false, trust.Errorf(trust.EINVALID, "promotion required")
	} else if err := p.Validate(); err != nil {
		return nil, false, err
	} else if s.sealer == nil {
		return nil, false, errNoSealer()
	}
	overlap := p.Overlap
	if overlap == 0 {
		overlap = trust.DefaultAPIKeyOverlap
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, false, err
	}
	defer tx.Rollback()

	v, err := findAPIKeyVersion(ctx, tx, `provider = ? AND period = ?`, p.Provider, p.Period)
	if err == nil {
		return v, false, nil
	} else if trust.ErrorCode(err) != trust.ENOTFOUND {
		return nil, false, err
	}
	var sealed []byte
	err = tx.QueryRowContext(ctx, `SELECT sealed_key FROM api_key_staged WHERE provider = ?`, p.Provider).Scan(&sealed)
	if isNotFound(err) {
		return nil, false, errNoStagedKey(p.Provider)
	} else if err != nil {
		return nil, false, fmt.Errorf("find staged %s key: %w", p.Provider, err)
	}
	key, err := s.sealer.Open(ctx, sealed, stagedKeyAD(p.Provider))
	if err != nil {
		return nil, false, fmt.Errorf("unseal staged %s key: %w", p.Provider, err)
	}
	defer clear(key)
	if same, err := s.isActiveKey(ctx, tx, p.Provider, key); err != nil {
		return nil, false, err
	} else if same {
		return nil, false, errStagedIsActive(p.Provider)
	}
	v, err = s.insertActiveVersion(ctx, tx, p.Provider, p.Period, string(key), overlap)
	if err != nil {
		return nil, false, err
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM api_key_staged WHERE provider = ?`, p.Provider); err != nil {
		return nil, false, fmt.Errorf("delete staged %s key: %w", p.Provider, err)
	}
	return v, true, tx.Commit()
}

// FindAPIKeyVersions returns a provider's versions, newest first.
func (s *APIKeyService) FindAPIKeyVersions(ctx context.Context, provider string) ([]*trust.APIKeyVersion, error) {
	if err := trust.ValidProvider(provider); err != nil {
		return nil, err
	}
	tx, err := s.db.BeginTx(ctx, readOnly)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	return queryAPIKeyVersions(ctx, tx, `SELECT `+apiKeyColumns+` FROM api_key_versions WHERE provider = ? ORDER BY version DESC`, provider)
}

// FindCurrentAPIKeyVersion returns the active version. ENOTFOUND if none.
func (s *APIKeyService) FindCurrentAPIKeyVersion(ctx context.Context, provider string) (*trust.APIKeyVersion, error) {
	if err := trust.ValidProvider(provider); err != nil {
		return nil, err
	}
	tx, err := s.db.BeginTx(ctx, readOnly)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	return findAPIKeyVersion(ctx, tx, `provider = ? AND state = 'active'`, provider)
}

// RetireAPIKeyVersions retires previous versions whose window has passed.
func (s *APIKeyService) RetireAPIKeyVersions(ctx context.Context, provider string) ([]*trust.APIKeyVersion, error) {
	if err := trust.ValidProvider(provider); err != nil {
		return nil, err
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	due, err := queryAPIKeyVersions(ctx, tx, `SELECT `+apiKeyColumns+` FROM api_key_versions WHERE provider = ? AND state = 'previous' AND retire_after <= ? ORDER BY version`,
		provider, formatTime(tx.now))
	if err != nil {
		return nil, err
	}
	for _, v := range due {
		if _, err := tx.ExecContext(ctx, `UPDATE api_key_versions SET state = 'retired', retired_at = ? WHERE provider = ? AND version = ?`,
			formatTime(tx.now), provider, v.Version); err != nil {
			return nil, fmt.Errorf("retire %s key version %d: %w", provider, v.Version, err)
		}
		now := tx.now
		v.State, v.RetiredAt = trust.APIKeyRetired, &now
	}
	return due, tx.Commit()
}

// UnsealCurrentKey returns the active version and its raw key.
func (s *APIKeyService) UnsealCurrentKey(ctx context.Context, provider string) (int, string, error) {
	if err := trust.ValidProvider(provider); err != nil {
		return 0, "", err
	} else if s.sealer == nil {
		return 0, "", errNoSealer()
	}
	tx, err := s.db.BeginTx(ctx, readOnly)
	if err != nil {
		return 0, "", err
	}
	defer tx.Rollback()
	var version int
	var sealed []byte
	err = tx.QueryRowContext(ctx, `SELECT version, sealed_key FROM api_key_versions WHERE provider = ? AND state = 'active'`, provider).Scan(&version, &sealed)
	if isNotFound(err) {
		return 0, "", errNotFound("no active %s key version", provider)
	} else if err != nil {
		return 0, "", fmt.Errorf("find active %s key version: %w", provider, err)
	}
	key, err := s.sealer.Open(ctx, sealed, platformKeyAD(provider, version))
	if err != nil {
		return 0, "", fmt.Errorf("unseal %s key version %d: %w", provider, version, err)
	}
	return version, string(key), nil
}

// findAPIKeyVersion returns the one version matching where. ENOTFOUND if none.
func findAPIKeyVersion(ctx context.Context, tx *Tx, where string, args ...any) (*trust.APIKeyVersion, error) {
	vs, err := queryAPIKeyVersions(ctx, tx, `SELECT `+apiKeyColumns+` FROM api_key_versions WHERE `+where, args...)
	if err != nil {
		return nil, err
	} else if len(vs) == 0 {
		return nil, errNotFound("key version not found")
	}
	return vs[0], nil
}

// queryAPIKeyVersions runs a query selecting apiKeyColumns.
func queryAPIKeyVersions(ctx context.Context, tx *Tx, query string, args ...any) ([]*trust.APIKeyVersion, error) {
	rows, err := tx.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("find key versions: %w", err)
	}
	defer rows.Close()
	out := []*trust.APIKeyVersion{}
	for rows.Next() {
		var v trust.APIKeyVersion
		var period sql.NullString
		if err := rows.Scan(&v.Provider, &v.Version, &v.State, &period, &v.KEKID, timeScanner{&v.CreatedAt}, timeScanner{&v.ActivatedAt},
			nullTimeScanner{&v.RetireAfter}, nullTimeScanner{&v.RetiredAt}); err != nil {
			return nil, fmt.Errorf("scan key version: %w", err)
		}
		v.Period = period.String
		out = append(out, &v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("find key versions: %w", err)
	}
	return out, nil
}

// nullString stores "" as NULL.
func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// UserKeyStore stores tenants' own keys (trust.UserKeyStore).
type UserKeyStore struct {
	sealer *seal.Sealer
}

// NewUserKeyStore returns the store; a nil sealer answers EUNAVAILABLE.
func NewUserKeyStore(sealer *seal.Sealer) *UserKeyStore { return &UserKeyStore{sealer: sealer} }

// userKeyColumns are the columns scanUserKeys reads, in order.
const userKeyColumns = `tenant_id, provider, version, kek_id, created_by, updated_at`

// PutUserAPIKey seals and stores the handle's tenant's key for a provider.
func (k *UserKeyStore) PutUserAPIKey(ctx context.Context, ts trust.TenantStore, provider, key string) (*trust.UserAPIKey, error) {
	s, err := tenantHandle(ts)
	if err != nil {
		return nil, err
	} else if s.principal.Kind == trust.PrincipalMachine {
		return nil, trust.Errorf(trust.EFORBIDDEN, "machines cannot set API keys")
	} else if err := trust.ValidProvider(provider); err != nil {
		return nil, err
	} else if err := trust.ValidRawKey(key); err != nil {
		return nil, err
	} else if k.sealer == nil {
		return nil, errNoSealer()
	}
	tx, err := s.begin(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	tenantID := s.principal.TenantID
	var version int
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) + 1 FROM user_api_keys WHERE tenant_id = ? AND provider = ?`, tenantID, provider).Scan(&version); err != nil {
		return nil, fmt.Errorf("next user key version: %w", err)
	}
	sealed, err := k.sealer.Seal(ctx, []byte(key), userKeyAD(tenantID, provider, version))
	if err != nil {
		return nil, fmt.Errorf("seal user %s key: %w", provider, err)
	}
	out := &trust.UserAPIKey{TenantID: tenantID, Provider: provider, Version: version, KEKID: k.sealer.KEK.ID(), CreatedBy: s.principal.Actor(), UpdatedAt: tx.now}
	if _, err := tx.ExecContext(ctx, `
		INSERT INTO user_api_keys (tenant_id, provider, version, sealed_key, kek_id, created_by, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (tenant_id, provider) DO UPDATE SET version = excluded.version, sealed_key = excluded.sealed_key,
			kek_id = excluded.kek_id, created_by = excluded.created_by, updated_at = excluded.updated_at, deleted_at = NULL`,
		tenantID, provider, version, sealed, out.KEKID, out.CreatedBy, formatTime(tx.now)); err != nil {
		return nil, fmt.Errorf("store user %s key: %w", provider, err)
	}
	if err := insertAuditEvent(ctx, tx, tenantID, &trust.AuditEvent{Actor: out.CreatedBy, Action: "api_key.user.put", Target: provider}); err != nil {
		return nil, err
	}
	return out, tx.Commit()
}

// FindUserAPIKeys returns the handle's tenant's keys, without secrets.
func (k *UserKeyStore) FindUserAPIKeys(ctx context.Context, ts trust.TenantStore) ([]*trust.UserAPIKey, error) {
	s, err := tenantHandle(ts)
	if err != nil {
		return nil, err
	}
	tx, err := s.begin(ctx, readOnly)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	return queryUserKeys(ctx, tx, `SELECT `+userKeyColumns+` FROM user_api_keys WHERE tenant_id = ? AND deleted_at IS NULL ORDER BY provider`, s.principal.TenantID)
}

// DeleteUserAPIKey removes the tenant's key for a provider.
func (k *UserKeyStore) DeleteUserAPIKey(ctx context.Context, ts trust.TenantStore, provider string) error {
	s, err := tenantHandle(ts)
	if err != nil {
		return err
	} else if s.principal.Kind == trust.PrincipalMachine {
		return trust.Errorf(trust.EFORBIDDEN, "machines cannot delete API keys")
	}
	tx, err := s.begin(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `UPDATE user_api_keys SET sealed_key = NULL, deleted_at = ?, updated_at = ? WHERE tenant_id = ? AND provider = ? AND deleted_at IS NULL`,
		formatTime(tx.now), formatTime(tx.now), s.principal.TenantID, provider)
	if err != nil {
		return fmt.Errorf("delete user %s key: %w", provider, err)
	} else if n, _ := res.RowsAffected(); n == 0 {
		return errNotFound("no key for that provider")
	}
	if err := insertAuditEvent(ctx, tx, s.principal.TenantID, &trust.AuditEvent{Actor: s.principal.Actor(), Action: "api_key.user.delete", Target: provider}); err != nil {
		return err
	}
	return tx.Commit()
}

// UnsealUserKey returns a tenant's raw key. Service role only.
func (k *UserKeyStore) UnsealUserKey(ctx context.Context, svc trust.ServiceStore, tenantID, provider string) (*trust.UserAPIKey, string, error) {
	s, err := serviceHandle(svc)
	if err != nil {
		return nil, "", err
	} else if err := trust.ValidProvider(provider); err != nil {
		return nil, "", err
	} else if k.sealer == nil {
		return nil, "", errNoSealer()
	}
	tx, err := s.begin(ctx, readOnly)
	if err != nil {
		return nil, "", err
	}
	defer tx.Rollback()
	var sealed []byte
	u := trust.UserAPIKey{TenantID: tenantID, Provider: provider}
	err = tx.QueryRowContext(ctx, `SELECT version, sealed_key, kek_id, created_by, updated_at FROM user_api_keys WHERE tenant_id = ? AND provider = ? AND deleted_at IS NULL`,
		tenantID, provider).Scan(&u.Version, &sealed, &u.KEKID, &u.CreatedBy, timeScanner{&u.UpdatedAt})
	if isNotFound(err) {
		return nil, "", errNotFound("no key for that provider")
	} else if err != nil {
		return nil, "", fmt.Errorf("find user %s key: %w", provider, err)
	}
	raw, err := k.sealer.Open(ctx, sealed, userKeyAD(tenantID, provider, u.Version))
	if err != nil {
		return nil, "", fmt.Errorf("unseal user %s key of tenant %s: %w", provider, tenantID, err)
	}
	return &u, string(raw), nil
}

// queryUserKeys runs a query selecting userKeyColumns.
func queryUserKeys(ctx context.Context, tx *Tx, query string, args ...any) ([]*trust.UserAPIKey, error) {
	rows, err := tx.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("find user keys: %w", err)
	}
	defer rows.Close()
	out := []*trust.UserAPIKey{}
	for rows.Next() {
		var u trust.UserAPIKey
		if err := rows.Scan(&u.TenantID, &u.Provider, &u.Version, &u.KEKID, &u.CreatedBy, timeScanner{&u.UpdatedAt}); err != nil {
			return nil, fmt.Errorf("scan user key: %w", err)
		}
		out = append(out, &u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("find user keys: %w", err)
	}
	return out, nil
}
