package sqlite

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/crypto/ssh"

	"github.com/openagents/trust/shared/seal"
	"github.com/openagents/trust/shared/trust"
)

// SSH credentials, grants and attempts (docs/ssh.md), reached through a
// tenant handle: every statement has "tenant_id = ?" bound from the handle.
// The private key is generated here, sealed at once with a context naming
// tenant, agent and credential, and opened only by UnsealSSHKey, for a
// Machine, against a grant a user issued. Errors and audit events never
// carry key material or grant tokens.

var _ trust.SSHStore = (*SSHStore)(nil)

// purposeSSHKey is the sealed-context purpose of an SSH private key.
const purposeSSHKey = "ssh-private-key"

// sshKeyAD is the sealed context of a credential's private key.
func sshKeyAD(tenantID, agentID, credentialID string) []byte {
	return seal.Context(purposeSSHKey, tenantID, agentID, credentialID)
}

// SSHStore implements trust.SSHStore on the catalog.
type SSHStore struct {
	sealer *seal.Sealer

	// GrantTTL is how long a grant lasts (trust.DefaultSSHGrantTTL).
	GrantTTL time.Duration
}

// NewSSHStore returns the store; a nil sealer answers creating and unsealing
// EUNAVAILABLE.
func NewSSHStore(sealer *seal.Sealer) *SSHStore {
	return &SSHStore{sealer: sealer, GrantTTL: trust.DefaultSSHGrantTTL}
}

// sshCredentialColumns are the columns scanSSHCredential reads, in order.
const sshCredentialColumns = `id, tenant_id, agent_id, host, port, username, host_key, public_key, allow_list, deny_list, created_by, created_at`

