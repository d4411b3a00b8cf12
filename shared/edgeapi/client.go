// Package edgeapi is the client of the edge node's HTTP API, used by trustctl
// on Agent Machines (with a Machine token) and by the functions (with the
// service credential). It also holds the API's request and response bodies,
// which the edge server shares.
//
// Every error the edge answers comes back as a *trust.Error with the edge's
// code and message (httpapi.ReadError). The token travels only in the
// Authorization header and never appears in an error.
package edgeapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/openagents/trust/shared/httpapi"
	"github.com/openagents/trust/shared/trust"
)

// DefaultTimeout bounds each request of a client made by NewClient.
const DefaultTimeout = 10 * time.Second

// MaxResponseSize is the largest response body the client reads.
const MaxResponseSize = 16 << 20

// Client calls the edge API.
type Client struct {
	// URL is the edge's base URL, e.g. "https://edge.example.com".
	URL string

	// Token is the bearer credential: a Machine token or the service credential.
	Token string

	// HTTPClient sends the requests. NewClient's has a 10 s timeout and follows
	// no redirects, so the credential is never sent anywhere else.
	HTTPClient *http.Client
}

// NewClient returns a client of the edge at baseURL presenting token.
func NewClient(baseURL, token string) *Client {
	return &Client{
		URL:   baseURL,
		Token: token,
		HTTPClient: &http.Client{
			Timeout: DefaultTimeout,
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse
			},
		},
	}
}

// Health checks that the edge answers. It needs no token.
func (c *Client) Health(ctx context.Context) error {
	var resp HealthResponse
	if err := c.do(ctx, http.MethodGet, "/healthz", nil, &resp); err != nil {
		return err
	} else if resp.Status != "ok" {
		return trust.Errorf(trust.EUNAVAILABLE, "edge status %q", resp.Status)
	}
	return nil
}

// FindKeyring returns the edge's signing keyring.
func (c *Client) FindKeyring(ctx context.Context) (*trust.Keyring, error) {
	var kr trust.Keyring
	if err := c.do(ctx, http.MethodGet, "/v1/keyring", nil, &kr); err != nil {
		return nil, err
	}
	return &kr, nil
}

// FindSignatures returns the signatures of one skill version, newest issued
// first; none is an empty slice.
func (c *Client) FindSignatures(ctx context.Context, ref trust.SkillRef) ([]*trust.Signature, error) {
	var resp SignaturesResponse
	if err := c.do(ctx, http.MethodGet, skillPath("/v1/skills/", ref)+"/signatures", nil, &resp); err != nil {
		return nil, err
	}
	if resp.Signatures == nil {
		resp.Signatures = []*trust.Signature{}
	}
	return resp.Signatures, nil
}

// FindSignaturesBatch returns the signatures of every ref, each newest issued
// first, in as few requests as trust.MaxBatch allows. Every requested ref is
// in the map; one without signatures maps to an empty slice.
func (c *Client) FindSignaturesBatch(ctx context.Context, refs []trust.SkillRef) (map[trust.SkillRef][]*trust.Signature, error) {
	m := make(map[trust.SkillRef][]*trust.Signature, len(refs))
	for start := 0; start < len(refs); start += trust.MaxBatch {
		chunk := refs[start:min(start+trust.MaxBatch, len(refs))]
		var resp BatchResponse
		if err := c.do(ctx, http.MethodPost, "/v1/signatures/batch", BatchRequest{Skills: chunk}, &resp); err != nil {
			return nil, err
		}
		if len(resp.Results) != len(chunk) {
			return nil, fmt.Errorf("edge batch lookup: %d results for %d skill versions", len(resp.Results), len(chunk))
		}
		for i, r := range resp.Results {
			ref := trust.SkillRef{Name: r.Name, Version: r.Version}
			if ref != chunk[i] {
				return nil, fmt.Errorf("edge batch lookup: result %d is for %s, want %s", i, ref, chunk[i])
			}
			if r.Signatures == nil {
				r.Signatures = []*trust.Signature{}
			}
			m[ref] = r.Signatures
		}
	}
	return m, nil
}

