package review_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/openagents/trust/edge/edgetest"
	"github.com/openagents/trust/shared/edgeapi"
	"github.com/openagents/trust/shared/trust"
)

// MustFlaggedSubmission records a verified publisher and a submission the
// pipeline flagged, on a real edge node.
func MustFlaggedSubmission(tb testing.TB, edge *edgeapi.Client, archive string) *trust.Submission {
	tb.Helper()
	ctx := context.Background()
	if _, err := edge.FindPublisherByID(ctx, "acme"); trust.ErrorCode(err) == trust.ENOTFOUND {
		if _, err := edge.CreatePublisher(ctx, &trust.Publisher{ID: "acme", Name: "Acme", StripeAccount: "acct_1QvAcme000000001"}); err != nil {
			tb.Fatal(err)
		}
		if _, err := edge.UpdatePublisherKYC(ctx, trust.KYCUpdate{EventID: "evt_1", StripeAccount: "acct_1QvAcme000000001",
			State: trust.KYCVerified, EventTime: time.Now()}); err != nil {
			tb.Fatal(err)
		}
	}
	sum := sha256.Sum256([]byte(archive))
	sub, _, err := edge.CreateSubmission(ctx, &trust.Submission{Publisher: "acme", ArchiveFormat: "tar.gz",
		ArchiveDigest: "sha256:" + hex.EncodeToString(sum[:])}, []byte(archive))
	if err != nil {
		tb.Fatal(err)
	}
	states := []string{trust.SubmissionReceived, trust.SubmissionExtracted, trust.SubmissionScanned,
		trust.SubmissionBuilt, trust.SubmissionAnalyzed, trust.SubmissionFlagged}
	for i := 1; i < len(states); i++ {
		if sub, err = edge.TransitionSubmission(ctx, sub.ID, trust.SubmissionTransition{From: states[i-1], To: states[i]}); err != nil {
			tb.Fatal(err)
		}
	}
	return sub
}

// catalogResumer stands in for the pipeline: it reads the submission back.
type catalogResumer struct{ edge *edgeapi.Client }

func (r catalogResumer) Resume(ctx context.Context, id string) (*trust.Submission, error) {
	return r.edge.FindSubmissionByID(ctx, id)
}

// TestHandler_Edge reviews against a real edge node.
func TestHandler_Edge(t *testing.T) {
	ctx := context.Background()
	node := edgetest.MustOpen(t, nil)
	edge := node.ServiceClient()
	a := MustFlaggedSubmission(t, edge, "archive a")
	b := MustFlaggedSubmission(t, edge, "archive b")

	e := MustEnv(t)
	e.handler.Catalog, e.handler.Resumer = edge, catalogResumer{edge}

	w := e.do(t, "GET", "/v1/review/queue", reviewerToken, "")
	wantStatus(t, w, 200, a.ID)
	if !strings.Contains(w.Body.String(), b.ID) {
		t.Fatalf("queue %s lacks %s", w.Body, b.ID)
	}

	w = e.do(t, "POST", "/v1/review/submissions/"+a.ID, reviewerToken, decision("reject", "Pipes a download into sh.", "alice"))
	wantStatus(t, w, 200, `"state":"rejected"`)
	got, err := edge.FindSubmissionByID(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.State != trust.SubmissionRejected || got.Reviewer != "alice" || got.Reason != "Pipes a download into sh." {
		t.Fatalf("recorded %+v", got)
	}
	wantStatus(t, e.do(t, "POST", "/v1/review/submissions/"+a.ID, reviewerToken, decision("approve", "changed my mind", "bob")), 409, "not flagged")

	w = e.do(t, "GET", "/v1/review/queue", reviewerToken, "")
	var q struct {
		Submissions []trust.Submission `json:"submissions"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &q); err != nil {
		t.Fatal(err)
	}
	if len(q.Submissions) != 1 || q.Submissions[0].ID != b.ID {
		t.Fatalf("queue after the review: %s", w.Body)
	}
	if strings.Contains(node.Logs.String(), reviewerToken) {
		t.Fatal("the reviewer credential reached the edge's logs")
	}
}
