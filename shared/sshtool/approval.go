package sshtool

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"strings"
	"sync"
	"time"

	"github.com/openagents/trust/shared/trust"
)

// Per-request authorization. The guard that reads the conversation issues an
// approval when the user asked for a command; the tool runs a command only
// with an approval that names it. An approval is an HMAC-SHA256-signed token
// bound to the conversation session, the user, the credential and the
// SHA-256 of the exact command, valid for a short time and once.
//
// Token format: "oasa_" base64url(JSON claims) "." base64url(HMAC).

// ApprovalPrefix starts an approval token.
const ApprovalPrefix = "oasa_"

// DefaultApprovalTTL is how long an approval lasts.
const DefaultApprovalTTL = 2 * time.Minute

// Scope is what an approval is bound to besides the command.
type Scope struct {
	SessionID    string
	UserID       string
	CredentialID string
}

// claims is an approval's signed content.
type claims struct {
	Session    string `json:"s"`
	User       string `json:"u"`
	Credential string `json:"c"`
	Command    string `json:"h"` // hex SHA-256 of the command
	Expires    int64  `json:"e"` // Unix nanoseconds
	Nonce      string `json:"n"`
}

// Approver issues and verifies approvals with one key. Verify spends an
// approval: a second use is refused.
type Approver struct {
	key []byte

	// TTL is how long an approval lasts (DefaultApprovalTTL).
	TTL time.Duration
	// Now is the clock (time.Now).
	Now func() time.Time

	mu   sync.Mutex
	used map[string]time.Time // nonce → expiry
}

// NewApprover returns an approver; key must be at least 32 bytes and is
// copied.
func NewApprover(key []byte) (*Approver, error) {
	if len(key) < 32 {
		return nil, trust.Errorf(trust.EINVALID, "approval key: want at least 32 bytes")
	}
	return &Approver{key: append([]byte(nil), key...), TTL: DefaultApprovalTTL, Now: time.Now}, nil
}

// Approve returns an approval for command in scope.
func (a *Approver) Approve(scope Scope, command string) (string, error) {
	nonce := make([]byte, 16)
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	c := claims{
		Session: scope.SessionID, User: scope.UserID, Credential: scope.CredentialID,
		Command: commandHash(command), Expires: a.Now().Add(a.TTL).UnixNano(),
		Nonce: hex.EncodeToString(nonce),
	}
	body, err := json.Marshal(c)
	if err != nil {
		return "", err
	}
	payload := base64.RawURLEncoding.EncodeToString(body)
	return ApprovalPrefix + payload + "." + base64.RawURLEncoding.EncodeToString(a.mac(payload)), nil
}

// Verify checks that token approves command in scope now, and spends it.
// Every failure is EUNAUTHORIZED with a message that does not quote the
// token.
func (a *Approver) Verify(token string, scope Scope, command string) error {
	bad := func(why string) error { return trust.Errorf(trust.EUNAUTHORIZED, "approval %s", why) }
	if token == "" {
		return bad("required: the user has not asked for this command")
	}
	payload, sig, ok := strings.Cut(strings.TrimPrefix(token, ApprovalPrefix), ".")
	if !ok || !strings.HasPrefix(token, ApprovalPrefix) {
		return bad("malformed")
	}
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || !hmac.Equal(got, a.mac(payload)) {
		return bad("signature invalid")
	}
	body, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		return bad("malformed")
	}
	var c claims
	if err := json.Unmarshal(body, &c); err != nil {
		return bad("malformed")
	}
	now := a.Now()
	switch {
	case c.Session != scope.SessionID || c.User != scope.UserID || c.Credential != scope.CredentialID:
		return bad("is for another session, user or credential")
	case !hmac.Equal([]byte(c.Command), []byte(commandHash(command))):
		return bad("is for another command")
	case now.UnixNano() >= c.Expires:
		return bad("expired")
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.used == nil {
		a.used = make(map[string]time.Time)
	}
	for n, exp := range a.used { // forget spent approvals once expired
		if !now.Before(exp) {
			delete(a.used, n)
		}
	}
	if _, spent := a.used[c.Nonce]; spent {
		return bad("already used")
	}
	a.used[c.Nonce] = time.Unix(0, c.Expires)
	return nil
}

func (a *Approver) mac(payload string) []byte {
	m := hmac.New(sha256.New, a.key)
	m.Write([]byte("oa-ssh-approval/v1\x00"))
	m.Write([]byte(payload))
	return m.Sum(nil)
}

func commandHash(command string) string {
	sum := sha256.Sum256([]byte(command))
	return hex.EncodeToString(sum[:])
}
