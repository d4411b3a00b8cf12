package cli_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openagents/trust/edge/cli"
	"github.com/openagents/trust/shared/digest"
	"github.com/openagents/trust/shared/httpapi"
	"github.com/openagents/trust/shared/trust"
)

// publisherToken is a canary: trustctl never prints it.
const publisherToken = "CANARY-oapt_cli-7e3f9b1d5c2a4e6f"

// fakeFunctions stands in for the submit function: it checks what trustctl
// sends and answers with answer (the shapes of functions/submit).
type fakeFunctions struct {
	mu      sync.Mutex
	bodies  [][]byte
	types   []string
	paths   []string
	answer  *trust.Submission
	status  int
	refusal *httpapi.ErrorBody
}

func (f *fakeFunctions) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	body, _ := io.ReadAll(r.Body)
	f.bodies = append(f.bodies, body)
	f.types = append(f.types, r.Header.Get("Content-Type"))
	f.paths = append(f.paths, r.Method+" "+r.URL.Path)
	if httpapi.BearerToken(r) != publisherToken {
		httpapi.WriteJSON(w, 401, httpapi.ErrorResponse{Error: httpapi.ErrorBody{Code: trust.EUNAUTHORIZED, Message: "invalid publisher token"}})
		return
	}
	if f.refusal != nil {
		httpapi.WriteJSON(w, httpapi.Status(f.refusal.Code), httpapi.ErrorResponse{Error: *f.refusal})
		return
	}
	httpapi.WriteJSON(w, f.status, f.answer)
}

func signedAnswer() *trust.Submission {
	return &trust.Submission{ID: "sub_1", Publisher: "acme", State: trust.SubmissionSigned, Name: "hello", Version: "1.0.0",
		Decision: "approve", Score: 5, ImageDigest: "sha256:" + strings.Repeat("ab", 32),
		Findings: []*trust.SubmissionFinding{{Source: "static", RuleID: "UD002", Severity: "low", File: "scripts/hello.sh", Line: 3, Why: "undeclared"}}}
}

// runCLI runs trustctl against srv with vars as the environment.
func runCLI(t *testing.T, vars map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	env := &cli.Env{Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: &stderr,
		Getenv: func(k string) string { return vars[k] }}
	code := cli.Main(context.Background(), env, args)
	if strings.Contains(stdout.String()+stderr.String(), publisherToken) {
		t.Errorf("trustctl %s printed the publisher token", args[0])
	}
	return code, stdout.String(), stderr.String()
}

func MustFunctions(t *testing.T, f *fakeFunctions) map[string]string {
	t.Helper()
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return map[string]string{"TRUST_FUNCTIONS_URL": srv.URL, "TRUST_PUBLISHER_TOKEN": publisherToken}
}

func TestSubmit_OK(t *testing.T) {
	f := &fakeFunctions{answer: signedAnswer(), status: http.StatusCreated}
	vars := MustFunctions(t, f)
	hello := CopySkill(t, "hello")
	code, out, errOut := runCLI(t, vars, "submit", hello)
	if code != cli.ExitOK {
		t.Fatalf("exit %d: %s %s", code, out, errOut)
	}
	for _, want := range []string{"submission  sub_1", "skill       hello@1.0.0", "state       signed", "decision    approve (score 5)", "UD002"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if f.paths[0] != "POST /v1/submissions" || f.types[0] != "application/gzip" {
		t.Errorf("sent %s as %s", f.paths[0], f.types[0])
	}
	// The archive is the skill: its tar is digest.WriteTar's, byte for byte.
	zr, err := gzip.NewReader(bytes.NewReader(f.bodies[0]))
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(zr)
	var want bytes.Buffer
	if err := digest.WriteTar(&want, hello); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want.Bytes()) {
		t.Error("the packed tar is not digest.WriteTar of the folder")
	}
	names := tarNames(t, got)
	if strings.Join(names, ",") != "README.md,SKILL.md,scripts/,scripts/hello.sh" {
		t.Errorf("entries %v", names)
	}

	// --json, and the same folder (touched) packs to the same bytes.
	os.Chtimes(filepath.Join(hello, "README.md"), pipelineTime, pipelineTime)
	code, out, _ = runCLI(t, vars, "submit", "--json", hello)
	var sub trust.Submission
	if code != cli.ExitOK || json.Unmarshal([]byte(out), &sub) != nil || sub.ID != "sub_1" {
		t.Fatalf("--json: exit %d: %s", code, out)
	}
	if !bytes.Equal(f.bodies[0], f.bodies[1]) {
		t.Error("packing the same folder twice gave different archives")
	}
}

