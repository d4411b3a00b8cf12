// Package vaulttransit is a seal.KEK backed by a key in HashiCorp Vault's (or
// OpenBao's) Transit secrets engine: the production key-encryption key. The
// KEK never leaves Vault; each data key is wrapped by Vault's
// transit/encrypt and unwrapped by transit/decrypt, with the associated data
// bound through Transit's associated_data (an AEAD key type such as
// aes256-gcm96 or chacha20-poly1305 is required).
//
// Only plain HTTP is used (no Vault SDK). The Vault token and every key byte
// stay out of errors and logs.
package vaulttransit

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/openagents/trust/shared/httpapi"
	"github.com/openagents/trust/shared/trust"
)

// KEK wraps data keys with a Transit key.
type KEK struct {
	addr   string // https://vault.example:8200
	mount  string // transit
	key    string // trust-kek
	token  string
	client *http.Client
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._/-]{0,127}$`)

// New returns a KEK for the Transit key named by location:
// "https://HOST[:PORT]/MOUNT/KEY", e.g. "https://vault.internal:8200/transit/trust-kek"
// (http:// only to a loopback address). token is the Vault token; client may
// be nil for a default with a 10 s timeout.
func New(location, token string, client *http.Client) (*KEK, error) {
	u, err := url.Parse(location)
	if err != nil || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("vaulttransit: location must be https://HOST[:PORT]/MOUNT/KEY")
	}
	base := (&url.URL{Scheme: u.Scheme, Host: u.Host}).String()
	if err := httpapi.CheckBaseURL(base); err != nil {
		return nil, fmt.Errorf("vaulttransit: %s", trust.ErrorMessage(err))
	}
	path := strings.Trim(u.Path, "/")
	i := strings.LastIndex(path, "/")
	if i <= 0 || !nameRE.MatchString(path[:i]) || !nameRE.MatchString(path[i+1:]) || strings.Contains(path, "..") {
		return nil, fmt.Errorf("vaulttransit: location must name a mount and a key: https://HOST[:PORT]/MOUNT/KEY")
	}
	if token == "" {
		return nil, fmt.Errorf("vaulttransit: a Vault token is required (VAULT_TOKEN)")
	}
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	return &KEK{addr: base, mount: path[:i], key: path[i+1:], token: token, client: client}, nil
}

// ID names the KEK: the Vault address, mount and key (no secret).
func (k *KEK) ID() string {
	id := "vault-transit:" + strings.TrimPrefix(strings.TrimPrefix(k.addr, "https://"), "http://") + "/" + k.mount + "/" + k.key
	if len(id) > 255 {
		id = id[:255]
	}
	return id
}

// Wrap encrypts dataKey under the Transit key, bound to ad.
func (k *KEK) Wrap(ctx context.Context, dataKey, ad []byte) ([]byte, error) {
	var out struct {
		Data struct {
			Ciphertext string `json:"ciphertext"`
		} `json:"data"`
	}
	err := k.call(ctx, "encrypt", map[string]string{
		"plaintext":       base64.StdEncoding.EncodeToString(dataKey),
		"associated_data": base64.StdEncoding.EncodeToString(ad),
	}, &out)
	if err != nil {
		return nil, err
	} else if !strings.HasPrefix(out.Data.Ciphertext, "vault:") {
		return nil, fmt.Errorf("vaulttransit: encrypt answered no ciphertext")
	}
	return []byte(out.Data.Ciphertext), nil
}

// Unwrap decrypts a wrapped data key, which must have been bound to ad.
func (k *KEK) Unwrap(ctx context.Context, wrapped, ad []byte) ([]byte, error) {
	if !bytes.HasPrefix(wrapped, []byte("vault:")) {
		return nil, fmt.Errorf("vaulttransit: not a Transit ciphertext")
	}
	var out struct {
		Data struct {
			Plaintext string `json:"plaintext"`
		} `json:"data"`
	}
	err := k.call(ctx, "decrypt", map[string]string{
		"ciphertext":      string(wrapped),
		"associated_data": base64.StdEncoding.EncodeToString(ad),
	}, &out)
	if err != nil {
		return nil, err
	}
	key, err := base64.StdEncoding.DecodeString(out.Data.Plaintext)
	if err != nil || len(key) == 0 {
		return nil, fmt.Errorf("vaulttransit: decrypt answered no data key")
	}
	return key, nil
}

// call posts body to transit/OP/KEY and decodes the answer into out. Errors
// name the operation and the status, never the token or the payload.
func (k *KEK) call(ctx context.Context, op string, body map[string]string, out any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	u := k.addr + "/v1/" + k.mount + "/" + op + "/" + url.PathEscape(k.key)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(b))
	if err != nil {
		return fmt.Errorf("vaulttransit: %s: build request", op)
	}
	req.Header.Set("X-Vault-Token", k.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := k.client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("vaulttransit: %s: %w", op, ctx.Err())
		}
		return fmt.Errorf("vaulttransit: %s: Vault not reachable", op)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return fmt.Errorf("vaulttransit: %s: read answer", op)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("vaulttransit: %s refused by Vault: status %d", op, resp.StatusCode)
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("vaulttransit: %s: malformed answer", op)
	}
	return nil
}
