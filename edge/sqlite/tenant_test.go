package sqlite_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/openagents/trust/edge/sqlite"
	"github.com/openagents/trust/shared/trust"
)

// serviceCredential is the service credential of test tenancies.
const serviceCredential = "svc_sqlite_test_credential_0123456789abcdef"

// MustTenancy returns the tenancy gate of a fresh catalog and its service handle.
func MustTenancy(tb testing.TB) (*sqlite.Tenancy, trust.ServiceStore, *Clock) {
	tb.Helper()
	db, clock := MustOpenDB(tb)
	tn := sqlite.NewTenancy(db, serviceCredential)
	svc, err := tn.Service(context.Background(), serviceCredential)
	if err != nil {
		tb.Fatal(err)
	}
	return tn, svc, clock
}

// MustCreateTenant creates a tenant with a user and returns the user's
// credential.
func MustCreateTenant(tb testing.TB, svc trust.ServiceStore, id string) (user *trust.User, credential string) {
	tb.Helper()
	ctx := context.Background()
	if _, err := svc.CreateTenant(ctx, &trust.Tenant{ID: id, Name: "Tenant " + id}); err != nil {
		tb.Fatal(err)
	}
	return MustCreateUser(tb, svc, id, "owner@"+id+".example")
}

// MustCreateUser creates a user and issues a credential.
func MustCreateUser(tb testing.TB, svc trust.ServiceStore, tenantID, email string) (*trust.User, string) {
	tb.Helper()
	ctx := context.Background()
	u, err := svc.CreateUser(ctx, &trust.User{TenantID: tenantID, Email: email})
	if err != nil {
		tb.Fatal(err)
	}
	cred, err := svc.CreateUserCredential(ctx, tenantID, u.ID)
	if err != nil {
		tb.Fatal(err)
	}
	return u, cred
}

// MustSession opens a session with a credential and returns its handle.
func MustSession(tb testing.TB, tn *sqlite.Tenancy, credential string) (trust.TenantStore, *trust.Session) {
	tb.Helper()
	ctx := context.Background()
	sess, err := tn.CreateSession(ctx, credential)
	if err != nil {
		tb.Fatal(err)
	}
	ts, err := tn.Authenticate(ctx, sess.Token)
	if err != nil {
		tb.Fatal(err)
	}
	return ts, sess
}

// MustAgent creates an agent instance.
func MustAgent(tb testing.TB, ts trust.TenantStore, name string) *trust.AgentInstance {
	tb.Helper()
	a, err := ts.CreateAgentInstance(context.Background(), &trust.AgentInstance{Name: name, Config: "model: x\n"})
	if err != nil {
		tb.Fatal(err)
	}
	return a
}

// WantCode fails the test unless err has code.
func WantCode(tb testing.TB, err error, code string) {
	tb.Helper()
	if got := trust.ErrorCode(err); got != code {
		tb.Fatalf("error code = %q (%v), want %q", got, err, code)
	}
}

