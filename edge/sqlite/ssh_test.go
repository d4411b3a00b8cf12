package sqlite_test

import (
	"bytes"
	"context"
	"database/sql"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/openagents/trust/edge/sqlite"
	"github.com/openagents/trust/shared/trust"
)

// sshHostKey is a pinned host key for tests (an ed25519 public key).
const sshHostKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGb1Yl0ZyLhv1xZ9ybQ0X1nq8pVnM4b8H1I7l1q0aZ5c"

// sshFixture is a tenant "a" with a user session, a Machine and an agent,
// and a tenant "b" with the same.
type sshFixture struct {
	store           *sqlite.SSHStore
	svc             trust.ServiceStore
	clock           *Clock
	dbPath          string
	userA, machineA trust.TenantStore
	userB, machineB trust.TenantStore
	agentA, agentB  *trust.AgentInstance
	credA           *trust.SSHCredential
}

func mustSSHFixture(tb testing.TB) *sshFixture {
	tb.Helper()
	ctx := context.Background()
	tn, svc, clock := MustTenancy(tb)
	f := &sshFixture{store: sqlite.NewSSHStore(MustSealer(tb, 3)), svc: svc, clock: clock, dbPath: tn.DB().DSN}
	for _, id := range []string{"a", "b"} {
		_, cred := MustCreateTenant(tb, svc, id)
		user, _ := MustSession(tb, tn, cred)
		machine, err := tn.Authenticate(ctx, MustCreateMachineToken(tb, tn.DB(), "m-"+id, id))
		if err != nil {
			tb.Fatal(err)
		}
		agent := MustAgent(tb, user, "agent-"+id)
		if id == "a" {
			f.userA, f.machineA, f.agentA = user, machine, agent
		} else {
			f.userB, f.machineB, f.agentB = user, machine, agent
		}
	}
	c, err := f.store.CreateSSHCredential(ctx, f.userA, sshCreate(f.agentA.ID))
	if err != nil {
		tb.Fatal(err)
	}
	f.credA = c
	return f
}

func sshCreate(agentID string) *trust.SSHCredentialCreate {
	return &trust.SSHCredentialCreate{AgentID: agentID,
		Target: trust.SSHTarget{Host: "127.0.0.1", Port: 2222, User: "agent", HostKey: sshHostKey},
		Policy: trust.SSHPolicy{Allow: []string{"ls"}, Deny: []string{"rm"}}}
}

