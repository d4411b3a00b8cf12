//go:build integration

package functions_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/openagents/trust/edge/edgetest"
	"github.com/openagents/trust/functions/lambdahttp/lambdatest"
	"github.com/openagents/trust/shared/digest"
	"github.com/openagents/trust/shared/skill"
	"github.com/openagents/trust/shared/trust"
)

const operatorToken = "CANARY-operator-rie-8d2f6a4c1e9b7d5f3a1c"

// TestIntegration_SignUnderLambdaEmulator runs `make lambda`'s bootstrap under
// the Lambda runtime interface emulator against a real edge node.
func TestIntegration_SignUnderLambdaEmulator(t *testing.T) {
	root, _ := filepath.Abs("..")

	// A real edge node holding the test key and an approved version of hello.
	ctx := context.Background()
	node := edgetest.MustOpen(t, nil)
	edge := node.ServiceClient()
	var kr trust.Keyring
	b, _ := os.ReadFile(filepath.Join(root, "testdata/signing/keyring.json"))
	if err := json.Unmarshal(b, &kr); err != nil {
		t.Fatal(err)
	}
	if _, err := edge.CreateKeyVersion(ctx, &kr.Keys[0]); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "testdata/skills/hello")
	m, err := skill.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	cd, _ := digest.Content(dir)
	pd, _ := digest.Permissions(m.Permissions)
	if _, err := edge.CreateSkillVersion(ctx, &trust.SkillVersion{Name: m.Name, Version: m.Version, Publisher: "acme",
		ContentDigest: cd, PermissionsDigest: pd, Permissions: m.Permissions, State: trust.SkillVersionApproved}); err != nil {
		t.Fatal(err)
	}

	fn := lambdatest.Start(t, root, "sign",
		"TRUST_EDGE_URL="+node.URL(),
		"TRUST_SERVICE_TOKEN="+edgetest.ServiceToken,
		"TRUST_OPERATOR_TOKEN="+operatorToken,
		"TRUST_SIGNING_KEY="+filepath.Join(root, "testdata/signing/test-key.pem"),
	)
	invoke := func(event string) events.APIGatewayV2HTTPResponse {
		t.Helper()
		raw, err := os.ReadFile(filepath.Join(root, "testdata/events", event+".json"))
		if err != nil {
			t.Fatal(err)
		}
		return fn.Invoke(t, bytes.ReplaceAll(raw, []byte("{{OPERATOR_TOKEN}}"), []byte(operatorToken)))
	}

	if got := invoke("sign-ok"); got.StatusCode != 201 || !strings.Contains(got.Body, `"skill":"hello"`) {
		t.Fatalf("sign-ok: %d %s\n%s", got.StatusCode, got.Body, fn.Logs())
	}
	if got := invoke("sign-wrong-auth"); got.StatusCode != 401 {
		t.Fatalf("sign-wrong-auth: %d %s", got.StatusCode, got.Body)
	}
	sigs, err := edge.FindSignaturesBatch(ctx, []trust.SkillRef{{Name: "hello", Version: "1.0.0"}})
	if err != nil || len(sigs[trust.SkillRef{Name: "hello", Version: "1.0.0"}]) != 1 {
		t.Fatalf("catalog after the Lambda signed: %v %v", sigs, err)
	}
	for _, canary := range []string{operatorToken, edgetest.ServiceToken} {
		if strings.Contains(fn.Logs(), canary) || strings.Contains(node.Logs.String(), canary) {
			t.Fatal("a credential reached the logs")
		}
	}
}
