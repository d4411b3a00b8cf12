package sqlite

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/openagents/trust/shared/digest"
	"github.com/openagents/trust/shared/trust"
)

// Ensure the service implements the domain interface.
var _ trust.SubmissionService = (*SubmissionService)(nil)

// SubmissionService stores submissions, their archives, findings and
// notifications (service role). Every state change is a compare-and-set on
// the state, in one transaction, along the state machine of
// trust.SubmissionMoveAllowed.
type SubmissionService struct {
	db *DB
}

// NewSubmissionService returns a SubmissionService backed by db.
func NewSubmissionService(db *DB) *SubmissionService {
	return &SubmissionService{db: db}
}

// Limits of a submission listing (trust.SubmissionFilter).
const (
	defaultSubmissionLimit = 50
	maxSubmissionLimit     = 500
)

// Shape checks of the free-form fields.
var (
	findingSourceRE    = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,31}$`)
	notificationKindRE = regexp.MustCompile(`^[a-z][a-z0-9_]{0,31}(\.[a-z][a-z0-9_]{0,31}){0,3}$`)
)

// maxLastError caps the error recorded with a failed delivery attempt.
const maxLastError = 1000

// CreateSubmission records a received submission with its archive. The digest
// is checked against the bytes here, whatever the caller computed. The same
// publisher uploading the same bytes again gets the existing submission and
// created=false. EINVALID for a bad archive or digest; EFORBIDDEN unless the
// publisher exists and is KYC-verified (also for a repeated upload).
func (s *SubmissionService) CreateSubmission(ctx context.Context, sub *trust.Submission, archive []byte) (*trust.Submission, bool, error) {
	if err := validateNewSubmission(sub, archive); err != nil {
		return nil, false, err
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, false, err
	}
	defer tx.Rollback()

	p, _, err := findPublisher(ctx, tx, "id", sub.Publisher)
	if trust.ErrorCode(err) == trust.ENOTFOUND {
		return nil, false, trust.Errorf(trust.EFORBIDDEN, "publisher %q is not registered", sub.Publisher)
	} else if err != nil {
		return nil, false, err
	} else if p.KYCState != trust.KYCVerified {
		return nil, false, trust.Errorf(trust.EFORBIDDEN, "publisher %s is not KYC-verified (state %s): only verified publishers may submit", p.ID, p.KYCState)
	}

	var existing string
	err = tx.QueryRowContext(ctx, `SELECT id FROM submissions WHERE publisher_id = ? AND archive_digest = ?`, p.ID, sub.ArchiveDigest).Scan(&existing)
	if err == nil {
		out, err := findSubmission(ctx, tx, existing, true)
		return out, false, err
	} else if !isNotFound(err) {
		return nil, false, fmt.Errorf("find submission by archive digest: %w", err)
	}

	id, err := newID("sub_")
	if err != nil {
		return nil, false, err
	}
	out := &trust.Submission{
		ID: id, Publisher: p.ID, ArchiveDigest: sub.ArchiveDigest, ArchiveFormat: sub.ArchiveFormat,
		ArchiveSize: int64(len(archive)), State: trust.SubmissionReceived,
		Permissions: trust.Permissions{}.Normalize(), CreatedAt: tx.now, UpdatedAt: tx.now,
	}
	if _, err := tx.ExecContext(ctx, `
		INSERT INTO submissions (id, publisher_id, archive_digest, archive_format, archive_size, state, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		out.ID, out.Publisher, out.ArchiveDigest, out.ArchiveFormat, out.ArchiveSize, out.State,
		formatTime(tx.now), formatTime(tx.now)); err != nil {
		return nil, false, fmt.Errorf("insert submission: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO submission_archives (submission_id, data) VALUES (?, ?)`, out.ID, archive); err != nil {
		return nil, false, fmt.Errorf("insert archive of submission %s: %w", out.ID, err)
	}
	if err := tx.Commit(); err != nil {
		return nil, false, err
	}
	return out, true, nil
}

