// Package notify delivers the catalog's publisher notifications (a rejected
// submission and its findings) to each publisher's webhook, signed with the
// publisher's webhook secret so the receiver can tell them from forgeries.
//
// A delivery is one POST of the notification's JSON body with the headers
//
//	X-Trust-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">
//	X-Trust-Notification-Id: ntf_…
//	X-Trust-Notification-Kind: submission.rejected
//
// A 2xx answer marks it delivered; anything else is recorded as an attempt
// with a short reason, and the notification is tried again on the next run
// until MaxAttempts. Receivers check the header with Verify and deduplicate
// by notification ID: a notification may arrive more than once.
//
// The secret never leaves this package except as an HMAC: not in a log line,
// not in a recorded error, not in a request.
package notify

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/openagents/trust/shared/httpapi"
	"github.com/openagents/trust/shared/trust"
)

// Defaults for a Deliverer.
const (
	DefaultMaxAttempts = 10
	DefaultLimit       = 100
	DefaultConcurrency = 4
	DefaultTimeout     = 10 * time.Second
)

// markTimeout bounds recording an attempt after the run's context ended.
const markTimeout = 5 * time.Second

// Reasons recorded for attempts that reached no receiver.
const (
	ReasonNoWebhook         = "no webhook configured"
	ReasonPublisherNotFound = "publisher not found"
)

// Catalog is the part of the edge service API the deliverer uses.
type Catalog interface {
	// FindPendingNotifications lists undelivered notifications with fewer
	// than maxAttempts attempts, oldest first.
	FindPendingNotifications(ctx context.Context, maxAttempts, limit int) ([]*trust.Notification, error)
	// MarkNotificationAttempt records one attempt, delivered or not.
	MarkNotificationAttempt(ctx context.Context, id string, delivered bool, lastError string) error
	// FindPublisherByID returns one publisher; ENOTFOUND if absent.
	FindPublisherByID(ctx context.Context, id string) (*trust.Publisher, error)
	// FindPublisherWebhookSecret returns the key notifications are signed with.
	FindPublisherWebhookSecret(ctx context.Context, id string) (string, error)
}

// Deliverer sends pending notifications. Runs of DeliverPending on one
// Deliverer are serialized; within a run, up to Concurrency deliveries are in
// flight, so a slow or failing receiver holds up no one else's.
type Deliverer struct {
	Catalog     Catalog
	HTTPClient  *http.Client     // NewHTTPClient(Timeout) by default: public addresses only
	Now         func() time.Time // the signature's timestamp
	MaxAttempts int              // attempts before a notification is given up
	Limit       int              // notifications per run
	Concurrency int              // deliveries in flight
	Timeout     time.Duration    // per attempt, whatever the client's own timeout
	Logger      *slog.Logger

	mu sync.Mutex // one run at a time
}

// NewDeliverer returns a Deliverer with defaults; set Catalog before use.
func NewDeliverer() *Deliverer {
	return &Deliverer{
		HTTPClient:  NewHTTPClient(DefaultTimeout),
		Now:         time.Now,
		MaxAttempts: DefaultMaxAttempts,
		Limit:       DefaultLimit,
		Concurrency: DefaultConcurrency,
		Timeout:     DefaultTimeout,
		Logger:      slog.Default(),
	}
}

// Result counts what one run did.
type Result struct {
	Pending   int `json:"pending"`   // notifications the run found
	Delivered int `json:"delivered"` // answered 2xx
	Failed    int `json:"failed"`    // attempt recorded as failed
	Skipped   int `json:"skipped"`   // no attempt recorded: the catalog failed us
}

// DeliverPending makes one delivery attempt for each pending notification.
// The error reports the catalog failing (listing, lookups or recording); a
// receiver failing is recorded on its notification, not returned.
func (d *Deliverer) DeliverPending(ctx context.Context) (Result, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.deliverPending(ctx)
}

func (d *Deliverer) deliverPending(ctx context.Context) (Result, error) {
	var res Result
	if d.Catalog == nil || d.HTTPClient == nil {
		return res, errors.New("notify: no catalog or HTTP client configured")
	}
	pending, err := d.Catalog.FindPendingNotifications(ctx, d.maxAttempts(), d.limit())
	if err != nil {
		return res, internalError("find pending notifications", err)
	}
	res.Pending = len(pending)

	var (
		mu   sync.Mutex
		errs []error
		wg   sync.WaitGroup
		sem  = make(chan struct{}, d.concurrency())
	)
	for _, n := range pending {
		sem <- struct{}{}
		wg.Add(1)
		go func(n *trust.Notification) {
			defer func() { <-sem; wg.Done() }()
			delivered, reason, err := d.attempt(ctx, n)
			if err == nil {
				err = d.mark(ctx, n, delivered, reason)
			}
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil:
				res.Skipped++
				errs = append(errs, err)
			case delivered:
				res.Delivered++
			default:
				res.Failed++
			}
		}(n)
	}
	wg.Wait()
	if len(errs) > 0 {
		return res, errors.Join(errs...)
	}
	return res, nil
}

