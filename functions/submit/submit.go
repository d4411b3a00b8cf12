// Package submit is the publisher intake function: POST /v1/submissions takes a
// skill archive from a KYC-verified publisher, checks it (safe extraction into
// a private temporary directory, SKILL.md, digests) before anything is
// recorded, records the submission and runs the pipeline on it within a
// deadline; GET /v1/submissions/{id} shows a publisher its own submission.
//
// The publisher token is compared by hash in the catalog and never logged or
// echoed. Every refusal of the archive is a 4xx naming the extraction rule it
// broke, and nothing extracted stays on disk after the request.
package submit

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/openagents/trust/functions/pipeline"
	"github.com/openagents/trust/shared/bundle"
	"github.com/openagents/trust/shared/digest"
	"github.com/openagents/trust/shared/httpapi"
	"github.com/openagents/trust/shared/skill"
	"github.com/openagents/trust/shared/trust"
)

// DefaultMaxArchiveSize caps an uploaded archive (the bytes read from the
// request): the catalog's cap, so nothing it would refuse is extracted.
const DefaultMaxArchiveSize = trust.MaxArchiveSize

// DefaultDeadline is how long a request waits for the pipeline before
// answering with the submission as far as it got (API Gateway gives up at 30s).
const DefaultDeadline = 25 * time.Second

// Catalog is the part of the edge service API intake uses; the methods and
// their error codes are those of trust.PublisherService and
// trust.SubmissionService. The edge client implements it.
type Catalog interface {
	AuthenticatePublisher(ctx context.Context, token string) (*trust.Publisher, error)
	CreateSubmission(ctx context.Context, s *trust.Submission, archive []byte) (*trust.Submission, bool, error)
	FindSubmissionByID(ctx context.Context, id string) (*trust.Submission, error)
}

// Pipeline advances a submission as far as it can go (*pipeline.Runner): a
// returned error is transient and leaves the submission for a later resume.
type Pipeline interface {
	Resume(ctx context.Context, id string) (*trust.Submission, error)
}

// Handler serves the submission routes.
type Handler struct {
	Catalog        Catalog
	Pipeline       Pipeline
	MaxArchiveSize int64         // DefaultMaxArchiveSize when 0
	Limits         bundle.Limits // extraction limits; MaxCompressed is set to MaxArchiveSize
	Deadline       time.Duration // DefaultDeadline when 0
	TempDir        string        // parent of the private extraction directories ("" = os.TempDir())
	Logger         *slog.Logger

	mux *http.ServeMux
}

// NewHandler returns a Handler with defaults; set the exported fields before use.
func NewHandler() *Handler {
	h := &Handler{MaxArchiveSize: DefaultMaxArchiveSize, Limits: bundle.DefaultLimits(),
		Deadline: DefaultDeadline, Logger: slog.Default()}
	h.mux = http.NewServeMux()
	h.mux.HandleFunc("POST /v1/submissions", h.handleSubmissionCreate)
	h.mux.HandleFunc("GET /v1/submissions/{id}", h.handleSubmissionView)
	h.mux.HandleFunc("/", h.handleNotFound)
	return h
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

func (h *Handler) handleNotFound(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/v1/submissions" {
		w.Header().Set("Allow", "POST")
		httpapi.WriteJSON(w, http.StatusMethodNotAllowed, httpapi.ErrorResponse{Error: httpapi.ErrorBody{
			Code: trust.EINVALID, Message: r.Method + " not allowed: use POST"}})
		return
	}
	httpapi.WriteError(w, r, h.Logger, trust.Errorf(trust.ENOTFOUND, "no such route"))
}

// authenticate returns the publisher presenting the request's bearer token.
func (h *Handler) authenticate(r *http.Request) (*trust.Publisher, error) {
	token := httpapi.BearerToken(r)
	if token == "" {
		return nil, trust.Errorf(trust.EUNAUTHORIZED, "publisher token required (Authorization: Bearer …)")
	}
	p, err := h.Catalog.AuthenticatePublisher(r.Context(), token)
	if err != nil {
		if trust.ErrorCode(err) == trust.EUNAUTHORIZED {
			return nil, trust.Errorf(trust.EUNAUTHORIZED, "invalid publisher token")
		}
		// The catalog's other answers are this function's problem, never
		// the caller's; the cause is logged, without the token.
		return nil, fmt.Errorf("authenticate publisher: %s: %s", trust.ErrorCode(err), trust.ErrorMessage(err))
	}
	return p, nil
}