// validateNewSubmission checks a submission to record and its archive.
func validateNewSubmission(sub *trust.Submission, archive []byte) error {
	if sub == nil {
		return trust.Errorf(trust.EINVALID, "submission required")
	} else if err := trust.ValidatePublisher(sub.Publisher); err != nil {
		return err
	} else if sub.ArchiveFormat != "tar.gz" && sub.ArchiveFormat != "zip" {
		return trust.Errorf(trust.EINVALID, "invalid archive format %q: want tar.gz or zip", sub.ArchiveFormat)
	} else if len(archive) == 0 {
		return trust.Errorf(trust.EINVALID, "archive required")
	} else if len(archive) > trust.MaxArchiveSize {
		return trust.Errorf(trust.EINVALID, "archive of %d bytes is over the cap of %d bytes (16 MiB)", len(archive), trust.MaxArchiveSize)
	} else if !trust.ValidDigest(sub.ArchiveDigest) {
		return trust.Errorf(trust.EINVALID, "archive digest required: want sha256:<64 lowercase hex digits>")
	} else if got := archiveDigest(archive); got != sub.ArchiveDigest {
		return trust.Errorf(trust.EINVALID, "archive digest mismatch: the bytes hash to %s, not %s", got, sub.ArchiveDigest)
	} else if sub.ArchiveSize != 0 && sub.ArchiveSize != int64(len(archive)) {
		return trust.Errorf(trust.EINVALID, "archive size mismatch: %d bytes received, %d declared", len(archive), sub.ArchiveSize)
	} else if sub.State != "" && sub.State != trust.SubmissionReceived {
		return trust.Errorf(trust.EINVALID, "a new submission is %s, not %s", trust.SubmissionReceived, sub.State)
	}
	return nil
}

// FindSubmissionByID returns one submission with its findings. ENOTFOUND if
// absent.
func (s *SubmissionService) FindSubmissionByID(ctx context.Context, id string) (*trust.Submission, error) {
	tx, err := s.db.BeginTx(ctx, readOnly)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	return findSubmission(ctx, tx, id, true)
}

// FindSubmissionArchive returns the archive bytes of a submission. ENOTFOUND
// if absent.
func (s *SubmissionService) FindSubmissionArchive(ctx context.Context, id string) ([]byte, error) {
	tx, err := s.db.BeginTx(ctx, readOnly)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	var data []byte
	err = tx.QueryRowContext(ctx, `SELECT data FROM submission_archives WHERE submission_id = ?`, id).Scan(&data)
	if isNotFound(err) {
		return nil, errNotFound("submission %q not found", id)
	} else if err != nil {
		return nil, fmt.Errorf("find archive of submission %s: %w", id, err)
	}
	return data, nil
}

// FindSubmissions lists submissions, newest first, without findings. EINVALID
// for a bad publisher, state, limit (at most 500; 0 for 50) or offset.
func (s *SubmissionService) FindSubmissions(ctx context.Context, f trust.SubmissionFilter) ([]*trust.Submission, error) {
	if f.Publisher != "" {
		if err := trust.ValidatePublisher(f.Publisher); err != nil {
			return nil, err
		}
	}
	if f.State != "" && !trust.ValidSubmissionState(f.State) {
		return nil, trust.Errorf(trust.EINVALID, "unknown submission state %q", f.State)
	}
	switch {
	case f.Limit < 0 || f.Limit > maxSubmissionLimit:
		return nil, trust.Errorf(trust.EINVALID, "limit: want 1 to %d", maxSubmissionLimit)
	case f.Offset < 0:
		return nil, trust.Errorf(trust.EINVALID, "offset: want 0 or more")
	case f.Limit == 0:
		f.Limit = defaultSubmissionLimit
	}
	tx, err := s.db.BeginTx(ctx, readOnly)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, `SELECT `+submissionColumns+` FROM submissions
		WHERE (? = '' OR publisher_id = ?) AND (? = '' OR state = ?)
		ORDER BY seq DESC LIMIT ? OFFSET ?`,
		f.Publisher, f.Publisher, f.State, f.State, f.Limit, f.Offset)
	if err != nil {
		return nil, fmt.Errorf("find submissions: %w", err)
	}
	defer rows.Close()
	subs := []*trust.Submission{}
	for rows.Next() {
		sub, err := scanSubmission(rows)
		if err != nil {
			return nil, err
		}
		subs = append(subs, sub)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("find submissions: %w", err)
	}
	return subs, nil
}

