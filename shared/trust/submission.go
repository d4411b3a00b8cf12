package trust

import (
	"context"
	"time"
)

// Publisher KYC states. Only a verified publisher may submit skills.
const (
	KYCPending  = "pending"  // no verdict from Stripe yet
	KYCVerified = "verified" // charges and payouts enabled, no requirements due
	KYCRejected = "rejected" // disabled or with requirements past due
)

// Publisher is an organization that submits skills. Its KYC state is driven by
// Stripe Connect account.updated events.
type Publisher struct {
	ID            string    `json:"id"` // also SkillVersion.Publisher
	Name          string    `json:"name"`
	StripeAccount string    `json:"stripe_account"` // acct_…, unique
	KYCState      string    `json:"kyc_state"`
	WebhookURL    string    `json:"webhook_url,omitempty"` // where rejections are announced; https
	CreatedAt     time.Time `json:"created_at"`
	UpdatedAt     time.Time `json:"updated_at"`
}

// PublisherCredentials are returned once, when a publisher or a token is
// created: the catalog stores only the token's hash and the webhook secret
// sealed for signing outbound notifications.
type PublisherCredentials struct {
	Publisher     *Publisher `json:"publisher"`
	Token         string     `json:"token,omitempty"`          // oapt_…; shown once
	WebhookSecret string     `json:"webhook_secret,omitempty"` // HMAC key for notifications; shown once
}

// KYCUpdate is one Stripe account.updated event, already signature-checked.
type KYCUpdate struct {
	EventID       string    `json:"event_id"` // evt_…; applied at most once
	StripeAccount string    `json:"stripe_account"`
	State         string    `json:"state"` // KYCVerified or KYCRejected (or KYCPending)
	EventTime     time.Time `json:"event_time"`
}

// Submission states, in pipeline order. A submission moves forward one step at
// a time (compare-and-set on the state); each step is idempotent, so a crashed
// run resumes from the last recorded state.
//
//	received → extracted → scanned → built → analyzed → approved → signed
//	                                                  ↘ flagged → approved | rejected
//	                                                  ↘ rejected
//	any non-final state → failed (a permanent error, with a reason)
const (
	SubmissionReceived  = "received"  // archive stored, publisher verified
	SubmissionExtracted = "extracted" // safe extraction passed; manifest and digests known
	SubmissionScanned   = "scanned"   // static findings recorded
	SubmissionBuilt     = "built"     // OCI image pushed; image digest known
	SubmissionAnalyzed  = "analyzed"  // behavioral analysis done or not needed
	SubmissionFlagged   = "flagged"   // waiting in the review queue
	SubmissionApproved  = "approved"  // skill version approved; signing next
	SubmissionSigned    = "signed"    // final: signature recorded
	SubmissionRejected  = "rejected"  // final: publisher notified
	SubmissionFailed    = "failed"    // final: permanent error
)

// Submission is one upload of a skill archive and its way through the pipeline.
type Submission struct {
	ID                string               `json:"id"` // sub_…
	Publisher         string               `json:"publisher"`
	ArchiveDigest     string               `json:"archive_digest"` // sha256 of the uploaded bytes
	ArchiveFormat     string               `json:"archive_format"` // "tar.gz" or "zip"
	ArchiveSize       int64                `json:"archive_size"`
	State             string               `json:"state"`
	Name              string               `json:"name,omitempty"` // known from extracted on
	Version           string               `json:"version,omitempty"`
	ContentDigest     string               `json:"content_digest,omitempty"`
	PermissionsDigest string               `json:"permissions_digest,omitempty"`
	Permissions       Permissions          `json:"permissions"`
	ImageDigest       string               `json:"image_digest,omitempty"`
	Decision          string               `json:"decision,omitempty"` // approve | flag | reject (pipeline's)
	Score             int                  `json:"score"`
	Reason            string               `json:"reason,omitempty"` // why rejected, failed, or the reviewer's reason
	Reviewer          string               `json:"reviewer,omitempty"`
	Findings          []*SubmissionFinding `json:"findings,omitempty"`
	CreatedAt         time.Time            `json:"created_at"`
	UpdatedAt         time.Time            `json:"updated_at"`
}

// SubmissionFinding is one finding recorded on a submission by a pipeline step.
type SubmissionFinding struct {
	Source   string `json:"source"` // "static", "dependencies", "image", "behavior"
	RuleID   string `json:"rule_id"`
	Category string `json:"category"`
	Severity string `json:"severity"`
	File     string `json:"file"`
	Line     int    `json:"line"`
	Evidence string `json:"evidence"` // already redacted by the analyzer
	Why      string `json:"why"`
}

