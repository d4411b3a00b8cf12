package review_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/openagents/trust/functions/lambdahttp"
	"github.com/openagents/trust/functions/review"
	"github.com/openagents/trust/shared/trust"
)

// reviewerToken is a canary: it must never appear in a response or a log line.
const reviewerToken = "CANARY-reviewer-4c8e1a7f3b9d2e6051c7a3f9e1b5d8c2"

var now = time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)

// fakeCatalog stands in for the edge's SubmissionService: transitions are
// compare-and-set on the state and follow trust.SubmissionMoveAllowed.
type fakeCatalog struct {
	mu          sync.Mutex
	subs        map[string]*trust.Submission
	transitions []trust.SubmissionTransition
	err         error // returned by every call when set
}

func newFakeCatalog() *fakeCatalog {
	c := &fakeCatalog{subs: map[string]*trust.Submission{}}
	for i, st := range []string{trust.SubmissionFlagged, trust.SubmissionFlagged, trust.SubmissionFlagged, trust.SubmissionSigned, trust.SubmissionRejected, trust.SubmissionBuilt} {
		id := fmt.Sprintf("sub_%d", i+1)
		c.subs[id] = &trust.Submission{ID: id, Publisher: "acme", State: st, Name: "skill" + id[4:], Version: "1.0.0",
			Decision: "flag", Score: 40, CreatedAt: now.Add(time.Duration(i) * time.Minute),
			Findings: []*trust.SubmissionFinding{{Source: "static", RuleID: "OA-NET-001", Category: "suspicious-download",
				Severity: "medium", File: "SKILL.md", Line: 12, Evidence: "curl https://example.com/x.sh", Why: "download"}}}
	}
	return c
}

func (c *fakeCatalog) FindSubmissions(ctx context.Context, f trust.SubmissionFilter) ([]*trust.Submission, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return nil, c.err
	}
	var out []*trust.Submission
	for _, s := range c.subs {
		if f.State == "" || s.State == f.State {
			cp := *s
			cp.Findings = nil
			out = append(out, &cp)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].CreatedAt.After(out[j].CreatedAt) })
	if f.Offset >= len(out) {
		return nil, nil
	}
	out = out[f.Offset:]
	if len(out) > f.Limit {
		out = out[:f.Limit]
	}
	return out, nil
}

func (c *fakeCatalog) FindSubmissionByID(ctx context.Context, id string) (*trust.Submission, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return nil, c.err
	}
	s, ok := c.subs[id]
	if !ok {
		return nil, trust.Errorf(trust.ENOTFOUND, "no submission %s", id)
	}
	cp := *s
	return &cp, nil
}

func (c *fakeCatalog) TransitionSubmission(ctx context.Context, id string, t trust.SubmissionTransition) (*trust.Submission, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return nil, c.err
	}
	s, ok := c.subs[id]
	switch {
	case !ok:
		return nil, trust.Errorf(trust.ENOTFOUND, "no submission %s", id)
	case !trust.SubmissionMoveAllowed(t.From, t.To):
		return nil, trust.Errorf(trust.EINVALID, "move %s → %s not allowed", t.From, t.To)
	case s.State != t.From:
		return nil, trust.Errorf(trust.ECONFLICT, "submission %s is %s", id, s.State)
	case t.From == trust.SubmissionFlagged && t.Reviewer == "":
		return nil, trust.Errorf(trust.EINVALID, "a review needs the reviewer")
	}
	c.transitions = append(c.transitions, t)
	s.State, s.Reviewer, s.Reason = t.To, t.Reviewer, t.Reason
	cp := *s
	return &cp, nil
}

func (c *fakeCatalog) state(id string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.subs[id].State
}

// fakeResumer plays functions/pipeline: an approved submission gets signed;
// a rejected one stays rejected (its publisher is notified).
type fakeResumer struct {
	catalog *fakeCatalog
	mu      sync.Mutex
	calls   []string
	err     error
}

func (r *fakeResumer) Resume(ctx context.Context, id string) (*trust.Submission, error) {
	r.mu.Lock()
	r.calls = append(r.calls, id)
	err := r.err
	r.mu.Unlock()
	if err != nil {
		return nil, err
	}
	sub, err := r.catalog.FindSubmissionByID(ctx, id)
	if err != nil {
		return nil, err
	}
	if sub.State == trust.SubmissionApproved {
		return r.catalog.TransitionSubmission(ctx, id, trust.SubmissionTransition{From: trust.SubmissionApproved, To: trust.SubmissionSigned})
	}
	return sub, nil
}

func (r *fakeResumer) called() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.calls...)
}

