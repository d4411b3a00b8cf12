package api

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"mime"
	"net/http"
	"strconv"

	"github.com/openagents/trust/shared/edgeapi"
	"github.com/openagents/trust/shared/httpapi"
	"github.com/openagents/trust/shared/trust"
)

// The submission routes (service credential only): submissions with their
// archive, state and findings, and the notifications sent to publishers.
// Writes go through the same replication path as every other service write
// (replication.go): served by the primary, forwarded to it by a replica.
// An archive travels as the raw request or response body.

// Body limits of the submission routes.
const (
	transitionBodyLimit   = 256 << 10
	findingsBodyLimit     = 8 << 20
	notificationBodyLimit = 2 << 20 // a base64 body of up to trust.MaxNotificationBody
)

// submissionRoutes registers the publisher and submission routes.
func (s *Server) submissionRoutes() {
	s.mux.Handle("POST /v1/service/publishers", s.requireSubmissions(s.handlePublisherCreate))
	s.mux.Handle("GET /v1/service/publishers/{id}", s.requireSubmissions(s.handlePublisherFind))
	s.mux.Handle("POST /v1/service/publishers/{id}/tokens", s.requireSubmissions(s.handlePublisherTokenCreate))
	s.mux.Handle("GET /v1/service/publishers/{id}/webhook-secret", s.requireSubmissions(s.handlePublisherWebhookSecretFind))
	s.mux.Handle("POST /v1/service/publishers/authenticate", s.requireSubmissions(s.handlePublisherAuthenticate))
	s.mux.Handle("POST /v1/service/publishers/kyc", s.requireSubmissions(s.handlePublisherKYCUpdate))

	s.mux.Handle("POST /v1/service/submissions", s.requireSubmissions(s.handleSubmissionCreate))
	s.mux.Handle("GET /v1/service/submissions", s.requireSubmissions(s.handleSubmissionsFind))
	s.mux.Handle("GET /v1/service/submissions/{id}", s.requireSubmissions(s.handleSubmissionFind))
	s.mux.Handle("GET /v1/service/submissions/{id}/archive", s.requireSubmissions(s.handleSubmissionArchiveFind))
	s.mux.Handle("POST /v1/service/submissions/{id}/transition", s.requireSubmissions(s.handleSubmissionTransition))
	s.mux.Handle("PUT /v1/service/submissions/{id}/findings/{source}", s.requireSubmissions(s.handleSubmissionFindingsReplace))

	s.mux.Handle("POST /v1/service/notifications", s.requireSubmissions(s.handleNotificationCreate))
	s.mux.Handle("GET /v1/service/notifications/pending", s.requireSubmissions(s.handleNotificationsPendingFind))
	s.mux.Handle("POST /v1/service/notifications/{id}/attempts", s.requireSubmissions(s.handleNotificationAttemptCreate))
}

// requireSubmissions is requireService for the routes of the submission
// catalog: 503 when this node has none configured.
func (s *Server) requireSubmissions(h http.HandlerFunc) http.Handler {
	return s.requireService(func(w http.ResponseWriter, r *http.Request) {
		if s.PublisherService == nil || s.SubmissionService == nil {
			s.error(w, r, trust.Errorf(trust.EUNAVAILABLE, "submission catalog not configured on this node"))
			return
		}
		h(w, r)
	})
}

// archiveTypes are the content types an uploaded archive may be sent as.
var archiveTypes = map[string]bool{
	"application/octet-stream": true,
	"application/gzip":         true,
	"application/zip":          true,
}

// handleSubmissionCreate answers
// POST /v1/service/submissions?publisher=&archive_format=&archive_digest=
// with the archive as the body: 201 with a new submission, 200 with the
// existing one when the publisher uploaded the same bytes before.
func (s *Server) handleSubmissionCreate(w http.ResponseWriter, r *http.Request) {
	if ct, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || !archiveTypes[ct] {
		s.error(w, r, trust.Errorf(trust.EINVALID, "content type: send the archive as application/octet-stream"))
		return
	}
	if r.ContentLength > trust.MaxArchiveSize {
		s.error(w, r, errArchiveTooLarge())
		return
	}
	archive, err := io.ReadAll(http.MaxBytesReader(w, r.Body, trust.MaxArchiveSize))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			s.error(w, r, errArchiveTooLarge())
		} else {
			s.error(w, r, trust.Errorf(trust.EINVALID, "archive body could not be read"))
		}
		return
	}
	q := r.URL.Query()
	sub := &trust.Submission{Publisher: q.Get("publisher"), ArchiveFormat: q.Get("archive_format"), ArchiveDigest: q.Get("archive_digest")}
	out, created, err := s.SubmissionService.CreateSubmission(r.Context(), sub, archive)
	if err != nil {
		s.error(w, r, err)
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	httpapi.WriteJSON(w, status, out)
}

// errArchiveTooLarge names the archive cap.
func errArchiveTooLarge() error {
	return trust.Errorf(trust.EINVALID, "archive larger than %d bytes (the 16 MiB cap)", trust.MaxArchiveSize)
}