// CreateSSHCredential generates and seals a key pair for one of the tenant's
// agent instances (see trust.SSHStore).
func (st *SSHStore) CreateSSHCredential(ctx context.Context, ts trust.TenantStore, c *trust.SSHCredentialCreate) (*trust.SSHCredential, error) {
	s, err := tenantHandle(ts)
	if err != nil {
		return nil, err
	} else if s.principal.Kind == trust.PrincipalMachine {
		return nil, trust.Errorf(trust.EFORBIDDEN, "machines cannot create ssh credentials")
	} else if c == nil {
		return nil, trust.Errorf(trust.EINVALID, "ssh credential required")
	} else if err := c.Validate(); err != nil {
		return nil, err
	}
	hostKey, _, _, rest, err := ssh.ParseAuthorizedKey([]byte(c.Target.HostKey))
	if err != nil || len(strings.TrimSpace(string(rest))) > 0 {
		return nil, trust.Errorf(trust.EINVALID, "host_key: want one public key in authorized_keys format")
	} else if st.sealer == nil {
		return nil, errNoSSHSealer()
	}
	tx, err := s.begin(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	tenantID := s.principal.TenantID
	if _, err := findAgentInstanceByID(ctx, tx, tenantID, c.AgentID); err != nil {
		return nil, err
	}
	id, err := newID(trust.SSHCredentialIDPrefix)
	if err != nil {
		return nil, err
	}
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate ssh key: %w", err)
	}
	defer clear(priv)
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		return nil, fmt.Errorf("encode ssh key: %w", err)
	}
	privPEM := pem.EncodeToMemory(block)
	defer clear(privPEM)
	clear(block.Bytes)
	sealed, err := st.sealer.Seal(ctx, privPEM, sshKeyAD(tenantID, c.AgentID, id))
	if err != nil {
		return nil, fmt.Errorf("seal ssh key %s: %w", id, err)
	}
	sshPub, err := ssh.NewPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("encode ssh public key: %w", err)
	}
	out := &trust.SSHCredential{
		ID: id, TenantID: tenantID, AgentID: c.AgentID,
		Target: trust.SSHTarget{Host: c.Target.Host, Port: c.Target.Port, User: c.Target.User,
			HostKey: strings.TrimSpace(string(ssh.MarshalAuthorizedKey(hostKey)))},
		Policy:    trust.SSHPolicy{Allow: nonNil(c.Policy.Allow), Deny: nonNil(c.Policy.Deny)},
		PublicKey: strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sshPub))) + " openagents-" + id,
		CreatedBy: s.principal.Actor(), CreatedAt: tx.now,
	}
	allow, _ := json.Marshal(out.Policy.Allow)
	deny, _ := json.Marshal(out.Policy.Deny)
	if _, err := tx.ExecContext(ctx, `INSERT INTO ssh_credentials (id, tenant_id, agent_id, host, port, username, host_key, public_key, allow_list, deny_list, sealed_key, kek_id, created_by, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		id, tenantID, out.AgentID, out.Target.Host, out.Target.Port, out.Target.User, out.Target.HostKey, out.PublicKey,
		string(allow), string(deny), sealed, st.sealer.KEK.ID(), out.CreatedBy, formatTime(tx.now)); err != nil {
		return nil, fmt.Errorf("insert ssh credential: %w", err)
	}
	if err := insertAuditEvent(ctx, tx, tenantID, &trust.AuditEvent{Actor: out.CreatedBy, Action: "ssh_credential.create", Target: id}); err != nil {
		return nil, err
	}
	return out, tx.Commit()
}

// FindSSHCredentialByID returns one of the tenant's credentials that stands.
func (st *SSHStore) FindSSHCredentialByID(ctx context.Context, ts trust.TenantStore, id string) (*trust.SSHCredential, error) {
	s, err := tenantHandle(ts)
	if err != nil {
		return nil, err
	}
	tx, err := s.begin(ctx, readOnly)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	return findSSHCredential(ctx, tx, s.principal.TenantID, id)
}

// FindSSHCredentials returns the tenant's standing credentials, oldest first.
func (st *SSHStore) FindSSHCredentials(ctx context.Context, ts trust.TenantStore) ([]*trust.SSHCredential, error) {
	s, err := tenantHandle(ts)
	if err != nil {
		return nil, err
	}
	tx, err := s.begin(ctx, readOnly)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	return querySSHCredentials(ctx, tx, `SELECT `+sshCredentialColumns+` FROM ssh_credentials WHERE tenant_id = ? AND revoked_at IS NULL ORDER BY seq`, s.principal.TenantID)
}

// RevokeSSHCredential deletes the sealed key and the open grants at once.
func (st *SSHStore) RevokeSSHCredential(ctx context.Context, ts trust.TenantStore, id string) error {
	s, err := tenantHandle(ts)
	if err != nil {
		return err
	} else if s.principal.Kind == trust.PrincipalMachine {
		return trust.Errorf(trust.EFORBIDDEN, "machines cannot revoke ssh credentials")
	}
	tx, err := s.begin(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	// Overwrite freed pages, so the sealed blob does not linger in the file.
	if _, err := tx.ExecContext(ctx, `PRAGMA secure_delete = ON`); err != nil {
		return fmt.Errorf("revoke ssh credential: %w", err)
	}
	tenantID := s.principal.TenantID
	res, err := tx.ExecContext(ctx, `UPDATE ssh_credentials SET sealed_key = NULL, kek_id = NULL, revoked_at = ? WHERE tenant_id = ? AND id = ? AND revoked_at IS NULL`,
		formatTime(tx.now), tenantID, id)
	if err != nil {
		return fmt.Errorf("revoke ssh credential: %w", err)
	} else if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("revoke ssh credential: %w", err)
	} else if n == 0 {
		return errNotFound("ssh credential not found")
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM ssh_grants WHERE tenant_id = ? AND credential_id = ?`, tenantID, id); err != nil {
		return fmt.Errorf("delete ssh grants: %w", err)
	}
	if err := insertAuditEvent(ctx, tx, tenantID, &trust.AuditEvent{Actor: s.principal.Actor(), Action: "ssh_credential.revoke", Target: id}); err != nil {
		return err
	}
	return tx.Commit()
}

