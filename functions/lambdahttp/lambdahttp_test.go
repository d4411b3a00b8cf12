package lambdahttp_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/openagents/trust/functions/lambdahttp"
)

// echo answers with what it saw of the request.
func echo(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	http.SetCookie(w, &http.Cookie{Name: "a", Value: "1"})
	http.SetCookie(w, &http.Cookie{Name: "b", Value: "2"})
	w.Header().Add("X-Multi", "x")
	w.Header().Add("X-Multi", "y")
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{
		"method": r.Method, "path": r.URL.Path, "query": r.URL.Query().Get("q"),
		"auth": r.Header.Get("Authorization"), "cookie": r.Header.Get("Cookie"),
		"host": r.Host, "remote": r.RemoteAddr, "body": string(body), "length": r.ContentLength,
	})
}

func MustReadEvent(tb testing.TB, path string) events.APIGatewayV2HTTPRequest {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	var ev events.APIGatewayV2HTTPRequest
	if err := json.Unmarshal(b, &ev); err != nil {
		tb.Fatal(err)
	}
	return ev
}

func TestAdapter_Handle(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		ev := MustReadEvent(t, "../../testdata/events/sign-ok.json")
		ev.RawQueryString = "q=a%20b"
		ev.Cookies = []string{"s=1", "t=2"}
		resp, err := lambdahttp.New(http.HandlerFunc(echo)).Handle(context.Background(), ev)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := resp.StatusCode, 200; got != want {
			t.Fatalf("status=%d, want %d", got, want)
		}
		var got map[string]any
		if err := json.Unmarshal([]byte(resp.Body), &got); err != nil {
			t.Fatal(err)
		}
		want := map[string]any{
			"method": "POST", "path": "/v1/sign", "query": "a b",
			"auth": "Bearer {{OPERATOR_TOKEN}}", "cookie": "s=1; t=2",
			"host": "abc123defg.execute-api.eu-west-1.amazonaws.com", "remote": "203.0.113.10",
			"body": `{"name":"hello","version":"1.0.0"}`, "length": float64(34),
		}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("%s=%v, want %v", k, got[k], v)
			}
		}
		if got, want := resp.Headers["X-Multi"], "x,y"; got != want {
			t.Errorf("X-Multi=%q, want %q", got, want)
		}
		if got, want := len(resp.Cookies), 2; got != want {
			t.Errorf("cookies=%d, want %d", got, want)
		}
	})

	t.Run("ThroughLambdaInvoke", func(t *testing.T) {
		raw, err := os.ReadFile("../../testdata/events/sign-ok.json")
		if err != nil {
			t.Fatal(err)
		}
		out, err := lambda.NewHandler(lambdahttp.New(http.HandlerFunc(echo)).Handle).Invoke(context.Background(), raw)
		if err != nil {
			t.Fatal(err)
		}
		var resp events.APIGatewayV2HTTPResponse
		if err := json.Unmarshal(out, &resp); err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != 200 || resp.Headers["Content-Type"] != "application/json" {
			t.Fatalf("got %d %v", resp.StatusCode, resp.Headers)
		}
	})

	t.Run("BinaryBody", func(t *testing.T) {
		h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte{0xff, 0x00, 0xfe}) })
		resp, _ := lambdahttp.New(h).Handle(context.Background(), MustReadEvent(t, "../../testdata/events/sign-ok.json"))
		if !resp.IsBase64Encoded || resp.Body != base64.StdEncoding.EncodeToString([]byte{0xff, 0x00, 0xfe}) {
			t.Fatalf("body=%q base64=%v", resp.Body, resp.IsBase64Encoded)
		}
	})

	for _, tc := range []struct {
		name   string
		mutate func(*events.APIGatewayV2HTTPRequest)
	}{
		{"ErrNoMethod", func(ev *events.APIGatewayV2HTTPRequest) { ev.RequestContext.HTTP.Method = "" }},
		{"ErrRelativePath", func(ev *events.APIGatewayV2HTTPRequest) {
			ev.RawPath, ev.RequestContext.HTTP.Path = "v1/sign", "v1/sign"
		}},
		{"ErrBadBase64", func(ev *events.APIGatewayV2HTTPRequest) { ev.Body = "%%%" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ev := MustReadEvent(t, "../../testdata/events/sign-ok.json")
			tc.mutate(&ev)
			called := false
			h := http.HandlerFunc(func(http.ResponseWriter, *http.Request) { called = true })
			resp, err := lambdahttp.New(h).Handle(context.Background(), ev)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != http.StatusBadRequest || called {
				t.Fatalf("status=%d called=%v, want 400 without calling the handler", resp.StatusCode, called)
			}
		})
	}
}
