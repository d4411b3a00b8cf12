// Package sshtool is the Agent Machine's SSH tool: it runs a command on the
// user's own machine over SSH (golang.org/x/crypto/ssh) only when every check
// passes, in this order, and records every attempt, allowed or refused, at
// the edge:
//
//  1. the credential still stands: the edge is asked on every request, and a
//     revoked credential disables the tool from that request on, dropping
//     the private key;
//  2. the user asked for this command in the conversation: an approval
//     (approval.go) bound to the session, user, credential and command;
//  3. the command's parse passes the credential's allowlist and denylist
//     (policy.go; deny wins, anything unparsable is refused);
//  4. the user and target are under the rate limit (limit.go: 10 a minute).
//
// The private key is held in memory only; the host key is pinned through
// golang.org/x/crypto/ssh/knownhosts, and a server with another key is
// refused. A command runs with a timeout and an output cap; its exit code is
// captured, and a server that sends no exit status is reported as such.
package sshtool

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"time"
	"unicode/utf8"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/openagents/trust/shared/trust"
)

// Defaults of a Tool.
const (
	DefaultTimeout     = 30 * time.Second
	DefaultOutputCap   = 64 << 10
	DefaultDialTimeout = 10 * time.Second

	// killGrace is how long a timed-out command's session may take to end
	// after the kill signal before the connection is dropped.
	killGrace = 2 * time.Second
)

// Edge is what the tool needs from the edge: the credential's status and the
// audit trail. edgeapi.Client implements it.
type Edge interface {
	// SSHCredentialStatus returns nil while the credential stands and
	// ENOTFOUND once it is revoked.
	SSHCredentialStatus(ctx context.Context, id string) error
	// RecordSSHAttempt records one attempt.
	RecordSSHAttempt(ctx context.Context, a *trust.SSHAttempt) error
}

// Request is one command the agent wants to run.
type Request struct {
	Command  string
	Approval string // the approval token the guard issued for Command
}

// Result is how a command that ran ended. ExitCode is nil when the server
// sent no exit status or the command timed out; Reason says which.
type Result struct {
	ExitCode  *int
	Output    string // stdout and stderr interleaved, up to OutputCap bytes
	Truncated bool
	Reason    string
}

// Tool runs approved, allowed commands on one target with one credential.
type Tool struct {
	// Credential is the target, pinned host key and policy; set by Open.
	Credential *trust.SSHCredential
	// Scope binds approvals: the conversation session and the user.
	SessionID, UserID string

	Edge      Edge
	Approvals *Approver
	Limiter   *Limiter // shared by the tools of one Machine

	Timeout     time.Duration
	OutputCap   int
	DialTimeout time.Duration
	Now         func() time.Time
	Logger      *slog.Logger

	mu       sync.Mutex
	signer   ssh.Signer
	hostKeys ssh.HostKeyCallback
	disabled bool
}

// NewTool returns a tool with the defaults and a fresh limiter.
func NewTool() *Tool {
	return &Tool{
		Limiter: NewLimiter(), Timeout: DefaultTimeout, OutputCap: DefaultOutputCap,
		DialTimeout: DefaultDialTimeout, Now: time.Now, Logger: slog.Default(),
	}
}

// Open takes the key the edge delivered for a grant: it parses the private
// key into memory (and zeroes the PEM it was given), and pins the host key.
// EINVALID for a key or host key that does not parse.
func (t *Tool) Open(key *trust.SSHKey, privatePEM []byte) error {
	defer clear(privatePEM)
	if key == nil || key.Credential == nil {
		return trust.Errorf(trust.EINVALID, "ssh key required")
	} else if t.Edge == nil || t.Approvals == nil || t.Limiter == nil {
		return trust.Errorf(trust.EINVALID, "ssh tool needs the edge, an approver and a limiter")
	}
	signer, err := ssh.ParsePrivateKey(privatePEM)
	if err != nil {
		return trust.Errorf(trust.EINVALID, "ssh private key does not parse")
	}
	hostKeys, err := pinHostKey(key.Credential.Target)
	if err != nil {
		return err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.Credential, t.signer, t.hostKeys, t.disabled = key.Credential, signer, hostKeys, false
	return nil
}

// Close drops the private key; the tool refuses every later request.
func (t *Tool) Close() error {
	t.disable()
	return nil
}

// disable drops the key for good.
func (t *Tool) disable() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.signer, t.disabled = nil, true
}

