package rotate_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/openagents/trust/edge/edgetest"
	"github.com/openagents/trust/functions/rotate"
	"github.com/openagents/trust/shared/edgeapi"
	"github.com/openagents/trust/shared/trust"
)

// FakeSource stands in for the providers' admin APIs: it hands out canary
// keys and records what it was asked for. Fail makes a provider's calls fail.
type FakeSource struct {
	mu    sync.Mutex
	Calls []string
	Keys  []string
	Fail  map[string]bool
}

func (f *FakeSource) CreateKey(_ context.Context, provider, name string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.Calls = append(f.Calls, provider+"/"+name)
	if f.Fail[provider] {
		return "", trust.Errorf(trust.EUNAVAILABLE, "provider admin API unavailable")
	}
	key := fmt.Sprintf("sk-%s-CANARY-rotate-%d-5e4d3c2b1a", provider, len(f.Calls))
	f.Keys = append(f.Keys, key)
	return key, nil
}

// Clock is a settable test clock.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *Clock) Now() time.Time   { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *Clock) Set(t time.Time)  { c.mu.Lock(); defer c.mu.Unlock(); c.now = t }
func mustTime(s string) time.Time { t, _ := time.Parse(time.RFC3339, s); return t }
func mustRead(tb testing.TB, p string) []byte {
	tb.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// env is a rotation handler wired to a real in-process edge node.
type env struct {
	h      *rotate.Handler
	node   *edgetest.Edge
	source *FakeSource
	clock  *Clock
	logs   *edgetest.Buffer
}

func mustEnv(tb testing.TB) *env {
	tb.Helper()
	clock := &Clock{now: mustTime("2026-11-01T03:00:05Z")}
	node := edgetest.MustOpen(tb, clock.Now)
	logs := &edgetest.Buffer{}
	source := &FakeSource{Fail: map[string]bool{}}
	h := rotate.NewHandler(node.ServiceClient(), source)
	h.Logger = slog.New(slog.NewJSONHandler(logs, nil))
	h.Now = clock.Now
	return &env{h: h, node: node, source: source, clock: clock, logs: logs}
}

// invoke runs the handler the way the Lambda runtime does, on a fixture.
func (e *env) invoke(tb testing.TB, fixture string) (*rotate.Result, error) {
	tb.Helper()
	out, err := lambda.NewHandler(e.h.Handle).Invoke(context.Background(), mustRead(tb, "testdata/"+fixture))
	if err != nil {
		return nil, err
	}
	var res rotate.Result
	if err := json.Unmarshal(out, &res); err != nil {
		tb.Fatalf("decode result %s: %v", out, err)
	}
	return &res, nil
}

// versions returns "version:state" of a provider's versions, newest first.
func (e *env) versions(tb testing.TB, provider string) string {
	tb.Helper()
	vs, err := e.node.ServiceClient().FindAPIKeyVersions(context.Background(), provider)
	if err != nil {
		tb.Fatal(err)
	}
	var out []string
	for _, v := range vs {
		out = append(out, fmt.Sprintf("%d:%s", v.Version, v.State))
	}
	return strings.Join(out, ",")
}

func TestHandler_MonthlyRotation(t *testing.T) {
	e := mustEnv(t)

	res, err := e.invoke(t, "scheduled-2026-11.json")
	if err != nil {
		t.Fatal(err)
	}
	if res.Period != "2026-11" || len(res.Providers) != 2 || !res.Providers[0].Created || res.Providers[0].Active != 1 {
		t.Fatalf("first run = %+v", res)
	}
	t.Run("TwiceInAMonthCreatesOne", func(t *testing.T) {
		e.clock.Set(mustTime("2026-11-01T03:05:00Z"))
		res, err := e.invoke(t, "scheduled-2026-11.json")
		if err != nil {
			t.Fatal(err)
		} else if res.Providers[0].Created || res.Providers[0].Active != 1 {
			t.Fatalf("second run = %+v", res.Providers[0])
		}
		if len(e.source.Calls) != 2 {
			t.Fatalf("key source calls = %v, want one per provider", e.source.Calls)
		}
		if got := e.versions(t, trust.ProviderAnthropic); got != "1:active" {
			t.Fatalf("versions = %s", got)
		}
	})

	// December: a new version; November's stays valid for the overlap.
	e.clock.Set(mustTime("2026-12-01T03:00:05Z"))
	if res, err = e.invoke(t, "scheduled-2026-12.json"); err != nil {
		t.Fatal(err)
	} else if !res.Providers[0].Created || res.Providers[0].Active != 2 || len(res.Providers[0].Retired) != 0 {
		t.Fatalf("december = %+v", res.Providers[0])
	}
	if got := e.versions(t, trust.ProviderOpenAI); got != "2:active,1:previous" {
		t.Fatalf("versions = %s", got)
	}
	vs, _ := e.node.ServiceClient().FindAPIKeyVersions(context.Background(), trust.ProviderOpenAI)
	if want := mustTime("2026-12-01T03:00:05Z").Add(72 * time.Hour); vs[1].RetireAfter == nil || !vs[1].RetireAfter.Equal(want) {
		t.Fatalf("retire_after = %v, want %v", vs[1].RetireAfter, want)
	}
	// Inside the window nothing is retired.
	e.clock.Set(mustTime("2026-12-04T03:00:00Z"))
	if res, err = e.invoke(t, "scheduled-2026-12.json"); err != nil || len(res.Providers[0].Retired) != 0 {
		t.Fatalf("inside the window = %+v, %v", res, err)
	}
	// After it, the previous version is retired; no new version is made.
	e.clock.Set(mustTime("2026-12-05T03:00:05Z"))
	if res, err = e.invoke(t, "scheduled-2026-12-05.json"); err != nil {
		t.Fatal(err)
	} else if res.Providers[0].Created || len(res.Providers[0].Retired) != 1 || res.Providers[0].Retired[0] != 1 {
		t.Fatalf("after the window = %+v", res.Providers[0])
	}
	if got := e.versions(t, trust.ProviderAnthropic); got != "2:active,1:retired" {
		t.Fatalf("versions = %s", got)
	}
	if len(e.source.Calls) != 4 {
		t.Fatalf("key source calls = %v", e.source.Calls)
	}
	// The current key is the one the source made in December.
	if _, key, err := e.node.Server.APIKeyService.UnsealCurrentKey(context.Background(), trust.ProviderAnthropic); err != nil || key != e.source.Keys[2] {
		t.Fatalf("current key is not December's: %v", err)
	}
	wantNoCanary(t, e)
}

func TestHandler_ProviderFailure(t *testing.T) {
	e := mustEnv(t)
	e.source.Fail[trust.ProviderOpenAI] = true
	_, err := e.invoke(t, "scheduled-2026-11.json")
	if err == nil || !strings.Contains(err.Error(), "openai") {
		t.Fatalf("err = %v, want the openai failure", err)
	}
	// Anthropic rotated anyway; the retry only does what is left.
	if got := e.versions(t, trust.ProviderAnthropic); got != "1:active" {
		t.Fatalf("anthropic = %s", got)
	}
	e.source.Fail[trust.ProviderOpenAI] = false
	if _, err := e.invoke(t, "scheduled-2026-11.json"); err != nil {
		t.Fatal(err)
	}
	if got := e.versions(t, trust.ProviderAnthropic) + "|" + e.versions(t, trust.ProviderOpenAI); got != "1:active|1:active" {
		t.Fatalf("after retry = %s", got)
	}
	wantNoCanary(t, e)
}

func TestHandler_Refuses(t *testing.T) {
	t.Run("ErrNotScheduled", func(t *testing.T) {
		e := mustEnv(t)
		if _, err := e.invoke(t, "s3-object-created.json"); err == nil || !strings.Contains(err.Error(), "not an EventBridge scheduled event") {
			t.Fatalf("err = %v", err)
		}
		if len(e.source.Calls) != 0 {
			t.Fatalf("key source called: %v", e.source.Calls)
		}
	})
	t.Run("ErrNotImplementedSource", func(t *testing.T) {
		if _, err := (rotate.StagedKeys{}).CreateKey(context.Background(), trust.ProviderOpenAI, "x"); trust.ErrorCode(err) != trust.ENOTIMPLEMENTED {
			t.Fatalf("StagedKeys.CreateKey = %v, want ENOTIMPLEMENTED", err)
		}
	})
}

// mustStagedEnv is mustEnv with the production source: staged keys.
func mustStagedEnv(tb testing.TB) *env {
	tb.Helper()
	e := mustEnv(tb)
	e.h.Source = rotate.StagedKeys{}
	return e
}

// stage stages a canary key for a provider through the edge API and
// returns it.
func (e *env) stage(tb testing.TB, provider, label string) string {
	tb.Helper()
	key := fmt.Sprintf("sk-%s-CANARY-staged-%s-8c7b6a5f4e", provider, label)
	if _, err := e.node.ServiceClient().StageAPIKey(context.Background(), provider, edgeapi.StageAPIKeyRequest{Key: key, StagedBy: "ops"}); err != nil {
		tb.Fatal(err)
	}
	e.source.Keys = append(e.source.Keys, key) // scanned by wantNoCanary
	return key
}

// currentKey returns the provider's active raw key, unsealed on the edge.
func (e *env) currentKey(tb testing.TB, provider string) string {
	tb.Helper()
	_, key, err := e.node.Server.APIKeyService.UnsealCurrentKey(context.Background(), provider)
	if err != nil {
		tb.Fatal(err)
	}
	return key
}

func TestHandler_StagedRotation(t *testing.T) {
	e := mustStagedEnv(t)
	nov := map[string]string{}
	for _, p := range trust.Providers {
		nov[p] = e.stage(t, p, "nov")
	}
	res, err := e.invoke(t, "scheduled-2026-11.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, pr := range res.Providers {
		if !pr.Created || pr.Active != 1 || pr.Error != "" {
			t.Fatalf("november %s = %+v", pr.Provider, pr)
		}
		if got := e.currentKey(t, pr.Provider); got != nov[pr.Provider] {
			t.Fatalf("%s: the active key is not the staged one", pr.Provider)
		}
	}

	t.Run("TwiceInAMonthMakesOne", func(t *testing.T) {
		e.clock.Set(mustTime("2026-11-01T03:05:00Z"))
		dec := e.stage(t, trust.ProviderAnthropic, "early-dec")
		res, err := e.invoke(t, "scheduled-2026-11.json")
		if err != nil {
			t.Fatal(err)
		} else if res.Providers[0].Created || res.Providers[0].Active != 1 {
			t.Fatalf("second run = %+v", res.Providers[0])
		}
		if got := e.versions(t, trust.ProviderAnthropic); got != "1:active" {
			t.Fatalf("versions = %s", got)
		}
		// The key staged early waits for December.
		st, err := e.node.ServiceClient().FindStagedAPIKey(context.Background(), trust.ProviderAnthropic)
		if err != nil || st.Fingerprint != trust.APIKeyFingerprint(dec) {
			t.Fatalf("staged after a replay = %+v, %v", st, err)
		}
	})

	// December: the staged keys become version 2; November's stay valid for
	// the overlap window.
	dec := map[string]string{trust.ProviderAnthropic: e.stage(t, trust.ProviderAnthropic, "dec"), trust.ProviderOpenAI: e.stage(t, trust.ProviderOpenAI, "dec")}
	e.clock.Set(mustTime("2026-12-01T03:00:05Z"))
	if res, err = e.invoke(t, "scheduled-2026-12.json"); err != nil {
		t.Fatal(err)
	}
	for _, pr := range res.Providers {
		if !pr.Created || pr.Active != 2 || len(pr.Retired) != 0 {
			t.Fatalf("december %s = %+v", pr.Provider, pr)
		}
		if got := e.versions(t, pr.Provider); got != "2:active,1:previous" {
			t.Fatalf("%s versions = %s", pr.Provider, got)
		}
		if e.currentKey(t, pr.Provider) != dec[pr.Provider] {
			t.Fatalf("%s: the active key is not December's staged one", pr.Provider)
		}
		if _, err := e.node.ServiceClient().FindStagedAPIKey(context.Background(), pr.Provider); trust.ErrorCode(err) != trust.ENOTFOUND {
			t.Fatalf("%s staged after promotion: %v, want ENOTFOUND", pr.Provider, err)
		}
	}
	vs, _ := e.node.ServiceClient().FindAPIKeyVersions(context.Background(), trust.ProviderOpenAI)
	if want := mustTime("2026-12-01T03:00:05Z").Add(72 * time.Hour); vs[1].RetireAfter == nil || !vs[1].RetireAfter.Equal(want) {
		t.Fatalf("retire_after = %v, want %v", vs[1].RetireAfter, want)
	}
	// Inside the window the previous version is kept.
	e.clock.Set(mustTime("2026-12-04T03:00:00Z"))
	if res, err = e.invoke(t, "scheduled-2026-12.json"); err != nil || len(res.Providers[0].Retired) != 0 || res.Providers[0].Created {
		t.Fatalf("inside the window = %+v, %v", res, err)
	}
	if got := e.versions(t, trust.ProviderAnthropic); got != "2:active,1:previous" {
		t.Fatalf("versions inside the window = %s", got)
	}
	// After it, the previous version is retired; nothing new is made.
	e.clock.Set(mustTime("2026-12-05T03:00:05Z"))
	if res, err = e.invoke(t, "scheduled-2026-12-05.json"); err != nil {
		t.Fatal(err)
	}
	for _, pr := range res.Providers {
		if pr.Created || pr.Active != 2 || len(pr.Retired) != 1 || pr.Retired[0] != 1 {
			t.Fatalf("after the window %s = %+v", pr.Provider, pr)
		}
		if got := e.versions(t, pr.Provider); got != "2:active,1:retired" {
			t.Fatalf("%s versions = %s", pr.Provider, got)
		}
	}
	wantNoCanary(t, e)
}

func TestHandler_NoStagedKey(t *testing.T) {
	e := mustStagedEnv(t)
	e.stage(t, trust.ProviderOpenAI, "nov")
	_, err := e.invoke(t, "scheduled-2026-11.json")
	if err == nil || !strings.Contains(err.Error(), "no staged key for anthropic: stage the next key first") {
		t.Fatalf("err = %v, want the anthropic refusal", err)
	}
	// Anthropic is untouched; OpenAI rotated anyway.
	if got := e.versions(t, trust.ProviderAnthropic) + "|" + e.versions(t, trust.ProviderOpenAI); got != "|1:active" {
		t.Fatalf("versions = %s", got)
	}
	for _, want := range []string{`"provider":"anthropic"`, "no staged key for anthropic"} {
		if !strings.Contains(e.logs.String(), want) {
			t.Fatalf("function log lacks %q: %s", want, e.logs)
		}
	}
	if !strings.Contains(e.node.Logs.String(), "api key rotation without a staged key") {
		t.Fatal("the edge did not log the missing staged key")
	}

	// Called directly, the result names the failure per provider.
	direct, err := e.h.Handle(context.Background(), mustEvent(t, "scheduled-2026-11.json"))
	if err == nil || len(direct.Providers) != 2 {
		t.Fatalf("direct = %+v, %v", direct, err)
	}
	if a, o := direct.Providers[0], direct.Providers[1]; a.Error != "no staged key for anthropic: stage the next key first" || a.Created || o.Error != "" || o.Active != 1 || o.Created {
		t.Fatalf("providers = %+v, %+v", a, o)
	}

	// Once staged, the retry does what is left.
	e.stage(t, trust.ProviderAnthropic, "nov")
	if _, err := e.invoke(t, "scheduled-2026-11.json"); err != nil {
		t.Fatal(err)
	}
	if got := e.versions(t, trust.ProviderAnthropic) + "|" + e.versions(t, trust.ProviderOpenAI); got != "1:active|1:active" {
		t.Fatalf("after staging = %s", got)
	}
	wantNoCanary(t, e)
}

// mustEvent decodes a fixture as an EventBridge event.
func mustEvent(tb testing.TB, fixture string) events.CloudWatchEvent {
	tb.Helper()
	var ev events.CloudWatchEvent
	if err := json.Unmarshal(mustRead(tb, "testdata/"+fixture), &ev); err != nil {
		tb.Fatal(err)
	}
	return ev
}

// wantNoCanary scans the function's and the edge's logs for the keys.
func wantNoCanary(tb testing.TB, e *env) {
	tb.Helper()
	for _, logs := range []string{e.logs.String(), e.node.Logs.String()} {
		if strings.Contains(logs, "CANARY") {
			tb.Fatal("a key reached a log")
		}
	}
	for _, k := range e.source.Keys {
		if strings.Contains(e.logs.String(), k[8:]) {
			tb.Fatal("a key reached a log")
		}
	}
}
