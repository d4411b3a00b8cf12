package webhook_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/openagents/trust/edge/edgetest"
	"github.com/openagents/trust/shared/trust"
)

// TestHandler_Edge runs the function against a real edge node: the catalog
// applies each event once and keeps the newest state.
func TestHandler_Edge(t *testing.T) {
	ctx := context.Background()
	node := edgetest.MustOpen(t, nil)
	edge := node.ServiceClient()
	if _, err := edge.CreatePublisher(ctx, &trust.Publisher{ID: "acme", Name: "Acme Skills", StripeAccount: account}); err != nil {
		t.Fatal(err)
	}
	e := MustEnv(t)
	e.handler.Catalog = edge
	state := func(tb testing.TB) string {
		tb.Helper()
		p, err := edge.FindPublisherByID(ctx, "acme")
		if err != nil {
			tb.Fatal(err)
		}
		return p.KYCState
	}
	send := func(tb testing.TB, fixture string, status int, answer string) {
		tb.Helper()
		body := MustFixture(tb, fixture)
		wantStatus(tb, e.post(tb, body, sign(body, secret, time.Now())), status, answer)
	}

	send(t, "account-updated-verified.json", 200, `"status":"applied"`)
	if got := state(t); got != trust.KYCVerified {
		t.Fatalf("state %q after the verified event", got)
	}
	send(t, "account-updated-verified.json", 200, `"status":"already applied"`)
	send(t, "account-updated-rejected.json", 200, `"status":"applied"`)
	send(t, "account-updated-pending.json", 200, `"status":"applied"`) // older: recorded only
	if got := state(t); got != trust.KYCRejected {
		t.Fatalf("state %q, want rejected: the newest event decides", got)
	}

	other := bytes.ReplaceAll(MustFixture(t, "account-updated-verified.json"), []byte(account), []byte("acct_1QvNobody00000001"))
	other = bytes.Replace(other, []byte("evt_1QvKycVerified000000001"), []byte("evt_1QvKycNobody0000000001"), 1)
	wantStatus(t, e.post(t, other, sign(other, secret, time.Now())), 404, "acct_1QvNobody00000001")

	if strings.Contains(node.Logs.String(), secret) || strings.Contains(node.Logs.String(), edgetest.ServiceToken) {
		t.Fatal("a secret reached the edge's logs")
	}
}