// mustGrantKey issues a grant as user and unseals it as machine.
func (f *sshFixture) mustGrantKey(tb testing.TB) *trust.SSHKey {
	tb.Helper()
	ctx := context.Background()
	g, err := f.store.CreateSSHGrant(ctx, f.userA, f.credA.ID)
	if err != nil {
		tb.Fatal(err)
	}
	k, err := f.store.UnsealSSHKey(ctx, f.machineA, f.credA.ID, f.agentA.ID, g.Token)
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

func TestSSHStore_Credentials(t *testing.T) {
	ctx := context.Background()
	f := mustSSHFixture(t)
	t.Run("OK", func(t *testing.T) {
		if !strings.HasPrefix(f.credA.ID, trust.SSHCredentialIDPrefix) || !strings.HasPrefix(f.credA.PublicKey, "ssh-ed25519 ") {
			t.Fatalf("credential = %+v", f.credA)
		}
		got, err := f.store.FindSSHCredentialByID(ctx, f.userA, f.credA.ID)
		if err != nil || got.Target != f.credA.Target || got.Policy.Deny[0] != "rm" {
			t.Fatalf("find = %+v, %v", got, err)
		}
		if _, err := f.store.FindSSHCredentialByID(ctx, f.machineA, f.credA.ID); err != nil {
			t.Fatalf("machine status check: %v", err)
		}
	})
	tests := []struct {
		name string
		ts   func() trust.TenantStore
		c    *trust.SSHCredentialCreate
		code string
	}{
		{"ErrMachine", func() trust.TenantStore { return f.machineA }, sshCreate(f.agentA.ID), trust.EFORBIDDEN},
		{"ErrOtherTenantsAgent", func() trust.TenantStore { return f.userA }, sshCreate(f.agentB.ID), trust.ENOTFOUND},
		{"ErrBadHostKey", func() trust.TenantStore { return f.userA }, func() *trust.SSHCredentialCreate {
			c := sshCreate(f.agentA.ID)
			c.Target.HostKey = "ssh-ed25519 nope"
			return c
		}(), trust.EINVALID},
		{"ErrBadPort", func() trust.TenantStore { return f.userA }, func() *trust.SSHCredentialCreate {
			c := sshCreate(f.agentA.ID)
			c.Target.Port = 0
			return c
		}(), trust.EINVALID},
		{"ErrZeroHandle", func() trust.TenantStore { return &sqlite.TenantStore{} }, sshCreate(f.agentA.ID), trust.EUNAUTHORIZED},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := f.store.CreateSSHCredential(ctx, tt.ts(), tt.c)
			WantCode(t, err, tt.code)
		})
	}
	t.Run("OtherTenantNotFound", func(t *testing.T) {
		_, err := f.store.FindSSHCredentialByID(ctx, f.userB, f.credA.ID)
		WantCode(t, err, trust.ENOTFOUND)
		WantCode(t, f.store.RevokeSSHCredential(ctx, f.userB, f.credA.ID), trust.ENOTFOUND)
		_, err = f.store.CreateSSHGrant(ctx, f.userB, f.credA.ID)
		WantCode(t, err, trust.ENOTFOUND)
		list, err := f.store.FindSSHCredentials(ctx, f.userB)
		if err != nil || len(list) != 0 {
			t.Fatalf("tenant b sees %d credentials, %v", len(list), err)
		}
	})
	t.Run("ErrNoSealer", func(t *testing.T) {
		_, err := sqlite.NewSSHStore(nil).CreateSSHCredential(ctx, f.userA, sshCreate(f.agentA.ID))
		WantCode(t, err, trust.EUNAVAILABLE)
	})
}

func TestSSHStore_Grants(t *testing.T) {
	ctx := context.Background()
	f := mustSSHFixture(t)
	t.Run("OK", func(t *testing.T) {
		k := f.mustGrantKey(t)
		signer, err := ssh.ParsePrivateKey([]byte(k.PrivateKey))
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(signer.PublicKey()))); !strings.HasPrefix(f.credA.PublicKey, got) {
			t.Fatal("unsealed key does not match the credential's public key")
		}
	})
	grant := func() string {
		g, err := f.store.CreateSSHGrant(ctx, f.userA, f.credA.ID)
		if err != nil {
			t.Fatal(err)
		}
		return g.Token
	}
	t.Run("ErrSpent", func(t *testing.T) {
		g := grant()
		if _, err := f.store.UnsealSSHKey(ctx, f.machineA, f.credA.ID, f.agentA.ID, g); err != nil {
			t.Fatal(err)
		}
		_, err := f.store.UnsealSSHKey(ctx, f.machineA, f.credA.ID, f.agentA.ID, g)
		WantCode(t, err, trust.EUNAUTHORIZED)
	})
	t.Run("ErrExpired", func(t *testing.T) {
		g := grant()
		f.clock.Add(trust.DefaultSSHGrantTTL)
		_, err := f.store.UnsealSSHKey(ctx, f.machineA, f.credA.ID, f.agentA.ID, g)
		WantCode(t, err, trust.EUNAUTHORIZED)
	})
	t.Run("ErrOtherAgent", func(t *testing.T) {
		_, err := f.store.UnsealSSHKey(ctx, f.machineA, f.credA.ID, "agt_other", grant())
		WantCode(t, err, trust.EUNAUTHORIZED)
	})
	t.Run("ErrOtherTenantsMachine", func(t *testing.T) {
		_, err := f.store.UnsealSSHKey(ctx, f.machineB, f.credA.ID, f.agentA.ID, grant())
		WantCode(t, err, trust.EUNAUTHORIZED)
	})
	t.Run("ErrUserUnseals", func(t *testing.T) {
		_, err := f.store.UnsealSSHKey(ctx, f.userA, f.credA.ID, f.agentA.ID, grant())
		WantCode(t, err, trust.EFORBIDDEN)
	})
	t.Run("ErrMachineGrants", func(t *testing.T) {
		_, err := f.store.CreateSSHGrant(ctx, f.machineA, f.credA.ID)
		WantCode(t, err, trust.EFORBIDDEN)
	})
	t.Run("ErrMalformed", func(t *testing.T) {
		_, err := f.store.UnsealSSHKey(ctx, f.machineA, f.credA.ID, f.agentA.ID, "oasg_short")
		WantCode(t, err, trust.EUNAUTHORIZED)
	})
}

