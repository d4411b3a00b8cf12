package edgeapi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/openagents/trust/shared/httpapi"
	"github.com/openagents/trust/shared/trust"
)

// The submission pipeline's catalog, for the functions (service credential):
// publishers with their tokens and KYC state, submissions with their archive,
// findings and state, and the notifications sent to publishers. The client
// implements trust.PublisherService and trust.SubmissionService, so a
// function holds either the catalog or this client behind the interfaces.
//
// Archives travel as raw bytes (application/octet-stream), not inside JSON.

// Ensure the client implements the domain interfaces.
var (
	_ trust.PublisherService  = (*Client)(nil)
	_ trust.SubmissionService = (*Client)(nil)
)

// HeaderArchiveDigest carries, on GET /v1/service/submissions/{id}/archive,
// the sha256 digest of the archive; the client checks the bytes against it.
const HeaderArchiveDigest = "X-Trust-Archive-Digest"

// PublisherTokenResponse is the answer to POST /v1/service/publishers/{id}/tokens.
// The token is shown this once; the edge keeps only its hash.
type PublisherTokenResponse struct {
	PublisherID string `json:"publisher_id"`
	Token       string `json:"token"`
}

// PublisherAuthRequest is the body of POST /v1/service/publishers/authenticate:
// the token travels in the body, never in a path or a query, which are logged.
type PublisherAuthRequest struct {
	Token string `json:"token"`
}

// WebhookSecretResponse is the body of GET /v1/service/publishers/{id}/webhook-secret.
type WebhookSecretResponse struct {
	PublisherID   string `json:"publisher_id"`
	WebhookSecret string `json:"webhook_secret"`
}

// SubmissionsResponse is the body of GET /v1/service/submissions.
type SubmissionsResponse struct {
	Submissions []*trust.Submission `json:"submissions"`
}

// FindingsRequest is the body of PUT /v1/service/submissions/{id}/findings/{source}.
type FindingsRequest struct {
	Findings []*trust.SubmissionFinding `json:"findings"`
}

// FindingsResponse is the answer to a FindingsRequest.
type FindingsResponse struct {
	SubmissionID string `json:"submission_id"`
	Source       string `json:"source"`
	Count        int    `json:"count"`
}

// NotificationsResponse is the body of GET /v1/service/notifications/pending.
type NotificationsResponse struct {
	Notifications []*trust.Notification `json:"notifications"`
}

// NotificationAttemptRequest is the body of
// POST /v1/service/notifications/{id}/attempts.
type NotificationAttemptRequest struct {
	Delivered bool   `json:"delivered"`
	LastError string `json:"last_error,omitempty"`
}

// NotificationAttemptResponse is the answer to a NotificationAttemptRequest.
type NotificationAttemptResponse struct {
	NotificationID string `json:"notification_id"`
	Recorded       bool   `json:"recorded"`
}

// CreatePublisher records a publisher (KYC pending) and returns it with its
// first token and webhook secret, shown this once.
func (c *Client) CreatePublisher(ctx context.Context, p *trust.Publisher) (*trust.PublisherCredentials, error) {
	if p == nil {
		return nil, trust.Errorf(trust.EINVALID, "publisher required")
	}
	var out trust.PublisherCredentials
	if err := c.do(ctx, http.MethodPost, "/v1/service/publishers", p, &out); err != nil {
		return nil, err
	} else if out.Publisher == nil || out.Token == "" || out.WebhookSecret == "" {
		return nil, fmt.Errorf("edge created publisher %s without its credentials", p.ID)
	}
	return &out, nil
}

