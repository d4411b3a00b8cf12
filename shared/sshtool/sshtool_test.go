package sshtool_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"encoding/pem"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"golang.org/x/crypto/ssh"

	"github.com/openagents/trust/shared/sshtool"
	"github.com/openagents/trust/shared/trust"
)

// FakeEdge is an in-memory Edge: it records attempts and answers the status
// of one credential until Revoke.
type FakeEdge struct {
	mu       sync.Mutex
	revoked  bool
	Attempts []*trust.SSHAttempt
}

func (e *FakeEdge) SSHCredentialStatus(ctx context.Context, id string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.revoked {
		return trust.Errorf(trust.ENOTFOUND, "ssh credential not found")
	}
	return nil
}

func (e *FakeEdge) RecordSSHAttempt(ctx context.Context, a *trust.SSHAttempt) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	cp := *a
	e.Attempts = append(e.Attempts, &cp)
	return nil
}

func (e *FakeEdge) Revoke() { e.mu.Lock(); e.revoked = true; e.mu.Unlock() }

// MustKey returns an ed25519 key pair: the signer's public key and its
// OpenSSH PEM.
func MustKey(tb testing.TB) (ssh.Signer, []byte) {
	tb.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		tb.Fatal(err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		tb.Fatal(err)
	}
	return signer, pem.EncodeToMemory(block)
}

// MustServer starts an in-process SSH server (x/crypto/ssh) accepting
// clientKey. Commands: "echo X" prints X, "exit N" exits N, "nostatus"
// closes without an exit status, "sleep" waits for the client to go,
// "big" prints 100 KiB. It stops when the test ends.
func MustServer(tb testing.TB, hostKey ssh.Signer, clientKey ssh.PublicKey) string {
	tb.Helper()
	config := &ssh.ServerConfig{PublicKeyCallback: func(_ ssh.ConnMetadata, k ssh.PublicKey) (*ssh.Permissions, error) {
		if string(k.Marshal()) == string(clientKey.Marshal()) {
			return nil, nil
		}
		return nil, trust.Errorf(trust.EUNAUTHORIZED, "unknown key")
	}}
	config.AddHostKey(hostKey)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go serveConn(conn, config)
		}
	}()
	return ln.Addr().String()
}

func serveConn(conn net.Conn, config *ssh.ServerConfig) {
	defer conn.Close()
	_, chans, reqs, err := ssh.NewServerConn(conn, config)
	if err != nil {
		return
	}
	go ssh.DiscardRequests(reqs)
	for nc := range chans {
		ch, chReqs, err := nc.Accept()
		if err != nil {
			continue
		}
		go func() {
			defer ch.Close()
			for r := range chReqs {
				if r.Type != "exec" {
					r.Reply(false, nil)
					continue
				}
				r.Reply(true, nil)
				cmd := string(r.Payload[4:])
				status := func(code uint32) {
					ch.SendRequest("exit-status", false, binary.BigEndian.AppendUint32(nil, code))
				}
				switch {
				case strings.HasPrefix(cmd, "echo "):
					ch.Write([]byte(strings.TrimPrefix(cmd, "echo ") + "\n"))
					status(0)
				case strings.HasPrefix(cmd, "exit "):
					status(uint32(cmd[5] - '0'))
				case cmd == "nostatus":
					ch.Write([]byte("partial"))
				case cmd == "sleep":
					for r := range chReqs { // until the client's kill signal
						if r.Type == "signal" {
							ch.SendRequest("exit-signal", false, ssh.Marshal(struct {
								Signal     string
								CoreDumped bool
								Msg, Lang  string
							}{Signal: "KILL"}))
							return
						}
					}
				case cmd == "big":
					ch.Write([]byte(strings.Repeat("x", 100<<10)))
					status(0)
				}
				return
			}
		}()
	}
}

// fixture is a tool wired to an in-process server and a fake edge.
type fixture struct {
	tool *sshtool.Tool
	edge *FakeEdge
	now  *time.Time
	appr *sshtool.Approver
	pem  []byte
}