// TestSSHStore_Revoke: revocation removes the sealed key at once: status is
// ENOTFOUND, open grants are dead, and the sealed blob is gone from the
// catalog (and its file).
func TestSSHStore_Revoke(t *testing.T) {
	ctx := context.Background()
	f := mustSSHFixture(t)
	key := f.mustGrantKey(t)
	g, err := f.store.CreateSSHGrant(ctx, f.userA, f.credA.ID)
	if err != nil {
		t.Fatal(err)
	}
	WantCode(t, f.store.RevokeSSHCredential(ctx, f.machineA, f.credA.ID), trust.EFORBIDDEN)
	if err := f.store.RevokeSSHCredential(ctx, f.userA, f.credA.ID); err != nil {
		t.Fatal(err)
	}
	_, err = f.store.FindSSHCredentialByID(ctx, f.machineA, f.credA.ID)
	WantCode(t, err, trust.ENOTFOUND)
	_, err = f.store.UnsealSSHKey(ctx, f.machineA, f.credA.ID, f.agentA.ID, g.Token)
	WantCode(t, err, trust.EUNAUTHORIZED)
	WantCode(t, f.store.RevokeSSHCredential(ctx, f.userA, f.credA.ID), trust.ENOTFOUND)

	// Attempts may still be recorded against the revoked credential.
	if _, err := f.store.CreateSSHAttempt(ctx, f.machineA, &trust.SSHAttempt{CredentialID: f.credA.ID, Command: "ls", Decision: trust.SSHRefused, Reason: "revoked"}); err != nil {
		t.Fatal(err)
	}
	raw, err := sql.Open("sqlite", f.dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	var sealed int
	if err := raw.QueryRow(`SELECT COUNT(*) FROM ssh_credentials WHERE sealed_key IS NOT NULL OR kek_id IS NOT NULL`).Scan(&sealed); err != nil {
		t.Fatal(err)
	} else if sealed != 0 {
		t.Fatalf("%d sealed keys left after revocation", sealed)
	}
	buf, err := os.ReadFile(f.dbPath)
	if err != nil {
		t.Fatal(err)
	}
	wal, _ := os.ReadFile(f.dbPath + "-wal")
	body := strings.Split(key.PrivateKey, "\n")[2] // [1] is a header all ed25519 keys share
	if bytes.Contains(append(buf, wal...), []byte(body)) {
		t.Fatal("private key in the clear in the catalog file")
	}
}

func TestSSHStore_Attempts(t *testing.T) {
	ctx := context.Background()
	f := mustSSHFixture(t)
	code := 2
	long := strings.Repeat("é", trust.MaxSSHAuditOutput) // 2 bytes each
	a, err := f.store.CreateSSHAttempt(ctx, f.machineA, &trust.SSHAttempt{CredentialID: f.credA.ID, Command: "ls /x", Decision: trust.SSHAllowed, Reason: "exit 2", ExitCode: &code, Output: long})
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Output) > trust.MaxSSHAuditOutput || !a.Truncated || a.Actor != "machine:m-a" {
		t.Fatalf("attempt = %d bytes, truncated %v, actor %q", len(a.Output), a.Truncated, a.Actor)
	}
	f.clock.Add(time.Hour)
	if _, err := f.store.CreateSSHAttempt(ctx, f.machineA, &trust.SSHAttempt{CredentialID: f.credA.ID, Command: "rm -rf ~", Decision: trust.SSHRefused, Reason: "denied"}); err != nil {
		t.Fatal(err)
	}
	t.Run("Find", func(t *testing.T) {
		list, err := f.store.FindSSHAttempts(ctx, f.userA, trust.SSHAttemptFilter{})
		if err != nil || len(list) != 2 || *list[0].ExitCode != 2 || list[1].ExitCode != nil {
			t.Fatalf("list = %v, %v", list, err)
		}
		list, err = f.store.FindSSHAttempts(ctx, f.userB, trust.SSHAttemptFilter{})
		if err != nil || len(list) != 0 {
			t.Fatalf("tenant b sees %d attempts", len(list))
		}
	})
	t.Run("ErrUserRecords", func(t *testing.T) {
		_, err := f.store.CreateSSHAttempt(ctx, f.userA, &trust.SSHAttempt{CredentialID: f.credA.ID, Command: "ls", Decision: trust.SSHRefused})
		WantCode(t, err, trust.EFORBIDDEN)
	})
	t.Run("ErrOtherTenantsCredential", func(t *testing.T) {
		_, err := f.store.CreateSSHAttempt(ctx, f.machineB, &trust.SSHAttempt{CredentialID: f.credA.ID, Command: "ls", Decision: trust.SSHRefused})
		WantCode(t, err, trust.ENOTFOUND)
	})
	t.Run("ErrBadDecision", func(t *testing.T) {
		_, err := f.store.CreateSSHAttempt(ctx, f.machineA, &trust.SSHAttempt{CredentialID: f.credA.ID, Command: "ls", Decision: "maybe"})
		WantCode(t, err, trust.EINVALID)
	})
	t.Run("Purge", func(t *testing.T) {
		f.clock.Add(trust.SSHAuditRetention - 30*time.Minute) // first is 90 d 30 min old, second 89 d 23 h 30 min
		n, err := f.store.PurgeSSHAttempts(ctx, f.svc, f.clock.Now().Add(-trust.SSHAuditRetention))
		if err != nil || n != 1 {
			t.Fatalf("purged %d, %v; want 1", n, err)
		}
		list, _ := f.store.FindSSHAttempts(ctx, f.userA, trust.SSHAttemptFilter{})
		if len(list) != 1 || list[0].Command != "rm -rf ~" {
			t.Fatalf("after purge: %v", list)
		}
		_, err = f.store.PurgeSSHAttempts(ctx, nil, time.Now())
		WantCode(t, err, trust.EUNAUTHORIZED)
	})
}

// TestSSHStore_SealedContext: a sealed key copied into another credential's
// row does not open there — the context binds tenant, agent and credential.
func TestSSHStore_SealedContext(t *testing.T) {
	ctx := context.Background()
	f := mustSSHFixture(t)
	other, err := f.store.CreateSSHCredential(ctx, f.userA, sshCreate(f.agentA.ID))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := sql.Open("sqlite", f.dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, err := raw.Exec(`UPDATE ssh_credentials SET sealed_key = (SELECT sealed_key FROM ssh_credentials WHERE id = ?) WHERE id = ?`, f.credA.ID, other.ID); err != nil {
		t.Fatal(err)
	}
	g, err := f.store.CreateSSHGrant(ctx, f.userA, other.ID)
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.store.UnsealSSHKey(ctx, f.machineA, other.ID, f.agentA.ID, g.Token)
	WantCode(t, err, trust.EINTERNAL)
	// The untouched credential still opens.
	f.mustGrantKey(t)
}
