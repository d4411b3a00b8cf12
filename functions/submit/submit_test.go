package submit_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/openagents/trust/edge/edgetest"
	"github.com/openagents/trust/functions/pipeline"
	"github.com/openagents/trust/functions/pipeline/pipelinetest"
	"github.com/openagents/trust/functions/submit"
	"github.com/openagents/trust/shared/httpapi"
	"github.com/openagents/trust/shared/trust"
)

// Canary publisher tokens: they must never appear in a response or a log.
const (
	acmeToken    = "CANARY-oapt_acme-4f1e9a7c3b5d2e8f"
	otherToken   = "CANARY-oapt_other-9b2c7d4e1f6a3b8c"
	pendingToken = "CANARY-oapt_pending-2d7e4a9c1b6f3e5a"
)

// env is the submit handler over the fake catalog and a real pipeline.
type env struct {
	h    *submit.Handler
	cat  *pipelinetest.Catalog
	run  *pipeline.Runner
	tmp  string // the handler's and the pipeline's temporary directories
	logs *edgetest.Buffer
	seen strings.Builder // every response body
}

func MustEnv(tb testing.TB) *env {
	tb.Helper()
	e := &env{tmp: tb.TempDir(), logs: &edgetest.Buffer{}}
	logger := slog.New(slog.NewJSONHandler(e.logs, nil))
	clock := pipelinetest.NewClock(pipelinetest.Now)
	e.cat = pipelinetest.New(clock.Now)
	e.cat.Keyring = pipelinetest.MustKeyring(tb)
	e.cat.AddPublisher("acme", trust.KYCVerified, acmeToken)
	e.cat.AddPublisher("other", trust.KYCVerified, otherToken)
	e.cat.AddPublisher("newco", trust.KYCPending, pendingToken)

	r := pipeline.NewRunner()
	r.Catalog, r.Signer = e.cat, pipelinetest.MustSigner(tb, e.cat, clock.Now)
	r.BaseLayout, r.BaseImage = pipelinetest.MustBase(tb)
	r.Registry = filepath.Join(tb.TempDir(), "images")
	r.WorkDir, r.Now, r.Logger = e.tmp, clock.Now, logger
	if err := r.Open(); err != nil {
		tb.Fatal(err)
	}
	e.run = r

	h := submit.NewHandler()
	h.Catalog, h.Pipeline, h.TempDir, h.Logger = e.cat, r, e.tmp, logger
	e.h = h
	tb.Cleanup(func() {
		for _, tok := range []string{acmeToken, otherToken, pendingToken} {
			if strings.Contains(e.logs.String(), tok) || strings.Contains(e.seen.String(), tok) {
				tb.Errorf("a publisher token reached a log or a response")
			}
		}
	})
	return e
}

// do serves one request and checks that nothing stays in the temporary directory.
func (e *env) do(tb testing.TB, method, path, token, contentType string, body []byte) *httptest.ResponseRecorder {
	tb.Helper()
	req := httptest.NewRequest(method, path, bytes.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, req)
	e.seen.WriteString(rec.Body.String())
	if left, _ := os.ReadDir(e.tmp); len(left) != 0 {
		tb.Errorf("%s %s left %v behind", method, path, left)
	}
	return rec
}

func (e *env) post(tb testing.TB, token, contentType string, body []byte) *httptest.ResponseRecorder {
	tb.Helper()
	return e.do(tb, "POST", "/v1/submissions", token, contentType, body)
}

func decode(tb testing.TB, rec *httptest.ResponseRecorder) *trust.Submission {
	tb.Helper()
	var s trust.Submission
	if err := json.Unmarshal(rec.Body.Bytes(), &s); err != nil {
		tb.Fatalf("decode %s: %v", rec.Body, err)
	}
	return &s
}

func errorOf(tb testing.TB, rec *httptest.ResponseRecorder) httpapi.ErrorBody {
	tb.Helper()
	var er httpapi.ErrorResponse
	if err := json.Unmarshal(rec.Body.Bytes(), &er); err != nil {
		tb.Fatalf("decode %s: %v", rec.Body, err)
	}
	return er.Error
}

func hello(tb testing.TB) pipelinetest.Files {
	return pipelinetest.ReadFiles(tb, "testdata/skills/hello")
}