// archiveFormats maps the accepted content types to formats.
var archiveFormats = map[string]bundle.Format{
	"application/gzip":   bundle.FormatTarGz,
	"application/x-gzip": bundle.FormatTarGz,
	"application/zip":    bundle.FormatZip,
}

func (h *Handler) handleSubmissionCreate(w http.ResponseWriter, r *http.Request) {
	p, err := h.authenticate(r)
	if err != nil {
		httpapi.WriteError(w, r, h.Logger, err)
		return
	}
	if p.KYCState != trust.KYCVerified {
		h.Logger.Info("submission refused: publisher not verified", "publisher", p.ID, "kyc_state", p.KYCState)
		httpapi.WriteError(w, r, h.Logger, trust.Errorf(trust.EFORBIDDEN,
			"publisher %s is not KYC-verified (state %s): only verified publishers may submit skills; complete Stripe verification first", p.ID, p.KYCState))
		return
	}
	logger := h.Logger.With("publisher", p.ID)
	body, format, err := h.readArchive(w, r)
	if err != nil {
		writeRefusal(w, r, logger, err)
		return
	}
	m, err := h.check(r.Context(), body, format)
	if err != nil {
		writeRefusal(w, r, logger, err)
		return
	}
	sum := sha256.Sum256(body)
	sub, created, err := h.Catalog.CreateSubmission(r.Context(), &trust.Submission{
		Publisher: p.ID, ArchiveDigest: digest.Prefix + hex.EncodeToString(sum[:]),
		ArchiveFormat: format.String(), ArchiveSize: int64(len(body)), State: trust.SubmissionReceived,
	}, body)
	if err != nil {
		httpapi.WriteError(w, r, h.Logger, catalogError("record submission", err, trust.EINVALID, trust.EFORBIDDEN, trust.ECONFLICT))
		return
	}
	h.Logger.Info("submission received", "submission", sub.ID, "publisher", p.ID, "skill", m.Ref().String(),
		"archive_digest", sub.ArchiveDigest, "created", created)

	// The pipeline runs now, within the deadline; whatever it does not finish,
	// the scheduled function resumes.
	ctx, cancel := context.WithTimeout(r.Context(), h.Deadline)
	defer cancel()
	out, err := h.Pipeline.Resume(ctx, sub.ID)
	if err != nil {
		h.Logger.Warn("submission pipeline interrupted", "submission", sub.ID, "err", err)
		if out == nil {
			out = sub
		}
	}
	status := http.StatusOK // the same bytes again: the existing submission
	if created {
		status = http.StatusCreated
		if !pipeline.Resting(out.State) {
			status = http.StatusAccepted // still in progress
		}
	}
	w.Header().Set("Location", "/v1/submissions/"+out.ID)
	httpapi.WriteJSON(w, status, out)
}

// readArchive reads the request body, capped while reading, and settles its
// format: from the content type when it names an archive (and the bytes
// agree), from the bytes otherwise.
func (h *Handler) readArchive(w http.ResponseWriter, r *http.Request) ([]byte, bundle.Format, error) {
	max := h.maxArchiveSize()
	declared := bundle.FormatAuto
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil {
			return nil, 0, refusef(bundle.RuleFormat, "content type: cannot parse")
		}
		if f, ok := archiveFormats[mt]; ok {
			declared = f
		} else if mt != "application/octet-stream" {
			return nil, 0, refusef(bundle.RuleFormat, "content type %s: want application/gzip (a .tar.gz) or application/zip", mt)
		}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, max))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return nil, 0, &refusal{rule: bundle.RuleCompressedSize, status: http.StatusRequestEntityTooLarge,
			err: trust.Errorf(trust.EINVALID, "archive refused: larger than %d bytes (rule: %s)", max, bundle.RuleCompressedSize)}
	} else if err != nil {
		return nil, 0, fmt.Errorf("read archive: %w", err)
	}
	if len(body) == 0 {
		return nil, 0, refusef(bundle.RuleFormat, "empty request body: send the skill archive")
	}
	sniffed := bundle.DetectFormat(body[:min(len(body), bundle.SniffLen)])
	switch {
	case sniffed != bundle.FormatTarGz && sniffed != bundle.FormatZip:
		return nil, 0, refusef(bundle.RuleFormat, "not a .tar.gz or .zip archive")
	case declared != bundle.FormatAuto && declared != sniffed:
		return nil, 0, refusef(bundle.RuleFormat, "content type says %s but the bytes are %s", declared, sniffed)
	}
	return body, sniffed, nil
}

