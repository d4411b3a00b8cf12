package sqlite

import (
	"context"
	"crypto/subtle"
	"fmt"
	"time"

	"github.com/openagents/trust/shared/trust"
)

// Ensure the service implements the domain interface.
var _ trust.PublisherService = (*PublisherService)(nil)

// PublisherService stores publishers, their tokens and their KYC state (the
// service role: the edge serves it to the service credential only).
//
// A publisher token is "oapt_" and 32 random bytes; only its SHA-256 is
// stored and looked up, so the database never holds a usable token. The
// webhook secret is stored as is: notifications are signed with it.
type PublisherService struct {
	db *DB
}

// NewPublisherService returns a PublisherService backed by db.
func NewPublisherService(db *DB) *PublisherService {
	return &PublisherService{db: db}
}

// CreatePublisher records a publisher in KYC state pending, with its first
// token and its webhook secret, both returned this once. EINVALID for a bad
// publisher; ECONFLICT for a taken ID or Stripe account.
func (s *PublisherService) CreatePublisher(ctx context.Context, p *trust.Publisher) (*trust.PublisherCredentials, error) {
	if p == nil {
		return nil, trust.Errorf(trust.EINVALID, "publisher required")
	} else if err := p.Validate(); err != nil {
		return nil, err
	}
	token, err := newToken(trust.PublisherTokenPrefix)
	if err != nil {
		return nil, err
	}
	secret, err := newToken(trust.WebhookSecretPrefix)
	if err != nil {
		return nil, err
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()

	var n int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM publishers WHERE id = ?`, p.ID).Scan(&n); err != nil {
		return nil, fmt.Errorf("check publisher ID: %w", err)
	} else if n > 0 {
		return nil, trust.Errorf(trust.ECONFLICT, "publisher %s exists", p.ID)
	}
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM publishers WHERE stripe_account = ?`, p.StripeAccount).Scan(&n); err != nil {
		return nil, fmt.Errorf("check Stripe account: %w", err)
	} else if n > 0 {
		return nil, trust.Errorf(trust.ECONFLICT, "Stripe account %s belongs to another publisher", p.StripeAccount)
	}
	out := &trust.Publisher{
		ID: p.ID, Name: p.Name, StripeAccount: p.StripeAccount, KYCState: trust.KYCPending,
		WebhookURL: p.WebhookURL, CreatedAt: tx.now, UpdatedAt: tx.now,
	}
	if _, err := tx.ExecContext(ctx, `
		INSERT INTO publishers (id, name, stripe_account, kyc_state, webhook_url, webhook_secret, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		out.ID, out.Name, out.StripeAccount, out.KYCState, out.WebhookURL, secret, formatTime(tx.now), formatTime(tx.now)); err != nil {
		return nil, fmt.Errorf("insert publisher %s: %w", p.ID, err)
	}
	if err := insertPublisherToken(ctx, tx, out.ID, token); err != nil {
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, err
	}
	return &trust.PublisherCredentials{Publisher: out, Token: token, WebhookSecret: secret}, nil
}

// FindPublisherByID returns one publisher. ENOTFOUND if absent.
func (s *PublisherService) FindPublisherByID(ctx context.Context, id string) (*trust.Publisher, error) {
	tx, err := s.db.BeginTx(ctx, readOnly)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	p, _, err := findPublisher(ctx, tx, "id", id)
	return p, err
}

// CreatePublisherToken issues another token for a publisher. ENOTFOUND for
// an unknown publisher.
func (s *PublisherService) CreatePublisherToken(ctx context.Context, id string) (string, error) {
	token, err := newToken(trust.PublisherTokenPrefix)
	if err != nil {
		return "", err
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return "", err
	}
	defer tx.Rollback()
	if _, _, err := findPublisher(ctx, tx, "id", id); err != nil {
		return "", err
	}
	if err := insertPublisherToken(ctx, tx, id, token); err != nil {
		return "", err
	}
	return token, tx.Commit()
}

// AuthenticatePublisher returns the publisher holding token. The token is
// looked up by its SHA-256, and the stored hash is compared again in
// constant time. EUNAUTHORIZED, with one message that never echoes the
// token, for a malformed, unknown or revoked token.
func (s *PublisherService) AuthenticatePublisher(ctx context.Context, token string) (*trust.Publisher, error) {
	if !wellFormedToken(token, trust.PublisherTokenPrefix) {
		return nil, errBadPublisherToken()
	}
	want := hashToken(token)
	tx, err := s.db.BeginTx(ctx, readOnly)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()

	var id, stored string
	err = tx.QueryRowContext(ctx, `SELECT publisher_id, token_hash FROM publisher_tokens WHERE token_hash = ? AND revoked_at IS NULL`,
		want).Scan(&id, &stored)
	if isNotFound(err) {
		return nil, errBadPublisherToken()
	} else if err != nil {
		return nil, fmt.Errorf("authenticate publisher: %w", err)
	} else if subtle.ConstantTimeCompare([]byte(stored), []byte(want)) != 1 {
		return nil, errBadPublisherToken()
	}
	p, _, err := findPublisher(ctx, tx, "id", id)
	if trust.ErrorCode(err) == trust.ENOTFOUND {
		return nil, errBadPublisherToken()
	}
	return p, err
}

// UpdatePublisherKYC applies one KYC event and returns the publisher. The
// event is recorded whatever its time; it changes the state only if it is
// not older than the last event applied. EINVALID for a bad event; ENOTFOUND
// for an unknown Stripe account (nothing is recorded, so the event applies
// if Stripe sends it again once the publisher exists); ECONFLICT for an event
// ID already recorded.
func (s *PublisherService) UpdatePublisherKYC(ctx context.Context, u trust.KYCUpdate) (*trust.Publisher, error) {
	if err := u.Validate(); err != nil {
		return nil, err
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()

	var n int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM kyc_events WHERE event_id = ?`, u.EventID).Scan(&n); err != nil {
		return nil, fmt.Errorf("check KYC event: %w", err)
	} else if n > 0 {
		return nil, trust.Errorf(trust.ECONFLICT, "Stripe event %s was already applied", u.EventID)
	}
	p, last, err := findPublisher(ctx, tx, "stripe_account", u.StripeAccount)
	if trust.ErrorCode(err) == trust.ENOTFOUND {
		return nil, errNotFound("no publisher has Stripe account %s", u.StripeAccount)
	} else if err != nil {
		return nil, err
	}
	eventTime := u.EventTime.UTC()
	apply := last == nil || !eventTime.Before(*last)
	if _, err := tx.ExecContext(ctx, `
		INSERT INTO kyc_events (event_id, publisher_id, stripe_account, state, event_time, applied, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)`,
		u.EventID, p.ID, u.StripeAccount, u.State, formatTime(eventTime), apply, formatTime(tx.now)); err != nil {
		return nil, fmt.Errorf("record KYC event %s: %w", u.EventID, err)
	}
	if apply {
		if _, err := tx.ExecContext(ctx, `UPDATE publishers SET kyc_state = ?, kyc_event_time = ?, updated_at = ? WHERE id = ?`,
			u.State, formatTime(eventTime), formatTime(tx.now), p.ID); err != nil {
			return nil, fmt.Errorf("update KYC of publisher %s: %w", p.ID, err)
		}
		p.KYCState, p.UpdatedAt = u.State, tx.now
	}
	return p, tx.Commit()
}

