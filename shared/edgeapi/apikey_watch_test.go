package edgeapi_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openagents/trust/shared/edgeapi"
	"github.com/openagents/trust/shared/httpapi"
	"github.com/openagents/trust/shared/trust"
)

// canaryMachineToken is a planted Machine token: it travels in the
// Authorization header only.
const canaryMachineToken = "oat_m_CANARY-machine-token-3c4d5e6f7a8b"

// scriptedEdge answers GET /v1/tenant/key-version/{provider} from a script,
// one answer per poll, and checks each request's token.
func scriptedEdge(tb testing.TB, script []func(w http.ResponseWriter, r *http.Request)) *httptest.Server {
	tb.Helper()
	var mu sync.Mutex
	n := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != "GET" || r.URL.Path != "/v1/tenant/key-version/anthropic" || httpapi.BearerToken(r) != canaryMachineToken {
			tb.Errorf("unexpected request %s %s", r.Method, r.URL.Path)
			httpapi.WriteError(w, r, nil, trust.Errorf(trust.EINVALID, "unexpected"))
			return
		}
		mu.Lock()
		i := min(n, len(script)-1)
		n++
		mu.Unlock()
		script[i](w, r)
	}))
	tb.Cleanup(srv.Close)
	return srv
}

func answer(source string, version int) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, _ *http.Request) {
		httpapi.WriteJSON(w, http.StatusOK, edgeapi.KeyVersionResponse{Provider: "anthropic", Source: source, Version: version})
	}
}

func refuse(code, msg string) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, r *http.Request) {
		httpapi.WriteError(w, r, nil, trust.Errorf(code, "%s", msg))
	}
}

func TestKeyVersionWatcher(t *testing.T) {
	for _, tt := range []struct {
		name     string
		current  *edgeapi.KeyVersionResponse
		script   []func(http.ResponseWriter, *http.Request)
		want     []string // source/version reported, in order
		errors   int      // transient failures reported
		wantCode string   // the refusal that ends the watch
	}{
		{"OK", nil, []func(http.ResponseWriter, *http.Request){
			answer("platform", 1), answer("platform", 1), refuse(trust.EUNAVAILABLE, "down"), answer("platform", 2),
			answer("user", 1), answer("user", 1), refuse(trust.EFORBIDDEN, "machine suspended: usage anomaly"),
		}, []string{"platform/1", "platform/2", "user/1"}, 1, trust.EFORBIDDEN},
		{"OKFromCurrent", &edgeapi.KeyVersionResponse{Provider: "anthropic", Source: "platform", Version: 3}, []func(http.ResponseWriter, *http.Request){
			answer("platform", 3), answer("platform", 4), refuse(trust.EFORBIDDEN, "no credits left: the tenant's balance is 0"),
		}, []string{"platform/4"}, 0, trust.EFORBIDDEN},
		{"ErrRevoked", nil, []func(http.ResponseWriter, *http.Request){
			refuse(trust.ENOTFOUND, "no key yet"), refuse(trust.EUNAUTHORIZED, "invalid credential"),
		}, nil, 1, trust.EUNAUTHORIZED},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := scriptedEdge(t, tt.script)
			var got []string
			errs := 0
			w := &edgeapi.KeyVersionWatcher{Client: edgeapi.NewClient(srv.URL, canaryMachineToken), Provider: "anthropic",
				Interval: time.Microsecond, OnError: func(err error, _ time.Duration) {
					errs++
					if strings.Contains(err.Error(), canaryMachineToken) {
						t.Errorf("the token reached an error: %v", err)
					}
				}}
			err := w.Watch(context.Background(), tt.current, func(kv *edgeapi.KeyVersionResponse) error {
				got = append(got, kv.Source+"/"+strconv.Itoa(kv.Version))
				return nil
			})
			if trust.ErrorCode(err) != tt.wantCode {
				t.Fatalf("err = %v, want %s", err, tt.wantCode)
			} else if strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Fatalf("reported %v, want %v", got, tt.want)
			} else if errs != tt.errors {
				t.Fatalf("transient errors = %d, want %d", errs, tt.errors)
			}
		})
	}

	t.Run("ErrCallback", func(t *testing.T) {
		srv := scriptedEdge(t, []func(http.ResponseWriter, *http.Request){answer("platform", 1)})
		boom := errors.New("hook failed")
		w := &edgeapi.KeyVersionWatcher{Client: edgeapi.NewClient(srv.URL, canaryMachineToken), Provider: "anthropic", Interval: time.Microsecond}
		if err := w.Watch(context.Background(), nil, func(*edgeapi.KeyVersionResponse) error { return boom }); !errors.Is(err, boom) {
			t.Fatalf("err = %v, want the callback's", err)
		}
	})
	t.Run("ErrUnknownProvider", func(t *testing.T) {
		w := &edgeapi.KeyVersionWatcher{Client: edgeapi.NewClient("http://127.0.0.1:1", canaryMachineToken), Provider: "gemini"}
		if err := w.Watch(context.Background(), nil, nil); trust.ErrorCode(err) != trust.EINVALID {
			t.Fatalf("err = %v, want EINVALID", err)
		}
	})
	t.Run("Canceled", func(t *testing.T) {
		srv := scriptedEdge(t, []func(http.ResponseWriter, *http.Request){answer("platform", 1)})
		ctx, cancel := context.WithCancel(context.Background())
		w := &edgeapi.KeyVersionWatcher{Client: edgeapi.NewClient(srv.URL, canaryMachineToken), Provider: "anthropic", Interval: time.Microsecond}
		err := w.Watch(ctx, nil, func(*edgeapi.KeyVersionResponse) error { cancel(); return nil })
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
	})
}
