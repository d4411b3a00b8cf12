// Package pipeline moves a skill submission through its states, one recorded
// step at a time:
//
//	received → extracted → scanned → built → analyzed → approved → signed
//	                                                  ↘ flagged (a reviewer decides)
//	                                                  ↘ rejected (the publisher is notified)
//	any non-final state → failed (a permanent error, with its reason)
//
// Every step reads what it needs from the catalog (the stored archive and the
// submission), does its work, records the result and then moves the state with
// a compare-and-set. Nothing a step writes depends on a previous attempt of the
// same step: findings are replaced per source, the skill version is created
// with the same digests (a no-op the second time), a signature of the same
// digests by the same key version replaces the earlier one, and a notification
// is recorded once per submission. So a run that dies between any two writes
// is finished by Resume with the same result and no duplicates.
//
// Errors are of two kinds. A permanent one (the archive breaks an extraction
// rule, SKILL.md is invalid, name@version is taken with other digests) moves
// the submission to failed with a reason the publisher can read. A transient
// one (the catalog or the registry cannot be reached, the deadline passed)
// leaves the state where it is, for the next Resume or the scheduled
// ResumeStale.
package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/openagents/trust/shared/bundle"
	"github.com/openagents/trust/shared/scan"
	"github.com/openagents/trust/shared/trust"
	"github.com/openagents/trust/shared/vuln"
)

// Catalog is the part of the edge service API the pipeline uses; the methods
// and their error codes are those of trust.SubmissionService and
// trust.SkillVersionService (CreateSkillVersion returns the stored version, as
// the edge client does). The edge client (*edgeapi.Client with the service
// credential) implements it.
type Catalog interface {
	FindSubmissionByID(ctx context.Context, id string) (*trust.Submission, error)
	FindSubmissionArchive(ctx context.Context, id string) ([]byte, error)
	FindSubmissions(ctx context.Context, f trust.SubmissionFilter) ([]*trust.Submission, error)
	TransitionSubmission(ctx context.Context, id string, t trust.SubmissionTransition) (*trust.Submission, error)
	ReplaceSubmissionFindings(ctx context.Context, id, source string, fs []*trust.SubmissionFinding) error
	CreateNotification(ctx context.Context, n *trust.Notification) (*trust.Notification, error)
	FindPublisherByID(ctx context.Context, id string) (*trust.Publisher, error)

	FindSkillVersion(ctx context.Context, ref trust.SkillRef) (*trust.SkillVersion, error)
	CreateSkillVersion(ctx context.Context, v *trust.SkillVersion) (*trust.SkillVersion, error)
	UpdateSkillVersionState(ctx context.Context, ref trust.SkillRef, state string) (*trust.SkillVersion, error)
}

// Signer signs an approved skill version and records the signature:
// (*sign.Handler).Sign. ECONFLICT when the version is not approved or the
// signing key cannot sign now; ENOTFOUND for an unknown version.
type Signer interface {
	Sign(ctx context.Context, ref trust.SkillRef) (*trust.Signature, error)
}

// Finding sources recorded by the pipeline.
const (
	SourceStatic   = "static"
	SourceImage    = "image" // the built image's package inventory against VulnDB
	SourceBehavior = "behavior"
)

// Behavior runs a skill folder in a sandbox and reports what it did, as
// findings and a decision (an adapter over shared/sandbox, say). A decision
// other than approve, flag or reject counts as flag. An error
// means the analysis could not run: the submission waits (fail closed: it is
// never approved without the analysis a configured Runner requires).
type Behavior interface {
	Analyze(ctx context.Context, dir string) ([]scan.Finding, scan.Decision, error)
}

// NotificationKind is the kind of the notification recorded on rejection.
const NotificationKind = trust.NotificationSubmissionRejected

// BehaviorNotRun is recorded as the reason of the built → analyzed move when
// no Behavior is configured: the pipeline says so rather than pretend it ran.
// A later reason (a rejection, a reviewer's) replaces it.
const BehaviorNotRun = "behavioral analysis not run: no sandbox runner is configured; the decision rests on static analysis"