// SubmissionTransition moves a submission from one state to the next, setting
// the fields that step learned. Zero-valued fields are left unchanged.
type SubmissionTransition struct {
	From              string       `json:"from"`
	To                string       `json:"to"`
	Name              string       `json:"name,omitempty"`
	Version           string       `json:"version,omitempty"`
	ContentDigest     string       `json:"content_digest,omitempty"`
	PermissionsDigest string       `json:"permissions_digest,omitempty"`
	Permissions       *Permissions `json:"permissions,omitempty"`
	ImageDigest       string       `json:"image_digest,omitempty"`
	Decision          string       `json:"decision,omitempty"`
	Score             *int         `json:"score,omitempty"`
	Reason            string       `json:"reason,omitempty"`
	Reviewer          string       `json:"reviewer,omitempty"`
}

// SubmissionFilter selects submissions for a listing.
type SubmissionFilter struct {
	Publisher string // only this publisher's; empty for all (service)
	State     string // only in this state; empty for any
	Limit     int    // default 50, at most 500
	Offset    int
}

// Notification is a message to a publisher (a rejection with its findings),
// kept in the catalog and delivered to the publisher's webhook with an HMAC
// signature until it succeeds or gives up.
type Notification struct {
	ID           string     `json:"id"` // ntf_…
	Publisher    string     `json:"publisher"`
	SubmissionID string     `json:"submission_id"`
	Kind         string     `json:"kind"` // "submission.rejected"
	Body         []byte     `json:"body"` // the JSON payload delivered
	Attempts     int        `json:"attempts"`
	LastError    string     `json:"last_error,omitempty"`
	DeliveredAt  *time.Time `json:"delivered_at,omitempty"`
	CreatedAt    time.Time  `json:"created_at"`
}

// PublisherService manages publishers, their tokens and KYC (service role).
type PublisherService interface {
	// CreatePublisher records a publisher in KYC state pending and returns it
	// with its first token and its webhook secret. ECONFLICT for a taken ID or
	// Stripe account; EINVALID for a bad ID, account or webhook URL.
	CreatePublisher(ctx context.Context, p *Publisher) (*PublisherCredentials, error)

	// FindPublisherByID returns one publisher. ENOTFOUND if absent.
	FindPublisherByID(ctx context.Context, id string) (*Publisher, error)

	// CreatePublisherToken issues another token. ENOTFOUND for an unknown publisher.
	CreatePublisherToken(ctx context.Context, id string) (string, error)

	// AuthenticatePublisher returns the publisher holding token (compared by
	// hash). EUNAUTHORIZED for an unknown or revoked token; the error never
	// echoes the token.
	AuthenticatePublisher(ctx context.Context, token string) (*Publisher, error)

	// UpdatePublisherKYC applies a KYC event once. ENOTFOUND for an unknown
	// Stripe account; ECONFLICT for an event ID already applied (a replay);
	// an event older than the last applied one is recorded but does not change
	// the state.
	UpdatePublisherKYC(ctx context.Context, u KYCUpdate) (*Publisher, error)

	// FindPublisherWebhookSecret returns the secret notifications are signed with.
	FindPublisherWebhookSecret(ctx context.Context, id string) (string, error)
}

// SubmissionService manages submissions, findings, reviews and notifications
// (service role).
type SubmissionService interface {
	// CreateSubmission records a received submission with its archive. The same
	// publisher uploading the same bytes again gets the existing submission and
	// created=false (idempotent intake).
	CreateSubmission(ctx context.Context, s *Submission, archive []byte) (sub *Submission, created bool, err error)

	// FindSubmissionByID returns one submission with its findings. ENOTFOUND if absent.
	FindSubmissionByID(ctx context.Context, id string) (*Submission, error)

	// FindSubmissionArchive returns the archive bytes of a submission.
	FindSubmissionArchive(ctx context.Context, id string) ([]byte, error)

	// FindSubmissions lists submissions, newest first, without findings.
	FindSubmissions(ctx context.Context, f SubmissionFilter) ([]*Submission, error)

	// TransitionSubmission moves a submission from t.From to t.To if it is in
	// t.From and the move is allowed (see the state constants). ECONFLICT if the
	// submission is in another state (someone else moved it); EINVALID for a
	// move the state machine does not allow.
	TransitionSubmission(ctx context.Context, id string, t SubmissionTransition) (*Submission, error)

	// ReplaceSubmissionFindings replaces the findings of one source, so a
	// repeated step does not duplicate them.
	ReplaceSubmissionFindings(ctx context.Context, id, source string, fs []*SubmissionFinding) error

	// CreateNotification records a notification; the same kind for the same
	// submission is recorded once (the existing one is returned).
	CreateNotification(ctx context.Context, n *Notification) (*Notification, error)

	// FindPendingNotifications lists undelivered notifications with fewer than
	// maxAttempts attempts, oldest first.
	FindPendingNotifications(ctx context.Context, maxAttempts, limit int) ([]*Notification, error)

	// MarkNotificationAttempt records one delivery attempt: delivered, or the
	// error (already free of secrets).
	MarkNotificationAttempt(ctx context.Context, id string, delivered bool, lastError string) error
}
