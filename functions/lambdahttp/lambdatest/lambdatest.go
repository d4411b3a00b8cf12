// Package lambdatest runs a function's real Lambda bootstrap under the AWS
// Lambda runtime interface emulator (natively, no Docker) for integration
// tests: build, start with an environment, invoke with an HTTP API v2 event.
package lambdatest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
)

// RIEVersion is the pinned emulator, installed once under .cache/bin.
const RIEVersion = "github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie@v0.0.0-20261030222936-bef5c4ba774d"

// Function is a bootstrap running under the emulator.
type Function struct {
	url  string
	logs *syncBuffer
}

// Start builds ./functions/cmd/NAME (CGO off, tag lambda.norpc) from the
// repository root, starts it under the emulator with env added to the
// process environment, and stops it when the test ends.
func Start(tb testing.TB, root, name string, env ...string) *Function {
	tb.Helper()
	rie := mustRIE(tb, root)
	bootstrap := filepath.Join(tb.TempDir(), "bootstrap")
	build := exec.Command("go", "build", "-tags", "lambda.norpc", "-o", bootstrap, "./functions/cmd/"+name)
	build.Dir = root
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		tb.Fatalf("build %s bootstrap: %v\n%s", name, err, out)
	}
	// Both of the emulator's listeners on free ports: its runtime API
	// defaults to 127.0.0.1:9001, which two tests running at once (two
	// packages under `go test ./...`) would fight over.
	addr, runtimeAddr := freeAddr(tb), freeAddr(tb)
	f := &Function{url: fmt.Sprintf("http://%s/2015-03-31/functions/function/invocations", addr), logs: &syncBuffer{}}
	cmd := exec.Command(rie, "--runtime-interface-emulator-address", addr, "--runtime-api-address", runtimeAddr, bootstrap)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = f.logs, f.logs
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return f
}

// Invoke sends one event (retrying while the emulator starts) and returns the
// function's HTTP API v2 answer.
func (f *Function) Invoke(tb testing.TB, event []byte) events.APIGatewayV2HTTPResponse {
	tb.Helper()
	var resp *http.Response
	var err error
	for deadline := time.Now().Add(15 * time.Second); ; {
		resp, err = http.Post(f.url, "application/json", bytes.NewReader(event))
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		tb.Fatalf("invoke: %v\n%s", err, f.Logs())
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var out events.APIGatewayV2HTTPResponse
	if err := json.Unmarshal(body, &out); err != nil {
		tb.Fatalf("emulator answered %d %s: %v\n%s", resp.StatusCode, body, err, f.Logs())
	}
	return out
}

// Logs returns what the emulator and the function wrote so far.
func (f *Function) Logs() string { return f.logs.String() }

// freeAddr returns a loopback address with a port free a moment ago.
func freeAddr(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// mustRIE returns the emulator's path, installing it under .cache/bin once.
func mustRIE(tb testing.TB, root string) string {
	tb.Helper()
	bin := filepath.Join(root, ".cache", "bin")
	path := filepath.Join(bin, "aws-lambda-rie")
	if _, err := os.Stat(path); err == nil {
		return path
	}
	cmd := exec.Command("go", "install", RIEVersion)
	cmd.Env = append(os.Environ(), "GOBIN="+bin, "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("go install %s: %v\n%s", RIEVersion, err, out)
	}
	return path
}

// syncBuffer is a bytes.Buffer safe for the emulator's two output streams.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