func TestSubmit_OK(t *testing.T) {
	e := MustEnv(t)
	files := hello(t)
	files["scripts/pretty.sh"] = "#!/bin/sh\njq . forecast.json\n" // jq is not declared: a low finding to answer
	archive := files.TarGz(t)
	rec := e.post(t, acmeToken, "application/gzip", archive)
	if rec.Code != http.StatusCreated {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	sub := decode(t, rec)
	if sub.State != trust.SubmissionSigned || sub.Decision != "approve" || sub.Publisher != "acme" ||
		sub.Name != "hello" || !trust.ValidDigest(sub.ImageDigest) || len(sub.Findings) == 0 {
		t.Errorf("submission %+v", sub)
	}
	if got := rec.Header().Get("Location"); got != "/v1/submissions/"+sub.ID {
		t.Errorf("Location %q", got)
	}

	// The same bytes again: the same submission, 200, nothing new recorded.
	again := e.post(t, acmeToken, "application/x-gzip", archive)
	if again.Code != http.StatusOK || decode(t, again).ID != sub.ID {
		t.Fatalf("again: %d %s", again.Code, again.Body)
	}
	if e.cat.Writes("CreateSubmission") != 1 || e.cat.Signatures() != 1 {
		t.Errorf("%d submissions, %d signatures", e.cat.Writes("CreateSubmission"), e.cat.Signatures())
	}

	// GET: the owner sees it; another publisher does not know it exists.
	if rec := e.do(t, "GET", "/v1/submissions/"+sub.ID, acmeToken, "", nil); rec.Code != http.StatusOK || decode(t, rec).ID != sub.ID {
		t.Errorf("owner GET: %d %s", rec.Code, rec.Body)
	}
	for name, tc := range map[string]struct {
		path, token string
		want        int
	}{
		"ErrOtherPublisher": {"/v1/submissions/" + sub.ID, otherToken, http.StatusNotFound},
		"ErrUnknown":        {"/v1/submissions/sub_nope", acmeToken, http.StatusNotFound},
		"ErrNoToken":        {"/v1/submissions/" + sub.ID, "", http.StatusUnauthorized},
		"ErrBadToken":       {"/v1/submissions/" + sub.ID, "oapt_wrong", http.StatusUnauthorized},
	} {
		t.Run(name, func(t *testing.T) {
			if rec := e.do(t, "GET", tc.path, tc.token, "", nil); rec.Code != tc.want {
				t.Errorf("status %d, want %d: %s", rec.Code, tc.want, rec.Body)
			}
		})
	}
}

func TestSubmit_Formats(t *testing.T) {
	for _, tc := range []struct {
		name, contentType string
		zip               bool
	}{
		{"ZipDeclared", "application/zip", true},
		{"ZipSniffed", "", true},
		{"TarGzOctetStream", "application/octet-stream", false},
		{"TarGzWithParams", "application/gzip; charset=binary", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := MustEnv(t)
			archive := hello(t).TarGz(t)
			if tc.zip {
				archive = hello(t).Zip(t)
			}
			rec := e.post(t, acmeToken, tc.contentType, archive)
			if rec.Code != http.StatusCreated {
				t.Fatalf("status %d: %s", rec.Code, rec.Body)
			}
			want := "tar.gz"
			if tc.zip {
				want = "zip"
			}
			if got := decode(t, rec).ArchiveFormat; got != want {
				t.Errorf("format %s, want %s", got, want)
			}
		})
	}
}

func TestSubmit_Refused(t *testing.T) {
	skill := hello(t)
	zeros := pipelinetest.Files{"SKILL.md": skill["SKILL.md"], "zeros.txt": strings.Repeat("0", 4<<20)}
	for _, tc := range []struct {
		name        string
		token       string
		contentType string
		body        func(tb testing.TB) []byte
		status      int
		message     string // the error message contains this
	}{
		{"ErrNoToken", "", "application/gzip", skill.TarGz, 401, "token required"},
		{"ErrBadToken", "oapt_nope", "application/gzip", skill.TarGz, 401, "invalid publisher token"},
		{"ErrNotVerified", pendingToken, "application/gzip", skill.TarGz, 403, "not KYC-verified"},
		{"ErrEmpty", acmeToken, "application/gzip", func(testing.TB) []byte { return nil }, 400, "(rule: format)"},
		{"ErrNotArchive", acmeToken, "", func(testing.TB) []byte { return []byte("#!/bin/sh\necho hi\n") }, 400, "(rule: format)"},
		{"ErrContentType", acmeToken, "text/plain", skill.TarGz, 400, "(rule: format)"},
		{"ErrTypeMismatch", acmeToken, "application/zip", skill.TarGz, 400, "(rule: format)"},
		{"ErrPlainTar", acmeToken, "", func(tb testing.TB) []byte { return gunzip(tb, skill.TarGz(tb)) }, 400, "(rule: format)"},
		{"ErrPathEscape", acmeToken, "application/gzip", pipelinetest.Files{"SKILL.md": skill["SKILL.md"], "../x.sh": "x"}.TarGz, 400, "(rule: path-escape)"},
		{"ErrAbsolute", acmeToken, "application/gzip", pipelinetest.Files{"SKILL.md": skill["SKILL.md"], "/etc/x": "x"}.TarGz, 400, "(rule: path-absolute)"},
		{"ErrRatio", acmeToken, "application/gzip", zeros.TarGz, 413, "(rule: ratio)"},
		{"ErrTruncated", acmeToken, "application/gzip", func(tb testing.TB) []byte { b := skill.TarGz(tb); return b[:len(b)/2] }, 400, "(rule: corrupt)"},
		{"ErrNoManifest", acmeToken, "application/gzip", pipelinetest.Files{"README.md": "hi"}.TarGz, 400, "SKILL.md"},
		{"ErrNoVersion", acmeToken, "application/gzip", pipelinetest.Files{"SKILL.md": "---\nname: x\n---\n"}.TarGz, 400, "version required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := MustEnv(t)
			rec := e.post(t, tc.token, tc.contentType, tc.body(t))
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.status, rec.Body)
			}
			if msg := errorOf(t, rec).Message; !strings.Contains(msg, tc.message) {
				t.Errorf("message %q, want it to contain %q", msg, tc.message)
			}
			if n := e.cat.Writes("CreateSubmission"); n != 0 {
				t.Errorf("a refused archive was recorded (%d)", n)
			}
		})
	}
	t.Run("ErrTooLarge", func(t *testing.T) {
		e := MustEnv(t)
		e.h.MaxArchiveSize = 512
		rec := e.post(t, acmeToken, "application/gzip", zeros.TarGz(t))
		if rec.Code != http.StatusRequestEntityTooLarge || !strings.Contains(errorOf(t, rec).Message, "(rule: compressed-size)") {
			t.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
	})
}

