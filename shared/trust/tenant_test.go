package trust_test

import (
	"strings"
	"testing"

	"github.com/openagents/trust/shared/trust"
)

func TestValidate_Tenancy(t *testing.T) {
	for _, tt := range []struct {
		name string
		v    interface{ Validate() error }
		code string
	}{
		{"TenantOK", &trust.Tenant{ID: "acme-1", Name: "Acme"}, ""},
		{"ErrTenantID", &trust.Tenant{ID: "a b", Name: "Acme"}, trust.EINVALID},
		{"ErrTenantName", &trust.Tenant{ID: "acme", Name: "a\x00"}, trust.EINVALID},
		{"UserOK", &trust.User{Email: "ada@acme.example"}, ""},
		{"ErrUserEmail", &trust.User{Email: "ada"}, trust.EINVALID},
		{"AgentOK", &trust.AgentInstance{Name: "writer", Config: "a: 1\n\tb: 2\n"}, ""},
		{"ErrAgentName", &trust.AgentInstance{Name: ""}, trust.EINVALID},
		{"ErrAgentNameNewline", &trust.AgentInstance{Name: "a\nb"}, trust.EINVALID},
		{"ErrAgentConfigControl", &trust.AgentInstance{Name: "a", Config: "\x1b[2J"}, trust.EINVALID},
		{"ErrAgentConfigSize", &trust.AgentInstance{Name: "a", Config: strings.Repeat("x", trust.MaxAgentConfigSize+1)}, trust.EINVALID},
		{"UsageOK", &trust.UsageRecord{SessionID: "s1", Model: "m", IdempotencyKey: "k:1", InputTokens: 1}, ""},
		{"ErrUsageKey", &trust.UsageRecord{SessionID: "s1", Model: "m", IdempotencyKey: ""}, trust.EINVALID},
		{"ErrUsageNegative", &trust.UsageRecord{SessionID: "s1", Model: "m", IdempotencyKey: "k", OutputTokens: -1}, trust.EINVALID},
		{"ErrUsageModel", &trust.UsageRecord{SessionID: "s1", IdempotencyKey: "k"}, trust.EINVALID},
		{"AuditOK", &trust.AuditEvent{Action: "ssh.command", Detail: "ls\n"}, ""},
		{"ErrAuditAction", &trust.AuditEvent{Action: "SSH command"}, trust.EINVALID},
		{"ErrAuditDetailSize", &trust.AuditEvent{Action: "a", Detail: strings.Repeat("x", trust.MaxAuditDetailSize+1)}, trust.EINVALID},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := trust.ErrorCode(tt.v.Validate()); got != tt.code {
				t.Fatalf("code = %q, want %q", got, tt.code)
			}
		})
	}
}

func TestCheckPage(t *testing.T) {
	for _, tt := range []struct {
		limit, offset, want int
		code                string
	}{
		{0, 0, trust.DefaultListLimit, ""},
		{5, 10, 5, ""},
		{trust.MaxListLimit, 0, trust.MaxListLimit, ""},
		{trust.MaxListLimit + 1, 0, 0, trust.EINVALID},
		{-1, 0, 0, trust.EINVALID},
		{1, -1, 0, trust.EINVALID},
	} {
		got, err := trust.CheckPage(tt.limit, tt.offset)
		if got != tt.want || trust.ErrorCode(err) != tt.code {
			t.Errorf("CheckPage(%d, %d) = %d, %v; want %d, %q", tt.limit, tt.offset, got, err, tt.want, tt.code)
		}
	}
}

func TestPrincipal_Actor(t *testing.T) {
	for p, want := range map[trust.Principal]string{
		{Kind: trust.PrincipalUser, UserID: "usr_1"}:     "user:usr_1",
		{Kind: trust.PrincipalMachine, MachineID: "m-1"}: "machine:m-1",
		{Kind: trust.PrincipalService, TenantID: "acme"}: "service",
	} {
		if got := p.Actor(); got != want {
			t.Errorf("%+v.Actor() = %q, want %q", p, got, want)
		}
	}
}