// Notify runs DeliverPending and logs the outcome: the hook the pipeline
// calls after recording a notification, inside a publisher's or reviewer's
// request. If a run is already going on it returns at once instead of
// queueing the request behind other publishers' receivers: the next run (the
// schedule) picks the new notification up.
func (d *Deliverer) Notify(ctx context.Context) {
	if !d.mu.TryLock() {
		d.logger().Info("notification delivery already running; left for the next run")
		return
	}
	res, err := d.deliverPending(ctx)
	d.mu.Unlock()
	if err != nil {
		d.logger().Error("notification delivery run failed", "pending", res.Pending,
			"delivered", res.Delivered, "failed", res.Failed, "skipped", res.Skipped, "err", err)
		return
	}
	d.logger().Info("notification delivery run", "pending", res.Pending,
		"delivered", res.Delivered, "failed", res.Failed, "skipped", res.Skipped)
}

// NotifyOne is the pipeline's hook: one delivery attempt of the notification
// just recorded, and only that one, so the rejecting request never waits on
// other publishers' receivers; failures are logged and left to the schedule.
func (d *Deliverer) NotifyOne(ctx context.Context, n *trust.Notification) {
	delivered, err := d.Deliver(ctx, n)
	if err != nil {
		d.logger().Error("notification delivery failed", "notification", n.ID, "err", err)
		return
	}
	d.logger().Info("notification delivery", "notification", n.ID, "delivered", delivered)
}

// Deliver makes one recorded delivery attempt of n, whatever its attempts so
// far: for a caller that holds the notification it just created. delivered
// reports a 2xx answer; err reports the catalog failing (no attempt counted).
func (d *Deliverer) Deliver(ctx context.Context, n *trust.Notification) (delivered bool, err error) {
	if d.Catalog == nil || d.HTTPClient == nil {
		return false, errors.New("notify: no catalog or HTTP client configured")
	}
	delivered, reason, err := d.attempt(ctx, n)
	if err != nil {
		return false, err
	}
	return delivered, d.mark(ctx, n, delivered, reason)
}

// attempt tries one notification. It returns whether the receiver took it
// and, if not, the reason to record; err is set only when the catalog failed
// us and no attempt should be counted against the publisher.
func (d *Deliverer) attempt(ctx context.Context, n *trust.Notification) (delivered bool, reason string, err error) {
	pub, err := d.Catalog.FindPublisherByID(ctx, n.Publisher)
	switch {
	case trust.ErrorCode(err) == trust.ENOTFOUND:
		return false, ReasonPublisherNotFound, nil
	case err != nil:
		return false, "", internalError("find publisher "+n.Publisher+" for "+n.ID, err)
	case pub.WebhookURL == "":
		// Counted as an attempt, so that a publisher without a webhook does
		// not keep its notifications at the head of every run forever; the
		// record stays in the catalog with this reason.
		return false, ReasonNoWebhook, nil
	}
	if err := checkWebhookURL(pub.WebhookURL); err != nil {
		return false, "webhook URL refused: " + trust.ErrorMessage(err), nil
	}
	secret, err := d.Catalog.FindPublisherWebhookSecret(ctx, n.Publisher)
	if trust.ErrorCode(err) == trust.ENOTFOUND {
		return false, ReasonPublisherNotFound, nil // removed since the lookup above
	} else if err != nil {
		return false, "", internalError("find webhook secret of "+n.Publisher, err)
	} else if secret == "" {
		// Fail closed: an unsigned notification could not be told from a forgery.
		return false, "", fmt.Errorf("publisher %s has an empty webhook secret", n.Publisher)
	}
	reason = d.post(ctx, pub.WebhookURL, secret, n)
	if err := ctx.Err(); err != nil && reason != "" {
		// Our run was cancelled (a Lambda deadline): not the receiver's
		// failure, so no attempt is counted.
		return false, "", fmt.Errorf("deliver %s: %w", n.ID, err)
	}
	return reason == "", redact(reason, secret), nil
}

