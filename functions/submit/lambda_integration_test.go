//go:build integration

package submit_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/openagents/trust/edge/edgetest"
	"github.com/openagents/trust/functions/pipeline/pipelinetest"
	"github.com/openagents/trust/shared/trust"
)

// rieVersion is the Lambda runtime interface emulator (the same pin as
// functions/lambda_integration_test.go).
const rieVersion = "github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie@v0.0.0-20261030222936-bef5c4ba774d"

const operatorCanary = "CANARY-operator-submit-rie-6e2a9c4f1b8d3e7a"

// TestIntegration_SubmitUnderLambdaEmulator builds the submit function's
// bootstrap, runs it under the Lambda runtime interface emulator with its
// configuration from the environment, and sends it the HTTP API v2 event of a
// submission against a real edge node: the skill ends signed.
func TestIntegration_SubmitUnderLambdaEmulator(t *testing.T) {
	ctx := context.Background()
	root := pipelinetest.Repo(t)
	bin := filepath.Join(root, ".cache", "bin")
	rie := filepath.Join(bin, "aws-lambda-rie")
	if _, err := os.Stat(rie); err != nil {
		install := exec.Command("go", "install", rieVersion)
		install.Env = append(os.Environ(), "GOBIN="+bin, "CGO_ENABLED=0")
		if out, err := install.CombinedOutput(); err != nil {
			t.Fatalf("go install %s: %v\n%s", rieVersion, err, out)
		}
	}
	bootstrap := filepath.Join(t.TempDir(), "bootstrap")
	build := exec.Command("go", "build", "-tags", "lambda.norpc", "-o", bootstrap, "./functions/cmd/submit")
	build.Dir = root
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build bootstrap: %v\n%s", err, out)
	}

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

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	var logs bytes.Buffer
	cmd := exec.Command(rie, "--runtime-interface-emulator-address", addr, bootstrap)
	cmd.Env = append(os.Environ(),
		"TRUST_EDGE_URL="+node.URL(),
		"TRUST_SERVICE_TOKEN="+edgetest.ServiceToken,
		"TRUST_OPERATOR_TOKEN="+operatorCanary,
		"TRUST_SIGNING_KEY="+filepath.Join(root, "testdata/signing/test-key.pem"),
		"TRUST_OCI_BASE="+base,
		"TRUST_OCI_BASE_IMAGE="+baseDigest,
		"TRUST_REGISTRY="+filepath.Join(t.TempDir(), "images"),
	)
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })

	raw, err := os.ReadFile("testdata/events/submit-ok.json")
	if err != nil {
		t.Fatal(err)
	}
	raw = bytes.ReplaceAll(raw, []byte(acmeToken), []byte(creds.Token))
	url := fmt.Sprintf("http://%s/2015-03-31/functions/function/invocations", addr)
	var resp *http.Response
	for deadline := time.Now().Add(15 * time.Second); ; {
		resp, err = http.Post(url, "application/json", bytes.NewReader(raw))
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("invoke: %v\n%s", err, logs.String())
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var out events.APIGatewayV2HTTPResponse
	if err := json.Unmarshal(body, &out); err != nil {
		t.Fatalf("emulator answered %d %s: %v\n%s", resp.StatusCode, body, err, logs.String())
	}
	var sub trust.Submission
	if out.StatusCode != 201 || json.Unmarshal([]byte(out.Body), &sub) != nil || sub.State != trust.SubmissionSigned {
		t.Fatalf("answer %d %s\n%s", out.StatusCode, out.Body, logs.String())
	}
	sigs, err := edge.FindSignatures(ctx, trust.SkillRef{Name: "hello-event", Version: "1.0.0"})
	if err != nil || len(sigs) != 1 || sigs[0].ImageDigest != sub.ImageDigest {
		t.Fatalf("catalog after the Lambda: %v %v", sigs, err)
	}
	for _, secret := range []string{creds.Token, edgetest.ServiceToken, operatorCanary} {
		if strings.Contains(logs.String(), secret) || strings.Contains(node.Logs.String(), secret) {
			t.Fatal("a credential reached the logs")
		}
	}
}
