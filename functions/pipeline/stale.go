package pipeline

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/openagents/trust/shared/trust"
)

// resumable are the states a submission may be left in by a crash or a
// transient error. Flagged waits for a reviewer and is not resumed.
var resumable = []string{
	trust.SubmissionReceived, trust.SubmissionExtracted, trust.SubmissionScanned,
	trust.SubmissionBuilt, trust.SubmissionAnalyzed, trust.SubmissionApproved,
}

// StaleReport is what one ResumeStale run did.
type StaleReport struct {
	Resumed  int      `json:"resumed"`  // submissions Resume was called on
	Finished int      `json:"finished"` // of those, how many came to rest (final or flagged)
	Notified int      `json:"notified"` // rejections whose notification was checked
	Errors   int      `json:"errors"`   // submissions left for a later run
	IDs      []string `json:"ids"`      // the resumed submissions
}

const stalePage = 100

// ResumeStale resumes every submission in a non-final, non-flagged state not
// updated for olderThan (at most MaxStale per run), and makes sure rejections
// updated within NotifyWindow have their notification recorded (a reviewer's
// function that died between rejecting and calling Resume). One submission's
// error does not stop the others; the report counts them.
func (r *Runner) ResumeStale(ctx context.Context, olderThan time.Duration) (*StaleReport, error) {
	now := r.Now()
	rep := &StaleReport{IDs: []string{}}
	var ids []string
	for _, state := range resumable {
		for off := 0; len(ids) < r.MaxStale; off += stalePage {
			page, err := r.Catalog.FindSubmissions(ctx, trust.SubmissionFilter{State: state, Limit: stalePage, Offset: off})
			if err != nil {
				return rep, fmt.Errorf("list %s submissions: %w", state, err)
			}
			for _, s := range page {
				if now.Sub(s.UpdatedAt) >= olderThan && len(ids) < r.MaxStale {
					ids = append(ids, s.ID)
				}
			}
			if len(page) < stalePage {
				break
			}
		}
	}
	var errs []error
	for _, id := range ids {
		if err := ctx.Err(); err != nil {
			errs = append(errs, err)
			break
		}
		rep.Resumed++
		rep.IDs = append(rep.IDs, id)
		sub, err := r.Resume(ctx, id)
		if err != nil {
			rep.Errors++
			r.Logger.Warn("stale submission not finished", "submission", id, "err", err)
			continue
		}
		if Resting(sub.State) {
			rep.Finished++
		}
	}
	// Recent rejections, newest first, until one older than the window.
	if r.NotifyWindow > 0 {
	pages:
		for off := 0; ; off += stalePage {
			page, err := r.Catalog.FindSubmissions(ctx, trust.SubmissionFilter{State: trust.SubmissionRejected, Limit: stalePage, Offset: off})
			if err != nil {
				errs = append(errs, fmt.Errorf("list rejected submissions: %w", err))
				break
			}
			for _, s := range page {
				if now.Sub(s.UpdatedAt) > r.NotifyWindow {
					break pages
				}
				rep.Notified++
				if err := r.ensureNotification(ctx, s); err != nil {
					rep.Errors++
					r.Logger.Warn("rejection notification not recorded", "submission", s.ID, "err", err)
				}
			}
			if len(page) < stalePage {
				break
			}
		}
	}
	r.Logger.Info("stale submissions resumed", "resumed", rep.Resumed, "finished", rep.Finished,
		"notified", rep.Notified, "errors", rep.Errors)
	return rep, errors.Join(errs...)
}

// HandleSchedule is the scheduled function's Lambda handler (an EventBridge
// scheduled event): ResumeStale with StaleAfter. The event's content is not
// used; any event runs one pass.
func (r *Runner) HandleSchedule(ctx context.Context, ev events.EventBridgeEvent) (*StaleReport, error) {
	r.Logger.Info("scheduled run", "event", ev.ID, "source", ev.Source)
	return r.ResumeStale(ctx, r.StaleAfter)
}
