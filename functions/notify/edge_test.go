package notify_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strings"
	"testing"

	"github.com/openagents/trust/edge/edgetest"
	"github.com/openagents/trust/functions/notify"
	"github.com/openagents/trust/shared/edgeapi"
	"github.com/openagents/trust/shared/trust"
)

// MustRejectedSubmission records a publisher (verified, with webhook URL),
// a submission the pipeline rejected, and its notification, on a real edge
// node. It returns the publisher's webhook secret and the notification.
func MustRejectedSubmission(tb testing.TB, edge *edgeapi.Client, publisher, account, webhookURL string) (string, *trust.Notification) {
	tb.Helper()
	ctx := context.Background()
	creds, err := edge.CreatePublisher(ctx, &trust.Publisher{ID: publisher, Name: publisher, StripeAccount: account, WebhookURL: webhookURL})
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := edge.UpdatePublisherKYC(ctx, trust.KYCUpdate{EventID: "evt_" + account, StripeAccount: account,
		State: trust.KYCVerified, EventTime: now}); err != nil {
		tb.Fatal(err)
	}
	archive := []byte("not really a tar.gz of " + publisher)
	sum := sha256.Sum256(archive)
	sub, _, err := edge.CreateSubmission(ctx, &trust.Submission{Publisher: publisher, ArchiveFormat: "tar.gz",
		ArchiveDigest: "sha256:" + hex.EncodeToString(sum[:])}, archive)
	if err != nil {
		tb.Fatal(err)
	}
	states := []string{trust.SubmissionReceived, trust.SubmissionExtracted, trust.SubmissionScanned,
		trust.SubmissionBuilt, trust.SubmissionAnalyzed, trust.SubmissionRejected}
	for i := 1; i < len(states); i++ {
		t := trust.SubmissionTransition{From: states[i-1], To: states[i]}
		if t.To == trust.SubmissionRejected {
			t.Decision, t.Reason = "reject", "downloads and runs a remote script"
		}
		if _, err := edge.TransitionSubmission(ctx, sub.ID, t); err != nil {
			tb.Fatal(err)
		}
	}
	n, err := edge.CreateNotification(ctx, &trust.Notification{Publisher: publisher, SubmissionID: sub.ID,
		Kind: trust.NotificationSubmissionRejected, Body: []byte(`{"submission_id":"` + sub.ID + `","decision":"reject"}`)})
	if err != nil {
		tb.Fatal(err)
	}
	return creds.WebhookSecret, n
}

// TestDeliverPending_Edge delivers through a real edge node: the secret the
// catalog issued signs the delivery, and the attempts land in the catalog.
func TestDeliverPending_Edge(t *testing.T) {
	ctx := context.Background()
	node := edgetest.MustOpen(t, nil)
	edge := node.ServiceClient()
	good := newReceiver(t, "")
	bad := newReceiver(t, "")
	bad.status = http.StatusInternalServerError
	goodSecret, goodN := MustRejectedSubmission(t, edge, "acme", "acct_1QvAcme000000001", good.URL+"/hooks/trust")
	badSecret, badN := MustRejectedSubmission(t, edge, "globex", "acct_1QvGlobex00000001", bad.URL+"/hooks/trust")
	good.secret, bad.secret = goodSecret, badSecret

	e := MustEnv(t)
	e.d.Catalog = edge
	if res := MustDeliver(t, e.d); res != (notify.Result{Pending: 2, Delivered: 1, Failed: 1}) {
		t.Fatalf("result %+v", res)
	}
	if got := good.deliveries(); len(got) != 1 || got[0].err != nil || got[0].header.Get("X-Trust-Notification-Id") != goodN.ID {
		t.Fatalf("deliveries %+v", got)
	}
	pending, err := edge.FindPendingNotifications(ctx, e.d.MaxAttempts, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(pending) != 1 || pending[0].ID != badN.ID || pending[0].Attempts != 1 ||
		pending[0].LastError != "receiver answered 500 Internal Server Error" {
		t.Fatalf("pending %+v", pending)
	}
	for _, s := range []string{goodSecret, badSecret, edgetest.ServiceToken} {
		if strings.Contains(e.logs.String(), s) || strings.Contains(node.Logs.String(), s) {
			t.Fatal("a secret reached the logs")
		}
	}
}