func mustFixture(tb testing.TB, pinned ssh.PublicKey) *fixture {
	tb.Helper()
	hostKey, _ := MustKey(tb)
	clientKey, keyPEM := MustKey(tb)
	addr := MustServer(tb, hostKey, clientKey.PublicKey())
	if pinned == nil {
		pinned = hostKey.PublicKey()
	}
	host, port, _ := net.SplitHostPort(addr)
	var p int
	for _, c := range port {
		p = p*10 + int(c-'0')
	}
	now := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
	f := &fixture{edge: &FakeEdge{}, now: &now, pem: append([]byte(nil), keyPEM...)}
	f.appr = MustApprover(tb, f.now)
	tool := sshtool.NewTool()
	tool.Edge, tool.Approvals, tool.SessionID, tool.UserID = f.edge, f.appr, "conv1", "usr_1"
	tool.Now = func() time.Time { return *f.now }
	tool.Timeout = 300 * time.Millisecond
	tool.OutputCap = 8 << 10
	cred := &trust.SSHCredential{ID: "ssh_1", Target: trust.SSHTarget{Host: host, Port: p, User: "agent", HostKey: string(ssh.MarshalAuthorizedKey(pinned))},
		Policy: trust.SSHPolicy{Allow: []string{"echo", "exit", "nostatus", "sleep", "big"}, Deny: []string{"rm"}}}
	if err := tool.Open(&trust.SSHKey{Credential: cred}, keyPEM); err != nil {
		tb.Fatal(err)
	}
	for _, b := range keyPEM {
		if b != 0 {
			tb.Fatal("Open left the private key PEM in the caller's buffer")
		}
	}
	f.tool = tool
	return f
}

// run approves cmd and runs it.
func (f *fixture) run(tb testing.TB, cmd string) (*sshtool.Result, error) {
	tb.Helper()
	tok, err := f.appr.Approve(sshtool.Scope{SessionID: "conv1", UserID: "usr_1", CredentialID: "ssh_1"}, cmd)
	if err != nil {
		tb.Fatal(err)
	}
	return f.tool.Run(context.Background(), sshtool.Request{Command: cmd, Approval: tok})
}

