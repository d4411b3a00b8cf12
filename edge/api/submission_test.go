package api_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/openagents/trust/edge/edgetest"
	"github.com/openagents/trust/edge/sqlite"
	"github.com/openagents/trust/shared/edgeapi"
	"github.com/openagents/trust/shared/trust"
)

// The publisher and submission routes join the route table, so the auth,
// leak and docs tests cover them too. Paths keep their placeholders.
func init() {
	routes = append(routes,
		route{"POST", "/v1/service/publishers", `{"id":"p","name":"P","stripe_account":"acct_1"}`, true},
		route{"GET", "/v1/service/publishers/{id}", nil, true},
		route{"POST", "/v1/service/publishers/{id}/tokens", nil, true},
		route{"GET", "/v1/service/publishers/{id}/webhook-secret", nil, true},
		route{"POST", "/v1/service/publishers/authenticate", `{"token":"oapt_x"}`, true},
		route{"POST", "/v1/service/publishers/kyc", `{"event_id":"evt_1"}`, true},
		route{"POST", "/v1/service/submissions", nil, true},
		route{"GET", "/v1/service/submissions", nil, true},
		route{"GET", "/v1/service/submissions/{id}", nil, true},
		route{"GET", "/v1/service/submissions/{id}/archive", nil, true},
		route{"POST", "/v1/service/submissions/{id}/transition", `{"from":"received","to":"extracted"}`, true},
		route{"PUT", "/v1/service/submissions/{id}/findings/{source}", `{"findings":[]}`, true},
		route{"POST", "/v1/service/notifications", `{"submission_id":"s","kind":"x.y","body":"e30="}`, true},
		route{"GET", "/v1/service/notifications/pending", nil, true},
		route{"POST", "/v1/service/notifications/{id}/attempts", `{"delivered":true}`, true},
	)
}

// MustOpenSubmissionServer is MustOpenServer with the submission catalog.
func MustOpenSubmissionServer(tb testing.TB) *TestServer {
	tb.Helper()
	s := MustOpenServer(tb)
	s.PublisherService = sqlite.NewPublisherService(s.DB)
	s.SubmissionService = sqlite.NewSubmissionService(s.DB)
	return s
}

// DoArchive posts archive bytes as a submission of publisher.
func (s *TestServer) DoArchive(tb testing.TB, publisher, digest string, archive []byte) *httptest.ResponseRecorder {
	tb.Helper()
	req := httptest.NewRequest("POST", "/v1/service/submissions?publisher="+publisher+"&archive_format=tar.gz&archive_digest="+digest, bytes.NewReader(archive))
	req.Header.Set("Content-Type", "application/octet-stream")
	req.Header.Set("Authorization", "Bearer "+ServiceToken)
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	return rec
}

