package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openagents/trust/edge/api"
	"github.com/openagents/trust/edge/sqlite"
	"github.com/openagents/trust/shared/httpapi"
	"github.com/openagents/trust/shared/signing"
	"github.com/openagents/trust/shared/trust"
)

// ServiceToken is the service credential of test servers.
const ServiceToken = "svc_test_credential_0123456789abcdef0123456789"

// Now is the time of test servers: both fixture keys (testdata/signing) are
// valid then.
var Now = time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC)

// fixtures is the folder of the fixed signing test vectors.
const fixtures = "../../testdata/signing"

// SyncBuffer is a bytes.Buffer safe for concurrent writers (the logger).
type SyncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestServer is an API server on a real catalog in a temporary directory,
// logging into Logs.
type TestServer struct {
	*api.Server
	DB   *sqlite.DB
	Logs *SyncBuffer
}

// MustOpenServer returns a server for in-process requests (ServeHTTP); its
// clock and its catalog's clock read Now.
func MustOpenServer(tb testing.TB) *TestServer {
	tb.Helper()
	db := sqlite.NewDB(filepath.Join(tb.TempDir(), "catalog.db"))
	db.Now = func() time.Time { return Now }
	if err := db.Open(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })

	logs := &SyncBuffer{}
	s := api.NewServer()
	s.Addr = "127.0.0.1:0"
	s.Logger = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s.ServiceToken = ServiceToken
	s.Now = func() time.Time { return Now }
	s.SkillVersionService = sqlite.NewSkillVersionService(db)
	s.SignatureService = sqlite.NewSignatureService(db)
	s.KeyService = sqlite.NewKeyService(db)
	s.MachineTokenService = sqlite.NewMachineTokenService(db)
	return &TestServer{Server: s, DB: db, Logs: logs}
}

// Do serves one request in-process. body is sent as is when a string or
// []byte, as JSON otherwise, and not at all when nil.
func (s *TestServer) Do(tb testing.TB, method, path, token string, body any) *httptest.ResponseRecorder {
	tb.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		buf, err := json.Marshal(b)
		if err != nil {
			tb.Fatal(err)
		}
		rd = bytes.NewReader(buf)
	}
	req := httptest.NewRequest(method, path, rd)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	return rec
}

// MustMachineToken issues a Machine token through the API.
func (s *TestServer) MustMachineToken(tb testing.TB, machineID string) string {
	tb.Helper()
	rec := s.Do(tb, "POST", "/v1/service/machine-tokens", ServiceToken, map[string]string{"machine_id": machineID, "tenant_id": "tenant-1"})
	WantStatus(tb, rec, http.StatusCreated)
	var resp struct{ Token string }
	MustDecode(tb, rec, &resp)
	return resp.Token
}

// MustPublishTestKeys publishes the fixture keyring's keys test:1 and test:2.
func (s *TestServer) MustPublishTestKeys(tb testing.TB) {
	tb.Helper()
	var kr trust.Keyring
	MustReadJSON(tb, filepath.Join(fixtures, "keyring.json"), &kr)
	for _, k := range kr.Keys {
		k.CreatedAt = time.Time{}
		WantStatus(tb, s.Do(tb, "POST", "/v1/service/keys", ServiceToken, k), http.StatusCreated)
	}
}

// WantStatus fails the test unless rec has status.
func WantStatus(tb testing.TB, rec *httptest.ResponseRecorder, status int) {
	tb.Helper()
	if rec.Code != status {
		tb.Fatalf("status = %d, want %d; body: %s", rec.Code, status, rec.Body)
	}
}

// WantError fails the test unless rec is a JSON error with status and code;
// it returns the message.
func WantError(tb testing.TB, rec *httptest.ResponseRecorder, status int, code string) string {
	tb.Helper()
	WantStatus(tb, rec, status)
	var er httpapi.ErrorResponse
	MustDecode(tb, rec, &er)
	if er.Error.Code != code {
		tb.Fatalf("code = %q (%q), want %q", er.Error.Code, er.Error.Message, code)
	}
	return er.Error.Message
}