// post sends one signed notification and returns "" when it was taken, or
// the reason it was not. The reason never quotes the receiver's answer nor
// the secret.
func (d *Deliverer) post(ctx context.Context, webhookURL, secret string, n *trust.Notification) string {
	ctx, cancel := context.WithTimeout(ctx, d.timeout())
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, webhookURL, bytes.NewReader(n.Body))
	if err != nil {
		return "cannot build the request to the webhook URL"
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "openagents-trust-notify/1")
	req.Header.Set(SignatureHeader, SignatureHeaderValue(secret, d.Now(), n.Body))
	req.Header.Set(NotificationIDHeader, n.ID)
	req.Header.Set(KindHeader, n.Kind)

	client := *d.HTTPClient
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := client.Do(req)
	if err != nil {
		reason := transportReason(ctx, err, d.timeout())
		// The cause without the URL, whose query may hold the receiver's own token.
		cause := err
		var urlErr *url.Error
		if errors.As(err, &urlErr) {
			cause = urlErr.Err
		}
		d.logger().Warn("notification not delivered", "notification", n.ID, "publisher", n.Publisher,
			"attempt", n.Attempts+1, "reason", reason, "err", redact(cause.Error(), secret))
		return reason
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		d.logger().Info("notification delivered", "notification", n.ID, "publisher", n.Publisher,
			"kind", n.Kind, "attempt", n.Attempts+1, "status", resp.StatusCode)
		return ""
	}
	// The status text is ours, not the receiver's: a receiver could put
	// anything in its reason phrase.
	reason := "receiver answered " + strconv.Itoa(resp.StatusCode) + " " + http.StatusText(resp.StatusCode)
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		reason += " (redirects are not followed)"
	}
	d.logger().Warn("notification not delivered", "notification", n.ID, "publisher", n.Publisher,
		"attempt", n.Attempts+1, "reason", reason)
	return strings.TrimSpace(reason)
}

// checkWebhookURL applies the rule credentials are sent by
// (httpapi.CheckBaseURL: https, or plain http to a loopback host; no user
// information or fragment) to a webhook URL, whose query is allowed: a
// receiver may route on it. The URL is never echoed.
func checkWebhookURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return trust.Errorf(trust.EINVALID, "want https://host[:port][/path]")
	}
	u.RawQuery, u.ForceQuery = "", false
	return httpapi.CheckBaseURL(u.String())
}

// transportReason names a failed request's cause in a few safe words.
func transportReason(ctx context.Context, err error, timeout time.Duration) string {
	var (
		netErr  net.Error
		certErr *tls.CertificateVerificationError
		unknown x509.UnknownAuthorityError
		host    x509.HostnameError
	)
	switch {
	case errors.Is(err, errAddressNotAllowed):
		return "connection refused: the webhook resolves to a non-public address"
	case errors.Is(ctx.Err(), context.DeadlineExceeded) || (errors.As(err, &netErr) && netErr.Timeout()):
		return "timed out after " + timeout.String()
	case errors.As(err, &certErr) || errors.As(err, &unknown) || errors.As(err, &host):
		return "TLS certificate not valid for the webhook host"
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) && opErr.Op == "dial" {
		return "connection failed"
	}
	return "request failed"
}

// mark records one attempt, even when the run's context has just ended: a
// delivery the receiver took and that goes unrecorded is sent again.
func (d *Deliverer) mark(ctx context.Context, n *trust.Notification, delivered bool, reason string) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), markTimeout)
	defer cancel()
	if err := d.Catalog.MarkNotificationAttempt(ctx, n.ID, delivered, reason); err != nil {
		return internalError("record attempt on "+n.ID, err)
	}
	if !delivered && n.Attempts+1 >= d.maxAttempts() {
		d.logger().Warn("notification given up", "notification", n.ID, "publisher", n.Publisher,
			"attempts", n.Attempts+1, "reason", reason)
	}
	return nil
}

// redact removes secret from s (a transport error may quote what it was given).
func redact(s, secret string) string {
	if secret == "" {
		return s
	}
	return strings.ReplaceAll(s, secret, "[redacted]")
}

// internalError keeps a catalog failure's cause for the log, flattening a
// coded error so its code is not taken for the caller's.
func internalError(doing string, err error) error {
	var te *trust.Error
	if errors.As(err, &te) {
		return fmt.Errorf("%s: %s: %s", doing, te.Code, te.Message)
	}
	return fmt.Errorf("%s: %w", doing, err)
}

func (d *Deliverer) maxAttempts() int {
	if d.MaxAttempts <= 0 {
		return DefaultMaxAttempts
	}
	return d.MaxAttempts
}

func (d *Deliverer) limit() int {
	if d.Limit <= 0 {
		return DefaultLimit
	}
	return d.Limit
}

func (d *Deliverer) concurrency() int {
	if d.Concurrency <= 0 {
		return DefaultConcurrency
	}
	return d.Concurrency
}

func (d *Deliverer) timeout() time.Duration {
	if d.Timeout <= 0 {
		return DefaultTimeout
	}
	return d.Timeout
}

func (d *Deliverer) logger() *slog.Logger {
	if d.Logger == nil {
		return slog.Default()
	}
	return d.Logger
}
