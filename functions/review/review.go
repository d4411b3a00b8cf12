// Package review is the reviewer function: the queue of flagged submissions
// and a reviewer's decision on one of them.
//
//	GET  /v1/review/queue?limit=&offset=   flagged submissions, newest first
//	GET  /v1/review/submissions/{id}       one submission with its findings
//	POST /v1/review/submissions/{id}       {"decision":"approve"|"reject","reason":"…","reviewer":"…"}
//
// Reviewers authenticate with one shared reviewer credential (Authorization:
// Bearer), compared in constant time; the reviewer field names who decided and
// is recorded on the submission and in the log. A decision moves a flagged
// submission to approved or rejected (compare-and-set in the catalog, so two
// reviewers cannot both decide) and then resumes the pipeline, which signs an
// approved submission or notifies the publisher of a rejected one.
package review

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/openagents/trust/shared/httpapi"
	"github.com/openagents/trust/shared/trust"
)

// Limits on a decision.
const (
	MaxReasonLength   = trust.MaxSubmissionReason // bytes, as the catalog caps it
	MaxReviewerLength = 100                       // characters
	maxDecisionBody   = 16 << 10
)

// MinTokenLength is the shortest reviewer credential the handler accepts as
// configured; a shorter one refuses every request.
const MinTokenLength = 32

// Listing bounds (as trust.SubmissionFilter documents them).
const (
	DefaultLimit = 50
	MaxLimit     = 500
)

// Decisions a reviewer may take.
const (
	DecisionApprove = "approve"
	DecisionReject  = "reject"
)

// Catalog is the part of the edge service API the function uses.
type Catalog interface {
	// FindSubmissions lists submissions, newest first, without findings.
	FindSubmissions(ctx context.Context, f trust.SubmissionFilter) ([]*trust.Submission, error)
	// FindSubmissionByID returns one submission with its findings; ENOTFOUND if absent.
	FindSubmissionByID(ctx context.Context, id string) (*trust.Submission, error)
	// TransitionSubmission moves a submission from t.From to t.To; ECONFLICT
	// if it is no longer in t.From.
	TransitionSubmission(ctx context.Context, id string, t trust.SubmissionTransition) (*trust.Submission, error)
}

// Resumer advances a submission as far as it can go: functions/pipeline.
type Resumer interface {
	Resume(ctx context.Context, id string) (*trust.Submission, error)
}

// Handler serves the review routes.
type Handler struct {
	Catalog       Catalog
	Resumer       Resumer
	ReviewerToken string // the reviewer credential; required
	Logger        *slog.Logger

	mux *http.ServeMux
}

// NewHandler returns a Handler with defaults; set Catalog, Resumer and
// ReviewerToken before use.
func NewHandler() *Handler {
	h := &Handler{Logger: slog.Default()}
	h.mux = http.NewServeMux()
	h.mux.HandleFunc("GET /v1/review/queue", h.handleQueueList)
	h.mux.HandleFunc("GET /v1/review/submissions/{id}", h.handleSubmissionView)
	h.mux.HandleFunc("POST /v1/review/submissions/{id}", h.handleDecisionCreate)
	h.mux.HandleFunc("/", h.handleNotFound)
	return h
}

// ServeHTTP implements http.Handler. Every route needs the reviewer credential.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := h.authenticate(r); err != nil {
		if trust.ErrorCode(err) == trust.EUNAUTHORIZED {
			w.Header().Set("WWW-Authenticate", `Bearer realm="review"`)
		}
		httpapi.WriteError(w, r, h.Logger, err)
		return
	}
	h.mux.ServeHTTP(w, r)
}

// Queue is the answer to GET /v1/review/queue.
type Queue struct {
	Submissions []*trust.Submission `json:"submissions"`
	Limit       int                 `json:"limit"`
	Offset      int                 `json:"offset"`
}

// Decision is a reviewer's verdict on a flagged submission.
type Decision struct {
	Decision string `json:"decision"` // approve | reject
	Reason   string `json:"reason"`
	Reviewer string `json:"reviewer"`
}