// MustDecode decodes the JSON body of rec into v.
func MustDecode(tb testing.TB, rec *httptest.ResponseRecorder, v any) {
	tb.Helper()
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		tb.Fatalf("content type = %q, want application/json", ct)
	}
	if err := json.Unmarshal(rec.Body.Bytes(), v); err != nil {
		tb.Fatalf("decode %s: %v", rec.Body, err)
	}
}

// MustReadJSON decodes a fixture file.
func MustReadJSON(tb testing.TB, path string, v any) {
	tb.Helper()
	buf, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	} else if err := json.Unmarshal(buf, v); err != nil {
		tb.Fatalf("%s: %v", path, err)
	}
}

// FixtureStatement returns the fixture statement (test:1, weather-report@1.2.0).
func FixtureStatement(tb testing.TB) *trust.Statement {
	tb.Helper()
	var st trust.Statement
	MustReadJSON(tb, filepath.Join(fixtures, "statement.json"), &st)
	return &st
}

// MustSign signs st with a fixture private key file.
func MustSign(tb testing.TB, keyFile string, st *trust.Statement) []byte {
	tb.Helper()
	ctx := context.Background()
	signer, err := signing.LoadSigner(ctx, filepath.Join(fixtures, keyFile))
	if err != nil {
		tb.Fatal(err)
	}
	env, err := signing.Sign(ctx, signer, st)
	if err != nil {
		tb.Fatal(err)
	}
	return env
}

func TestServer_Health(t *testing.T) {
	s := MustOpenServer(t)
	rec := s.Do(t, "GET", "/healthz", "", nil)
	WantStatus(t, rec, http.StatusOK)
	if got, want := strings.TrimSpace(rec.Body.String()), `{"status":"ok"}`; got != want {
		t.Fatalf("body = %s, want %s", got, want)
	}
}

func TestServer_Routes(t *testing.T) {
	s := MustOpenServer(t)
	t.Run("ErrNotFound", func(t *testing.T) {
		WantError(t, s.Do(t, "GET", "/v2/nothing", ServiceToken, nil), http.StatusNotFound, trust.ENOTFOUND)
	})
	t.Run("ErrMethodNotAllowed", func(t *testing.T) {
		rec := s.Do(t, "DELETE", "/v1/keyring", ServiceToken, nil)
		WantError(t, rec, http.StatusMethodNotAllowed, trust.EINVALID)
		if got := rec.Header().Get("Allow"); got != "GET" {
			t.Fatalf("Allow = %q, want GET", got)
		}
	})
	t.Run("NoStore", func(t *testing.T) {
		if got := s.Do(t, "GET", "/v1/keyring", ServiceToken, nil).Header().Get("Cache-Control"); got != "no-store" {
			t.Fatalf("Cache-Control = %q, want no-store", got)
		}
	})
	t.Run("RequestLog", func(t *testing.T) {
		s.Do(t, "GET", "/healthz", "", nil)
		lines := strings.Split(strings.TrimSpace(s.Logs.String()), "\n")
		var entry map[string]any
		if err := json.Unmarshal([]byte(lines[len(lines)-1]), &entry); err != nil {
			t.Fatal(err)
		}
		for _, key := range []string{"method", "path", "status", "duration", "principal"} {
			if _, ok := entry[key]; !ok {
				t.Fatalf("log line %v: missing %q", entry, key)
			}
		}
		if entry["path"] != "/healthz" || entry["status"] != float64(200) {
			t.Fatalf("log line %v", entry)
		}
	})
}

func TestServer_Open(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		s := MustOpenServer(t)
		if err := s.Open(); err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if !strings.HasPrefix(s.URL(), "http://127.0.0.1:") {
			t.Fatalf("URL = %q", s.URL())
		}
		resp, err := http.Get(s.URL() + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status = %d", resp.StatusCode)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := http.Get(s.URL() + "/healthz"); err == nil {
			t.Fatal("server still answers after Close")
		}
	})
	t.Run("ErrNoServiceToken", func(t *testing.T) {
		s := MustOpenServer(t)
		s.ServiceToken = ""
		if err := s.Open(); err == nil {
			s.Close()
			t.Fatal("want error")
		}
	})
	t.Run("ErrNoService", func(t *testing.T) {
		s := MustOpenServer(t)
		s.KeyService = nil
		if err := s.Open(); err == nil {
			s.Close()
			t.Fatal("want error")
		}
	})
}