// pinHostKey returns a knownhosts callback accepting only the pinned key for
// the target's address. knownhosts reads files, so the one public line is
// written to a temporary file that is removed at once.
func pinHostKey(target trust.SSHTarget) (ssh.HostKeyCallback, error) {
	pub, _, _, _, err := ssh.ParseAuthorizedKey([]byte(target.HostKey))
	if err != nil {
		return nil, trust.Errorf(trust.EINVALID, "pinned host key does not parse")
	}
	f, err := os.CreateTemp("", "oa-known-hosts-*")
	if err != nil {
		return nil, fmt.Errorf("pin host key: %w", err)
	}
	defer os.Remove(f.Name())
	line := knownhosts.Line([]string{knownhosts.Normalize(target.Addr())}, pub) + "\n"
	if _, err := f.WriteString(line); err != nil {
		f.Close()
		return nil, fmt.Errorf("pin host key: %w", err)
	} else if err := f.Close(); err != nil {
		return nil, fmt.Errorf("pin host key: %w", err)
	}
	cb, err := knownhosts.New(f.Name())
	if err != nil {
		return nil, fmt.Errorf("pin host key: %w", err)
	}
	return cb, nil
}

// Run runs req if every check passes and records the attempt at the edge.
// A refusal is an error with a code — EFORBIDDEN (revoked credential,
// policy, host key), EUNAUTHORIZED (approval), ERATELIMIT, EUNAVAILABLE
// (edge or target unreachable) — and nothing runs. A command that ran
// returns its Result, also when it timed out or sent no exit status. When
// the attempt cannot be recorded, Run fails closed: EUNAVAILABLE, no output.
func (t *Tool) Run(ctx context.Context, req Request) (*Result, error) {
	t.mu.Lock()
	cred, signer, hostKeys, disabled := t.Credential, t.signer, t.hostKeys, t.disabled
	t.mu.Unlock()
	if cred == nil {
		return nil, trust.Errorf(trust.EUNAVAILABLE, "ssh tool not configured")
	}
	at := t.Now()
	attempt := &trust.SSHAttempt{CredentialID: cred.ID, At: at, Command: req.Command, Decision: trust.SSHRefused}
	if len(req.Command) > trust.MaxSSHCommand {
		// Cut on a character boundary: a split character would be encoded
		// larger than the cap and the edge would refuse the audit record.
		c := req.Command[:trust.MaxSSHCommand]
		for len(c) > 0 && !utf8.ValidString(c) {
			c = c[:len(c)-1]
		}
		attempt.Command = c
	}

	if disabled || signer == nil {
		return nil, t.refused(ctx, attempt, trust.Errorf(trust.EFORBIDDEN, "ssh credential revoked: the tool is disabled"))
	}
	if err := t.Edge.SSHCredentialStatus(ctx, cred.ID); err != nil {
		if trust.ErrorCode(err) == trust.ENOTFOUND {
			t.disable()
			return nil, t.refused(ctx, attempt, trust.Errorf(trust.EFORBIDDEN, "ssh credential revoked: the tool is disabled"))
		}
		t.logger().Warn("ssh credential status check failed", "credential", cred.ID, "err", err)
		return nil, t.refused(ctx, attempt, trust.Errorf(trust.EUNAVAILABLE, "cannot confirm the ssh credential with the edge"))
	}
	scope := Scope{SessionID: t.SessionID, UserID: t.UserID, CredentialID: cred.ID}
	if err := t.Approvals.Verify(req.Approval, scope, req.Command); err != nil {
		return nil, t.refused(ctx, attempt, err)
	}
	if err := Check(cred.Policy, req.Command); err != nil {
		return nil, t.refused(ctx, attempt, trust.Errorf(trust.EFORBIDDEN, "%s", err.Error()))
	}
	if !t.Limiter.Allow(t.UserID+"\x00"+cred.Target.Addr()+"\x00"+cred.Target.User, at) {
		return nil, t.refused(ctx, attempt, trust.Errorf(trust.ERATELIMIT, "rate limit: at most %d commands a minute per user and target", t.Limiter.Limit))
	}

	res, err := t.exec(ctx, cred.Target, signer, hostKeys, req.Command)
	if err != nil {
		return nil, t.refused(ctx, attempt, err)
	}
	attempt.Decision, attempt.Reason, attempt.ExitCode = trust.SSHAllowed, res.Reason, res.ExitCode
	attempt.Output, attempt.Truncated = auditOutput(res.Output, res.Truncated)
	if err := t.Edge.RecordSSHAttempt(ctx, attempt); err != nil {
		t.logger().Error("record ssh attempt", "credential", cred.ID, "err", err)
		return nil, trust.Errorf(trust.EUNAVAILABLE, "the attempt could not be recorded: output withheld")
	}
	t.logger().Info("ssh command ran", "credential", cred.ID, "reason", res.Reason, "output_bytes", len(res.Output))
	return res, nil
}

// refused records a refused attempt and returns why it was refused.
func (t *Tool) refused(ctx context.Context, a *trust.SSHAttempt, why error) error {
	a.Reason = trust.ErrorMessage(why)
	if err := t.Edge.RecordSSHAttempt(ctx, a); err != nil {
		t.logger().Error("record refused ssh attempt", "credential", a.CredentialID, "err", err)
	}
	t.logger().Info("ssh command refused", "credential", a.CredentialID, "reason", a.Reason)
	return why
}