func (h *Handler) handleQueueList(w http.ResponseWriter, r *http.Request) {
	limit, err := queryInt(r, "limit", DefaultLimit, 1, MaxLimit)
	if err != nil {
		httpapi.WriteError(w, r, h.Logger, err)
		return
	}
	offset, err := queryInt(r, "offset", 0, 0, 1<<30)
	if err != nil {
		httpapi.WriteError(w, r, h.Logger, err)
		return
	}
	subs, err := h.Catalog.FindSubmissions(r.Context(), trust.SubmissionFilter{State: trust.SubmissionFlagged, Limit: limit, Offset: offset})
	if err != nil {
		httpapi.WriteError(w, r, h.Logger, internalError("list flagged submissions", err))
		return
	}
	if subs == nil {
		subs = []*trust.Submission{}
	}
	httpapi.WriteJSON(w, http.StatusOK, Queue{Submissions: subs, Limit: limit, Offset: offset})
}

func (h *Handler) handleSubmissionView(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if err := validateID(id); err != nil {
		httpapi.WriteError(w, r, h.Logger, err)
		return
	}
	sub, err := h.Catalog.FindSubmissionByID(r.Context(), id)
	if err != nil {
		httpapi.WriteError(w, r, h.Logger, internalError("find submission "+id, err, trust.ENOTFOUND))
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, sub)
}

// handleDecisionCreate records a decision and resumes the pipeline. It answers
// 200 with the submission as the pipeline left it, or 202 with the recorded
// decision when the pipeline could not go on right now (the scheduled resume
// finishes it; the decision stands).
func (h *Handler) handleDecisionCreate(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if err := validateID(id); err != nil {
		httpapi.WriteError(w, r, h.Logger, err)
		return
	}
	var d Decision
	if err := httpapi.ReadJSON(w, r, maxDecisionBody, &d); err != nil {
		httpapi.WriteError(w, r, h.Logger, err)
		return
	}
	if err := d.Validate(); err != nil {
		httpapi.WriteError(w, r, h.Logger, err)
		return
	}
	if h.Resumer == nil {
		// Fail closed before anything is recorded: a decision nobody acts on
		// would strand the submission.
		httpapi.WriteError(w, r, h.Logger, errors.New("review: no pipeline resumer configured"))
		return
	}

	sub, err := h.Decide(r.Context(), id, d)
	if err != nil {
		httpapi.WriteError(w, r, h.Logger, err)
		return
	}
	h.Logger.Info("submission reviewed", "submission", id, "reviewer", d.Reviewer, "decision", d.Decision,
		"publisher", sub.Publisher, "skill", sub.Name, "version", sub.Version)

	resumed, err := h.Resumer.Resume(r.Context(), id)
	if err != nil {
		h.Logger.Error("resume after review failed; the scheduled resume will retry", "submission", id,
			"state", sub.State, "err", err)
		httpapi.WriteJSON(w, http.StatusAccepted, sub)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, resumed)
}

// Decide records a reviewer's decision on a flagged submission. ENOTFOUND for
// an unknown submission; ECONFLICT for one that is not (or no longer) flagged;
// EINVALID for an invalid decision.
func (h *Handler) Decide(ctx context.Context, id string, d Decision) (*trust.Submission, error) {
	if err := d.Validate(); err != nil {
		return nil, err
	}
	sub, err := h.Catalog.FindSubmissionByID(ctx, id)
	if err != nil {
		return nil, internalError("find submission "+id, err, trust.ENOTFOUND)
	} else if sub.State != trust.SubmissionFlagged {
		return nil, trust.Errorf(trust.ECONFLICT, "submission %s is %s, not flagged: only flagged submissions are reviewed", id, sub.State)
	}
	to := trust.SubmissionApproved
	if d.Decision == DecisionReject {
		to = trust.SubmissionRejected
	}
	sub, err = h.Catalog.TransitionSubmission(ctx, id, trust.SubmissionTransition{
		From: trust.SubmissionFlagged, To: to, Reviewer: d.Reviewer, Reason: d.Reason,
	})
	switch trust.ErrorCode(err) {
	case "":
		return sub, nil
	case trust.ECONFLICT:
		return nil, trust.Errorf(trust.ECONFLICT, "submission %s is no longer flagged: another decision was recorded first", id)
	}
	return nil, internalError("move submission "+id+" to "+to, err, trust.ENOTFOUND)
}