func (h *Handler) maxArchiveSize() int64 {
	if h.MaxArchiveSize > 0 {
		return h.MaxArchiveSize
	}
	return DefaultMaxArchiveSize
}

// check extracts the archive into a private temporary directory, removed on
// every path, and reads SKILL.md and the digests from it. Nothing is recorded.
func (h *Handler) check(ctx context.Context, body []byte, format bundle.Format) (*skill.Manifest, error) {
	tmp, err := os.MkdirTemp(h.TempDir, "submit-")
	if err != nil {
		return nil, fmt.Errorf("create extraction directory: %w", err)
	}
	defer os.RemoveAll(tmp)
	lim := h.Limits
	lim.MaxCompressed = h.maxArchiveSize()
	dir := filepath.Join(tmp, "skill")
	if _, err := bundle.Extract(ctx, bytes.NewReader(body), format, dir, lim); err != nil {
		if rule := bundle.RuleOf(err); rule != "" {
			status := http.StatusBadRequest
			if rule.TooLarge() {
				status = http.StatusRequestEntityTooLarge
			}
			return nil, &refusal{rule: rule, status: status,
				err: trust.Errorf(trust.EINVALID, "%s", trust.ErrorMessage(err))} // names the rule and the entry
		}
		return nil, fmt.Errorf("extract archive: %w", err)
	}
	m, err := skill.Load(dir)
	if err != nil {
		return nil, err // EINVALID naming SKILL.md and the line, or an I/O error
	}
	if m.Version == "" {
		return nil, trust.Errorf(trust.EINVALID, "SKILL.md: version required: every submission names its version")
	} else if err := trust.ValidateSkillRef(m.Name, m.Version); err != nil {
		return nil, trust.Errorf(trust.EINVALID, "SKILL.md: %s", trust.ErrorMessage(err))
	}
	if _, err := digest.Content(dir); err != nil {
		return nil, err
	}
	if _, err := digest.Permissions(m.Permissions); err != nil {
		return nil, err
	}
	return m, nil
}

// refusal is an archive refused by a named rule, with its HTTP status (400, or
// 413 for the size rules).
type refusal struct {
	rule   bundle.Rule
	status int
	err    *trust.Error
}

func (r *refusal) Error() string { return r.err.Error() }
func (r *refusal) Unwrap() error { return r.err }

func refusef(rule bundle.Rule, format string, args ...any) error {
	return &refusal{rule: rule, status: http.StatusBadRequest,
		err: trust.Errorf(trust.EINVALID, "archive refused: %s (rule: %s)", fmt.Sprintf(format, args...), rule)}
}

// writeRefusal writes a refusal with its status, anything else as usual.
func writeRefusal(w http.ResponseWriter, r *http.Request, logger *slog.Logger, err error) {
	var rf *refusal
	if errors.As(err, &rf) {
		logger.Info("submission refused", "rule", string(rf.rule))
		httpapi.WriteJSON(w, rf.status, httpapi.ErrorResponse{Error: httpapi.ErrorBody{Code: rf.err.Code, Message: rf.err.Message}})
		return
	}
	httpapi.WriteError(w, r, logger, err)
}

func (h *Handler) handleSubmissionView(w http.ResponseWriter, r *http.Request) {
	p, err := h.authenticate(r)
	if err != nil {
		httpapi.WriteError(w, r, h.Logger, err)
		return
	}
	id := r.PathValue("id")
	sub, err := h.Catalog.FindSubmissionByID(r.Context(), id)
	switch {
	case trust.ErrorCode(err) == trust.ENOTFOUND || (err == nil && sub.Publisher != p.ID):
		// Another publisher's submission does not exist, as far as this one knows.
		httpapi.WriteError(w, r, h.Logger, trust.Errorf(trust.ENOTFOUND, "submission %s not found", id))
		return
	case err != nil:
		httpapi.WriteError(w, r, h.Logger, catalogError("find submission", err))
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, sub)
}

// catalogError passes on the catalog's answer when it is about the caller's
// request (one of codes) and hides it otherwise.
func catalogError(doing string, err error, codes ...string) error {
	for _, c := range codes {
		if trust.ErrorCode(err) == c {
			return err
		}
	}
	return fmt.Errorf("%s: %s: %s", doing, trust.ErrorCode(err), trust.ErrorMessage(err))
}