func gunzip(t testing.TB, b []byte) []byte {
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestSubmit_PipelineInterrupted: the catalog goes away mid-pipeline; the
// publisher gets 202 with the submission as far as it got, and a later
// Resume (the scheduled function) finishes it.
func TestSubmit_PipelineInterrupted(t *testing.T) {
	e := MustEnv(t)
	e.cat.SetHook(func(c pipelinetest.Call) error {
		if c.Transition != nil && c.Transition.To == trust.SubmissionScanned && !c.Committed {
			return trust.Errorf(trust.EUNAVAILABLE, "catalog unreachable")
		}
		return nil
	})
	rec := e.post(t, acmeToken, "application/gzip", hello(t).TarGz(t))
	if rec.Code != http.StatusAccepted {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	sub := decode(t, rec)
	if sub.State != trust.SubmissionExtracted {
		t.Fatalf("state %s, want extracted", sub.State)
	}
	e.cat.SetHook(nil)
	done, err := e.run.Resume(context.Background(), sub.ID)
	if err != nil || done.State != trust.SubmissionSigned {
		t.Fatalf("Resume: %v, %v", done, err)
	}
}

func TestSubmit_Rejected(t *testing.T) {
	e := MustEnv(t)
	fs := pipelinetest.ReadFiles(t, "testdata/scan/reverse-shell")
	fs["SKILL.md"] = strings.Replace(fs["SKILL.md"], "\ndescription:", "\nversion: 0.1.0\ndescription:", 1)
	rec := e.post(t, acmeToken, "application/gzip", fs.TarGz(t))
	if rec.Code != http.StatusCreated {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	sub := decode(t, rec)
	if sub.State != trust.SubmissionRejected || sub.Decision != "reject" || sub.Reason == "" || len(sub.Findings) == 0 {
		t.Errorf("submission %+v", sub)
	}
	if len(e.cat.Notifications()) != 1 {
		t.Errorf("%d notifications", len(e.cat.Notifications()))
	}
}

func TestSubmit_Routes(t *testing.T) {
	e := MustEnv(t)
	if rec := e.do(t, "GET", "/v1/submissions", acmeToken, "", nil); rec.Code != http.StatusMethodNotAllowed || rec.Header().Get("Allow") != "POST" {
		t.Errorf("GET /v1/submissions: %d", rec.Code)
	}
	if rec := e.do(t, "GET", "/v1/elsewhere", acmeToken, "", nil); rec.Code != http.StatusNotFound {
		t.Errorf("unknown route: %d", rec.Code)
	}
}

// TestSubmit_Deadline: a pipeline that cannot finish in time leaves the
// submission recorded and answers 202 with it as far as it got.
func TestSubmit_Deadline(t *testing.T) {
	e := MustEnv(t)
	e.h.Deadline = time.Nanosecond
	rec := e.post(t, acmeToken, "application/gzip", hello(t).TarGz(t))
	if rec.Code != http.StatusAccepted {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	if sub := decode(t, rec); sub.State != trust.SubmissionReceived || sub.ID == "" {
		t.Fatalf("submission %+v, want received", sub)
	}
}