// BehaviorLowRisk starts the reason recorded when a Behavior is configured but
// the submission's static score is below Runner.BehaviorMinScore.
const BehaviorLowRisk = "behavioral analysis not needed: low static risk"

// Runner runs the pipeline. Set the exported fields, then call Open; Resume
// and ResumeStale are safe for concurrent use.
type Runner struct {
	Catalog   Catalog
	Signer    Signer
	Analyzers []scan.FileAnalyzer // extra analyzers for scan.ScanWith (the dependency check…)
	Behavior  Behavior            // behavioral analysis; nil: not run (and recorded so)
	// BehaviorMinScore runs Behavior only for submissions whose static score
	// is at least this (high risk); below it the analysis is recorded as not
	// needed. Zero runs it for every submission.
	BehaviorMinScore int
	VulnDB           *vuln.DB // advisories the built image's packages are matched against; nil: not matched

	BaseLayout string // OCI layout directory holding the pinned base image
	BaseImage  string // the base's digest, "sha256:…" or "name@sha256:…"
	Registry   string // where images are pushed: an OCI layout directory or a registry URL

	Limits  bundle.Limits // extraction limits; MaxCompressed should be the intake cap
	WorkDir string        // parent of the temporary extraction directories ("" = os.TempDir())

	// Notify, if set, is called with a rejection notification that is
	// recorded and was never attempted (wired to notify.Deliverer.NotifyOne);
	// later attempts are the scheduled notify function's.
	Notify func(ctx context.Context, n *trust.Notification)

	// StaleAfter is how long a submission must sit in a non-final state before
	// ResumeStale picks it up; NotifyWindow how far back ResumeStale looks for
	// rejections whose notification may be missing; MaxStale caps the
	// submissions one ResumeStale run resumes.
	StaleAfter   time.Duration
	NotifyWindow time.Duration
	MaxStale     int

	Logger *slog.Logger
	Now    func() time.Time
}

// NewRunner returns a Runner with defaults: the extraction limits are
// bundle's, with archives up to trust.MaxArchiveSize (what intake accepts).
func NewRunner() *Runner {
	lim := bundle.DefaultLimits()
	lim.MaxCompressed = trust.MaxArchiveSize
	return &Runner{
		Limits:       lim,
		StaleAfter:   10 * time.Minute,
		NotifyWindow: 24 * time.Hour,
		MaxStale:     100,
		Logger:       slog.Default(),
		Now:          time.Now,
	}
}

// Open checks the configuration. It does not touch the network.
func (r *Runner) Open() error {
	switch {
	case r.Catalog == nil:
		return fmt.Errorf("pipeline: no catalog")
	case r.Signer == nil:
		return fmt.Errorf("pipeline: no signer")
	case r.BaseLayout == "" || r.BaseImage == "":
		return fmt.Errorf("pipeline: no pinned OCI base (layout directory and digest)")
	case r.Registry == "":
		return fmt.Errorf("pipeline: no registry to push to")
	}
	if r.Logger == nil {
		r.Logger = slog.Default()
	}
	if r.Now == nil {
		r.Now = time.Now
	}
	if r.WorkDir != "" {
		if fi, err := os.Stat(r.WorkDir); err != nil || !fi.IsDir() {
			return fmt.Errorf("pipeline: work directory is not a directory")
		}
	}
	return nil
}

// permanent is a step's error that fails the submission.
type permanent struct{ reason string }

func (p *permanent) Error() string { return p.reason }

func permanentf(format string, args ...any) error {
	return &permanent{reason: fmt.Sprintf(format, args...)}
}

// asPermanent turns an EINVALID (and, if listed, other codes) from work on the
// publisher's own skill into a permanent error with its coded message, and
// passes anything else on as transient.
func asPermanent(doing string, err error, codes ...string) error {
	code := trust.ErrorCode(err)
	if code == trust.EINVALID {
		return permanentf("%s: %s", doing, trust.ErrorMessage(err))
	}
	for _, c := range codes {
		if code == c {
			return permanentf("%s: %s", doing, trust.ErrorMessage(err))
		}
	}
	return fmt.Errorf("%s: %w", doing, err)
}