// CreateSSHGrant issues a single-use unseal grant (user sessions only).
func (st *SSHStore) CreateSSHGrant(ctx context.Context, ts trust.TenantStore, id string) (*trust.SSHGrant, error) {
	s, err := tenantHandle(ts)
	if err != nil {
		return nil, err
	} else if s.principal.Kind != trust.PrincipalUser {
		return nil, trust.Errorf(trust.EFORBIDDEN, "only a user session can grant access to an ssh key")
	}
	tx, err := s.begin(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	tenantID := s.principal.TenantID
	c, err := findSSHCredential(ctx, tx, tenantID, id)
	if err != nil {
		return nil, err
	}
	token, err := newToken(trust.SSHGrantPrefix)
	if err != nil {
		return nil, err
	}
	ttl := st.GrantTTL
	if ttl <= 0 {
		ttl = trust.DefaultSSHGrantTTL
	}
	g := &trust.SSHGrant{Token: token, CredentialID: c.ID, AgentID: c.AgentID, ExpiresAt: tx.now.Add(ttl)}
	if _, err := tx.ExecContext(ctx, `INSERT INTO ssh_grants (token_hash, tenant_id, credential_id, agent_id, created_by, expires_at) VALUES (?, ?, ?, ?, ?, ?)`,
		hashToken(token), tenantID, c.ID, c.AgentID, s.principal.Actor(), formatTime(g.ExpiresAt)); err != nil {
		return nil, fmt.Errorf("insert ssh grant: %w", err)
	}
	if err := insertAuditEvent(ctx, tx, tenantID, &trust.AuditEvent{Actor: s.principal.Actor(), Action: "ssh_credential.grant", Target: c.ID}); err != nil {
		return nil, err
	}
	return g, tx.Commit()
}

// UnsealSSHKey spends a grant and returns the private key (Machines only).
func (st *SSHStore) UnsealSSHKey(ctx context.Context, ts trust.TenantStore, id, agentID, grant string) (*trust.SSHKey, error) {
	s, err := tenantHandle(ts)
	if err != nil {
		return nil, err
	} else if s.principal.Kind != trust.PrincipalMachine {
		return nil, trust.Errorf(trust.EFORBIDDEN, "only a machine can fetch an ssh key")
	} else if st.sealer == nil {
		return nil, errNoSSHSealer()
	}
	badGrant := trust.Errorf(trust.EUNAUTHORIZED, "invalid, spent or expired ssh grant")
	if !wellFormedToken(grant, trust.SSHGrantPrefix) {
		return nil, badGrant
	}
	tx, err := s.begin(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	tenantID := s.principal.TenantID
	// Spend the grant first: whatever follows, it is used.
	res, err := tx.ExecContext(ctx, `UPDATE ssh_grants SET used_at = ? WHERE token_hash = ? AND tenant_id = ? AND credential_id = ? AND agent_id = ? AND used_at IS NULL AND expires_at > ?`,
		formatTime(tx.now), hashToken(grant), tenantID, id, agentID, formatTime(tx.now))
	if err != nil {
		return nil, fmt.Errorf("spend ssh grant: %w", err)
	} else if n, err := res.RowsAffected(); err != nil {
		return nil, fmt.Errorf("spend ssh grant: %w", err)
	} else if n == 0 {
		return nil, badGrant
	}
	c, err := findSSHCredential(ctx, tx, tenantID, id)
	if err != nil {
		return nil, err
	}
	var sealed []byte
	if err := tx.QueryRowContext(ctx, `SELECT sealed_key FROM ssh_credentials WHERE tenant_id = ? AND id = ? AND revoked_at IS NULL`, tenantID, id).Scan(&sealed); err != nil {
		return nil, fmt.Errorf("load sealed ssh key %s: %w", id, err)
	}
	key, err := st.sealer.Open(ctx, sealed, sshKeyAD(tenantID, c.AgentID, c.ID))
	if err != nil {
		return nil, fmt.Errorf("open ssh key %s: %w", id, err)
	}
	defer clear(key)
	if err := insertAuditEvent(ctx, tx, tenantID, &trust.AuditEvent{Actor: s.principal.Actor(), Action: "ssh_credential.unseal", Target: c.ID}); err != nil {
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, err
	}
	return &trust.SSHKey{Credential: c, PrivateKey: string(key)}, nil
}

// CreateSSHAttempt records an attempt (Machines and the service only).
func (st *SSHStore) CreateSSHAttempt(ctx context.Context, ts trust.TenantStore, a *trust.SSHAttempt) (*trust.SSHAttempt, error) {
	s, err := tenantHandle(ts)
	if err != nil {
		return nil, err
	} else if s.principal.Kind == trust.PrincipalUser {
		return nil, trust.Errorf(trust.EFORBIDDEN, "only a machine records ssh attempts")
	} else if a == nil {
		return nil, trust.Errorf(trust.EINVALID, "ssh attempt required")
	} else if err := a.Validate(); err != nil {
		return nil, err
	}
	tx, err := s.begin(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	tenantID := s.principal.TenantID
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM ssh_credentials WHERE tenant_id = ? AND id = ?`, tenantID, a.CredentialID).Scan(&n); err != nil {
		return nil, fmt.Errorf("find ssh credential: %w", err)
	} else if n == 0 {
		return nil, errNotFound("ssh credential not found")
	}
	id, err := newID("ssa_")
	if err != nil {
		return nil, err
	}
	out := *a
	out.ID, out.TenantID, out.Actor, out.At = id, tenantID, s.principal.Actor(), tx.now
	out.Output, out.Truncated = truncateUTF8(a.Output, trust.MaxSSHAuditOutput, a.Truncated)
	if _, err := tx.ExecContext(ctx, `INSERT INTO ssh_attempts (id, tenant_id, credential_id, actor, at, command, decision, reason, exit_code, output, truncated)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		out.ID, tenantID, out.CredentialID, out.Actor, formatTime(out.At), out.Command, out.Decision, out.Reason, out.ExitCode, out.Output, out.Truncated); err != nil {
		return nil, fmt.Errorf("insert ssh attempt: %w", err)
	}
	return &out, tx.Commit()
}

// FindSSHAttempts returns the tenant's attempts, oldest first.
func (st *SSHStore) FindSSHAttempts(ctx context.Context, ts trust.TenantStore, f trust.SSHAttemptFilter) ([]*trust.SSHAttempt, error) {
	s, err := tenantHandle(ts)
	if err != nil {
		return nil, err
	}
	limit, err := trust.CheckPage(f.Limit, f.Offset)
	if err != nil {
		return nil, err
	}
	tx, err := s.begin(ctx, readOnly)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, `SELECT id, tenant_id, credential_id, actor, at, command, decision, reason, exit_code, output, truncated
		FROM ssh_attempts WHERE tenant_id = ? AND (? = '' OR credential_id = ?) ORDER BY seq`+order(f.Newest)+` LIMIT ? OFFSET ?`,
		s.principal.TenantID, f.CredentialID, f.CredentialID, limit, f.Offset)
	if err != nil {
		return nil, fmt.Errorf("find ssh attempts: %w", err)
	}
	defer rows.Close()
	out := []*trust.SSHAttempt{}
	for rows.Next() {
		var a trust.SSHAttempt
		var code sql.NullInt64
		if err := rows.Scan(&a.ID, &a.TenantID, &a.CredentialID, &a.Actor, timeScanner{&a.At}, &a.Command, &a.Decision, &a.Reason, &code, &a.Output, &a.Truncated); err != nil {
			return nil, fmt.Errorf("scan ssh attempt: %w", err)
		}
		if code.Valid {
			c := int(code.Int64)
			a.ExitCode = &c
		}
		out = append(out, &a)
	}
	return out, rows.Err()
}

// PurgeSSHAttempts deletes attempts of every tenant older than before.
func (st *SSHStore) PurgeSSHAttempts(ctx context.Context, svc trust.ServiceStore, before time.Time) (int64, error) {
	s, err := serviceHandle(svc)
	if err != nil {
		return 0, err
	}
	tx, err := s.begin(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `DELETE FROM ssh_attempts WHERE at < ?`, formatTime(before))
	if err != nil {
		return 0, fmt.Errorf("purge ssh attempts: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("purge ssh attempts: %w", err)
	}
	return n, tx.Commit()
}

// findSSHCredential returns a standing credential of a tenant. ENOTFOUND if
// the tenant has none with that ID, or it was revoked.
func findSSHCredential(ctx context.Context, tx *Tx, tenantID, id string) (*trust.SSHCredential, error) {
	cs, err := querySSHCredentials(ctx, tx, `SELECT `+sshCredentialColumns+` FROM ssh_credentials WHERE tenant_id = ? AND id = ? AND revoked_at IS NULL`, tenantID, id)
	if err != nil {
		return nil, err
	} else if len(cs) == 0 {
		return nil, errNotFound("ssh credential not found")
	}
	return cs[0], nil
}

// querySSHCredentials runs a query selecting sshCredentialColumns.
func querySSHCredentials(ctx context.Context, tx *Tx, query string, args ...any) ([]*trust.SSHCredential, error) {
	rows, err := tx.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("find ssh credentials: %w", err)
	}
	defer rows.Close()
	out := []*trust.SSHCredential{}
	for rows.Next() {
		var c trust.SSHCredential
		var allow, deny string
		if err := rows.Scan(&c.ID, &c.TenantID, &c.AgentID, &c.Target.Host, &c.Target.Port, &c.Target.User, &c.Target.HostKey,
			&c.PublicKey, &allow, &deny, &c.CreatedBy, timeScanner{&c.CreatedAt}); err != nil {
			return nil, fmt.Errorf("scan ssh credential: %w", err)
		}
		if err := json.Unmarshal([]byte(allow), &c.Policy.Allow); err != nil {
			return nil, fmt.Errorf("decode allowlist of %s: %w", c.ID, err)
		} else if err := json.Unmarshal([]byte(deny), &c.Policy.Deny); err != nil {
			return nil, fmt.Errorf("decode denylist of %s: %w", c.ID, err)
		}
		out = append(out, &c)
	}
	return out, rows.Err()
}

// truncateUTF8 cuts s to at most n bytes on a character boundary.
func truncateUTF8(s string, n int, truncated bool) (string, bool) {
	if len(s) <= n {
		return s, truncated
	}
	s = s[:n]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s, true
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// errNoSSHSealer answers a node without a key-encryption key.
func errNoSSHSealer() error {
	return trust.Errorf(trust.EUNAVAILABLE, "no key-encryption key configured on this node: ssh credentials unavailable")
}