// handleSubmissionsFind answers
// GET /v1/service/submissions?publisher=&state=&limit=&offset=: newest first,
// without findings.
func (s *Server) handleSubmissionsFind(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := trust.SubmissionFilter{Publisher: q.Get("publisher"), State: q.Get("state")}
	var err error
	if f.Limit, err = queryInt(q.Get("limit"), "limit"); err != nil {
		s.error(w, r, err)
		return
	} else if f.Offset, err = queryInt(q.Get("offset"), "offset"); err != nil {
		s.error(w, r, err)
		return
	}
	subs, err := s.SubmissionService.FindSubmissions(r.Context(), f)
	if err != nil {
		s.error(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, edgeapi.SubmissionsResponse{Submissions: subs})
}

// handleSubmissionFind answers GET /v1/service/submissions/{id}: the
// submission with its findings.
func (s *Server) handleSubmissionFind(w http.ResponseWriter, r *http.Request) {
	sub, err := s.SubmissionService.FindSubmissionByID(r.Context(), r.PathValue("id"))
	if err != nil {
		s.error(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, sub)
}

// handleSubmissionArchiveFind answers GET /v1/service/submissions/{id}/archive:
// the archive bytes, with their digest in X-Trust-Archive-Digest.
func (s *Server) handleSubmissionArchiveFind(w http.ResponseWriter, r *http.Request) {
	archive, err := s.SubmissionService.FindSubmissionArchive(r.Context(), r.PathValue("id"))
	if err != nil {
		s.error(w, r, err)
		return
	}
	sum := sha256.Sum256(archive)
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Content-Length", strconv.Itoa(len(archive)))
	w.Header().Set(edgeapi.HeaderArchiveDigest, "sha256:"+hex.EncodeToString(sum[:]))
	w.WriteHeader(http.StatusOK)
	w.Write(archive)
}

// handleSubmissionTransition answers POST /v1/service/submissions/{id}/transition
// with a trust.SubmissionTransition: the submission after the move. 409 when
// it is not in the "from" state, 400 for a move the state machine forbids.
func (s *Server) handleSubmissionTransition(w http.ResponseWriter, r *http.Request) {
	var t trust.SubmissionTransition
	if err := httpapi.ReadJSON(w, r, transitionBodyLimit, &t); err != nil {
		s.error(w, r, err)
		return
	}
	sub, err := s.SubmissionService.TransitionSubmission(r.Context(), r.PathValue("id"), t)
	if err != nil {
		s.error(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, sub)
}

// handleSubmissionFindingsReplace answers
// PUT /v1/service/submissions/{id}/findings/{source} with {"findings":[…]}:
// the findings of that source are replaced as a whole.
func (s *Server) handleSubmissionFindingsReplace(w http.ResponseWriter, r *http.Request) {
	var req edgeapi.FindingsRequest
	if err := httpapi.ReadJSON(w, r, findingsBodyLimit, &req); err != nil {
		s.error(w, r, err)
		return
	}
	id, source := r.PathValue("id"), r.PathValue("source")
	if err := s.SubmissionService.ReplaceSubmissionFindings(r.Context(), id, source, req.Findings); err != nil {
		s.error(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, edgeapi.FindingsResponse{SubmissionID: id, Source: source, Count: len(req.Findings)})
}

// handleNotificationCreate answers POST /v1/service/notifications with a
// trust.Notification (body base64 in JSON): the notification recorded, or
// the one recorded before for the same submission and kind.
func (s *Server) handleNotificationCreate(w http.ResponseWriter, r *http.Request) {
	var n trust.Notification
	if err := httpapi.ReadJSON(w, r, notificationBodyLimit, &n); err != nil {
		s.error(w, r, err)
		return
	}
	out, err := s.SubmissionService.CreateNotification(r.Context(), &n)
	if err != nil {
		s.error(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, out)
}

// handleNotificationsPendingFind answers
// GET /v1/service/notifications/pending?max_attempts=&limit=: undelivered
// notifications with fewer attempts than max_attempts (required), oldest first.
func (s *Server) handleNotificationsPendingFind(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	maxAttempts, err := queryInt(q.Get("max_attempts"), "max_attempts")
	if err != nil {
		s.error(w, r, err)
		return
	}
	limit, err := queryInt(q.Get("limit"), "limit")
	if err != nil {
		s.error(w, r, err)
		return
	}
	ns, err := s.SubmissionService.FindPendingNotifications(r.Context(), maxAttempts, limit)
	if err != nil {
		s.error(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, edgeapi.NotificationsResponse{Notifications: ns})
}

// handleNotificationAttemptCreate answers
// POST /v1/service/notifications/{id}/attempts with {"delivered","last_error"}.
func (s *Server) handleNotificationAttemptCreate(w http.ResponseWriter, r *http.Request) {
	var req edgeapi.NotificationAttemptRequest
	if err := httpapi.ReadJSON(w, r, smallBodyLimit, &req); err != nil {
		s.error(w, r, err)
		return
	}
	id := r.PathValue("id")
	if err := s.SubmissionService.MarkNotificationAttempt(r.Context(), id, req.Delivered, req.LastError); err != nil {
		s.error(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, edgeapi.NotificationAttemptResponse{NotificationID: id, Recorded: true})
}

// queryInt parses an optional integer query parameter (0 when absent).
func queryInt(v, name string) (int, error) {
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, trust.Errorf(trust.EINVALID, "%s: want an integer", name)
	}
	return n, nil
}
