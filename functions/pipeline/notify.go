package pipeline

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/openagents/trust/shared/scan"
	"github.com/openagents/trust/shared/trust"
)

// Rejection is the JSON body of a "submission.rejected" notification: what the
// publisher's webhook receives (signed by the notify function).
type Rejection struct {
	Kind          string                     `json:"kind"` // NotificationKind
	SubmissionID  string                     `json:"submission_id"`
	Publisher     string                     `json:"publisher"`
	Skill         string                     `json:"skill"`
	Version       string                     `json:"version"`
	Decision      string                     `json:"decision"`    // always "reject": the outcome
	RejectedBy    string                     `json:"rejected_by"` // "pipeline" or "reviewer"
	ScanDecision  string                     `json:"scan_decision,omitempty"`
	Score         int                        `json:"score"`
	Reason        string                     `json:"reason"`
	Findings      []*trust.SubmissionFinding `json:"findings"`       // the most severe, at most MaxNotifiedFindings
	FindingsTotal int                        `json:"findings_total"` // how many the submission has
}

// MaxNotifiedFindings bounds the findings a notification carries (the most
// severe first), so its body stays far below trust.MaxNotificationBody.
const MaxNotifiedFindings = 100

// NewRejection returns the notification body for a rejected submission.
func NewRejection(sub *trust.Submission) *Rejection {
	by := "pipeline"
	if sub.Reviewer != "" {
		by = "reviewer"
	}
	fs := slices.Clone(sub.Findings)
	if fs == nil {
		fs = []*trust.SubmissionFinding{}
	}
	total := len(fs)
	if len(fs) > MaxNotifiedFindings {
		slices.SortStableFunc(fs, func(a, b *trust.SubmissionFinding) int {
			return scan.Severity(b.Severity).Points() - scan.Severity(a.Severity).Points()
		})
		fs = fs[:MaxNotifiedFindings]
	}
	return &Rejection{
		Kind: NotificationKind, SubmissionID: sub.ID, Publisher: sub.Publisher,
		Skill: sub.Name, Version: sub.Version, Decision: "reject", RejectedBy: by,
		ScanDecision: sub.Decision, Score: sub.Score, Reason: sub.Reason, Findings: fs, FindingsTotal: total,
	}
}

// ensureNotification records the rejection notification of sub (once: the
// catalog keeps one per submission and kind) and, until a first delivery
// attempt, calls the Notify hook with it.
func (r *Runner) ensureNotification(ctx context.Context, sub *trust.Submission) error {
	full, err := r.Catalog.FindSubmissionByID(ctx, sub.ID)
	if err != nil {
		return fmt.Errorf("find submission %s: %w", sub.ID, err)
	}
	body, err := json.Marshal(NewRejection(full))
	if err != nil {
		return fmt.Errorf("encode notification: %w", err)
	}
	n, err := r.Catalog.CreateNotification(ctx, &trust.Notification{
		Publisher: full.Publisher, SubmissionID: full.ID, Kind: NotificationKind, Body: body,
	})
	if err != nil {
		return fmt.Errorf("record notification of %s: %w", sub.ID, err)
	}
	if n.DeliveredAt == nil && n.Attempts == 0 && r.Notify != nil {
		r.Notify(ctx, n)
	}
	return nil
}