// lockedBuffer collects log lines from concurrent requests.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

type env struct {
	handler *review.Handler
	catalog *fakeCatalog
	resumer *fakeResumer
	logs    *lockedBuffer
}

func MustEnv(tb testing.TB) *env {
	tb.Helper()
	logs := &lockedBuffer{}
	c := newFakeCatalog()
	r := &fakeResumer{catalog: c}
	h := review.NewHandler()
	h.Catalog, h.Resumer, h.ReviewerToken = c, r, reviewerToken
	h.Logger = slog.New(slog.NewJSONHandler(logs, nil))
	return &env{handler: h, catalog: c, resumer: r, logs: logs}
}

// do serves one request with the given token and checks that the token did
// not leak into the response or the logs.
func (e *env) do(tb testing.TB, method, path, token, body string) *httptest.ResponseRecorder {
	tb.Helper()
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	if body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	w := httptest.NewRecorder()
	e.handler.ServeHTTP(w, r)
	if strings.Contains(w.Body.String(), reviewerToken) || strings.Contains(e.logs.String(), reviewerToken) {
		tb.Fatal("the reviewer credential leaked into the response or the logs")
	}
	return w
}

func wantStatus(tb testing.TB, w *httptest.ResponseRecorder, status int, body string) {
	tb.Helper()
	if w.Code != status || !strings.Contains(w.Body.String(), body) {
		tb.Fatalf("got %d %s, want %d with %q", w.Code, w.Body, status, body)
	}
}

func decision(d, reason, reviewer string) string {
	b, _ := json.Marshal(review.Decision{Decision: d, Reason: reason, Reviewer: reviewer})
	return string(b)
}

func TestHandler_Auth(t *testing.T) {
	for _, tc := range []struct {
		name   string
		token  string
		status int
	}{
		{"ErrNoCredential", "", 401},
		{"ErrWrongCredential", "CANARY-reviewer-4c8e1a7f3b9d2e6051c7a3f9e1b5d8c3", 401},
		{"ErrPrefix", reviewerToken[:20], 401},
		{"OK", reviewerToken, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := MustEnv(t)
			for _, req := range []struct{ method, path, body string }{
				{"GET", "/v1/review/queue", ""},
				{"GET", "/v1/review/submissions/sub_1", ""},
				{"POST", "/v1/review/submissions/sub_1", decision("approve", "reviewed the download: vendor installer", "alice")},
			} {
				w := e.do(t, req.method, req.path, tc.token, req.body)
				if w.Code != tc.status {
					t.Fatalf("%s %s: %d %s, want %d", req.method, req.path, w.Code, w.Body, tc.status)
				}
				if tc.status == 401 && w.Header().Get("WWW-Authenticate") == "" {
					t.Fatal("401 without WWW-Authenticate")
				}
			}
			if tc.status == 401 && (len(e.catalog.transitions) != 0 || len(e.resumer.called()) != 0) {
				t.Fatal("an unauthenticated request changed something")
			}
		})
	}
	t.Run("ErrNotConfigured", func(t *testing.T) {
		// No configured credential: closed for everyone, even an empty bearer.
		e := MustEnv(t)
		e.handler.ReviewerToken = ""
		wantStatus(t, e.do(t, "GET", "/v1/review/queue", "", ""), 500, "internal error")
	})
	t.Run("ErrWeakCredential", func(t *testing.T) {
		// A configured credential too short to resist guessing opens nothing,
		// even to the one who presents it.
		e := MustEnv(t)
		e.handler.ReviewerToken = "letmein"
		wantStatus(t, e.do(t, "GET", "/v1/review/queue", "letmein", ""), 500, "internal error")
	})
}

func TestHandler_Queue(t *testing.T) {
	e := MustEnv(t)
	list := func(tb testing.TB, query string) review.Queue {
		tb.Helper()
		w := e.do(tb, "GET", "/v1/review/queue"+query, reviewerToken, "")
		wantStatus(tb, w, 200, `"submissions":`)
		var q review.Queue
		if err := json.Unmarshal(w.Body.Bytes(), &q); err != nil {
			tb.Fatal(err)
		}
		return q
	}
	ids := func(q review.Queue) string {
		var s []string
		for _, sub := range q.Submissions {
			s = append(s, sub.ID+":"+sub.State)
		}
		return strings.Join(s, ",")
	}
	if q := list(t, ""); ids(q) != "sub_3:flagged,sub_2:flagged,sub_1:flagged" || q.Limit != review.DefaultLimit || q.Offset != 0 {
		t.Fatalf("queue %s limit %d offset %d", ids(q), q.Limit, q.Offset)
	}
	if q := list(t, "?limit=1&offset=1"); ids(q) != "sub_2:flagged" {
		t.Fatalf("page: %s", ids(q))
	}
	if q := list(t, "?offset=10"); q.Submissions == nil || len(q.Submissions) != 0 {
		t.Fatalf("past the end: %+v, want an empty list", q.Submissions)
	}
	for _, bad := range []string{"?limit=0", "?limit=501", "?limit=x", "?offset=-1", "?limit=1e3"} {
		wantStatus(t, e.do(t, "GET", "/v1/review/queue"+bad, reviewerToken, ""), 400, `"code":"invalid"`)
	}
}