func TestTenancy_Authenticate(t *testing.T) {
	ctx := context.Background()
	tn, svc, clock := MustTenancy(t)
	user, cred := MustCreateTenant(t, svc, "acme")
	ts, sess := MustSession(t, tn, cred)
	if p := ts.Principal(); p != (trust.Principal{Kind: trust.PrincipalUser, TenantID: "acme", UserID: user.ID}) {
		t.Fatalf("principal = %+v", p)
	} else if !strings.HasPrefix(sess.Token, trust.UserSessionPrefix) || !sess.ExpiresAt.Equal(t0.Add(trust.DefaultSessionTTL)) {
		t.Fatalf("session = %+v", sess)
	}

	machineToken := MustCreateMachineToken(t, tn.DB(), "m-1", "acme")
	orphanToken := MustCreateMachineToken(t, tn.DB(), "m-2", "no-such-tenant")
	if ms, err := tn.Authenticate(ctx, machineToken); err != nil {
		t.Fatal(err)
	} else if p := ms.Principal(); p != (trust.Principal{Kind: trust.PrincipalMachine, TenantID: "acme", MachineID: "m-1"}) {
		t.Fatalf("principal = %+v", p)
	}

	for name, token := range map[string]string{
		"Empty":         "",
		"Garbage":       "not-a-token",
		"Credential":    cred, // a credential opens sessions; it is not one
		"ServiceCred":   serviceCredential,
		"UnknownSess":   trust.UserSessionPrefix + strings.Repeat("A", 43),
		"OrphanMachine": orphanToken,
		"SessionPlusX":  sess.Token + "x",
	} {
		t.Run("ErrUnauthorized"+name, func(t *testing.T) {
			ts, err := tn.Authenticate(ctx, token)
			WantCode(t, err, trust.EUNAUTHORIZED)
			if ts != nil {
				t.Fatal("a handle came with the error")
			}
		})
	}

	t.Run("ErrUnauthorizedBadCredential", func(t *testing.T) {
		for _, c := range []string{"", sess.Token, cred + "x", trust.UserCredentialPrefix + strings.Repeat("B", 43)} {
			_, err := tn.CreateSession(ctx, c)
			WantCode(t, err, trust.EUNAUTHORIZED)
		}
	})
	t.Run("ErrUnauthorizedService", func(t *testing.T) {
		for _, c := range []string{"", serviceCredential + "x", cred, sess.Token} {
			_, err := tn.Service(ctx, c)
			WantCode(t, err, trust.EUNAUTHORIZED)
		}
		_, err := sqlite.NewTenancy(tn.DB(), "").Service(ctx, "")
		WantCode(t, err, trust.EUNAUTHORIZED)
	})
	t.Run("Revoked", func(t *testing.T) {
		ts2, sess2 := MustSession(t, tn, cred)
		if err := ts2.RevokeSession(ctx); err != nil {
			t.Fatal(err)
		}
		_, err := tn.Authenticate(ctx, sess2.Token)
		WantCode(t, err, trust.EUNAUTHORIZED)
		if _, err := tn.Authenticate(ctx, sess.Token); err != nil {
			t.Fatalf("revoking one session revoked another: %v", err)
		}
	})
	t.Run("RevokeUser", func(t *testing.T) {
		u, c := MustCreateUser(t, svc, "acme", "gone@acme.example")
		_, s := MustSession(t, tn, c)
		if err := svc.RevokeUser(ctx, "acme", u.ID); err != nil {
			t.Fatal(err)
		}
		_, err := tn.Authenticate(ctx, s.Token)
		WantCode(t, err, trust.EUNAUTHORIZED)
		_, err = tn.CreateSession(ctx, c)
		WantCode(t, err, trust.EUNAUTHORIZED)
	})
	t.Run("Expired", func(t *testing.T) {
		_, s := MustSession(t, tn, cred)
		clock.Add(trust.DefaultSessionTTL)
		_, err := tn.Authenticate(ctx, s.Token)
		WantCode(t, err, trust.EUNAUTHORIZED)
	})
	t.Run("StoredHashed", func(t *testing.T) {
		tx, err := tn.DB().BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
		var hashes []string
		for _, q := range []string{`SELECT secret_hash FROM user_credentials`, `SELECT token_hash FROM user_sessions`} {
			rows, err := tx.Query(q)
			if err != nil {
				t.Fatal(err)
			}
			for rows.Next() {
				var h string
				rows.Scan(&h)
				hashes = append(hashes, h)
			}
			rows.Close()
		}
		for _, secret := range []string{cred, sess.Token} {
			sum := sha256.Sum256([]byte(secret))
			found := false
			for _, h := range hashes {
				if strings.Contains(h, secret[5:]) {
					t.Fatal("a raw secret is stored")
				}
				found = found || h == hex.EncodeToString(sum[:])
			}
			if !found {
				t.Fatalf("hash of %s... not stored", secret[:5])
			}
		}
	})
	t.Run("ErrUnauthorizedZeroHandles", func(t *testing.T) {
		var ts sqlite.TenantStore
		_, err := ts.FindAgentInstances(ctx, trust.AgentInstanceFilter{})
		WantCode(t, err, trust.EUNAUTHORIZED)
		_, err = ts.CreateAgentInstance(ctx, &trust.AgentInstance{Name: "x"})
		WantCode(t, err, trust.EUNAUTHORIZED)
		var ss sqlite.ServiceStore
		_, err = ss.CreateTenant(ctx, &trust.Tenant{ID: "x", Name: "x"})
		WantCode(t, err, trust.EUNAUTHORIZED)
	})
}

