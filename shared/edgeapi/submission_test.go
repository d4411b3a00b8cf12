package edgeapi_test

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/openagents/trust/shared/edgeapi"
	"github.com/openagents/trust/shared/httpapi"
	"github.com/openagents/trust/shared/trust"
)

// rawCall is one request the raw fake edge received.
type rawCall struct {
	Method, URI, ContentType, Auth string
	Body                           []byte
}

// MustRawEdge starts a fake edge whose handler h answers each request; it
// records the requests.
func MustRawEdge(tb testing.TB, h func(w http.ResponseWriter, c rawCall)) (*edgeapi.Client, *[]rawCall) {
	tb.Helper()
	var calls []rawCall
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		c := rawCall{Method: r.Method, URI: r.URL.RequestURI(), ContentType: r.Header.Get("Content-Type"), Auth: r.Header.Get("Authorization"), Body: body}
		calls = append(calls, c)
		h(w, c)
	}))
	tb.Cleanup(srv.Close)
	return edgeapi.NewClient(srv.URL, token), &calls
}

func TestClient_CreateSubmission(t *testing.T) {
	archive := []byte("\x1f\x8b archive")
	digest := edgeapi.ArchiveDigest(archive)
	t.Run("OK", func(t *testing.T) {
		for _, tc := range []struct {
			status  int
			created bool
		}{{http.StatusCreated, true}, {http.StatusOK, false}} {
			c, calls := MustRawEdge(t, func(w http.ResponseWriter, _ rawCall) {
				httpapi.WriteJSON(w, tc.status, trust.Submission{ID: "sub_1", State: trust.SubmissionReceived})
			})
			sub, created, err := c.CreateSubmission(t.Context(), &trust.Submission{Publisher: "acme", ArchiveFormat: "zip"}, archive)
			if err != nil {
				t.Fatal(err)
			} else if sub.ID != "sub_1" || created != tc.created {
				t.Fatalf("status %d: %+v created=%v", tc.status, sub, created)
			}
			got := (*calls)[0]
			want := "/v1/service/submissions?archive_digest=" + strings.Replace(digest, ":", "%3A", 1) + "&archive_format=zip&publisher=acme"
			if got.Method != "POST" || got.URI != want || got.ContentType != "application/octet-stream" ||
				!bytes.Equal(got.Body, archive) || got.Auth != "Bearer "+token {
				t.Fatalf("request %s %s %s (%d bytes), want POST %s with the raw archive", got.Method, got.URI, got.ContentType, len(got.Body), want)
			}
		}
	})
	t.Run("ErrTooLarge", func(t *testing.T) {
		c, calls := MustRawEdge(t, func(w http.ResponseWriter, _ rawCall) {})
		_, _, err := c.CreateSubmission(t.Context(), &trust.Submission{Publisher: "acme", ArchiveFormat: "zip"}, make([]byte, trust.MaxArchiveSize+1))
		if trust.ErrorCode(err) != trust.EINVALID || !strings.Contains(trust.ErrorMessage(err), "16777216") {
			t.Fatalf("err = %v, want invalid naming the cap", err)
		} else if len(*calls) != 0 {
			t.Fatal("an oversized archive was sent")
		}
	})
	t.Run("ErrFromEdge", func(t *testing.T) {
		c, _ := MustRawEdge(t, func(w http.ResponseWriter, _ rawCall) {
			httpapi.WriteJSON(w, http.StatusForbidden, httpapi.ErrorResponse{Error: httpapi.ErrorBody{Code: trust.EFORBIDDEN, Message: "publisher acme is not KYC-verified"}})
		})
		_, _, err := c.CreateSubmission(t.Context(), &trust.Submission{Publisher: "acme", ArchiveFormat: "zip"}, archive)
		if trust.ErrorCode(err) != trust.EFORBIDDEN || strings.Contains(err.Error(), token) {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestClient_FindSubmissionArchive(t *testing.T) {
	archive := []byte("\x1f\x8b archive")
	serve := func(body []byte, digest string) func(http.ResponseWriter, rawCall) {
		return func(w http.ResponseWriter, _ rawCall) {
			w.Header().Set(edgeapi.HeaderArchiveDigest, digest)
			w.Write(body)
		}
	}
	t.Run("OK", func(t *testing.T) {
		c, calls := MustRawEdge(t, serve(archive, edgeapi.ArchiveDigest(archive)))
		got, err := c.FindSubmissionArchive(t.Context(), "sub_1")
		if err != nil || !bytes.Equal(got, archive) {
			t.Fatalf("archive %q, %v", got, err)
		} else if (*calls)[0].URI != "/v1/service/submissions/sub_1/archive" {
			t.Fatalf("URI %s", (*calls)[0].URI)
		}
	})
	t.Run("ErrDigestMismatch", func(t *testing.T) {
		c, _ := MustRawEdge(t, serve(append([]byte("tampered "), archive...), edgeapi.ArchiveDigest(archive)))
		if _, err := c.FindSubmissionArchive(t.Context(), "sub_1"); err == nil {
			t.Fatal("a tampered archive was accepted")
		}
	})
	t.Run("ErrNoDigest", func(t *testing.T) {
		c, _ := MustRawEdge(t, serve(archive, ""))
		if _, err := c.FindSubmissionArchive(t.Context(), "sub_1"); err == nil {
			t.Fatal("an archive without its digest was accepted")
		}
	})
	t.Run("ErrTooLarge", func(t *testing.T) {
		big := make([]byte, trust.MaxArchiveSize+1)
		c, _ := MustRawEdge(t, serve(big, edgeapi.ArchiveDigest(big)))
		if _, err := c.FindSubmissionArchive(t.Context(), "sub_1"); err == nil {
			t.Fatal("an oversized archive was accepted")
		}
	})
	t.Run("ErrNotFound", func(t *testing.T) {
		c, _ := MustRawEdge(t, func(w http.ResponseWriter, _ rawCall) {
			httpapi.WriteJSON(w, http.StatusNotFound, httpapi.ErrorResponse{Error: httpapi.ErrorBody{Code: trust.ENOTFOUND, Message: "submission not found"}})
		})
		if _, err := c.FindSubmissionArchive(t.Context(), "sub_1"); trust.ErrorCode(err) != trust.ENOTFOUND {
			t.Fatalf("err = %v, want not found", err)
		}
	})
}

// TestClient_SubmissionRoutes checks the route, method and body of each
// JSON method.
func TestClient_SubmissionRoutes(t *testing.T) {
	ctx := t.Context()
	const pubToken = "oapt_CANARY_publisher_token_0123456789abcdefghijk"
	for _, tt := range []struct {
		name         string
		call         func(c *edgeapi.Client) error
		method, path string
		body         string
		reply        any
	}{
		{"CreatePublisher", func(c *edgeapi.Client) error {
			_, err := c.CreatePublisher(ctx, &trust.Publisher{ID: "acme"})
			return err
		}, "POST", "/v1/service/publishers", `"id":"acme"`, trust.PublisherCredentials{Publisher: &trust.Publisher{}, Token: "t", WebhookSecret: "w"}},
		{"FindPublisherByID", func(c *edgeapi.Client) error { _, err := c.FindPublisherByID(ctx, "acme"); return err },
			"GET", "/v1/service/publishers/acme", "", trust.Publisher{}},
		{"CreatePublisherToken", func(c *edgeapi.Client) error { _, err := c.CreatePublisherToken(ctx, "acme"); return err },
			"POST", "/v1/service/publishers/acme/tokens", "", edgeapi.PublisherTokenResponse{Token: "t"}},
		{"AuthenticatePublisher", func(c *edgeapi.Client) error { _, err := c.AuthenticatePublisher(ctx, pubToken); return err },
			"POST", "/v1/service/publishers/authenticate", `{"token":"` + pubToken + `"}`, trust.Publisher{}},
		{"UpdatePublisherKYC", func(c *edgeapi.Client) error {
			_, err := c.UpdatePublisherKYC(ctx, trust.KYCUpdate{EventID: "evt_1"})
			return err
		}, "POST", "/v1/service/publishers/kyc", `"event_id":"evt_1"`, trust.Publisher{}},
		{"FindPublisherWebhookSecret", func(c *edgeapi.Client) error { _, err := c.FindPublisherWebhookSecret(ctx, "acme"); return err },
			"GET", "/v1/service/publishers/acme/webhook-secret", "", edgeapi.WebhookSecretResponse{WebhookSecret: "w"}},
		{"FindSubmissionByID", func(c *edgeapi.Client) error { _, err := c.FindSubmissionByID(ctx, "sub_1"); return err },
			"GET", "/v1/service/submissions/sub_1", "", trust.Submission{}},
		{"FindSubmissions", func(c *edgeapi.Client) error {
			subs, err := c.FindSubmissions(ctx, trust.SubmissionFilter{Publisher: "acme", State: "flagged", Limit: 10, Offset: 20})
			if err == nil && subs == nil {
				t.Error("nil listing, want empty")
			}
			return err
		}, "GET", "/v1/service/submissions?limit=10&offset=20&publisher=acme&state=flagged", "", edgeapi.SubmissionsResponse{}},
		{"TransitionSubmission", func(c *edgeapi.Client) error {
			_, err := c.TransitionSubmission(ctx, "sub_1", trust.SubmissionTransition{From: "received", To: "extracted"})
			return err
		}, "POST", "/v1/service/submissions/sub_1/transition", `"from":"received","to":"extracted"`, trust.Submission{}},
		{"ReplaceSubmissionFindings", func(c *edgeapi.Client) error {
			return c.ReplaceSubmissionFindings(ctx, "sub_1", "static", nil)
		}, "PUT", "/v1/service/submissions/sub_1/findings/static", `{"findings":[]}`, edgeapi.FindingsResponse{}},
		{"CreateNotification", func(c *edgeapi.Client) error {
			_, err := c.CreateNotification(ctx, &trust.Notification{SubmissionID: "sub_1", Kind: "submission.rejected", Body: []byte("{}")})
			return err
		}, "POST", "/v1/service/notifications", `"body":"e30="`, trust.Notification{}},
		{"FindPendingNotifications", func(c *edgeapi.Client) error { _, err := c.FindPendingNotifications(ctx, 5, 10); return err },
			"GET", "/v1/service/notifications/pending?limit=10&max_attempts=5", "", edgeapi.NotificationsResponse{}},
		{"MarkNotificationAttempt", func(c *edgeapi.Client) error { return c.MarkNotificationAttempt(ctx, "ntf_1", false, "503") },
			"POST", "/v1/service/notifications/ntf_1/attempts", `{"delivered":false,"last_error":"503"}`, edgeapi.NotificationAttemptResponse{Recorded: true}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, calls := MustRawEdge(t, func(w http.ResponseWriter, _ rawCall) { httpapi.WriteJSON(w, http.StatusOK, tt.reply) })
			if err := tt.call(c); err != nil {
				t.Fatal(err)
			}
			got := (*calls)[0]
			if got.Method != tt.method || got.URI != tt.path || !strings.Contains(string(got.Body), tt.body) {
				t.Fatalf("request %s %s %s, want %s %s with %s", got.Method, got.URI, got.Body, tt.method, tt.path, tt.body)
			}
		})
	}
	t.Run("ErrUnauthorizedNoEcho", func(t *testing.T) {
		c, _ := MustRawEdge(t, func(w http.ResponseWriter, _ rawCall) {
			httpapi.WriteJSON(w, http.StatusUnauthorized, httpapi.ErrorResponse{Error: httpapi.ErrorBody{Code: trust.EUNAUTHORIZED, Message: "invalid or revoked publisher token"}})
		})
		_, err := c.AuthenticatePublisher(ctx, pubToken)
		if trust.ErrorCode(err) != trust.EUNAUTHORIZED || strings.Contains(err.Error(), "CANARY") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("ErrNotRecorded", func(t *testing.T) {
		c, _ := MustRawEdge(t, func(w http.ResponseWriter, _ rawCall) {
			httpapi.WriteJSON(w, http.StatusOK, edgeapi.NotificationAttemptResponse{})
		})
		if err := c.MarkNotificationAttempt(ctx, "ntf_1", true, ""); err == nil {
			t.Fatal("an unconfirmed attempt was taken as recorded")
		}
	})
}