func TestHandler_View(t *testing.T) {
	e := MustEnv(t)
	w := e.do(t, "GET", "/v1/review/submissions/sub_2", reviewerToken, "")
	wantStatus(t, w, 200, `"rule_id":"OA-NET-001"`)
	wantStatus(t, e.do(t, "GET", "/v1/review/submissions/sub_99", reviewerToken, ""), 404, "no submission sub_99")
	wantStatus(t, e.do(t, "GET", "/v1/review/submissions/abc", reviewerToken, ""), 400, "sub_")
	wantStatus(t, e.do(t, "GET", "/v1/review/submissions/sub_%27or%271", reviewerToken, ""), 400, "sub_")
}

func TestHandler_Decide(t *testing.T) {
	for _, tc := range []struct {
		decision string
		recorded string // the state the decision records
		final    string // the state after the pipeline resumed
	}{
		{"approve", trust.SubmissionApproved, trust.SubmissionSigned},
		{"reject", trust.SubmissionRejected, trust.SubmissionRejected},
	} {
		t.Run(tc.decision, func(t *testing.T) {
			e := MustEnv(t)
			w := e.do(t, "POST", "/v1/review/submissions/sub_1", reviewerToken,
				decision(tc.decision, "  The download is the vendor's signed installer.\nChecked by hand.  ", " alice@example.com "))
			wantStatus(t, w, 200, `"state":"`+tc.final+`"`)
			if len(e.catalog.transitions) < 1 {
				t.Fatal("no transition recorded")
			}
			got := e.catalog.transitions[0]
			want := trust.SubmissionTransition{From: trust.SubmissionFlagged, To: tc.recorded, Reviewer: "alice@example.com",
				Reason: "The download is the vendor's signed installer.\nChecked by hand."}
			if got != want {
				t.Fatalf("transition %+v, want %+v", got, want)
			}
			if calls := e.resumer.called(); len(calls) != 1 || calls[0] != "sub_1" {
				t.Fatalf("resume calls %v", calls)
			}
			logs := e.logs.String()
			for _, s := range []string{`"msg":"submission reviewed"`, `"submission":"sub_1"`, `"reviewer":"alice@example.com"`, `"decision":"` + tc.decision + `"`} {
				if !strings.Contains(logs, s) {
					t.Fatalf("log lacks %s:\n%s", s, logs)
				}
			}
		})
	}
}

func TestHandler_DecideRefused(t *testing.T) {
	long := strings.Repeat("x", review.MaxReasonLength+1)
	for _, tc := range []struct {
		name   string
		id     string
		body   string
		status int
		msg    string
	}{
		{"ErrNotFlaggedSigned", "sub_4", decision("reject", "late", "alice"), 409, "is signed, not flagged"},
		{"ErrNotFlaggedRejected", "sub_5", decision("approve", "second thoughts", "alice"), 409, "not flagged"},
		{"ErrNotFlaggedInPipeline", "sub_6", decision("approve", "skip the queue", "alice"), 409, "is built, not flagged"},
		{"ErrNotFound", "sub_99", decision("approve", "ok", "alice"), 404, "no submission"},
		{"ErrBadID", "SUB-1", decision("approve", "ok", "alice"), 400, "sub_"},
		{"ErrDecision", "sub_1", decision("flag", "unsure", "alice"), 400, `decision must be`},
		{"ErrDecisionCase", "sub_1", decision("Approve", "ok", "alice"), 400, `decision must be`},
		{"ErrReasonRequired", "sub_1", decision("approve", "", "alice"), 400, "reason required"},
		{"ErrReasonBlank", "sub_1", decision("reject", " \n\t ", "alice"), 400, "reason required"},
		{"ErrReasonTooLong", "sub_1", decision("reject", long, "alice"), 400, "reason longer than"},
		{"ErrReasonControl", "sub_1", decision("reject", "bad\x1b[31m", "alice"), 400, "U+001B"},
		{"ErrReasonZeroWidth", "sub_1", decision("reject", "fine\u200b", "alice"), 400, "U+200B"},
		{"ErrReasonBidi", "sub_1", decision("reject", "fine\u202e", "alice"), 400, "U+202E"},
		{"ErrReviewerRequired", "sub_1", decision("approve", "ok", ""), 400, "reviewer required"},
		{"ErrReviewerNewline", "sub_1", decision("approve", "ok", "alice\nbob"), 400, "reviewer contains"},
		{"ErrReviewerTooLong", "sub_1", decision("approve", "ok", strings.Repeat("a", review.MaxReviewerLength+1)), 400, "reviewer longer"},
		{"ErrUnknownField", "sub_1", `{"decision":"approve","reason":"ok","reviewer":"alice","state":"signed"}`, 400, "unknown field"},
		{"ErrNotJSON", "sub_1", `decision=approve`, 400, "invalid JSON"},
		{"ErrEmptyBody", "sub_1", ``, 400, "body required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := MustEnv(t)
			w := e.do(t, "POST", "/v1/review/submissions/"+tc.id, reviewerToken, tc.body)
			wantStatus(t, w, tc.status, tc.msg)
			if len(e.catalog.transitions) != 0 || len(e.resumer.called()) != 0 {
				t.Fatalf("a refused decision changed something: %+v", e.catalog.transitions)
			}
		})
	}
}

