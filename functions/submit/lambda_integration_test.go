//go:build integration

package submit_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/openagents/trust/edge/edgetest"
	"github.com/openagents/trust/functions/lambdahttp/lambdatest"
	"github.com/openagents/trust/functions/pipeline/pipelinetest"
	"github.com/openagents/trust/shared/trust"
)

const operatorCanary = "CANARY-operator-submit-rie-6e2a9c4f1b8d3e7a"

// TestIntegration_SubmitUnderLambdaEmulator builds the submit function's
// bootstrap, runs it under the Lambda runtime interface emulator with its
// configuration from the environment, and sends it the HTTP API v2 event of a
// submission against a real edge node: the skill ends signed.
func TestIntegration_SubmitUnderLambdaEmulator(t *testing.T) {
	ctx := context.Background()
	root := pipelinetest.Repo(t)

	node := edgetest.MustOpen(t, nil)
	edge := node.ServiceClient()
	kr := pipelinetest.MustKeyring(t)
	if _, err := edge.CreateKeyVersion(ctx, &kr.Keys[0]); err != nil {
		t.Fatal(err)
	}
	creds, err := edge.CreatePublisher(ctx, &trust.Publisher{ID: "acme", Name: "Acme", StripeAccount: "acct_acme"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := edge.UpdatePublisherKYC(ctx, trust.KYCUpdate{EventID: "evt_rie", StripeAccount: "acct_acme",
		State: trust.KYCVerified, EventTime: time.Now()}); err != nil {
		t.Fatal(err)
	}
	base, baseDigest := pipelinetest.MustBase(t)

	fn := lambdatest.Start(t, root, "submit",
		"TRUST_EDGE_URL="+node.URL(),
		"TRUST_SERVICE_TOKEN="+edgetest.ServiceToken,
		"TRUST_OPERATOR_TOKEN="+operatorCanary,
		"TRUST_SIGNING_KEY="+filepath.Join(root, "testdata/signing/test-key.pem"),
		"TRUST_OCI_BASE="+base,
		"TRUST_OCI_BASE_IMAGE="+baseDigest,
		"TRUST_REGISTRY="+filepath.Join(t.TempDir(), "images"),
	)

	raw, err := os.ReadFile("testdata/events/submit-ok.json")
	if err != nil {
		t.Fatal(err)
	}
	raw = bytes.ReplaceAll(raw, []byte(acmeToken), []byte(creds.Token))
	out := fn.Invoke(t, raw)
	var sub trust.Submission
	if out.StatusCode != 201 || json.Unmarshal([]byte(out.Body), &sub) != nil || sub.State != trust.SubmissionSigned {
		t.Fatalf("answer %d %s\n%s", out.StatusCode, out.Body, fn.Logs())
	}
	sigs, err := edge.FindSignatures(ctx, trust.SkillRef{Name: "hello-event", Version: "1.0.0"})
	if err != nil || len(sigs) != 1 || sigs[0].ImageDigest != sub.ImageDigest {
		t.Fatalf("catalog after the Lambda: %v %v", sigs, err)
	}
	for _, secret := range []string{creds.Token, edgetest.ServiceToken, operatorCanary} {
		if strings.Contains(fn.Logs(), secret) || strings.Contains(node.Logs.String(), secret) {
			t.Fatal("a credential reached the logs")
		}
	}
}