// sha256Digest returns the digest of b.
func sha256Digest(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// MustVerifiedPublisher creates a publisher through the API and verifies it.
func (s *TestServer) MustVerifiedPublisher(tb testing.TB, id string) *trust.PublisherCredentials {
	tb.Helper()
	rec := s.Do(tb, "POST", "/v1/service/publishers", ServiceToken, trust.Publisher{ID: id, Name: id, StripeAccount: "acct_" + id})
	WantStatus(tb, rec, http.StatusCreated)
	var creds trust.PublisherCredentials
	MustDecode(tb, rec, &creds)
	WantStatus(tb, s.Do(tb, "POST", "/v1/service/publishers/kyc", ServiceToken,
		trust.KYCUpdate{EventID: "evt_" + id, StripeAccount: "acct_" + id, State: trust.KYCVerified, EventTime: Now}), http.StatusOK)
	return &creds
}

// TestClient_Submissions drives the publisher and submission API end to end,
// over real HTTP to a real node (edgetest), through the edgeapi client.
func TestClient_Submissions(t *testing.T) {
	ctx := t.Context()
	e := edgetest.MustOpen(t, nil)
	c := e.ServiceClient()

	creds, err := c.CreatePublisher(ctx, &trust.Publisher{ID: "acme", Name: "Acme", StripeAccount: "acct_acme", WebhookURL: "https://hooks.acme.example/trust"})
	if err != nil {
		t.Fatal(err)
	} else if creds.Publisher.KYCState != trust.KYCPending || !strings.HasPrefix(creds.Token, trust.PublisherTokenPrefix) {
		t.Fatalf("credentials %+v", creds.Publisher)
	}
	second, err := c.CreatePublisherToken(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	for _, token := range []string{creds.Token, second} {
		if p, err := c.AuthenticatePublisher(ctx, token); err != nil || p.ID != "acme" {
			t.Fatalf("authenticate: %+v, %v", p, err)
		}
	}
	if _, err := c.AuthenticatePublisher(ctx, creds.Token+"x"); trust.ErrorCode(err) != trust.EUNAUTHORIZED {
		t.Fatalf("bad token: %v, want unauthorized", err)
	}
	if secret, err := c.FindPublisherWebhookSecret(ctx, "acme"); err != nil || secret != creds.WebhookSecret {
		t.Fatalf("webhook secret: %v", err)
	}

	archive := []byte("\x1f\x8b pretend this is a skill")
	sub := &trust.Submission{Publisher: "acme", ArchiveFormat: "tar.gz"}
	if _, _, err := c.CreateSubmission(ctx, sub, archive); trust.ErrorCode(err) != trust.EFORBIDDEN {
		t.Fatalf("unverified publisher: %v, want forbidden", err)
	}
	kyc := trust.KYCUpdate{EventID: "evt_1", StripeAccount: "acct_acme", State: trust.KYCVerified, EventTime: time.Now()}
	if p, err := c.UpdatePublisherKYC(ctx, kyc); err != nil || p.KYCState != trust.KYCVerified {
		t.Fatalf("KYC: %+v, %v", p, err)
	}
	if _, err := c.UpdatePublisherKYC(ctx, kyc); trust.ErrorCode(err) != trust.ECONFLICT {
		t.Fatalf("replayed KYC event: %v, want conflict", err)
	}
	kyc.EventID, kyc.StripeAccount = "evt_2", "acct_nobody"
	if _, err := c.UpdatePublisherKYC(ctx, kyc); trust.ErrorCode(err) != trust.ENOTFOUND {
		t.Fatalf("unknown account: %v, want not found", err)
	}

	created, isNew, err := c.CreateSubmission(ctx, sub, archive)
	if err != nil || !isNew || created.ArchiveDigest != sha256Digest(archive) {
		t.Fatalf("create: %+v, %v, %v", created, isNew, err)
	}
	again, isNew, err := c.CreateSubmission(ctx, sub, archive)
	if err != nil || isNew || again.ID != created.ID {
		t.Fatalf("again: %+v, %v, %v; want the same submission", again, isNew, err)
	}
	bad := &trust.Submission{Publisher: "acme", ArchiveFormat: "tar.gz", ArchiveDigest: sha256Digest([]byte("other"))}
	if _, _, err := c.CreateSubmission(ctx, bad, archive); trust.ErrorCode(err) != trust.EINVALID {
		t.Fatalf("digest mismatch: %v, want invalid", err)
	}
	if got, err := c.FindSubmissionArchive(ctx, created.ID); err != nil || !bytes.Equal(got, archive) {
		t.Fatalf("archive: %v", err)
	}

	perms := trust.Permissions{Tools: []string{"web_fetch"}}
	steps := []trust.SubmissionTransition{
		{From: "received", To: "extracted", Name: "weather", Version: "1.0.0", ContentDigest: "sha256:" + strings.Repeat("c", 64), Permissions: &perms},
		{From: "extracted", To: "scanned"},
		{From: "scanned", To: "built", ImageDigest: "sha256:" + strings.Repeat("d", 64)},
		{From: "built", To: "analyzed", Decision: "flag"},
		{From: "analyzed", To: "flagged"},
	}
	for _, step := range steps {
		if _, err := c.TransitionSubmission(ctx, created.ID, step); err != nil {
			t.Fatalf("%s → %s: %v", step.From, step.To, err)
		}
	}
	if _, err := c.TransitionSubmission(ctx, created.ID, trust.SubmissionTransition{From: "analyzed", To: "flagged"}); trust.ErrorCode(err) != trust.ECONFLICT {
		t.Fatalf("stale move: %v, want conflict", err)
	}
	if _, err := c.TransitionSubmission(ctx, created.ID, trust.SubmissionTransition{From: "flagged", To: "signed"}); trust.ErrorCode(err) != trust.EINVALID {
		t.Fatalf("forbidden move: %v, want invalid", err)
	}
	finding := &trust.SubmissionFinding{RuleID: "SH-001", Category: "malicious-code", Severity: "high", File: "SKILL.md", Line: 4, Evidence: "curl x | sh", Why: "download piped to a shell"}
	if err := c.ReplaceSubmissionFindings(ctx, created.ID, "static", []*trust.SubmissionFinding{finding, finding}); err != nil {
		t.Fatal(err)
	}
	if err := c.ReplaceSubmissionFindings(ctx, created.ID, "static", []*trust.SubmissionFinding{finding}); err != nil {
		t.Fatal(err)
	}
	got, err := c.FindSubmissionByID(ctx, created.ID)
	if err != nil {
		t.Fatal(err)
	} else if got.State != trust.SubmissionFlagged || got.Name != "weather" || len(got.Findings) != 1 || got.Findings[0].Source != "static" {
		t.Fatalf("submission %+v", got)
	}
	if queue, err := c.FindSubmissions(ctx, trust.SubmissionFilter{State: trust.SubmissionFlagged}); err != nil || len(queue) != 1 || queue[0].ID != created.ID {
		t.Fatalf("review queue %+v, %v", queue, err)
	}
	if none, err := c.FindSubmissions(ctx, trust.SubmissionFilter{Publisher: "other"}); err != nil || len(none) != 0 {
		t.Fatalf("other publisher's %+v, %v", none, err)
	}
	rejected, err := c.TransitionSubmission(ctx, created.ID, trust.SubmissionTransition{From: "flagged", To: "rejected", Reviewer: "rev@trust.example", Reason: "drops a binary"})
	if err != nil || rejected.Reviewer != "rev@trust.example" {
		t.Fatalf("review: %+v, %v", rejected, err)
	}

	n, err := c.CreateNotification(ctx, &trust.Notification{SubmissionID: created.ID, Kind: trust.NotificationSubmissionRejected, Body: []byte(`{"decision":"reject"}`)})
	if err != nil || n.Publisher != "acme" {
		t.Fatalf("notification %+v, %v", n, err)
	}
	if same, err := c.CreateNotification(ctx, &trust.Notification{SubmissionID: created.ID, Kind: trust.NotificationSubmissionRejected, Body: []byte(`{}`)}); err != nil || same.ID != n.ID {
		t.Fatalf("second notification %+v, %v; want the first", same, err)
	}
	if err := c.MarkNotificationAttempt(ctx, n.ID, false, "receiver answered 503"); err != nil {
		t.Fatal(err)
	}
	if pending, err := c.FindPendingNotifications(ctx, 5, 0); err != nil || len(pending) != 1 || pending[0].Attempts != 1 || string(pending[0].Body) != `{"decision":"reject"}` {
		t.Fatalf("pending %+v, %v", pending, err)
	}
	if err := c.MarkNotificationAttempt(ctx, n.ID, true, ""); err != nil {
		t.Fatal(err)
	}
	if pending, err := c.FindPendingNotifications(ctx, 5, 0); err != nil || len(pending) != 0 {
		t.Fatalf("pending after delivery %+v, %v", pending, err)
	}
	if err := c.MarkNotificationAttempt(ctx, "ntf_none", true, ""); trust.ErrorCode(err) != trust.ENOTFOUND {
		t.Fatalf("unknown notification: %v", err)
	}

	// Credentials never reach the request log.
	logs := e.Logs.String()
	for name, secret := range map[string]string{"token": creds.Token, "second token": second, "webhook secret": creds.WebhookSecret} {
		if strings.Contains(logs, secret[5:]) {
			t.Errorf("%s found in the logs", name)
		}
	}
}

func TestServer_SubmissionCreate(t *testing.T) {
	s := MustOpenSubmissionServer(t)
	s.MustVerifiedPublisher(t, "acme")
	archive := []byte("archive bytes")
	t.Run("OK", func(t *testing.T) {
		rec := s.DoArchive(t, "acme", sha256Digest(archive), archive)
		WantStatus(t, rec, http.StatusCreated)
		WantStatus(t, s.DoArchive(t, "acme", sha256Digest(archive), archive), http.StatusOK)
		var sub trust.Submission
		MustDecode(t, rec, &sub)
		arch := s.Do(t, "GET", "/v1/service/submissions/"+sub.ID+"/archive", ServiceToken, nil)
		WantStatus(t, arch, http.StatusOK)
		if !bytes.Equal(arch.Body.Bytes(), archive) || arch.Header().Get("Content-Type") != "application/octet-stream" ||
			arch.Header().Get(edgeapi.HeaderArchiveDigest) != sha256Digest(archive) {
			t.Fatalf("archive answer %v %q", arch.Header(), arch.Body)
		}
	})
	t.Run("ErrTooLarge", func(t *testing.T) {
		big := make([]byte, trust.MaxArchiveSize+1)
		msg := WantError(t, s.DoArchive(t, "acme", sha256Digest(big), big), http.StatusBadRequest, trust.EINVALID)
		if !strings.Contains(msg, "16 MiB") {
			t.Fatalf("message %q does not name the cap", msg)
		}
	})
	t.Run("ErrDigestMismatch", func(t *testing.T) {
		WantError(t, s.DoArchive(t, "acme", sha256Digest([]byte("x")), archive), http.StatusBadRequest, trust.EINVALID)
	})
	t.Run("ErrContentType", func(t *testing.T) {
		rec := s.Do(t, "POST", "/v1/service/submissions?publisher=acme&archive_format=tar.gz&archive_digest="+sha256Digest(archive), ServiceToken, string(archive))
		WantError(t, rec, http.StatusBadRequest, trust.EINVALID)
	})
	t.Run("ErrForbidden", func(t *testing.T) {
		WantError(t, s.DoArchive(t, "nobody", sha256Digest(archive), archive), http.StatusForbidden, trust.EFORBIDDEN)
	})
	t.Run("ErrQuery", func(t *testing.T) {
		WantError(t, s.Do(t, "GET", "/v1/service/submissions?limit=ten", ServiceToken, nil), http.StatusBadRequest, trust.EINVALID)
		WantError(t, s.Do(t, "GET", "/v1/service/notifications/pending", ServiceToken, nil), http.StatusBadRequest, trust.EINVALID)
	})
	t.Run("ErrNotConfigured", func(t *testing.T) {
		bare := MustOpenServer(t)
		WantError(t, bare.Do(t, "GET", "/v1/service/submissions", ServiceToken, nil), http.StatusServiceUnavailable, trust.EUNAVAILABLE)
	})
}

// TestServer_SubmissionReplication checks that submission writes take the
// replication path: answered with the transaction on the primary, and
// forwarded, raw archive body included, from a replica.
func TestServer_SubmissionReplication(t *testing.T) {
	primary := MustOpenSubmissionServer(t)
	primary.Replication = &fakeReplication{route: trust.WriteRoute{Local: true}}
	primary.MustVerifiedPublisher(t, "acme")
	archive := []byte("forwarded archive")
	rec := primary.DoArchive(t, "acme", sha256Digest(archive), archive)
	WantStatus(t, rec, http.StatusCreated)
	if len(rec.Header().Get("X-Trust-Txid")) != 16 {
		t.Fatalf("write answered without its transaction: %v", rec.Header())
	}

	hs := httptest.NewServer(primary)
	defer hs.Close()
	replica := MustOpenSubmissionServer(t)
	replica.Replication = &fakeReplication{route: trust.WriteRoute{URL: hs.URL}}
	other := []byte("second archive, through the replica")
	WantStatus(t, replica.DoArchive(t, "acme", sha256Digest(other), other), http.StatusCreated)
	subs, err := primary.SubmissionService.FindSubmissions(t.Context(), trust.SubmissionFilter{Publisher: "acme"})
	if err != nil {
		t.Fatal(err)
	} else if len(subs) != 2 || subs[0].ArchiveSize != int64(len(other)) {
		t.Fatalf("primary holds %d submissions, want the forwarded one too", len(subs))
	}
}

// TestServer_PublisherSecretsNeverLeak plants canary credentials — a
// publisher's tokens and webhook secret — and sends them where a caller
// would (authentication bodies, right, wrong and malformed; a webhook URL's
// password), with the catalog open and then closed (internal errors are
// logged with their cause). Neither the credentials nor their hashes may
// appear in a log line, nor in a response other than the two that issue
// them.
func TestServer_PublisherSecretsNeverLeak(t *testing.T) {
	s := MustOpenSubmissionServer(t)
	creds := s.MustVerifiedPublisher(t, "acme")
	rec := s.Do(t, "POST", "/v1/service/publishers/acme/tokens", ServiceToken, nil)
	WantStatus(t, rec, http.StatusCreated)
	var issued edgeapi.PublisherTokenResponse
	MustDecode(t, rec, &issued)
	secrets := map[string]string{"token": creds.Token, "second token": issued.Token, "webhook secret": creds.WebhookSecret}

	var bodies []string
	do := func(method, path string, body any) {
		rec := s.Do(t, method, path, ServiceToken, body)
		bodies = append(bodies, rec.Body.String())
	}
	drive := func() {
		for _, secret := range secrets {
			do("POST", "/v1/service/publishers/authenticate", edgeapi.PublisherAuthRequest{Token: secret})
			do("POST", "/v1/service/publishers/authenticate", edgeapi.PublisherAuthRequest{Token: secret + "x"})
			do("POST", "/v1/service/publishers/authenticate", `{"token":"`+secret+`",}`)
			do("POST", "/v1/service/publishers/authenticate", `{"token":"`+secret+`","extra":1}`)
			do("POST", "/v1/service/publishers", trust.Publisher{ID: "p2", Name: "P2", StripeAccount: "acct_p2", WebhookURL: "https://u:" + secret + "@h.example/x"})
			do("POST", "/v1/service/publishers", trust.Publisher{ID: "p3", Name: "P3", StripeAccount: "acct_p3", WebhookURL: "http://h.example/" + secret})
			do("POST", "/v1/service/notifications/ntf_x/attempts", edgeapi.NotificationAttemptRequest{LastError: "x"})
		}
		do("GET", "/v1/service/publishers/acme", nil)
	}
	drive()
	s.DB.Close()
	drive()

	logs := s.Logs.String()
	if !strings.Contains(logs, `"status":500`) {
		t.Fatal("no internal error was logged: the test did not reach the error path")
	}
	for name, secret := range secrets {
		sum := sha256.Sum256([]byte(secret))
		for _, needle := range []string{secret[5:], hex.EncodeToString(sum[:])} {
			if strings.Contains(logs, needle) {
				t.Errorf("%s found in the logs", name)
			}
			for _, b := range bodies {
				if strings.Contains(b, needle) {
					t.Errorf("%s found in a response: %s", name, b)
					break
				}
			}
		}
	}
}