// TestTenantStore_Isolation runs every tenant-scoped method on rows of
// another tenant: each is ENOTFOUND (or sees nothing) and changes nothing.
func TestTenantStore_Isolation(t *testing.T) {
	ctx := context.Background()
	tn, svc, _ := MustTenancy(t)
	_, credA := MustCreateTenant(t, svc, "a")
	_, credB := MustCreateTenant(t, svc, "b")
	a, _ := MustSession(t, tn, credA)
	b, _ := MustSession(t, tn, credB)
	agentB := MustAgent(t, b, "shared-name")
	MustAgent(t, a, "shared-name") // names are unique per tenant only

	name := "stolen"
	for _, tt := range []struct {
		name string
		do   func() error
	}{
		{"FindAgentInstanceByID", func() error { _, err := a.FindAgentInstanceByID(ctx, agentB.ID); return err }},
		{"UpdateAgentInstance", func() error {
			_, err := a.UpdateAgentInstance(ctx, agentB.ID, trust.AgentInstanceUpdate{Name: &name})
			return err
		}},
		{"DeleteAgentInstance", func() error { return a.DeleteAgentInstance(ctx, agentB.ID) }},
	} {
		t.Run("ErrNotFound"+tt.name, func(t *testing.T) { WantCode(t, tt.do(), trust.ENOTFOUND) })
	}
	if got, err := b.FindAgentInstanceByID(ctx, agentB.ID); err != nil {
		t.Fatal(err)
	} else if *got != *agentB {
		t.Fatalf("another tenant changed it: %+v, want %+v", got, agentB)
	}
	for _, ts := range []trust.TenantStore{a, b} {
		as, err := ts.FindAgentInstances(ctx, trust.AgentInstanceFilter{})
		if err != nil {
			t.Fatal(err)
		} else if len(as) != 1 || as[0].TenantID != ts.Principal().TenantID {
			t.Fatalf("%s lists %+v", ts.Principal().TenantID, as)
		}
		evs, err := ts.FindAuditEvents(ctx, trust.AuditEventFilter{})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range evs {
			if e.TenantID != ts.Principal().TenantID {
				t.Fatalf("%s sees audit event %+v", ts.Principal().TenantID, e)
			}
		}
	}
	t.Run("ServiceCrossTenant", func(t *testing.T) {
		_, err := svc.CreateUserCredential(ctx, "a", MustUserOf(t, svc, "b").ID)
		WantCode(t, err, trust.ENOTFOUND)
		err = svc.RevokeUser(ctx, "a", MustUserOf(t, svc, "b").ID)
		WantCode(t, err, trust.ENOTFOUND)
	})
}

// MustUserOf returns the first user of a tenant.
func MustUserOf(tb testing.TB, svc trust.ServiceStore, tenantID string) *trust.User {
	tb.Helper()
	users, err := svc.FindUsers(context.Background(), tenantID)
	if err != nil || len(users) == 0 {
		tb.Fatalf("users of %s: %v %v", tenantID, users, err)
	}
	return users[0]
}

