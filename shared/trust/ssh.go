package trust

import (
	"context"
	"net"
	"strconv"
	"strings"
	"time"
)

// SSH to the user's machine (docs/ssh.md). A user lets one of their agent
// instances run commands on a machine of theirs over SSH. The edge generates
// the key pair, keeps the private key only sealed (its sealed context names
// the tenant, the agent and the credential), and hands it to a Machine only
// against a short-lived, single-use grant issued by the user's session. The
// Machine-side tool (shared/sshtool) pins the host key, checks every command
// against the credential's allowlist and denylist, rate-limits, asks the edge
// on every request whether the credential still stands, and records every
// attempt, allowed or refused, at the edge.

// Prefixes of SSH identifiers and secrets.
const (
	// SSHCredentialIDPrefix starts a credential ID.
	SSHCredentialIDPrefix = "ssh_"

	// SSHGrantPrefix starts an unseal grant: a bearer secret, shown once.
	SSHGrantPrefix = "oasg_"
)

// DefaultSSHGrantTTL is how long an unseal grant lasts; it is also single-use.
const DefaultSSHGrantTTL = 2 * time.Minute

// SSHAuditRetention is how long SSH attempts are kept before the purge job
// deletes them.
const SSHAuditRetention = 90 * 24 * time.Hour

// MaxSSHAuditOutput bounds the output an attempt records (4 KiB).
const MaxSSHAuditOutput = 4 << 10

// MaxSSHCommand bounds a command's length.
const MaxSSHCommand = 4 << 10

// MaxSSHPolicyEntries bounds each of the allowlist and the denylist.
const MaxSSHPolicyEntries = 200

// Decisions of an SSH attempt.
const (
	SSHAllowed = "allowed"
	SSHRefused = "refused"
)

// SSHTarget is the machine a credential reaches and its pinned host key.
type SSHTarget struct {
	Host string `json:"host"`
	Port int    `json:"port"`
	User string `json:"user"`
	// HostKey is the pinned host public key in authorized_keys format
	// ("ssh-ed25519 AAAA…"); a server presenting any other key is refused.
	HostKey string `json:"host_key"`
}

// Addr returns host:port.
func (t SSHTarget) Addr() string { return net.JoinHostPort(t.Host, strconv.Itoa(t.Port)) }

// SSHPolicy is what commands a credential may run: every simple command of a
// request must match an Allow entry and none may match a Deny entry (deny
// wins). An entry is a command name ("ls") or a name and leading arguments
// ("git status"). An empty allowlist allows nothing.
type SSHPolicy struct {
	Allow []string `json:"allow"`
	Deny  []string `json:"deny"`
}

// SSHCredential is an SSH credential, without its private key.
type SSHCredential struct {
	ID        string    `json:"id"`
	TenantID  string    `json:"tenant_id"`
	AgentID   string    `json:"agent_id"`
	Target    SSHTarget `json:"target"`
	Policy    SSHPolicy `json:"policy"`
	PublicKey string    `json:"public_key"` // authorized_keys line for the user's machine
	CreatedBy string    `json:"created_by"`
	CreatedAt time.Time `json:"created_at"`
}

// SSHCredentialCreate is a new credential: the edge generates its key pair.
type SSHCredentialCreate struct {
	AgentID string
	Target  SSHTarget
	Policy  SSHPolicy
}

// Validate reports bad fields as EINVALID. The host key is checked for shape
// here; the store parses it.
func (c *SSHCredentialCreate) Validate() error {
	if c.AgentID == "" {
		return Errorf(EINVALID, "agent_id required")
	}
	t := c.Target
	if err := validText("host", t.Host, 1, 253); err != nil {
		return err
	} else if strings.ContainsAny(t.Host, " /@") {
		return Errorf(EINVALID, "host: not a host name or address")
	} else if t.Port < 1 || t.Port > 65535 {
		return Errorf(EINVALID, "port: want 1 to 65535")
	} else if err := validText("user", t.User, 1, 64); err != nil {
		return err
	} else if strings.ContainsAny(t.User, " @:/") {
		return Errorf(EINVALID, "user: not a user name")
	} else if err := validText("host_key", strings.TrimSpace(t.HostKey), 1, 8<<10); err != nil {
		return err
	}
	return c.Policy.Validate()
}

// Validate reports a bad policy as EINVALID.
func (p SSHPolicy) Validate() error {
	for name, list := range map[string][]string{"allow": p.Allow, "deny": p.Deny} {
		if len(list) > MaxSSHPolicyEntries {
			return Errorf(EINVALID, "%s: at most %d entries", name, MaxSSHPolicyEntries)
		}
		for _, e := range list {
			if err := validText(name+" entry", e, 1, 200); err != nil {
				return err
			} else if len(strings.Fields(e)) == 0 {
				return Errorf(EINVALID, "%s: blank entry", name)
			}
		}
	}
	return nil
}