// TransitionSubmission moves a submission from t.From to t.To, setting the
// non-zero fields of t, as one compare-and-set. EINVALID for a move the state
// machine does not allow or a bad field; ECONFLICT if the submission is not
// in t.From; ENOTFOUND if absent.
func (s *SubmissionService) TransitionSubmission(ctx context.Context, id string, t trust.SubmissionTransition) (*trust.Submission, error) {
	if err := validateTransition(t); err != nil {
		return nil, err
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()

	sub, err := findSubmission(ctx, tx, id, false)
	if err != nil {
		return nil, err
	} else if sub.State != t.From {
		return nil, trust.Errorf(trust.ECONFLICT, "submission %s is %s, not %s", id, sub.State, t.From)
	}
	applyTransition(sub, t)
	if t.Permissions != nil && sub.PermissionsDigest != "" {
		if d, err := digest.Permissions(sub.Permissions); err != nil {
			return nil, trust.Errorf(trust.EINVALID, "submission %s: invalid permissions", id)
		} else if d != sub.PermissionsDigest {
			return nil, trust.Errorf(trust.EINVALID, "submission %s: permissions hash to %s, not to the permissions digest %s", id, d, sub.PermissionsDigest)
		}
	}
	perms, err := json.Marshal(sub.Permissions)
	if err != nil {
		return nil, fmt.Errorf("encode permissions: %w", err)
	}
	sub.UpdatedAt = tx.now
	res, err := tx.ExecContext(ctx, `
		UPDATE submissions SET state = ?, name = ?, version = ?, content_digest = ?, permissions_digest = ?,
			permissions = ?, image_digest = ?, decision = ?, score = ?, reason = ?, reviewer = ?, updated_at = ?
		WHERE id = ? AND state = ?`,
		sub.State, sub.Name, sub.Version, sub.ContentDigest, sub.PermissionsDigest, string(perms), sub.ImageDigest,
		sub.Decision, sub.Score, sub.Reason, sub.Reviewer, formatTime(tx.now), id, t.From)
	if err != nil {
		return nil, fmt.Errorf("move submission %s to %s: %w", id, t.To, err)
	} else if n, err := res.RowsAffected(); err != nil {
		return nil, fmt.Errorf("move submission %s to %s: %w", id, t.To, err)
	} else if n != 1 {
		return nil, trust.Errorf(trust.ECONFLICT, "submission %s is no longer %s", id, t.From)
	}
	if sub.Findings, err = findFindings(ctx, tx, id); err != nil {
		return nil, err
	}
	return sub, tx.Commit()
}

// validateTransition checks a move and its fields, before any read.
func validateTransition(t trust.SubmissionTransition) error {
	switch {
	case !trust.ValidSubmissionState(t.From):
		return trust.Errorf(trust.EINVALID, "unknown submission state %q", t.From)
	case !trust.ValidSubmissionState(t.To):
		return trust.Errorf(trust.EINVALID, "unknown submission state %q", t.To)
	case !trust.SubmissionMoveAllowed(t.From, t.To):
		return trust.Errorf(trust.EINVALID, "a submission cannot move from %s to %s", t.From, t.To)
	}
	if t.Name != "" || t.Version != "" {
		if err := trust.ValidateSkillRef(t.Name, t.Version); err != nil {
			return err
		}
	}
	for field, d := range map[string]string{"content": t.ContentDigest, "permissions": t.PermissionsDigest, "image": t.ImageDigest} {
		if d != "" && !trust.ValidDigest(d) {
			return trust.Errorf(trust.EINVALID, "invalid %s digest: want sha256:<64 lowercase hex digits>", field)
		}
	}
	switch t.Decision {
	case "", "approve", "flag", "reject":
	default:
		return trust.Errorf(trust.EINVALID, "invalid decision %q: want approve, flag or reject", t.Decision)
	}
	if t.Score != nil && *t.Score < 0 {
		return trust.Errorf(trust.EINVALID, "score: want 0 or more")
	}
	if len(t.Reason) > trust.MaxSubmissionReason {
		return trust.Errorf(trust.EINVALID, "reason longer than %d bytes", trust.MaxSubmissionReason)
	} else if !utf8.ValidString(t.Reason) || strings.ContainsRune(t.Reason, 0) {
		return trust.Errorf(trust.EINVALID, "reason: not UTF-8 text")
	}
	if err := validLine("reviewer", t.Reviewer, 200); err != nil {
		return err
	}
	if t.To == trust.SubmissionFailed && strings.TrimSpace(t.Reason) == "" {
		return trust.Errorf(trust.EINVALID, "a move to failed needs a reason")
	}
	if t.From == trust.SubmissionFlagged && strings.TrimSpace(t.Reviewer) == "" {
		if t.To == trust.SubmissionApproved || t.To == trust.SubmissionRejected {
			return trust.Errorf(trust.EINVALID, "a review of a flagged submission needs the reviewer")
		}
	}
	return nil
}

// applyTransition sets the new state and the non-zero fields of t on sub.
func applyTransition(sub *trust.Submission, t trust.SubmissionTransition) {
	sub.State = t.To
	set := func(dst *string, v string) {
		if v != "" {
			*dst = v
		}
	}
	set(&sub.Name, t.Name)
	set(&sub.Version, t.Version)
	set(&sub.ContentDigest, t.ContentDigest)
	set(&sub.PermissionsDigest, t.PermissionsDigest)
	set(&sub.ImageDigest, t.ImageDigest)
	set(&sub.Decision, t.Decision)
	set(&sub.Reason, t.Reason)
	set(&sub.Reviewer, t.Reviewer)
	if t.Permissions != nil {
		sub.Permissions = t.Permissions.Normalize()
	}
	if t.Score != nil {
		sub.Score = *t.Score
	}
}

// ReplaceSubmissionFindings replaces the findings of one source in one
// transaction. Evidence and Why longer than their caps are cut on a character
// boundary. EINVALID for a bad source, rule ID or field, or more than
// trust.MaxSubmissionFindings; ENOTFOUND for an unknown submission.
func (s *SubmissionService) ReplaceSubmissionFindings(ctx context.Context, id, source string, fs []*trust.SubmissionFinding) error {
	if !findingSourceRE.MatchString(source) {
		return trust.Errorf(trust.EINVALID, "invalid finding source %q: want a lowercase word, e.g. static", source)
	} else if len(fs) > trust.MaxSubmissionFindings {
		return trust.Errorf(trust.EINVALID, "%d findings from %s: at most %d per source", len(fs), source, trust.MaxSubmissionFindings)
	}
	clean := make([]trust.SubmissionFinding, len(fs))
	for i, f := range fs {
		c, err := cleanFinding(f, source)
		if err != nil {
			return trust.Errorf(trust.EINVALID, "finding %d: %s", i, trust.ErrorMessage(err))
		}
		clean[i] = c
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := findSubmission(ctx, tx, id, false); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM submission_findings WHERE submission_id = ? AND source = ?`, id, source); err != nil {
		return fmt.Errorf("delete %s findings of submission %s: %w", source, id, err)
	}
	for _, f := range clean {
		if _, err := tx.ExecContext(ctx, `
			INSERT INTO submission_findings (submission_id, source, rule_id, category, severity, file, line, evidence, why)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			id, f.Source, f.RuleID, f.Category, f.Severity, f.File, f.Line, f.Evidence, f.Why); err != nil {
			return fmt.Errorf("insert finding of submission %s: %w", id, err)
		}
	}
	return tx.Commit()
}