// FindPublisherWebhookSecret returns the secret a publisher's notifications
// are signed with. ENOTFOUND for an unknown publisher.
func (s *PublisherService) FindPublisherWebhookSecret(ctx context.Context, id string) (string, error) {
	tx, err := s.db.BeginTx(ctx, readOnly)
	if err != nil {
		return "", err
	}
	defer tx.Rollback()
	var secret string
	err = tx.QueryRowContext(ctx, `SELECT webhook_secret FROM publishers WHERE id = ?`, id).Scan(&secret)
	if isNotFound(err) {
		return "", errNotFound("publisher %s not found", id)
	} else if err != nil {
		return "", fmt.Errorf("find webhook secret of publisher %s: %w", id, err)
	}
	return secret, nil
}

// findPublisher returns the publisher whose column ("id" or
// "stripe_account") is value, with the time of its last applied KYC event
// (nil before the first). ENOTFOUND if absent.
func findPublisher(ctx context.Context, tx *Tx, column, value string) (*trust.Publisher, *time.Time, error) {
	if column != "id" && column != "stripe_account" {
		return nil, nil, fmt.Errorf("find publisher by %q: not a key", column)
	}
	var p trust.Publisher
	var last *time.Time
	err := tx.QueryRowContext(ctx, `
		SELECT id, name, stripe_account, kyc_state, kyc_event_time, webhook_url, created_at, updated_at
		FROM publishers WHERE `+column+` = ?`, value,
	).Scan(&p.ID, &p.Name, &p.StripeAccount, &p.KYCState, nullTimeScanner{&last}, &p.WebhookURL,
		timeScanner{&p.CreatedAt}, timeScanner{&p.UpdatedAt})
	if isNotFound(err) {
		return nil, nil, errNotFound("publisher %q not found", value)
	} else if err != nil {
		return nil, nil, fmt.Errorf("find publisher: %w", err)
	}
	return &p, last, nil
}

// insertPublisherToken stores the hash of a new token.
func insertPublisherToken(ctx context.Context, tx *Tx, publisherID, token string) error {
	if _, err := tx.ExecContext(ctx, `INSERT INTO publisher_tokens (publisher_id, token_hash, created_at) VALUES (?, ?, ?)`,
		publisherID, hashToken(token), formatTime(tx.now)); err != nil {
		return fmt.Errorf("insert token of publisher %s: %w", publisherID, err)
	}
	return nil
}

// errBadPublisherToken is the one answer for every token that does not
// authenticate a publisher.
func errBadPublisherToken() error {
	return trust.Errorf(trust.EUNAUTHORIZED, "invalid or revoked publisher token")
}