// exec dials the target and runs command. Errors are refusals before the
// command started (EFORBIDDEN for the host key, EUNAVAILABLE otherwise).
func (t *Tool) exec(ctx context.Context, target trust.SSHTarget, signer ssh.Signer, hostKeys ssh.HostKeyCallback, command string) (*Result, error) {
	ctx, cancel := context.WithTimeout(ctx, t.Timeout)
	defer cancel()
	config := &ssh.ClientConfig{
		User:            target.User,
		Auth:            []ssh.AuthMethod{ssh.PublicKeys(signer)},
		HostKeyCallback: hostKeys,
		Timeout:         t.DialTimeout,
	}
	var d net.Dialer
	d.Timeout = t.DialTimeout
	conn, err := d.DialContext(ctx, "tcp", target.Addr())
	if err != nil {
		return nil, trust.Errorf(trust.EUNAVAILABLE, "cannot reach the ssh target")
	}
	// The deadline covers the handshake too: closing the connection ends it.
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	c, chans, reqs, err := ssh.NewClientConn(conn, target.Addr(), config)
	if !stop() {
		err = errors.Join(err, ctx.Err())
	}
	if err != nil {
		conn.Close()
		if ctx.Err() != nil {
			return nil, trust.Errorf(trust.EUNAVAILABLE, "ssh handshake with the target timed out")
		}
		var ke *knownhosts.KeyError
		if errors.As(err, &ke) {
			return nil, trust.Errorf(trust.EFORBIDDEN, "host key does not match the pinned key: connection refused")
		}
		return nil, trust.Errorf(trust.EUNAVAILABLE, "ssh handshake with the target failed")
	}
	client := ssh.NewClient(c, chans, reqs)
	defer client.Close()
	// Until the command has started, the deadline closes the connection (a
	// server may complete the handshake and never answer the channel open).
	stopOpen := context.AfterFunc(ctx, func() { client.Close() })
	sess, err := client.NewSession()
	if err != nil {
		stopOpen()
		if ctx.Err() != nil {
			return nil, trust.Errorf(trust.EUNAVAILABLE, "opening an ssh session timed out")
		}
		return nil, trust.Errorf(trust.EUNAVAILABLE, "cannot open an ssh session")
	}
	defer sess.Close()
	out := &capWriter{max: t.OutputCap}
	sess.Stdout, sess.Stderr = out, out
	err = sess.Start(command)
	if !stopOpen() {
		err = errors.Join(err, ctx.Err())
	}
	if err != nil {
		if ctx.Err() != nil {
			return nil, trust.Errorf(trust.EUNAVAILABLE, "starting the command timed out")
		}
		return nil, trust.Errorf(trust.EUNAVAILABLE, "the target refused to start the command")
	}
	done := make(chan error, 1)
	go func() { done <- sess.Wait() }()
	res := &Result{}
	select {
	case err = <-done:
	case <-ctx.Done():
		// OpenSSH delivers a signal request to the session's process
		// group; wait a moment for the session to end before dropping the
		// connection, which alone would leave the command running.
		sess.Signal(ssh.SIGKILL)
		select {
		case <-done:
		case <-time.After(killGrace):
			client.Close()
			<-done
		}
		res.Output, res.Truncated = out.result()
		res.Reason = fmt.Sprintf("timed out after %s", t.Timeout)
		return res, nil
	}
	res.Output, res.Truncated = out.result()
	var exitErr *ssh.ExitError
	var missing *ssh.ExitMissingError
	switch {
	case err == nil:
		code := 0
		res.ExitCode, res.Reason = &code, "exit 0"
	case errors.As(err, &exitErr):
		code := exitErr.ExitStatus()
		res.ExitCode, res.Reason = &code, fmt.Sprintf("exit %d", code)
		if exitErr.Signal() != "" {
			res.Reason += " (signal " + exitErr.Signal() + ")"
		}
	case errors.As(err, &missing):
		res.Reason = "the server sent no exit status"
	case ctx.Err() != nil:
		res.Reason = fmt.Sprintf("timed out after %s", t.Timeout)
	default:
		res.Reason = "the connection ended without an exit status"
	}
	return res, nil
}

// auditOutput cuts output to what an audit record keeps, on a UTF-8
// boundary.
func auditOutput(s string, truncated bool) (string, bool) {
	if len(s) <= trust.MaxSSHAuditOutput {
		return s, truncated
	}
	s = s[:trust.MaxSSHAuditOutput]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s, true
}

// capWriter keeps the first max bytes written to it and counts the rest.
type capWriter struct {
	mu        sync.Mutex
	max       int
	buf       bytes.Buffer
	truncated bool
}

func (w *capWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if room := w.max - w.buf.Len(); room < len(p) {
		w.truncated = true
		if room > 0 {
			w.buf.Write(p[:room])
		}
		return len(p), nil
	}
	w.buf.Write(p)
	return len(p), nil
}

func (w *capWriter) result() (string, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String(), w.truncated
}

func (t *Tool) logger() *slog.Logger {
	if t.Logger == nil {
		return slog.Default()
	}
	return t.Logger
}