// FindPublisherByID returns one publisher. ENOTFOUND if absent.
func (c *Client) FindPublisherByID(ctx context.Context, id string) (*trust.Publisher, error) {
	if id == "" {
		return nil, trust.Errorf(trust.EINVALID, "publisher ID required")
	}
	var out trust.Publisher
	if err := c.do(ctx, http.MethodGet, publisherPath(id), nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// CreatePublisherToken issues another token for a publisher, shown this once.
func (c *Client) CreatePublisherToken(ctx context.Context, id string) (string, error) {
	if id == "" {
		return "", trust.Errorf(trust.EINVALID, "publisher ID required")
	}
	var out PublisherTokenResponse
	if err := c.do(ctx, http.MethodPost, publisherPath(id)+"/tokens", nil, &out); err != nil {
		return "", err
	} else if out.Token == "" {
		return "", fmt.Errorf("edge issued no token for publisher %s", id)
	}
	return out.Token, nil
}

// AuthenticatePublisher returns the publisher holding token. EUNAUTHORIZED
// for an unknown or revoked token; no error carries the token.
func (c *Client) AuthenticatePublisher(ctx context.Context, token string) (*trust.Publisher, error) {
	if token == "" {
		return nil, trust.Errorf(trust.EUNAUTHORIZED, "invalid or revoked publisher token")
	}
	var out trust.Publisher
	if err := c.do(ctx, http.MethodPost, "/v1/service/publishers/authenticate", PublisherAuthRequest{Token: token}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// UpdatePublisherKYC applies one Stripe account.updated event.
func (c *Client) UpdatePublisherKYC(ctx context.Context, u trust.KYCUpdate) (*trust.Publisher, error) {
	var out trust.Publisher
	if err := c.do(ctx, http.MethodPost, "/v1/service/publishers/kyc", u, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// FindPublisherWebhookSecret returns the secret a publisher's notifications
// are signed with. Never log it.
func (c *Client) FindPublisherWebhookSecret(ctx context.Context, id string) (string, error) {
	if id == "" {
		return "", trust.Errorf(trust.EINVALID, "publisher ID required")
	}
	var out WebhookSecretResponse
	if err := c.do(ctx, http.MethodGet, publisherPath(id)+"/webhook-secret", nil, &out); err != nil {
		return "", err
	} else if out.WebhookSecret == "" {
		return "", fmt.Errorf("edge answered no webhook secret for publisher %s", id)
	}
	return out.WebhookSecret, nil
}

// CreateSubmission uploads an archive for s.Publisher in s.ArchiveFormat. An
// empty s.ArchiveDigest is computed here; the edge checks it against the
// bytes either way. created is false when the publisher had uploaded the
// same bytes before (the existing submission is returned).
func (c *Client) CreateSubmission(ctx context.Context, s *trust.Submission, archive []byte) (*trust.Submission, bool, error) {
	if s == nil {
		return nil, false, trust.Errorf(trust.EINVALID, "submission required")
	} else if len(archive) > trust.MaxArchiveSize {
		return nil, false, trust.Errorf(trust.EINVALID, "archive larger than %d bytes (the cap)", trust.MaxArchiveSize)
	}
	digest := s.ArchiveDigest
	if digest == "" {
		digest = ArchiveDigest(archive)
	}
	q := url.Values{}
	q.Set("publisher", s.Publisher)
	q.Set("archive_format", s.ArchiveFormat)
	q.Set("archive_digest", digest)
	resp, err := c.send(ctx, http.MethodPost, "/v1/service/submissions?"+q.Encode(), "application/octet-stream", archive)
	if err != nil {
		return nil, false, err
	}
	defer resp.Body.Close()
	var out trust.Submission
	if err := decodeJSON(resp, "POST /v1/service/submissions", &out); err != nil {
		return nil, false, err
	}
	return &out, resp.StatusCode == http.StatusCreated, nil
}

// FindSubmissionByID returns one submission with its findings.
func (c *Client) FindSubmissionByID(ctx context.Context, id string) (*trust.Submission, error) {
	if id == "" {
		return nil, trust.Errorf(trust.EINVALID, "submission ID required")
	}
	var out trust.Submission
	if err := c.do(ctx, http.MethodGet, submissionPath(id), nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// FindSubmissionArchive downloads a submission's archive and checks it
// against the digest the edge sends with it.
func (c *Client) FindSubmissionArchive(ctx context.Context, id string) ([]byte, error) {
	if id == "" {
		return nil, trust.Errorf(trust.EINVALID, "submission ID required")
	}
	resp, err := c.send(ctx, http.MethodGet, submissionPath(id)+"/archive", "", nil)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, httpapi.ReadError(resp)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, trust.MaxArchiveSize+1))
	if err != nil {
		return nil, fmt.Errorf("edge GET archive of %s: %w", id, err)
	} else if len(data) > trust.MaxArchiveSize {
		return nil, fmt.Errorf("edge GET archive of %s: larger than %d bytes", id, trust.MaxArchiveSize)
	}
	if want, got := resp.Header.Get(HeaderArchiveDigest), ArchiveDigest(data); want != got {
		return nil, fmt.Errorf("edge GET archive of %s: bytes hash to %s, the edge announced %q", id, got, want)
	}
	return data, nil
}

// FindSubmissions lists submissions, newest first, without findings.
func (c *Client) FindSubmissions(ctx context.Context, f trust.SubmissionFilter) ([]*trust.Submission, error) {
	q := url.Values{}
	if f.Publisher != "" {
		q.Set("publisher", f.Publisher)
	}
	if f.State != "" {
		q.Set("state", f.State)
	}
	if f.Limit != 0 {
		q.Set("limit", strconv.Itoa(f.Limit))
	}
	if f.Offset != 0 {
		q.Set("offset", strconv.Itoa(f.Offset))
	}
	path := "/v1/service/submissions"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	var out SubmissionsResponse
	if err := c.do(ctx, http.MethodGet, path, nil, &out); err != nil {
		return nil, err
	}
	if out.Submissions == nil {
		out.Submissions = []*trust.Submission{}
	}
	return out.Submissions, nil
}

// TransitionSubmission moves a submission from t.From to t.To.
func (c *Client) TransitionSubmission(ctx context.Context, id string, t trust.SubmissionTransition) (*trust.Submission, error) {
	if id == "" {
		return nil, trust.Errorf(trust.EINVALID, "submission ID required")
	}
	var out trust.Submission
	if err := c.do(ctx, http.MethodPost, submissionPath(id)+"/transition", t, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// ReplaceSubmissionFindings replaces the findings of one source.
func (c *Client) ReplaceSubmissionFindings(ctx context.Context, id, source string, fs []*trust.SubmissionFinding) error {
	if id == "" || source == "" {
		return trust.Errorf(trust.EINVALID, "submission ID and source required")
	}
	if fs == nil {
		fs = []*trust.SubmissionFinding{}
	}
	var out FindingsResponse
	return c.do(ctx, http.MethodPut, submissionPath(id)+"/findings/"+url.PathEscape(source), FindingsRequest{Findings: fs}, &out)
}

// CreateNotification records a notification, or returns the one already
// recorded for the same submission and kind.
func (c *Client) CreateNotification(ctx context.Context, n *trust.Notification) (*trust.Notification, error) {
	if n == nil {
		return nil, trust.Errorf(trust.EINVALID, "notification required")
	}
	var out trust.Notification
	if err := c.do(ctx, http.MethodPost, "/v1/service/notifications", n, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// FindPendingNotifications lists undelivered notifications with fewer than
// maxAttempts attempts, oldest first.
func (c *Client) FindPendingNotifications(ctx context.Context, maxAttempts, limit int) ([]*trust.Notification, error) {
	q := url.Values{}
	q.Set("max_attempts", strconv.Itoa(maxAttempts))
	if limit != 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	var out NotificationsResponse
	if err := c.do(ctx, http.MethodGet, "/v1/service/notifications/pending?"+q.Encode(), nil, &out); err != nil {
		return nil, err
	}
	if out.Notifications == nil {
		out.Notifications = []*trust.Notification{}
	}
	return out.Notifications, nil
}

// MarkNotificationAttempt records one delivery attempt.
func (c *Client) MarkNotificationAttempt(ctx context.Context, id string, delivered bool, lastError string) error {
	if id == "" {
		return trust.Errorf(trust.EINVALID, "notification ID required")
	}
	var out NotificationAttemptResponse
	if err := c.do(ctx, http.MethodPost, "/v1/service/notifications/"+url.PathEscape(id)+"/attempts",
		NotificationAttemptRequest{Delivered: delivered, LastError: lastError}, &out); err != nil {
		return err
	} else if !out.Recorded {
		return fmt.Errorf("edge answered without recording the attempt on notification %s", id)
	}
	return nil
}

// ArchiveDigest returns the digest of archive bytes: "sha256:" and 64
// lowercase hex digits.
func ArchiveDigest(archive []byte) string {
	sum := sha256.Sum256(archive)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// send sends one request with a raw body (none when body is nil) and returns
// the response, whatever its status; the caller closes its body.
func (c *Client) send(ctx context.Context, method, path, contentType string, body []byte) (*http.Response, error) {
	base, err := url.Parse(c.URL)
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return nil, trust.Errorf(trust.EINVALID, "invalid edge URL: want http(s)://host")
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	route, _, _ := strings.Cut(path, "?")
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimSuffix(base.String(), "/")+path, rd)
	if err != nil {
		return nil, fmt.Errorf("build %s %s request: %w", method, route, err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
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
		return nil, fmt.Errorf("edge %s %s: %w", method, route, scrub(err))
	}
	return resp, nil
}

// decodeJSON decodes a 2xx JSON answer into out; any other answer becomes a
// *trust.Error.
func decodeJSON(resp *http.Response, what string, out any) error {
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return httpapi.ReadError(resp)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, MaxResponseSize+1))
	if err != nil {
		return fmt.Errorf("edge %s: read response: %w", what, err)
	} else if len(data) > MaxResponseSize {
		return fmt.Errorf("edge %s: response larger than %d bytes", what, MaxResponseSize)
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("edge %s: decode response: %w", what, err)
	}
	return nil
}

// publisherPath returns the path of one publisher.
func publisherPath(id string) string { return "/v1/service/publishers/" + url.PathEscape(id) }

// submissionPath returns the path of one submission.
func submissionPath(id string) string { return "/v1/service/submissions/" + url.PathEscape(id) }