// CreateKeyVersion publishes a key version and returns it as stored.
func (c *Client) CreateKeyVersion(ctx context.Context, k *trust.KeyVersion) (*trust.KeyVersion, error) {
	var out trust.KeyVersion
	if err := c.do(ctx, http.MethodPost, "/v1/service/keys", k, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// RetireKeyVersion moves a key version to retiring.
func (c *Client) RetireKeyVersion(ctx context.Context, keyID string, version int) (*trust.KeyVersion, error) {
	var out trust.KeyVersion
	if err := c.do(ctx, http.MethodPost, keyPath(keyID, version)+"/retire", nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// RevokeKeyVersion revokes a key version with a reason.
func (c *Client) RevokeKeyVersion(ctx context.Context, keyID string, version int, reason string) (*trust.KeyVersion, error) {
	var out trust.KeyVersion
	if err := c.do(ctx, http.MethodPost, keyPath(keyID, version)+"/revoke", RevokeRequest{Reason: reason}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// CreateSkillVersion records a skill version (PUT, idempotent for the same
// digests) and returns it as stored.
func (c *Client) CreateSkillVersion(ctx context.Context, v *trust.SkillVersion) (*trust.SkillVersion, error) {
	if v == nil {
		return nil, trust.Errorf(trust.EINVALID, "skill version required")
	}
	var out trust.SkillVersion
	ref := trust.SkillRef{Name: v.Name, Version: v.Version}
	if err := c.do(ctx, http.MethodPut, skillPath("/v1/service/skills/", ref), v, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// FindSkillVersion returns one skill version. ENOTFOUND if absent.
func (c *Client) FindSkillVersion(ctx context.Context, ref trust.SkillRef) (*trust.SkillVersion, error) {
	var out trust.SkillVersion
	if err := c.do(ctx, http.MethodGet, skillPath("/v1/service/skills/", ref), nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// UpdateSkillVersionState moves a skill version to approved or rejected.
func (c *Client) UpdateSkillVersionState(ctx context.Context, ref trust.SkillRef, state string) (*trust.SkillVersion, error) {
	var out trust.SkillVersion
	if err := c.do(ctx, http.MethodPost, skillPath("/v1/service/skills/", ref)+"/state", StateRequest{State: state}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// CreateSignature records a signed DSSE envelope (JSON). The edge verifies it
// against its keyring and answers with the stored signature.
func (c *Client) CreateSignature(ctx context.Context, envelope []byte) (*trust.Signature, error) {
	if !json.Valid(envelope) {
		return nil, trust.Errorf(trust.EINVALID, "envelope is not JSON")
	}
	var out trust.Signature
	if err := c.do(ctx, http.MethodPost, "/v1/service/signatures", SignatureRequest{Envelope: envelope}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// CreateMachineToken issues a Machine token and returns it. It is shown this
// once: store it, and never log it.
func (c *Client) CreateMachineToken(ctx context.Context, machineID, tenantID string) (string, error) {
	var out MachineTokenResponse
	if err := c.do(ctx, http.MethodPost, "/v1/service/machine-tokens", MachineTokenRequest{MachineID: machineID, TenantID: tenantID}, &out); err != nil {
		return "", err
	} else if out.Token == "" {
		return "", fmt.Errorf("edge issued no machine token")
	}
	return out.Token, nil
}

// RevokeMachineTokens revokes every token of a Machine: from now on they get
// 401. Revoking again is not an error; ENOTFOUND if the Machine never had a
// token.
func (c *Client) RevokeMachineTokens(ctx context.Context, machineID string) error {
	if machineID == "" {
		return trust.Errorf(trust.EINVALID, "machine ID required")
	}
	var out RevokeMachineTokensResponse
	if err := c.do(ctx, http.MethodPost, "/v1/service/machines/"+url.PathEscape(machineID)+"/revoke-tokens", nil, &out); err != nil {
		return err
	} else if !out.Revoked {
		return fmt.Errorf("edge answered without confirming that the tokens of machine %s are revoked", machineID)
	}
	return nil
}

// do sends one request with body encoded as JSON (none when nil) and decodes
// a 2xx answer into out; any other answer becomes a *trust.Error.
func (c *Client) do(ctx context.Context, method, path string, body, out any) error {
	base, err := url.Parse(c.URL)
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return trust.Errorf(trust.EINVALID, "invalid edge URL: want http(s)://host")
	}

	var rd io.Reader
	if body != nil {
		buf, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("encode %s %s request: %w", method, path, err)
		}
		rd = bytes.NewReader(buf)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimSuffix(base.String(), "/")+path, rd)
	if err != nil {
		return fmt.Errorf("build %s %s request: %w", method, path, err)
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}

	hc := c.HTTPClient
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("edge %s %s: %w", method, path, scrub(err))
	}
	defer resp.Body.Close()

	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return httpapi.ReadError(resp)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, MaxResponseSize+1))
	if err != nil {
		return fmt.Errorf("edge %s %s: read response: %w", method, path, err)
	} else if len(data) > MaxResponseSize {
		return fmt.Errorf("edge %s %s: response larger than %d bytes", method, path, MaxResponseSize)
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("edge %s %s: decode response: %w", method, path, err)
	}
	return nil
}

// scrub drops the URL from a transport error: it names the edge and the path,
// which the caller's message already has, and could carry userinfo.
func scrub(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// skillPath returns prefix + "{name}/versions/{version}", escaped.
func skillPath(prefix string, ref trust.SkillRef) string {
	return prefix + url.PathEscape(ref.Name) + "/versions/" + url.PathEscape(ref.Version)
}

// keyPath returns the path of one key version.
func keyPath(keyID string, version int) string {
	return "/v1/service/keys/" + url.PathEscape(keyID) + "/versions/" + strconv.Itoa(version)
}
