// Package httpapi is the HTTP side of the domain shared by the edge node and the
// functions: the one map from error codes to HTTP statuses, the JSON error body,
// and helpers to read and write JSON safely.
//
// A caller sees the coded message of a *trust.Error, or "internal error"; the cause
// of an internal error is logged once, here, and never put in a response.
package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/openagents/trust/shared/trust"
)

// codes maps error codes to HTTP statuses, and statuses back to codes for clients.
var codes = map[string]int{
	trust.ECONFLICT:       http.StatusConflict,
	trust.EINVALID:        http.StatusBadRequest,
	trust.ENOTFOUND:       http.StatusNotFound,
	trust.EUNAUTHORIZED:   http.StatusUnauthorized,
	trust.EFORBIDDEN:      http.StatusForbidden,
	trust.ERATELIMIT:      http.StatusTooManyRequests,
	trust.ENOTIMPLEMENTED: http.StatusNotImplemented,
	trust.EUNAVAILABLE:    http.StatusServiceUnavailable,
	trust.EINTERNAL:       http.StatusInternalServerError,
}

// Status returns the HTTP status for an error code.
func Status(code string) int {
	if s, ok := codes[code]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// CodeForStatus returns the error code for an HTTP status (the inverse of Status),
// for clients that receive a status without a readable body.
func CodeForStatus(status int) string {
	for code, s := range codes {
		if s == status {
			return code
		}
	}
	return trust.EINTERNAL
}

// ErrorResponse is the JSON body of every error response.
type ErrorResponse struct {
	Error ErrorBody `json:"error"`
}

// ErrorBody holds the code and the caller-safe message.
type ErrorBody struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// WriteError writes err as a JSON error response. Internal errors are logged with
// their cause and answered with "internal error" only.
func WriteError(w http.ResponseWriter, r *http.Request, logger *slog.Logger, err error) {
	code, msg := trust.ErrorCode(err), trust.ErrorMessage(err)
	if code == trust.EINTERNAL {
		if logger == nil {
			logger = slog.Default()
		}
		logger.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	WriteJSON(w, Status(code), ErrorResponse{Error: ErrorBody{Code: code, Message: msg}})
}

// WriteJSON writes v as a JSON response with the given status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(true)
	_ = enc.Encode(v)
}

// DefaultBodyLimit is the largest JSON request body ReadJSON accepts by default.
const DefaultBodyLimit = 1 << 20

// ReadJSON decodes one JSON value from the request body into v, refusing bodies
// over limit bytes (DefaultBodyLimit when limit <= 0), unknown fields and trailing
// data, each as an EINVALID error.
func ReadJSON(w http.ResponseWriter, r *http.Request, limit int64, v any) error {
	if limit <= 0 {
		limit = DefaultBodyLimit
	}
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		return trust.Errorf(trust.EINVALID, "content type %q: want application/json", ct)
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, limit))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return trust.Errorf(trust.EINVALID, "request body larger than %d bytes", limit)
		} else if errors.Is(err, io.EOF) {
			return trust.Errorf(trust.EINVALID, "request body required")
		}
		return trust.Errorf(trust.EINVALID, "invalid JSON body: %s", jsonProblem(err))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return trust.Errorf(trust.EINVALID, "invalid JSON body: trailing data after the first value")
	}
	return nil
}

// CheckBaseURL reports, as EINVALID, a base URL that credentials must not be
// sent to: anything but https://, except plain http:// to a loopback host
// (the local stack and tests).
func CheckBaseURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		// The URL is not echoed: it may carry a password.
		return trust.Errorf(trust.EINVALID, "want https://host[:port][/path], without user, query or fragment")
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		host := u.Hostname()
		if ip := net.ParseIP(host); host == "localhost" || (ip != nil && ip.IsLoopback()) {
			return nil
		}
		return trust.Errorf(trust.EINVALID, "http://%s: credentials go over https only (plain http is allowed to loopback addresses)", u.Host)
	}
	return trust.Errorf(trust.EINVALID, "scheme %q: want https://", u.Scheme)
}

// jsonProblem describes a decoding error without echoing request content.
func jsonProblem(err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fmt.Sprintf("syntax error at byte %d", syn.Offset)
	case errors.As(err, &typ):
		return fmt.Sprintf("field %q: want %s", typ.Field, typ.Type)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return strings.TrimPrefix(err.Error(), "json: ")
	}
	return "cannot decode"
}

// ReadError turns a non-2xx response into a *trust.Error, using the JSON error body
// when there is one and the status otherwise. The body is read up to 64 KiB.
func ReadError(resp *http.Response) error {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var er ErrorResponse
	if err := json.Unmarshal(body, &er); err == nil && er.Error.Code != "" {
		return &trust.Error{Code: er.Error.Code, Message: er.Error.Message}
	}
	return trust.Errorf(CodeForStatus(resp.StatusCode), "%s %s: %s", resp.Request.Method, resp.Request.URL.Path, resp.Status)
}

// BearerToken returns the token of an "Authorization: Bearer" header, or "".
func BearerToken(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return strings.TrimSpace(h[7:])
	}
	return ""
}
