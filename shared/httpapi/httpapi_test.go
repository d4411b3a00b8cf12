package httpapi_test

import (
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/openagents/trust/shared/httpapi"
	"github.com/openagents/trust/shared/trust"
)

func TestCheckBaseURL(t *testing.T) {
	for _, tc := range []struct {
		url string
		ok  bool
	}{
		{"https://edge.example.com", true},
		{"https://edge.example.com:8443/base", true},
		{"http://127.0.0.1:8080", true},
		{"http://[::1]:8080", true},
		{"http://localhost:8080", true},
		{"http://edge.example.com", false},
		{"http://10.0.0.5:8080", false},
		{"ftp://edge.example.com", false},
		{"https://user:CANARY-pass@edge.example.com", false},
		{"https://edge.example.com/?token=x", false},
		{"edge.example.com", false},
		{"", false},
	} {
		err := httpapi.CheckBaseURL(tc.url)
		if (err == nil) != tc.ok {
			t.Errorf("CheckBaseURL(%q) = %v, want ok=%v", tc.url, err, tc.ok)
		}
		if err != nil && strings.Contains(err.Error(), "CANARY") {
			t.Errorf("error echoes a password: %v", err)
		}
	}
}

func TestReadJSON(t *testing.T) {
	type body struct {
		Reason string `json:"reason"`
	}
	for _, tc := range []struct {
		name string
		in   string
		ok   bool
	}{
		{"OK", `{"reason":"x"}`, true},
		{"OKTrailingSpace", "{\"reason\":\"x\"}\n \t", true},
		{"ErrEmpty", ``, false},
		{"ErrTrailingBrace", `{"reason":"x"}}}`, false},
		{"ErrTrailingBracket", `{"reason":"x"}]`, false},
		{"ErrSecondValue", `{"reason":"x"}{"reason":"y"}`, false},
		{"ErrUnknownField", `{"reason":"x","extra":1}`, false},
		{"ErrSyntax", `{"reason":`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/", strings.NewReader(tc.in))
			var b body
			err := httpapi.ReadJSON(httptest.NewRecorder(), r, 0, &b)
			if (err == nil) != tc.ok {
				t.Fatalf("err=%v, want ok=%v", err, tc.ok)
			}
			if err != nil && trust.ErrorCode(err) != trust.EINVALID {
				t.Fatalf("code=%q, want invalid", trust.ErrorCode(err))
			}
		})
	}
	t.Run("ErrTooLarge", func(t *testing.T) {
		r := httptest.NewRequest("POST", "/", strings.NewReader(`{"reason":"`+strings.Repeat("x", 100)+`"}`))
		var b body
		if err := httpapi.ReadJSON(httptest.NewRecorder(), r, 32, &b); trust.ErrorCode(err) != trust.EINVALID {
			t.Fatalf("err=%v", err)
		}
	})
}

func TestWriteError(t *testing.T) {
	t.Run("InternalHidesCause", func(t *testing.T) {
		var logs strings.Builder
		w := httptest.NewRecorder()
		httpapi.WriteError(w, httptest.NewRequest("GET", "/x", nil), slog.New(slog.NewTextHandler(&logs, nil)),
			errors.New("open /var/secret/db: permission denied"))
		if w.Code != http.StatusInternalServerError || strings.Contains(w.Body.String(), "secret") ||
			!strings.Contains(w.Body.String(), `"message":"internal error"`) {
			t.Fatalf("got %d %s", w.Code, w.Body)
		}
		if !strings.Contains(logs.String(), "permission denied") {
			t.Fatal("the cause was not logged")
		}
	})
	for code, status := range map[string]int{
		trust.EINVALID: 400, trust.EUNAUTHORIZED: 401, trust.EFORBIDDEN: 403, trust.ENOTFOUND: 404,
		trust.ECONFLICT: 409, trust.ERATELIMIT: 429, trust.ENOTIMPLEMENTED: 501, trust.EUNAVAILABLE: 503,
	} {
		w := httptest.NewRecorder()
		httpapi.WriteError(w, httptest.NewRequest("GET", "/", nil), nil, trust.Errorf(code, "m"))
		if w.Code != status || httpapi.CodeForStatus(status) != code {
			t.Errorf("%s: status %d, want %d", code, w.Code, status)
		}
	}
}
