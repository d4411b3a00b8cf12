package trust

import (
	"context"
	"net"
	"net/url"
	"time"
)

// Credential prefixes and limits of the submission pipeline.
const (
	// PublisherTokenPrefix starts a publisher token ("oapt_" and 32 random
	// bytes, unpadded base64url). The catalog stores only its SHA-256.
	PublisherTokenPrefix = "oapt_"

	// WebhookSecretPrefix starts a publisher's webhook signing secret.
	WebhookSecretPrefix = "oaws_"

	// MaxArchiveSize is the largest skill archive accepted, in bytes.
	MaxArchiveSize = 16 << 20

	// MaxSubmissionReason caps Submission.Reason, in bytes.
	MaxSubmissionReason = 2000

	// MaxSubmissionFindings caps the findings of one source on a submission.
	MaxSubmissionFindings = 1000

	// MaxFindingEvidence and MaxFindingWhy cap a finding's evidence and
	// explanation, in bytes; longer text is cut (on a character boundary).
	MaxFindingEvidence = 1024
	MaxFindingWhy      = 2048

	// MaxNotificationBody caps Notification.Body, in bytes.
	MaxNotificationBody = 1 << 20

	// NotificationSubmissionRejected is the kind of a rejection notice.
	NotificationSubmissionRejected = "submission.rejected"
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
// created. The catalog stores only the token's hash; the webhook secret is
// stored as is (there is no sealing yet), since notifications are signed with
// it, and only FindPublisherWebhookSecret (service role) returns it again.
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

// submissionMoves is the state machine: the states each state may move to.
// Any non-final state may also move to failed.
var submissionMoves = map[string][]string{
	SubmissionReceived:  {SubmissionExtracted},
	SubmissionExtracted: {SubmissionScanned},
	SubmissionScanned:   {SubmissionBuilt},
	SubmissionBuilt:     {SubmissionAnalyzed},
	SubmissionAnalyzed:  {SubmissionApproved, SubmissionFlagged, SubmissionRejected},
	SubmissionFlagged:   {SubmissionApproved, SubmissionRejected},
	SubmissionApproved:  {SubmissionSigned},
	SubmissionSigned:    nil,
	SubmissionRejected:  nil,
	SubmissionFailed:    nil,
}

// ValidSubmissionState reports whether state is one of the submission states.
func ValidSubmissionState(state string) bool {
	_, ok := submissionMoves[state]
	return ok
}

// FinalSubmissionState reports whether state is a final state (signed,
// rejected or failed): no move leaves it.
func FinalSubmissionState(state string) bool {
	moves, ok := submissionMoves[state]
	return ok && moves == nil
}

// SubmissionMoveAllowed reports whether the state machine allows a move from
// one state to another (see the state constants).
func SubmissionMoveAllowed(from, to string) bool {
	moves, ok := submissionMoves[from]
	if !ok || moves == nil || !ValidSubmissionState(to) {
		return false
	} else if to == SubmissionFailed {
		return true
	}
	for _, m := range moves {
		if m == to {
			return true
		}
	}
	return false
}

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

// Validate reports, as EINVALID, a publisher that cannot be recorded: a bad
// ID, a name that is empty or too long, a Stripe account that is not acct_…,
// or a webhook URL that is not https:// (plain http is allowed to loopback
// hosts only, for local runs and tests) or carries user information.
func (p *Publisher) Validate() error {
	if err := ValidatePublisher(p.ID); err != nil {
		return err
	} else if err := validText("publisher name", p.Name, 1, 200); err != nil {
		return err
	} else if !stripeAccountRE.MatchString(p.StripeAccount) {
		return Errorf(EINVALID, "invalid Stripe account: want acct_ and letters or digits")
	} else if p.WebhookURL != "" {
		return validWebhookURL(p.WebhookURL)
	}
	return nil
}

// Shapes of Stripe IDs.
var (
	stripeAccountRE = NewPattern(`^acct_[A-Za-z0-9]{1,64}$`)
	stripeEventRE   = NewPattern(`^evt_[A-Za-z0-9_]{1,255}$`)
)

// Validate reports, as EINVALID, a KYC event that cannot be applied: an
// event ID that is not evt_…, an account that is not acct_…, an unknown
// state or a missing event time.
func (u KYCUpdate) Validate() error {
	switch {
	case !stripeEventRE.MatchString(u.EventID):
		return Errorf(EINVALID, "invalid Stripe event ID: want evt_ and letters, digits or '_'")
	case !stripeAccountRE.MatchString(u.StripeAccount):
		return Errorf(EINVALID, "invalid Stripe account: want acct_ and letters or digits")
	case u.State != KYCPending && u.State != KYCVerified && u.State != KYCRejected:
		return Errorf(EINVALID, "invalid KYC state %q: want %s, %s or %s", u.State, KYCPending, KYCVerified, KYCRejected)
	case u.EventTime.IsZero():
		return Errorf(EINVALID, "KYC event time required")
	}
	return nil
}

// validWebhookURL checks a publisher's webhook URL without echoing it (it
// could carry a password).
func validWebhookURL(raw string) error {
	u, err := url.Parse(raw)
	switch {
	case len(raw) > 2048:
		return Errorf(EINVALID, "webhook URL longer than 2048 bytes")
	case err != nil || u.Host == "" || u.Opaque != "":
		return Errorf(EINVALID, "invalid webhook URL: want https://host/path")
	case u.User != nil:
		return Errorf(EINVALID, "webhook URL must not carry user information")
	case u.Fragment != "":
		return Errorf(EINVALID, "webhook URL must not have a fragment")
	case u.Scheme == "https":
		return nil
	case u.Scheme == "http":
		host := u.Hostname()
		if ip := net.ParseIP(host); host == "localhost" || (ip != nil && ip.IsLoopback()) {
			return nil
		}
		return Errorf(EINVALID, "webhook URL must be https (plain http only to a loopback host)")
	}
	return Errorf(EINVALID, "webhook URL must be https")
}

// PublisherService manages publishers, their tokens and KYC (service role).
type PublisherService interface {
	// CreatePublisher records a publisher in KYC state pending and returns it
	// with its first token and its webhook secret. ECONFLICT for a taken ID or
	// Stripe account; EINVALID for a bad ID, account or webhook URL.
	CreatePublisher(ctx context.Context, p *Publisher) (*PublisherCredentials, error)

	// FindPublisherByID returns one publisher. ENOTFOUND if absent.
	FindPublisherByID(ctx context.Context, id string) (*Publisher, error)

	// CreatePublisherToken issues another token (PublisherTokenPrefix).
	// ENOTFOUND for an unknown publisher.
	CreatePublisherToken(ctx context.Context, id string) (string, error)

	// AuthenticatePublisher returns the publisher holding token (compared by
	// hash). EUNAUTHORIZED for an unknown or revoked token; the error never
	// echoes the token.
	AuthenticatePublisher(ctx context.Context, token string) (*Publisher, error)

	// UpdatePublisherKYC applies a KYC event once. EINVALID for a malformed
	// event (KYCUpdate.Validate); ENOTFOUND for an unknown Stripe account; ECONFLICT for an event ID already applied (a replay);
	// an event older than the last applied one is recorded but does not change
	// the state.
	UpdatePublisherKYC(ctx context.Context, u KYCUpdate) (*Publisher, error)

	// FindPublisherWebhookSecret returns the secret notifications are signed
	// with. ENOTFOUND for an unknown publisher.
	FindPublisherWebhookSecret(ctx context.Context, id string) (string, error)
}

// SubmissionService manages submissions, findings, reviews and notifications
// (service role).
type SubmissionService interface {
	// CreateSubmission records a received submission with its archive. The same
	// publisher uploading the same bytes again gets the existing submission and
	// created=false (idempotent intake). EINVALID for an empty archive, one
	// over MaxArchiveSize, an unknown format, or an ArchiveDigest (required)
	// or ArchiveSize that does not match the bytes; EFORBIDDEN unless the
	// publisher exists and is KYC-verified.
	CreateSubmission(ctx context.Context, s *Submission, archive []byte) (sub *Submission, created bool, err error)

	// FindSubmissionByID returns one submission with its findings. ENOTFOUND if absent.
	FindSubmissionByID(ctx context.Context, id string) (*Submission, error)

	// FindSubmissionArchive returns the archive bytes of a submission.
	// ENOTFOUND if absent.
	FindSubmissionArchive(ctx context.Context, id string) ([]byte, error)

	// FindSubmissions lists submissions, newest first, without findings.
	FindSubmissions(ctx context.Context, f SubmissionFilter) ([]*Submission, error)

	// TransitionSubmission moves a submission from t.From to t.To if it is in
	// t.From and the move is allowed (see the state constants). ECONFLICT if the
	// submission is in another state (someone else moved it); EINVALID for a
	// move the state machine does not allow (SubmissionMoveAllowed) or an
	// invalid field (digest, name, version, decision, over-long reason; a
	// move to failed needs a reason, a review of a flagged submission a
	// reviewer); ENOTFOUND if absent.
	TransitionSubmission(ctx context.Context, id string, t SubmissionTransition) (*Submission, error)

	// ReplaceSubmissionFindings replaces the findings of one source, so a
	// repeated step does not duplicate them. Evidence and Why longer than
	// their caps are cut. EINVALID for a bad source or rule ID or more than
	// MaxSubmissionFindings; ENOTFOUND for an unknown submission.
	ReplaceSubmissionFindings(ctx context.Context, id, source string, fs []*SubmissionFinding) error

	// CreateNotification records a notification; the same kind for the same
	// submission is recorded once (the existing one is returned). ENOTFOUND
	// for an unknown submission; EINVALID for another publisher than the
	// submission's, a bad kind or a body over MaxNotificationBody.
	CreateNotification(ctx context.Context, n *Notification) (*Notification, error)

	// FindPendingNotifications lists undelivered notifications with fewer than
	// maxAttempts attempts, oldest first.
	FindPendingNotifications(ctx context.Context, maxAttempts, limit int) ([]*Notification, error)

	// MarkNotificationAttempt records one delivery attempt: delivered, or the
	// error (already free of secrets). ENOTFOUND if absent.
	MarkNotificationAttempt(ctx context.Context, id string, delivered bool, lastError string) error
}