func TestTool_Run(t *testing.T) {
	f := mustFixture(t, nil)
	t.Run("OK", func(t *testing.T) {
		res, err := f.run(t, "echo hello")
		if err != nil {
			t.Fatal(err)
		} else if res.ExitCode == nil || *res.ExitCode != 0 || res.Output != "hello\n" {
			t.Fatalf("got %+v", res)
		}
	})
	t.Run("ExitCode", func(t *testing.T) {
		res, err := f.run(t, "exit 3")
		if err != nil {
			t.Fatal(err)
		} else if res.ExitCode == nil || *res.ExitCode != 3 {
			t.Fatalf("got %+v, want exit 3", res)
		}
	})
	t.Run("NoExitStatus", func(t *testing.T) {
		res, err := f.run(t, "nostatus")
		if err != nil {
			t.Fatal(err)
		} else if res.ExitCode != nil || res.Output != "partial" || !strings.Contains(res.Reason, "no exit status") {
			t.Fatalf("got %+v", res)
		}
	})
	t.Run("Timeout", func(t *testing.T) {
		res, err := f.run(t, "sleep")
		if err != nil {
			t.Fatal(err)
		} else if res.ExitCode != nil || !strings.Contains(res.Reason, "timed out") {
			t.Fatalf("got %+v", res)
		}
	})
	t.Run("OutputCap", func(t *testing.T) {
		res, err := f.run(t, "big")
		if err != nil {
			t.Fatal(err)
		} else if len(res.Output) != 8<<10 || !res.Truncated {
			t.Fatalf("output %d bytes, truncated=%v", len(res.Output), res.Truncated)
		}
		last := f.edge.Attempts[len(f.edge.Attempts)-1]
		if len(last.Output) != trust.MaxSSHAuditOutput || !last.Truncated {
			t.Fatalf("audit output %d bytes", len(last.Output))
		}
	})
	t.Run("ErrDenied", func(t *testing.T) {
		if _, err := f.run(t, "echo hi; rm -rf ~"); trust.ErrorCode(err) != trust.EFORBIDDEN {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("ErrNoApproval", func(t *testing.T) {
		_, err := f.tool.Run(context.Background(), sshtool.Request{Command: "echo hi"})
		if trust.ErrorCode(err) != trust.EUNAUTHORIZED {
			t.Fatalf("got %v", err)
		}
	})
}

func TestTool_RateLimit(t *testing.T) {
	f := mustFixture(t, nil)
	for i := range 10 {
		if _, err := f.run(t, "echo hi"); err != nil {
			t.Fatalf("command %d: %v", i+1, err)
		}
		*f.now = f.now.Add(5 * time.Second)
	}
	if _, err := f.run(t, "echo hi"); trust.ErrorCode(err) != trust.ERATELIMIT {
		t.Fatalf("11th command: %v", err)
	}
	*f.now = f.now.Add(10 * time.Second) // 60 s after the first
	if _, err := f.run(t, "echo hi"); err != nil {
		t.Fatalf("after the window: %v", err)
	}
}

func TestTool_HostKeyChanged(t *testing.T) {
	other, _ := MustKey(t)
	f := mustFixture(t, other.PublicKey())
	_, err := f.run(t, "echo hi")
	if trust.ErrorCode(err) != trust.EFORBIDDEN || !strings.Contains(err.Error(), "host key") {
		t.Fatalf("got %v, want host key refusal", err)
	}
}

func TestTool_Revoked(t *testing.T) {
	f := mustFixture(t, nil)
	if _, err := f.run(t, "echo hi"); err != nil {
		t.Fatal(err)
	}
	f.edge.Revoke()
	if _, err := f.run(t, "echo hi"); trust.ErrorCode(err) != trust.EFORBIDDEN {
		t.Fatalf("after revocation: %v", err)
	}
	f.edge.mu.Lock()
	f.edge.revoked = false // even if the edge answered again, the key is gone
	f.edge.mu.Unlock()
	if _, err := f.run(t, "echo hi"); trust.ErrorCode(err) != trust.EFORBIDDEN {
		t.Fatalf("tool not disabled: %v", err)
	}
}

// TestTool_AuditEveryAttempt: every attempt, allowed or refused, reaches the
// edge with its decision, and none carries the private key.
func TestTool_AuditEveryAttempt(t *testing.T) {
	f := mustFixture(t, nil)
	var logs strings.Builder
	var logMu sync.Mutex
	f.tool.Logger = slog.New(slog.NewJSONHandler(writerFunc(func(p []byte) (int, error) {
		logMu.Lock()
		defer logMu.Unlock()
		return logs.Write(p)
	}), nil))
	cmds := []string{"echo a", "rm -rf ~", "echo $(rm x)", "exit 2", "curl x"}
	for _, c := range cmds {
		f.run(t, c)
	}
	f.tool.Run(context.Background(), sshtool.Request{Command: "echo unapproved"})
	if got, want := len(f.edge.Attempts), len(cmds)+1; got != want {
		t.Fatalf("%d attempts recorded, want %d", got, want)
	}
	want := []string{trust.SSHAllowed, trust.SSHRefused, trust.SSHRefused, trust.SSHAllowed, trust.SSHRefused, trust.SSHRefused}
	body := pemBody(f.pem)
	for i, a := range f.edge.Attempts {
		if a.Decision != want[i] || a.Reason == "" {
			t.Errorf("attempt %d %q: decision %q reason %q, want %q", i, a.Command, a.Decision, a.Reason, want[i])
		}
		if strings.Contains(a.Output+a.Reason+a.Command, body) {
			t.Fatal("private key in an audit record")
		}
	}
	if !strings.Contains(logs.String(), "ssh command refused") {
		t.Fatal("refusals were not logged")
	} else if strings.Contains(logs.String(), body) {
		t.Fatal("private key in the tool's log")
	}
	if c := f.edge.Attempts[3].ExitCode; c == nil || *c != 2 {
		t.Fatalf("exit code of exit 2: %v", c)
	}
}

// writerFunc adapts a function to io.Writer.
type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// pemBody returns a distinctive slice of a PEM's base64 body.
func pemBody(p []byte) string {
	lines := strings.Split(strings.TrimSpace(string(p)), "\n")
	return lines[2] // lines[1] is a header every unencrypted ed25519 key shares
}

// A server that completes the handshake and never answers the session's
// channel open: the deadline still ends Run, and the attempt is recorded.
func TestTool_TimeoutBeforeStart(t *testing.T) {
	hostKey, _ := MustKey(t)
	clientKey, keyPEM := MustKey(t)
	config := &ssh.ServerConfig{PublicKeyCallback: func(_ ssh.ConnMetadata, k ssh.PublicKey) (*ssh.Permissions, error) {
		if string(k.Marshal()) == string(clientKey.PublicKey().Marshal()) {
			return nil, nil
		}
		return nil, trust.Errorf(trust.EUNAUTHORIZED, "unknown key")
	}}
	config.AddHostKey(hostKey)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				_, chans, reqs, err := ssh.NewServerConn(conn, config)
				if err != nil {
					return
				}
				go ssh.DiscardRequests(reqs)
				var held []ssh.NewChannel
				for nc := range chans { // never accepted, never rejected
					held = append(held, nc)
				}
			}()
		}
	}()
	host, port, _ := net.SplitHostPort(ln.Addr().String())
	p := 0
	for _, c := range port {
		p = p*10 + int(c-'0')
	}
	now := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
	appr := MustApprover(t, &now)
	edge := &FakeEdge{}
	tool := sshtool.NewTool()
	tool.Edge, tool.Approvals, tool.SessionID, tool.UserID = edge, appr, "conv1", "usr_1"
	tool.Now = func() time.Time { return now }
	tool.Timeout = 300 * time.Millisecond
	cred := &trust.SSHCredential{ID: "ssh_1", Target: trust.SSHTarget{Host: host, Port: p, User: "agent", HostKey: string(ssh.MarshalAuthorizedKey(hostKey.PublicKey()))},
		Policy: trust.SSHPolicy{Allow: []string{"echo"}}}
	if err := tool.Open(&trust.SSHKey{Credential: cred}, keyPEM); err != nil {
		t.Fatal(err)
	}
	tok, err := appr.Approve(sshtool.Scope{SessionID: "conv1", UserID: "usr_1", CredentialID: "ssh_1"}, "echo hi")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := tool.Run(context.Background(), sshtool.Request{Command: "echo hi", Approval: tok})
		done <- err
	}()
	select {
	case err := <-done:
		if trust.ErrorCode(err) != trust.EUNAVAILABLE {
			t.Fatalf("err = %v, want unavailable (timed out)", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run still blocked 10 s after a 300 ms timeout")
	}
	if len(edge.Attempts) != 1 {
		t.Fatalf("%d attempts recorded, want 1", len(edge.Attempts))
	}
}

// A command over the audit cap is cut on a character boundary, so the edge
// can store the refused attempt (a split character would grow past the cap).
func TestTool_LongCommandAudited(t *testing.T) {
	f := mustFixture(t, nil)
	cmd := "echo " + strings.Repeat("a", trust.MaxSSHCommand-6) + "é; rm -rf /"
	if _, err := f.run(t, cmd); err == nil {
		t.Fatal("a denied command ran")
	}
	last := f.edge.Attempts[len(f.edge.Attempts)-1]
	if len(last.Command) > trust.MaxSSHCommand || !utf8.ValidString(last.Command) {
		t.Fatalf("audited command: %d bytes, valid UTF-8 %v", len(last.Command), utf8.ValidString(last.Command))
	}
}