var pipelineTime = time.Date(2020, 2, 2, 2, 2, 2, 0, time.UTC)

func tarNames(t *testing.T, b []byte) []string {
	t.Helper()
	var names []string
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return names
		} else if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
	}
}

func TestSubmit_Outcomes(t *testing.T) {
	rejected := signedAnswer()
	rejected.State, rejected.Decision, rejected.Score, rejected.Reason = trust.SubmissionRejected, "reject", 85, "static analysis rejected the skill"
	flagged := signedAnswer()
	flagged.State, flagged.Decision = trust.SubmissionFlagged, "flag"
	for _, tc := range []struct {
		name   string
		f      *fakeFunctions
		vars   func(map[string]string)
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{"Rejected", &fakeFunctions{answer: rejected, status: 201}, nil, nil, cli.ExitFailure, "reason      static analysis rejected", ""},
		{"Flagged", &fakeFunctions{answer: flagged, status: 201}, nil, nil, cli.ExitOK, "state       flagged", ""},
		{"Again", &fakeFunctions{answer: signedAnswer(), status: 200}, nil, nil, cli.ExitOK, "already submitted", ""},
		{"TokenFlag", &fakeFunctions{answer: signedAnswer(), status: 201}, func(v map[string]string) { delete(v, "TRUST_PUBLISHER_TOKEN") },
			[]string{"--token", publisherToken}, cli.ExitOK, "state       signed", "warning: --token is visible"},
		{"ErrNotVerified", &fakeFunctions{refusal: &httpapi.ErrorBody{Code: trust.EFORBIDDEN, Message: "publisher acme is not KYC-verified"}}, nil, nil,
			cli.ExitFailure, "", "not KYC-verified"},
		{"ErrRefusedArchive", &fakeFunctions{refusal: &httpapi.ErrorBody{Code: trust.EINVALID, Message: "archive refused (rule path-escape): ..."}}, nil, nil,
			cli.ExitFailure, "", "rule path-escape"},
		{"ErrWrongToken", &fakeFunctions{}, func(v map[string]string) { v["TRUST_PUBLISHER_TOKEN"] = "CANARY-oapt_cli-wrong" }, nil,
			cli.ExitFailure, "", "invalid publisher token"},
		{"ErrNoToken", &fakeFunctions{}, func(v map[string]string) { delete(v, "TRUST_PUBLISHER_TOKEN") }, nil,
			cli.ExitUsage, "", "no publisher token"},
		{"ErrNoAPI", &fakeFunctions{}, func(v map[string]string) { delete(v, "TRUST_FUNCTIONS_URL") }, nil,
			cli.ExitUsage, "", "no API URL"},
		{"ErrPlainHTTP", &fakeFunctions{}, nil, []string{"--api", "http://functions.example.com"},
			cli.ExitUsage, "", "https"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vars := MustFunctions(t, tc.f)
			if tc.vars != nil {
				tc.vars(vars)
			}
			args := append(append([]string{"submit"}, tc.args...), CopySkill(t, "hello"))
			code, out, errOut := runCLI(t, vars, args...)
			if code != tc.code || !strings.Contains(out, tc.stdout) || !strings.Contains(errOut, tc.stderr) {
				t.Errorf("exit %d (want %d)\nstdout: %s\nstderr: %s", code, tc.code, out, errOut)
			}
			if strings.Contains(errOut+out, "CANARY-oapt_cli-wrong") {
				t.Error("the wrong token was printed")
			}
		})
	}
}

func TestStatus(t *testing.T) {
	f := &fakeFunctions{answer: signedAnswer(), status: 200}
	vars := MustFunctions(t, f)
	code, out, errOut := runCLI(t, vars, "status", "sub_1")
	if code != cli.ExitOK || !strings.Contains(out, "state       signed") {
		t.Fatalf("exit %d: %s %s", code, out, errOut)
	}
	if f.paths[0] != "GET /v1/submissions/sub_1" {
		t.Errorf("sent %s", f.paths[0])
	}
	if code, _, errOut := runCLI(t, vars, "status"); code != cli.ExitUsage || !strings.Contains(errOut, "submission ID required") {
		t.Errorf("no ID: exit %d: %s", code, errOut)
	}
	f.refusal = &httpapi.ErrorBody{Code: trust.ENOTFOUND, Message: "submission sub_2 not found"}
	if code, _, errOut := runCLI(t, vars, "status", "sub_2"); code != cli.ExitFailure || !strings.Contains(errOut, "not found") {
		t.Errorf("unknown: exit %d: %s", code, errOut)
	}
}
