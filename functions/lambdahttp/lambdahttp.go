// Package lambdahttp serves a net/http handler behind API Gateway HTTP API (v2
// payload) events, so each function's handler is one http.Handler that runs the
// same way under `trust-functions` on plain HTTP and inside AWS Lambda.
package lambdahttp

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"
)

// MaxBodySize is the largest request body the adapter accepts after base64
// decoding; API Gateway itself caps payloads at 10 MB.
const MaxBodySize = 10 << 20

// Adapter turns HTTP API v2 events into requests for Handler.
type Adapter struct {
	Handler http.Handler
}

// New returns an Adapter for h.
func New(h http.Handler) *Adapter { return &Adapter{Handler: h} }

// Handle serves one HTTP API v2 event. It returns an error only for an event it
// cannot turn into a request at all; handler errors are HTTP responses.
func (a *Adapter) Handle(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	req, err := Request(ctx, ev)
	if err != nil {
		return events.APIGatewayV2HTTPResponse{
			StatusCode: http.StatusBadRequest,
			Headers:    map[string]string{"Content-Type": "application/json"},
			Body:       `{"error":{"code":"invalid","message":"malformed request event"}}` + "\n",
		}, nil
	}
	rec := httptest.NewRecorder()
	a.Handler.ServeHTTP(rec, req)
	return Response(rec.Result().StatusCode, rec.Header(), rec.Body.Bytes()), nil
}

// Request builds the *http.Request an HTTP API v2 event describes.
func Request(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (*http.Request, error) {
	method := ev.RequestContext.HTTP.Method
	if method == "" {
		return nil, fmt.Errorf("event has no requestContext.http.method")
	}
	path := ev.RawPath
	if path == "" {
		path = ev.RequestContext.HTTP.Path
	}
	if !strings.HasPrefix(path, "/") {
		return nil, fmt.Errorf("event path %q is not absolute", path)
	}
	u := &url.URL{Path: path, RawQuery: ev.RawQueryString}
	if p, err := url.PathUnescape(path); err == nil {
		u.Path, u.RawPath = p, path
	}

	body := []byte(ev.Body)
	if ev.IsBase64Encoded {
		b, err := base64.StdEncoding.DecodeString(ev.Body)
		if err != nil {
			return nil, fmt.Errorf("decode base64 body: %w", err)
		}
		body = b
	}
	if len(body) > MaxBodySize {
		return nil, fmt.Errorf("body of %d bytes exceeds %d", len(body), MaxBodySize)
	}

	req, err := http.NewRequestWithContext(ctx, method, u.String(), bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("build request: %w", err)
	}
	for k, v := range ev.Headers {
		// HTTP API v2 joins repeated headers with commas, which is how
		// net/http reads them too.
		req.Header.Set(k, v)
	}
	if len(ev.Cookies) > 0 {
		req.Header.Set("Cookie", strings.Join(ev.Cookies, "; "))
	}
	req.Host = ev.RequestContext.DomainName
	if h := req.Header.Get("Host"); h != "" {
		req.Host = h
	}
	req.RemoteAddr = ev.RequestContext.HTTP.SourceIP
	req.RequestURI = u.RequestURI()
	req.ContentLength = int64(len(body))
	return req, nil
}

// Response converts a recorded HTTP response to the v2 response shape: repeated
// headers are comma-joined, Set-Cookie goes to Cookies, and a body that is not
// UTF-8 text is base64-encoded.
func Response(status int, header http.Header, body []byte) events.APIGatewayV2HTTPResponse {
	resp := events.APIGatewayV2HTTPResponse{StatusCode: status, Headers: map[string]string{}}
	for k, vs := range header {
		if k == "Set-Cookie" {
			resp.Cookies = append(resp.Cookies, vs...)
			continue
		}
		resp.Headers[k] = strings.Join(vs, ",")
	}
	if utf8.Valid(body) {
		resp.Body = string(body)
	} else {
		resp.Body = base64.StdEncoding.EncodeToString(body)
		resp.IsBase64Encoded = true
	}
	return resp
}