// cleanFinding checks a finding and returns a copy with its source set and
// its long texts cut.
func cleanFinding(f *trust.SubmissionFinding, source string) (trust.SubmissionFinding, error) {
	if f == nil {
		return trust.SubmissionFinding{}, trust.Errorf(trust.EINVALID, "finding required")
	}
	c := *f
	if c.Source == "" {
		c.Source = source
	} else if c.Source != source {
		return c, trust.Errorf(trust.EINVALID, "source %q in a replacement of %q", c.Source, source)
	}
	if strings.TrimSpace(c.RuleID) == "" {
		return c, trust.Errorf(trust.EINVALID, "rule ID required")
	}
	for _, field := range []struct {
		name, value string
		max         int
	}{{"rule ID", c.RuleID, 128}, {"category", c.Category, 128}, {"severity", c.Severity, 32}} {
		if err := validLine(field.name, field.value, field.max); err != nil {
			return c, err
		}
	}
	if c.Line < 0 {
		return c, trust.Errorf(trust.EINVALID, "line: want 0 or more")
	}
	c.File = cutText(c.File, 1024)
	c.Evidence = cutText(c.Evidence, trust.MaxFindingEvidence)
	c.Why = cutText(c.Why, trust.MaxFindingWhy)
	return c, nil
}