// Validate checks a decision and normalizes its text (trimmed). EINVALID for
// an unknown decision, a missing or over-long reason or reviewer, or text with
// control or invisible formatting characters (the reason reaches publishers).
func (d *Decision) Validate() error {
	d.Reason = strings.TrimSpace(d.Reason)
	d.Reviewer = strings.TrimSpace(d.Reviewer)
	switch {
	case d.Decision != DecisionApprove && d.Decision != DecisionReject:
		return trust.Errorf(trust.EINVALID, `decision must be "approve" or "reject"`)
	case d.Reason == "":
		return trust.Errorf(trust.EINVALID, "reason required")
	case len(d.Reason) > MaxReasonLength:
		return trust.Errorf(trust.EINVALID, "reason longer than %d bytes", MaxReasonLength)
	case d.Reviewer == "":
		return trust.Errorf(trust.EINVALID, "reviewer required: who takes this decision")
	case utf8.RuneCountInString(d.Reviewer) > MaxReviewerLength:
		return trust.Errorf(trust.EINVALID, "reviewer longer than %d characters", MaxReviewerLength)
	}
	if err := checkText("reason", d.Reason, true); err != nil {
		return err
	}
	return checkText("reviewer", d.Reviewer, false)
}

// checkText refuses invalid UTF-8, control characters (newlines and tabs
// only in multi-line text) and invisible format characters such as
// zero-width, bidi and tag characters.
func checkText(field, s string, multiline bool) error {
	if !utf8.ValidString(s) {
		return trust.Errorf(trust.EINVALID, "%s is not valid UTF-8", field)
	}
	for _, r := range s {
		if multiline && (r == '\n' || r == '\t') {
			continue
		}
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || r == '\u2028' || r == '\u2029' {
			return trust.Errorf(trust.EINVALID, "%s contains control or invisible character U+%04X", field, r)
		}
	}
	return nil
}

func (h *Handler) handleNotFound(w http.ResponseWriter, r *http.Request) {
	allow := ""
	switch {
	case r.URL.Path == "/v1/review/queue":
		allow = "GET"
	case strings.HasPrefix(r.URL.Path, "/v1/review/submissions/") && !strings.Contains(strings.TrimPrefix(r.URL.Path, "/v1/review/submissions/"), "/"):
		allow = "GET, POST"
	}
	if allow != "" {
		w.Header().Set("Allow", allow)
		httpapi.WriteJSON(w, http.StatusMethodNotAllowed, httpapi.ErrorResponse{Error: httpapi.ErrorBody{
			Code: trust.EINVALID, Message: r.Method + " not allowed: use " + allow}})
		return
	}
	httpapi.WriteError(w, r, h.Logger, trust.Errorf(trust.ENOTFOUND, "no such route"))
}

func (h *Handler) authenticate(r *http.Request) error {
	if len(h.ReviewerToken) < MinTokenLength || h.Catalog == nil {
		// Fail closed: an empty or guessable credential opens nothing.
		return errors.New("review: no reviewer credential (of at least 32 characters) or catalog configured")
	}
	got := sha256.Sum256([]byte(httpapi.BearerToken(r)))
	want := sha256.Sum256([]byte(h.ReviewerToken))
	if subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
		return trust.Errorf(trust.EUNAUTHORIZED, "reviewer credential required")
	}
	return nil
}

// validateID refuses an ID that is no submission ID before it reaches the
// catalog (or a log line).
func validateID(id string) error {
	if len(id) < 5 || len(id) > 64 || !strings.HasPrefix(id, "sub_") {
		return trust.Errorf(trust.EINVALID, "submission ID must look like sub_…")
	}
	for _, r := range id[4:] {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			return trust.Errorf(trust.EINVALID, "submission ID must look like sub_…")
		}
	}
	return nil
}

// queryInt reads an integer query parameter within [min, max].
func queryInt(r *http.Request, name string, def, min, max int) (int, error) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < min || n > max {
		return 0, trust.Errorf(trust.EINVALID, "%s must be an integer from %d to %d", name, min, max)
	}
	return n, nil
}

// internalError passes on the catalog's answer when its code is one of
// codes (about the caller's request) and makes it internal otherwise,
// keeping the cause for the log. A coded error is flattened so that its code
// (a refused service credential reads "unauthorized") is not taken for ours.
func internalError(doing string, err error, codes ...string) error {
	var te *trust.Error
	if errors.As(err, &te) {
		for _, c := range codes {
			if te.Code == c {
				return err
			}
		}
		return fmt.Errorf("%s: %s: %s", doing, te.Code, te.Message)
	}
	return fmt.Errorf("%s: %w", doing, err)
}