func TestHandler_ConcurrentDecisions(t *testing.T) {
	// Two reviewers decide the same submission at once: one decision wins,
	// the other is told it came second.
	e := MustEnv(t)
	var wg sync.WaitGroup
	codes := make([]int, 2)
	for i, d := range []string{"approve", "reject"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := httptest.NewRequest("POST", "/v1/review/submissions/sub_1", strings.NewReader(decision(d, "checked", fmt.Sprintf("reviewer-%d", i))))
			r.Header.Set("Authorization", "Bearer "+reviewerToken)
			w := httptest.NewRecorder()
			e.handler.ServeHTTP(w, r)
			codes[i] = w.Code
		}()
	}
	wg.Wait()
	sort.Ints(codes)
	if codes[0] != 200 || codes[1] != 409 {
		t.Fatalf("statuses %v, want one 200 and one 409", codes)
	}
	reviews := 0
	for _, tr := range e.catalog.transitions {
		if tr.From == trust.SubmissionFlagged {
			reviews++
		}
	}
	if reviews != 1 || len(e.resumer.called()) != 1 {
		t.Fatalf("%d reviews recorded, %d resumes; want 1 each", reviews, len(e.resumer.called()))
	}
}

func TestHandler_ResumeFails(t *testing.T) {
	// The decision stands; the scheduled resume finishes the work.
	e := MustEnv(t)
	e.resumer.err = errors.New("edge unreachable")
	w := e.do(t, "POST", "/v1/review/submissions/sub_2", reviewerToken, decision("approve", "ok", "alice"))
	wantStatus(t, w, 202, `"state":"approved"`)
	if e.catalog.state("sub_2") != trust.SubmissionApproved || !strings.Contains(e.logs.String(), "edge unreachable") {
		t.Fatalf("state %s; logs:\n%s", e.catalog.state("sub_2"), e.logs)
	}
}

func TestHandler_NoResumer(t *testing.T) {
	e := MustEnv(t)
	e.handler.Resumer = nil
	wantStatus(t, e.do(t, "POST", "/v1/review/submissions/sub_1", reviewerToken, decision("approve", "ok", "alice")), 500, "internal error")
	if e.catalog.state("sub_1") != trust.SubmissionFlagged {
		t.Fatal("a decision was recorded with nothing to act on it")
	}
}

func TestHandler_CatalogFailure(t *testing.T) {
	for _, err := range []error{
		errors.New("dial tcp 10.0.0.7:8080: connection refused"),
		trust.Errorf(trust.EUNAUTHORIZED, "service credential required"), // ours, not the reviewer's
	} {
		e := MustEnv(t)
		e.catalog.err = err
		for _, req := range []struct{ method, path, body string }{
			{"GET", "/v1/review/queue", ""},
			{"POST", "/v1/review/submissions/sub_1", decision("approve", "ok", "alice")},
		} {
			w := e.do(t, req.method, req.path, reviewerToken, req.body)
			wantStatus(t, w, 500, `"internal error"`)
			if strings.Contains(w.Body.String(), "10.0.0.7") || strings.Contains(w.Body.String(), "service credential") {
				t.Fatalf("the cause reached the response: %s", w.Body)
			}
		}
	}
}