// CreateNotification records a notification, or returns the one recorded
// for the same submission and kind. The publisher is the submission's.
// ENOTFOUND for an unknown submission; EINVALID for another publisher, a bad
// kind, or a body that is not JSON or is over trust.MaxNotificationBody.
func (s *SubmissionService) CreateNotification(ctx context.Context, n *trust.Notification) (*trust.Notification, error) {
	switch {
	case n == nil:
		return nil, trust.Errorf(trust.EINVALID, "notification required")
	case n.SubmissionID == "":
		return nil, trust.Errorf(trust.EINVALID, "submission ID required")
	case !notificationKindRE.MatchString(n.Kind):
		return nil, trust.Errorf(trust.EINVALID, "invalid notification kind: want dotted lowercase words, e.g. %s", trust.NotificationSubmissionRejected)
	case len(n.Body) > trust.MaxNotificationBody:
		return nil, trust.Errorf(trust.EINVALID, "notification body larger than %d bytes", trust.MaxNotificationBody)
	case !json.Valid(n.Body):
		return nil, trust.Errorf(trust.EINVALID, "notification body must be JSON")
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()

	sub, err := findSubmission(ctx, tx, n.SubmissionID, false)
	if err != nil {
		return nil, err
	} else if n.Publisher != "" && n.Publisher != sub.Publisher {
		return nil, trust.Errorf(trust.EINVALID, "submission %s is not publisher %s's", sub.ID, n.Publisher)
	}
	existing, err := findNotification(ctx, tx, `submission_id = ? AND kind = ?`, n.SubmissionID, n.Kind)
	if err == nil {
		return existing, nil
	} else if trust.ErrorCode(err) != trust.ENOTFOUND {
		return nil, err
	}
	id, err := newID("ntf_")
	if err != nil {
		return nil, err
	}
	out := &trust.Notification{ID: id, Publisher: sub.Publisher, SubmissionID: sub.ID, Kind: n.Kind,
		Body: append([]byte(nil), n.Body...), CreatedAt: tx.now}
	if _, err := tx.ExecContext(ctx, `
		INSERT INTO notifications (id, publisher_id, submission_id, kind, body, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
		out.ID, out.Publisher, out.SubmissionID, out.Kind, out.Body, formatTime(tx.now)); err != nil {
		return nil, fmt.Errorf("insert notification: %w", err)
	}
	return out, tx.Commit()
}

// FindPendingNotifications lists undelivered notifications with fewer than
// maxAttempts attempts, oldest first. EINVALID for maxAttempts under 1 or a
// bad limit (0 for trust.DefaultListLimit).
func (s *SubmissionService) FindPendingNotifications(ctx context.Context, maxAttempts, limit int) ([]*trust.Notification, error) {
	if maxAttempts < 1 {
		return nil, trust.Errorf(trust.EINVALID, "max attempts: want 1 or more")
	}
	limit, err := trust.CheckPage(limit, 0)
	if err != nil {
		return nil, err
	}
	tx, err := s.db.BeginTx(ctx, readOnly)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, `SELECT `+notificationColumns+` FROM notifications
		WHERE delivered_at IS NULL AND attempts < ? ORDER BY seq LIMIT ?`, maxAttempts, limit)
	if err != nil {
		return nil, fmt.Errorf("find pending notifications: %w", err)
	}
	defer rows.Close()
	out := []*trust.Notification{}
	for rows.Next() {
		n, err := scanNotification(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("find pending notifications: %w", err)
	}
	return out, nil
}

// MarkNotificationAttempt records one delivery attempt. A delivered
// notification keeps its first delivery time and clears its last error; a
// failed attempt records lastError, cut to 1000 bytes. ENOTFOUND if absent.
func (s *SubmissionService) MarkNotificationAttempt(ctx context.Context, id string, delivered bool, lastError string) error {
	if delivered {
		lastError = ""
	}
	lastError = cutText(lastError, maxLastError)
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var deliveredAt any
	if delivered {
		deliveredAt = formatTime(tx.now)
	}
	res, err := tx.ExecContext(ctx, `UPDATE notifications SET attempts = attempts + 1, last_error = ?,
		delivered_at = COALESCE(delivered_at, ?) WHERE id = ?`, lastError, deliveredAt, id)
	if err != nil {
		return fmt.Errorf("record attempt on notification %s: %w", id, err)
	} else if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("record attempt on notification %s: %w", id, err)
	} else if n == 0 {
		return errNotFound("notification %q not found", id)
	}
	return tx.Commit()
}

// submissionColumns are the columns scanSubmission reads, in order.
const submissionColumns = `id, publisher_id, archive_digest, archive_format, archive_size, state, name, version,
	content_digest, permissions_digest, permissions, image_digest, decision, score, reason, reviewer, created_at, updated_at`

// rowScanner is a *sql.Row or *sql.Rows.
type rowScanner interface{ Scan(dest ...any) error }

// scanSubmission reads one row of submissionColumns.
func scanSubmission(row rowScanner) (*trust.Submission, error) {
	var sub trust.Submission
	var perms string
	if err := row.Scan(&sub.ID, &sub.Publisher, &sub.ArchiveDigest, &sub.ArchiveFormat, &sub.ArchiveSize, &sub.State,
		&sub.Name, &sub.Version, &sub.ContentDigest, &sub.PermissionsDigest, &perms, &sub.ImageDigest,
		&sub.Decision, &sub.Score, &sub.Reason, &sub.Reviewer, timeScanner{&sub.CreatedAt}, timeScanner{&sub.UpdatedAt}); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(perms), &sub.Permissions); err != nil {
		return nil, fmt.Errorf("decode permissions of submission %s: %w", sub.ID, err)
	}
	sub.Permissions = sub.Permissions.Normalize()
	return &sub, nil
}

// findSubmission returns one submission, with its findings if asked.
// ENOTFOUND if absent.
func findSubmission(ctx context.Context, tx *Tx, id string, withFindings bool) (*trust.Submission, error) {
	sub, err := scanSubmission(tx.QueryRowContext(ctx, `SELECT `+submissionColumns+` FROM submissions WHERE id = ?`, id))
	if isNotFound(err) {
		return nil, errNotFound("submission %q not found", id)
	} else if err != nil {
		return nil, fmt.Errorf("find submission %s: %w", id, err)
	}
	if withFindings {
		if sub.Findings, err = findFindings(ctx, tx, id); err != nil {
			return nil, err
		}
	}
	return sub, nil
}

// findFindings returns the findings of a submission in the order recorded.
func findFindings(ctx context.Context, tx *Tx, id string) ([]*trust.SubmissionFinding, error) {
	rows, err := tx.QueryContext(ctx, `SELECT source, rule_id, category, severity, file, line, evidence, why
		FROM submission_findings WHERE submission_id = ? ORDER BY seq`, id)
	if err != nil {
		return nil, fmt.Errorf("find findings of submission %s: %w", id, err)
	}
	defer rows.Close()
	var fs []*trust.SubmissionFinding
	for rows.Next() {
		var f trust.SubmissionFinding
		if err := rows.Scan(&f.Source, &f.RuleID, &f.Category, &f.Severity, &f.File, &f.Line, &f.Evidence, &f.Why); err != nil {
			return nil, fmt.Errorf("scan finding: %w", err)
		}
		fs = append(fs, &f)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("find findings of submission %s: %w", id, err)
	}
	return fs, nil
}

// notificationColumns are the columns scanNotification reads, in order.
const notificationColumns = `id, publisher_id, submission_id, kind, body, attempts, last_error, delivered_at, created_at`

// scanNotification reads one row of notificationColumns.
func scanNotification(row rowScanner) (*trust.Notification, error) {
	var n trust.Notification
	if err := row.Scan(&n.ID, &n.Publisher, &n.SubmissionID, &n.Kind, &n.Body, &n.Attempts, &n.LastError,
		nullTimeScanner{&n.DeliveredAt}, timeScanner{&n.CreatedAt}); err != nil {
		return nil, err
	}
	return &n, nil
}

// findNotification returns the notification matching where. ENOTFOUND if none.
func findNotification(ctx context.Context, tx *Tx, where string, args ...any) (*trust.Notification, error) {
	n, err := scanNotification(tx.QueryRowContext(ctx, `SELECT `+notificationColumns+` FROM notifications WHERE `+where, args...))
	if isNotFound(err) {
		return nil, errNotFound("notification not found")
	} else if err != nil {
		return nil, fmt.Errorf("find notification: %w", err)
	}
	return n, nil
}

// archiveDigest returns "sha256:" and the hex SHA-256 of archive.
func archiveDigest(archive []byte) string {
	sum := sha256.Sum256(archive)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// validLine reports as EINVALID a one-line text field over max bytes, not
// UTF-8, or with control characters.
func validLine(field, s string, max int) error {
	if len(s) > max {
		return trust.Errorf(trust.EINVALID, "%s longer than %d bytes", field, max)
	} else if !utf8.ValidString(s) {
		return trust.Errorf(trust.EINVALID, "%s: not UTF-8", field)
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return trust.Errorf(trust.EINVALID, "%s: control characters are not allowed", field)
		}
	}
	return nil
}

// cutText returns s as valid UTF-8 of at most max bytes, cut on a character
// boundary and marked with "…" when it was longer.
func cutText(s string, max int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= max {
		return s
	}
	const mark = "…"
	cut := max - len(mark)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + mark
}
