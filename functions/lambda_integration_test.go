//go:build integration

package functions_test

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
	"github.com/openagents/trust/shared/digest"
	"github.com/openagents/trust/shared/skill"
	"github.com/openagents/trust/shared/trust"
)

// rieVersion is the Lambda runtime interface emulator the test runs the real
// bootstrap under (NOTES: it runs natively, no Docker).
const rieVersion = "github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie@v0.0.0-20261030222936-bef5c4ba774d"

const operatorToken = "CANARY-operator-rie-8d2f6a4c1e9b7d5f3a1c"

// MustRIE returns the emulator's path, installing it under .cache/bin once.
func MustRIE(t *testing.T, root string) string {
	t.Helper()
	bin := filepath.Join(root, ".cache", "bin")
	path := filepath.Join(bin, "aws-lambda-rie")
	if _, err := os.Stat(path); err == nil {
		return path
	}
	cmd := exec.Command("go", "install", rieVersion)
	cmd.Env = append(os.Environ(), "GOBIN="+bin, "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go install %s: %v\n%s", rieVersion, err, out)
	}
	return path
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestIntegration_SignUnderLambdaEmulator runs `make lambda`'s bootstrap under
// the Lambda runtime interface emulator against a real edge node.
func TestIntegration_SignUnderLambdaEmulator(t *testing.T) {
	root, _ := filepath.Abs("..")
	rie := MustRIE(t, root)
	bootstrap := filepath.Join(t.TempDir(), "bootstrap")
	build := exec.Command("go", "build", "-tags", "lambda.norpc", "-o", bootstrap, "./functions/cmd/sign")
	build.Dir = root
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build bootstrap: %v\n%s", err, out)
	}

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

	addr := freePort(t)
	var logs bytes.Buffer
	cmd := exec.Command(rie, "--runtime-interface-emulator-address", addr, bootstrap)
	cmd.Env = append(os.Environ(),
		"TRUST_EDGE_URL="+node.URL(),
		"TRUST_SERVICE_TOKEN="+edgetest.ServiceToken,
		"TRUST_OPERATOR_TOKEN="+operatorToken,
		"TRUST_SIGNING_KEY="+filepath.Join(root, "testdata/signing/test-key.pem"),
	)
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })

	invoke := func(event string) events.APIGatewayV2HTTPResponse {
		t.Helper()
		raw, err := os.ReadFile(filepath.Join(root, "testdata/events", event+".json"))
		if err != nil {
			t.Fatal(err)
		}
		raw = bytes.ReplaceAll(raw, []byte("{{OPERATOR_TOKEN}}"), []byte(operatorToken))
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
		return out
	}

	if got := invoke("sign-ok"); got.StatusCode != 201 || !strings.Contains(got.Body, `"skill":"hello"`) {
		t.Fatalf("sign-ok: %d %s\n%s", got.StatusCode, got.Body, logs.String())
	}
	if got := invoke("sign-wrong-auth"); got.StatusCode != 401 {
		t.Fatalf("sign-wrong-auth: %d %s", got.StatusCode, got.Body)
	}
	sigs, err := edge.FindSignaturesBatch(ctx, []trust.SkillRef{{Name: "hello", Version: "1.0.0"}})
	if err != nil || len(sigs[trust.SkillRef{Name: "hello", Version: "1.0.0"}]) != 1 {
		t.Fatalf("catalog after the Lambda signed: %v %v", sigs, err)
	}
	for _, canary := range []string{operatorToken, edgetest.ServiceToken} {
		if strings.Contains(logs.String(), canary) || strings.Contains(node.Logs.String(), canary) {
			t.Fatal("a credential reached the logs")
		}
	}
}