func TestHandler_Routes(t *testing.T) {
	e := MustEnv(t)
	w := e.do(t, "DELETE", "/v1/review/submissions/sub_1", reviewerToken, "")
	if w.Code != 405 || w.Header().Get("Allow") != "GET, POST" {
		t.Fatalf("DELETE: %d %v", w.Code, w.Header())
	}
	w = e.do(t, "POST", "/v1/review/queue", reviewerToken, "")
	if w.Code != 405 || w.Header().Get("Allow") != "GET" {
		t.Fatalf("POST queue: %d %v", w.Code, w.Header())
	}
	wantStatus(t, e.do(t, "GET", "/v1/review/other", reviewerToken, ""), 404, "no such route")
}

// TestHandler_Lambda serves a decision as API Gateway delivers it.
func TestHandler_Lambda(t *testing.T) {
	e := MustEnv(t)
	path := "/v1/review/submissions/sub_3"
	ev := events.APIGatewayV2HTTPRequest{
		Version: "2.0", RouteKey: "POST /v1/review/submissions/{id}", RawPath: path,
		Headers: map[string]string{"authorization": "Bearer " + reviewerToken, "content-type": "application/json"},
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			DomainName: "functions.example.com",
			HTTP:       events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: "POST", Path: path, SourceIP: "203.0.113.9"},
		},
		Body: decision("reject", "Downloads and runs an unsigned binary from a paste site.", "bob"),
	}
	raw, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	out, err := lambda.NewHandler(lambdahttp.New(e.handler).Handle).Invoke(context.Background(), raw)
	if err != nil {
		t.Fatal(err)
	}
	var resp events.APIGatewayV2HTTPResponse
	if err := json.Unmarshal(out, &resp); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || !strings.Contains(resp.Body, `"state":"rejected"`) || strings.Contains(resp.Body, reviewerToken) {
		t.Fatalf("got %d %s", resp.StatusCode, resp.Body)
	}
}

// staleCatalog answers reads as if the submission were still flagged, as a
// read racing another reviewer's decision would.
type staleCatalog struct{ *fakeCatalog }

func (c staleCatalog) FindSubmissionByID(ctx context.Context, id string) (*trust.Submission, error) {
	sub, err := c.fakeCatalog.FindSubmissionByID(ctx, id)
	if err == nil {
		sub.State = trust.SubmissionFlagged
	}
	return sub, err
}

func TestHandler_DecisionLosesRace(t *testing.T) {
	e := MustEnv(t)
	e.handler.Catalog = staleCatalog{e.catalog}
	w := e.do(t, "POST", "/v1/review/submissions/sub_5", reviewerToken, decision("approve", "ok", "alice"))
	wantStatus(t, w, 409, "another decision was recorded first")
	if e.catalog.state("sub_5") != trust.SubmissionRejected || len(e.resumer.called()) != 0 {
		t.Fatal("the losing decision changed something")
	}
}

func FuzzDecisionValidate(f *testing.F) {
	for _, seed := range []struct{ decision, reason, reviewer string }{
		{"approve", "The download is the vendor's signed installer.\nChecked by hand.", "alice@example.com"},
		{"reject", " \n\t ", "alice"},
		{"reject", "bad\x1b[31m", "alice"},
		{"reject", "fine\u200b", "alice"},
		{"reject", "fine\u202e", "bob"},
		{"approve", "ok", "alice\nbob"},
		{"approve", "ok", "\xff"},
		{"flag", "unsure", "alice"},
	} {
		f.Add(seed.decision, seed.reason, seed.reviewer)
	}
	f.Fuzz(func(t *testing.T, decision, reason, reviewer string) {
		d := review.Decision{Decision: decision, Reason: reason, Reviewer: reviewer}
		if d.Validate() != nil {
			return
		}
		if d.Decision != review.DecisionApprove && d.Decision != review.DecisionReject {
			t.Fatalf("accepted decision %q", d.Decision)
		}
		if d.Reason == "" || len(d.Reason) > review.MaxReasonLength || d.Reviewer == "" || strings.TrimSpace(d.Reason) != d.Reason {
			t.Fatalf("accepted reason %q, reviewer %q", d.Reason, d.Reviewer)
		}
		for _, r := range d.Reason + d.Reviewer {
			if r == utf8.RuneError || (r < 0x20 && r != '\n' && r != '\t') || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == '\u200b' || r == '\u202e' {
				t.Fatalf("accepted character U+%04X in %q / %q", r, d.Reason, d.Reviewer)
			}
		}
		if strings.ContainsAny(d.Reviewer, "\n\t") {
			t.Fatalf("accepted a multi-line reviewer %q", d.Reviewer)
		}
	})
}
