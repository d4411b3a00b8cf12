package pipeline

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/openagents/trust/shared/trust"
)

// Rejection is the JSON body of a "submission.rejected" notification: what the
// publisher's webhook receives (signed by the notify function).
type Rejection struct {
	Kind         string                     `json:"kind"` // NotificationKind
	SubmissionID string                     `json:"submission_id"`
	Publisher    string                     `json:"publisher"`
	Skill        string                     `json:"skill"`
	Version      string                     `json:"version"`
	Decision     string                     `json:"decision"`    // always "reject": the outcome
	RejectedBy   string                     `json:"rejected_by"` // "pipeline" or "reviewer"
	ScanDecision string                     `json:"scan_decision,omitempty"`
	Score        int                        `json:"score"`
	Reason       string                     `json:"reason"`
	Findings     []*trust.SubmissionFinding `json:"findings"`
}

// NewRejection returns the notification body for a rejected submission.
func NewRejection(sub *trust.Submission) *Rejection {
	by := "pipeline"
	if sub.Reviewer != "" {
		by = "reviewer"
	}
	fs := sub.Findings
	if fs == nil {
		fs = []*trust.SubmissionFinding{}
	}
	return &Rejection{
		Kind: NotificationKind, SubmissionID: sub.ID, Publisher: sub.Publisher,
		Skill: sub.Name, Version: sub.Version, Decision: "reject", RejectedBy: by,
		ScanDecision: sub.Decision, Score: sub.Score, Reason: sub.Reason, Findings: fs,
	}
}

// ensureNotification records the rejection notification of sub (once: the
// catalog keeps one per submission and kind) and, while it is undelivered,
// calls the Notify hook.
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
	if n.DeliveredAt == nil && r.Notify != nil {
		r.Notify(ctx)
	}
	return nil
}