func TestServiceStore(t *testing.T) {
	ctx := context.Background()
	_, svc, _ := MustTenancy(t)
	MustCreateTenant(t, svc, "acme")
	for _, tt := range []struct {
		name string
		do   func() error
		code string
	}{
		{"CreateTenantOK", func() error { _, err := svc.CreateTenant(ctx, &trust.Tenant{ID: "beta", Name: "Beta"}); return err }, ""},
		{"ErrCreateTenantConflict", func() error { _, err := svc.CreateTenant(ctx, &trust.Tenant{ID: "acme", Name: "x"}); return err }, trust.ECONFLICT},
		{"ErrCreateTenantBadID", func() error { _, err := svc.CreateTenant(ctx, &trust.Tenant{ID: "a b", Name: "x"}); return err }, trust.EINVALID},
		{"ErrCreateTenantNoName", func() error { _, err := svc.CreateTenant(ctx, &trust.Tenant{ID: "c"}); return err }, trust.EINVALID},
		{"FindTenantOK", func() error { _, err := svc.FindTenantByID(ctx, "acme"); return err }, ""},
		{"ErrFindTenantNotFound", func() error { _, err := svc.FindTenantByID(ctx, "nope"); return err }, trust.ENOTFOUND},
		{"ErrCreateUserNoTenant", func() error {
			_, err := svc.CreateUser(ctx, &trust.User{TenantID: "nope", Email: "a@b.c"})
			return err
		}, trust.ENOTFOUND},
		{"ErrCreateUserBadEmail", func() error {
			_, err := svc.CreateUser(ctx, &trust.User{TenantID: "acme", Email: "no at"})
			return err
		}, trust.EINVALID},
		{"ErrCreateUserConflict", func() error {
			_, err := svc.CreateUser(ctx, &trust.User{TenantID: "acme", Email: "owner@acme.example"})
			return err
		}, trust.ECONFLICT},
		{"CreateUserSameEmailOtherTenant", func() error {
			_, err := svc.CreateUser(ctx, &trust.User{TenantID: "beta", Email: "owner@acme.example"})
			return err
		}, ""},
		{"ErrCredentialUnknownUser", func() error { _, err := svc.CreateUserCredential(ctx, "acme", "usr_nope"); return err }, trust.ENOTFOUND},
		{"ErrTenantHandleUnknown", func() error { _, err := svc.Tenant(ctx, "nope"); return err }, trust.ENOTFOUND},
	} {
		t.Run(tt.name, func(t *testing.T) { WantCode(t, tt.do(), tt.code) })
	}
}

func TestTenantStore_AgentInstances(t *testing.T) {
	ctx := context.Background()
	tn, svc, clock := MustTenancy(t)
	user, cred := MustCreateTenant(t, svc, "acme")
	ts, _ := MustSession(t, tn, cred)

	a := MustAgent(t, ts, "writer")
	if a.TenantID != "acme" || a.CreatedBy != "user:"+user.ID || !strings.HasPrefix(a.ID, "agt_") {
		t.Fatalf("created %+v", a)
	}
	clock.Add(time.Second)
	newName, newConfig := "editor", "model: y\n"
	for _, tt := range []struct {
		name string
		do   func() error
		code string
	}{
		{"ErrCreateNoName", func() error { _, err := ts.CreateAgentInstance(ctx, &trust.AgentInstance{}); return err }, trust.EINVALID},
		{"ErrCreateControl", func() error {
			_, err := ts.CreateAgentInstance(ctx, &trust.AgentInstance{Name: "a", Config: "\x00"})
			return err
		}, trust.EINVALID},
		{"ErrCreateConflict", func() error {
			_, err := ts.CreateAgentInstance(ctx, &trust.AgentInstance{Name: "writer"})
			return err
		}, trust.ECONFLICT},
		{"UpdateOK", func() error {
			got, err := ts.UpdateAgentInstance(ctx, a.ID, trust.AgentInstanceUpdate{Name: &newName, Config: &newConfig})
			if err == nil && (got.Name != newName || got.Config != newConfig || !got.UpdatedAt.After(got.CreatedAt)) {
				t.Errorf("updated %+v", got)
			}
			return err
		}, ""},
		{"ErrUpdateNotFound", func() error {
			_, err := ts.UpdateAgentInstance(ctx, "agt_nope", trust.AgentInstanceUpdate{Name: &newName})
			return err
		}, trust.ENOTFOUND},
		{"FindOK", func() error {
			got, err := ts.FindAgentInstanceByID(ctx, a.ID)
			if err == nil && got.Name != newName {
				t.Errorf("found %+v", got)
			}
			return err
		}, ""},
		{"ErrListBadLimit", func() error {
			_, err := ts.FindAgentInstances(ctx, trust.AgentInstanceFilter{Limit: trust.MaxListLimit + 1})
			return err
		}, trust.EINVALID},
		{"DeleteOK", func() error { return ts.DeleteAgentInstance(ctx, a.ID) }, ""},
		{"ErrDeleteAgain", func() error { return ts.DeleteAgentInstance(ctx, a.ID) }, trust.ENOTFOUND},
		{"ErrFindDeleted", func() error { _, err := ts.FindAgentInstanceByID(ctx, a.ID); return err }, trust.ENOTFOUND},
	} {
		t.Run(tt.name, func(t *testing.T) { WantCode(t, tt.do(), tt.code) })
	}
	evs, err := ts.FindAuditEvents(ctx, trust.AuditEventFilter{})
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, e := range evs {
		actions = append(actions, e.Action)
	}
	if got, want := strings.Join(actions, ","), "agent_instance.create,agent_instance.update,agent_instance.delete"; got != want {
		t.Fatalf("audit actions = %s, want %s", got, want)
	}
}