// Resting reports whether the pipeline can move a submission in state no
// further by itself: the final states (signed, rejected, failed), and flagged,
// which waits for a reviewer.
func Resting(state string) bool {
	return trust.FinalSubmissionState(state) || state == trust.SubmissionFlagged
}

// maxSteps bounds one Resume: seven forward moves, plus retries after another
// runner moved the submission first.
const maxSteps = 24

// Resume advances submission id from whatever state it is in as far as it can
// go, and returns it as it is then, with its findings. A permanent error moves
// it to failed and is not an error of Resume; a transient one is returned,
// with the submission as it was last read (nil if it could not be read).
// On a rejected submission, Resume makes sure the rejection notification is
// recorded (the reviewer's function calls Resume after rejecting).
func (r *Runner) Resume(ctx context.Context, id string) (*trust.Submission, error) {
	sub, err := r.Catalog.FindSubmissionByID(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("find submission %s: %w", id, err)
	}
	w := &work{r: r}
	defer w.close()
	for i := 0; ; i++ {
		if i == maxSteps {
			return sub, fmt.Errorf("submission %s: no progress after %d steps", id, maxSteps)
		}
		if sub.State == trust.SubmissionRejected {
			if err := r.ensureNotification(ctx, sub); err != nil {
				return sub, err
			}
			break
		}
		if Resting(sub.State) {
			break
		}
		next, err := r.step(ctx, w, sub)
		var p *permanent
		if errors.As(err, &p) {
			r.Logger.Warn("submission failed", "submission", id, "state", sub.State, "reason", p.reason)
			next, err = r.move(ctx, id, trust.SubmissionTransition{
				From: sub.State, To: trust.SubmissionFailed, Reason: truncate(p.reason, maxReason)})
		}
		switch {
		case errors.Is(err, errMoved):
			// Someone else moved it first: read where it is now.
			if next, err = r.Catalog.FindSubmissionByID(ctx, id); err != nil {
				return sub, fmt.Errorf("find submission %s: %w", id, err)
			}
		case err != nil:
			r.Logger.Info("submission step interrupted", "submission", id, "state", sub.State, "err", err)
			return sub, err
		default:
			r.Logger.Info("submission step", "submission", id, "from", sub.State, "to", next.State)
		}
		sub = next
	}
	// The last transition's answer may predate findings; read it whole.
	final, err := r.Catalog.FindSubmissionByID(ctx, id)
	if err != nil {
		return sub, fmt.Errorf("find submission %s: %w", id, err)
	}
	return final, nil
}

// step runs the step that leaves sub's state and returns the submission after
// its transition.
func (r *Runner) step(ctx context.Context, w *work, sub *trust.Submission) (*trust.Submission, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	switch sub.State {
	case trust.SubmissionReceived:
		return r.extract(ctx, w, sub)
	case trust.SubmissionExtracted:
		return r.scan(ctx, w, sub)
	case trust.SubmissionScanned:
		return r.build(ctx, w, sub)
	case trust.SubmissionBuilt:
		return r.analyze(ctx, w, sub)
	case trust.SubmissionAnalyzed:
		return r.decide(ctx, sub)
	case trust.SubmissionApproved:
		return r.sign(ctx, sub)
	}
	return nil, permanentf("unknown submission state %q", sub.State)
}

// errMoved reports that a transition found the submission in another state:
// another runner (or a reviewer) moved it first.
var errMoved = errors.New("submission moved by someone else")

// move records a transition; ECONFLICT (the submission is no longer in
// t.From) becomes errMoved, and only the transition's own ECONFLICT does.
func (r *Runner) move(ctx context.Context, id string, t trust.SubmissionTransition) (*trust.Submission, error) {
	sub, err := r.Catalog.TransitionSubmission(ctx, id, t)
	if trust.ErrorCode(err) == trust.ECONFLICT {
		return nil, errMoved
	} else if err != nil {
		return nil, fmt.Errorf("move %s from %s to %s: %w", id, t.From, t.To, err)
	}
	return sub, nil
}

// maxReason caps a recorded reason.
const maxReason = 1000

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && (s[n]&0xC0) == 0x80 { // do not split a UTF-8 sequence
		n--
	}
	return s[:n] + "…"
}
