package sshtool_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/openagents/trust/shared/sshtool"
	"github.com/openagents/trust/shared/trust"
)

// MustApprover returns an approver with a fixed key reading *now.
func MustApprover(tb testing.TB, now *time.Time) *sshtool.Approver {
	tb.Helper()
	a, err := sshtool.NewApprover(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		tb.Fatal(err)
	}
	a.Now = func() time.Time { return *now }
	return a
}

func TestApprover(t *testing.T) {
	now := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
	scope := sshtool.Scope{SessionID: "conv1", UserID: "usr_1", CredentialID: "ssh_1"}
	a := MustApprover(t, &now)
	approve := func(s sshtool.Scope, cmd string) string {
		tok, err := a.Approve(s, cmd)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	t.Run("OK", func(t *testing.T) {
		if err := a.Verify(approve(scope, "ls"), scope, "ls"); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("ErrReused", func(t *testing.T) {
		tok := approve(scope, "ls")
		if err := a.Verify(tok, scope, "ls"); err != nil {
			t.Fatal(err)
		}
		if err := a.Verify(tok, scope, "ls"); trust.ErrorCode(err) != trust.EUNAUTHORIZED {
			t.Fatalf("second use: %v", err)
		}
	})
	other := MustApprover(t, &now)
	forged, _ := other.Approve(scope, "ls")
	tests := []struct {
		name  string
		token string
		scope sshtool.Scope
		cmd   string
	}{
		{"ErrMissing", "", scope, "ls"},
		{"ErrOtherCommand", approve(scope, "ls"), scope, "ls; rm -rf ~"},
		{"ErrOtherSession", approve(scope, "ls"), sshtool.Scope{SessionID: "conv2", UserID: "usr_1", CredentialID: "ssh_1"}, "ls"},
		{"ErrOtherUser", approve(scope, "ls"), sshtool.Scope{SessionID: "conv1", UserID: "usr_2", CredentialID: "ssh_1"}, "ls"},
		{"ErrOtherCredential", approve(scope, "ls"), sshtool.Scope{SessionID: "conv1", UserID: "usr_1", CredentialID: "ssh_2"}, "ls"},
		{"ErrForged", forged[:len(forged)-4] + "AAAA", scope, "ls"},
		{"ErrMalformed", "oasa_nonsense", scope, "ls"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := a.Verify(tt.token, tt.scope, tt.cmd)
			if trust.ErrorCode(err) != trust.EUNAUTHORIZED {
				t.Fatalf("got %v, want EUNAUTHORIZED", err)
			}
			if tt.token != "" && strings.Contains(err.Error(), tt.token) {
				t.Fatal("error quotes the token")
			}
		})
	}
	t.Run("ErrExpired", func(t *testing.T) {
		tok := approve(scope, "ls")
		now = now.Add(sshtool.DefaultApprovalTTL)
		if err := a.Verify(tok, scope, "ls"); trust.ErrorCode(err) != trust.EUNAUTHORIZED {
			t.Fatalf("expired approval: %v", err)
		}
	})
}