func TestTenantStore_Usage(t *testing.T) {
	ctx := context.Background()
	tn, svc, _ := MustTenancy(t)
	_, credA := MustCreateTenant(t, svc, "a")
	MustCreateTenant(t, svc, "b")
	user, _ := MustSession(t, tn, credA)
	ma, err := tn.Authenticate(ctx, MustCreateMachineToken(t, tn.DB(), "m-a", "a"))
	if err != nil {
		t.Fatal(err)
	}
	mb, err := tn.Authenticate(ctx, MustCreateMachineToken(t, tn.DB(), "m-b", "b"))
	if err != nil {
		t.Fatal(err)
	}
	rec := trust.UsageRecord{SessionID: "s1", Model: "claude", InputTokens: 10, OutputTokens: 20, IdempotencyKey: "k1", MachineID: "spoofed"}

	first, created, err := ma.CreateUsageRecord(ctx, &rec)
	if err != nil || !created || first.MachineID != "m-a" || first.TenantID != "a" {
		t.Fatalf("first = %+v, %v, %v", first, created, err)
	}
	t.Run("Replay", func(t *testing.T) {
		again, created, err := ma.CreateUsageRecord(ctx, &rec)
		if err != nil || created || again.ID != first.ID {
			t.Fatalf("again = %+v, %v, %v", again, created, err)
		}
	})
	t.Run("ErrConflict", func(t *testing.T) {
		other := rec
		other.InputTokens++
		_, _, err := ma.CreateUsageRecord(ctx, &other)
		WantCode(t, err, trust.ECONFLICT)
	})
	t.Run("SameKeyOtherTenant", func(t *testing.T) {
		other := rec
		other.InputTokens = 999
		got, created, err := mb.CreateUsageRecord(ctx, &other)
		if err != nil || !created || got.TenantID != "b" || got.ID == first.ID {
			t.Fatalf("got %+v, %v, %v", got, created, err)
		}
	})
	t.Run("ErrForbiddenUser", func(t *testing.T) {
		_, _, err := user.CreateUsageRecord(ctx, &rec)
		WantCode(t, err, trust.EFORBIDDEN)
	})
	t.Run("ErrInvalid", func(t *testing.T) {
		bad := rec
		bad.InputTokens = -1
		_, _, err := ma.CreateUsageRecord(ctx, &bad)
		WantCode(t, err, trust.EINVALID)
	})
	t.Run("List", func(t *testing.T) {
		for _, ts := range []trust.TenantStore{user, ma, mb} {
			rs, err := ts.FindUsageRecords(ctx, trust.UsageFilter{})
			if err != nil || len(rs) != 1 || rs[0].TenantID != ts.Principal().TenantID {
				t.Fatalf("%s lists %+v, %v", ts.Principal().TenantID, rs, err)
			}
		}
	})
	t.Run("Audit", func(t *testing.T) {
		e, err := mb.CreateAuditEvent(ctx, &trust.AuditEvent{Action: "ssh.command", Target: "host", Detail: "ls -l\n", Actor: "forged"})
		if err != nil || e.Actor != "machine:m-b" || e.TenantID != "b" {
			t.Fatalf("event %+v, %v", e, err)
		}
		_, err = mb.CreateAuditEvent(ctx, &trust.AuditEvent{Action: "Bad Action"})
		WantCode(t, err, trust.EINVALID)
		evs, err := user.FindAuditEvents(ctx, trust.AuditEventFilter{})
		if err != nil || len(evs) != 0 {
			t.Fatalf("tenant a sees %+v, %v", evs, err)
		}
	})
}