// SSHGrant is an unseal grant: it lets one Machine of the tenant fetch the
// credential's private key once, before ExpiresAt. Token is set only when the
// grant is created; the edge keeps its hash.
type SSHGrant struct {
	Token        string    `json:"token,omitempty"`
	CredentialID string    `json:"credential_id"`
	AgentID      string    `json:"agent_id"`
	ExpiresAt    time.Time `json:"expires_at"`
}

// SSHKey is what a Machine receives for a grant: the credential and its
// private key (OpenSSH PEM). Held in memory only, never logged.
type SSHKey struct {
	Credential *SSHCredential `json:"credential"`
	PrivateKey string         `json:"private_key"`
}

// SSHAttempt is one SSH command attempt, allowed or refused.
type SSHAttempt struct {
	ID           string    `json:"id"`
	TenantID     string    `json:"tenant_id"`
	CredentialID string    `json:"credential_id"`
	Actor        string    `json:"actor"`
	At           time.Time `json:"at"`
	Command      string    `json:"command"`
	Decision     string    `json:"decision"`
	Reason       string    `json:"reason"`
	ExitCode     *int      `json:"exit_code,omitempty"` // nil when it never ran or sent no status
	Output       string    `json:"output"`
	Truncated    bool      `json:"truncated"`
}

// Validate reports bad fields as EINVALID.
func (a *SSHAttempt) Validate() error {
	if a.CredentialID == "" {
		return Errorf(EINVALID, "credential_id required")
	} else if a.Decision != SSHAllowed && a.Decision != SSHRefused {
		return Errorf(EINVALID, "decision: want allowed or refused")
	} else if len(a.Command) > MaxSSHCommand {
		return Errorf(EINVALID, "command longer than %d bytes", MaxSSHCommand)
	} else if len(a.Reason) > 1024 {
		return Errorf(EINVALID, "reason longer than 1024 bytes")
	} else if len(a.Output) > 64<<10 {
		return Errorf(EINVALID, "output longer than 64 KiB")
	}
	return nil
}

// SSHAttemptFilter selects attempts, oldest first.
type SSHAttemptFilter struct {
	CredentialID string
	Limit        int
	Offset       int
	Newest       bool // newest first (default: oldest first)
}

// SSHStore keeps SSH credentials, grants and attempts. Every tenant method
// takes a tenant handle and is scoped to its tenant: another tenant's
// credential is ENOTFOUND. A handle that no authentication made is
// EUNAUTHORIZED.
type SSHStore interface {
	// CreateSSHCredential generates a key pair for one of the tenant's agent
	// instances, seals the private key and stores the credential. EINVALID
	// for bad fields, ENOTFOUND for an unknown agent, EFORBIDDEN unless a
	// user, EUNAVAILABLE without a key-encryption key.
	CreateSSHCredential(ctx context.Context, ts TenantStore, c *SSHCredentialCreate) (*SSHCredential, error)

	// FindSSHCredentialByID returns one of the tenant's credentials, which
	// stands until revoked: the tool's status check. ENOTFOUND otherwise.
	FindSSHCredentialByID(ctx context.Context, ts TenantStore, id string) (*SSHCredential, error)

	// FindSSHCredentials returns the tenant's credentials, oldest first.
	FindSSHCredentials(ctx context.Context, ts TenantStore) ([]*SSHCredential, error)

	// RevokeSSHCredential deletes a credential and its sealed key at once,
	// and its open grants. ENOTFOUND if the tenant has none with that ID,
	// EFORBIDDEN unless a user.
	RevokeSSHCredential(ctx context.Context, ts TenantStore, id string) error

	// CreateSSHGrant issues an unseal grant for a credential, valid once for
	// DefaultSSHGrantTTL. EFORBIDDEN unless a user session, ENOTFOUND for an
	// unknown credential.
	CreateSSHGrant(ctx context.Context, ts TenantStore, id string) (*SSHGrant, error)

	// UnsealSSHKey spends a grant and returns the credential's private key.
	// EFORBIDDEN unless a Machine; EUNAUTHORIZED for a grant that is
	// unknown, spent, expired, or for another credential or agent; ENOTFOUND
	// for an unknown or revoked credential.
	UnsealSSHKey(ctx context.Context, ts TenantStore, id, agentID, grant string) (*SSHKey, error)

	// CreateSSHAttempt records an attempt against one of the tenant's
	// credentials (revoked ones included); output is cut to
	// MaxSSHAuditOutput. EINVALID for bad fields, EFORBIDDEN for a user.
	CreateSSHAttempt(ctx context.Context, ts TenantStore, a *SSHAttempt) (*SSHAttempt, error)

	// FindSSHAttempts returns the tenant's attempts, oldest first. EINVALID
	// for a bad page.
	FindSSHAttempts(ctx context.Context, ts TenantStore, f SSHAttemptFilter) ([]*SSHAttempt, error)

	// PurgeSSHAttempts deletes attempts of every tenant older than before
	// (service role) and returns how many.
	PurgeSSHAttempts(ctx context.Context, svc ServiceStore, before time.Time) (int64, error)
}
