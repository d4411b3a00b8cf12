// Package edgetest starts a real edge node — SQLite catalog in a temporary
// directory and the HTTP API on a loopback listener — for other packages'
// tests and benchmarks, so none of them wires the node by hand.
package edgetest

import (
	"bytes"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/openagents/trust/edge/api"
	"github.com/openagents/trust/edge/sqlite"
	"github.com/openagents/trust/shared/edgeapi"
	"github.com/openagents/trust/shared/seal"
)

// ServiceToken is the test service credential. It is a canary: tests check it
// never reaches a log or a response.
const ServiceToken = "CANARY-edgetest-service-credential-9c1e7a5b3d"

// Edge is a running edge node.
type Edge struct {
	DB     *sqlite.DB
	Server *api.Server
	Logs   *Buffer

	// Meter meters usage reports; only MustOpenMetered attaches it.
	Meter *sqlite.Meter
}

// KEK is the key-encryption key of test nodes: fixed bytes, for tests only.
var KEK = bytes.Repeat([]byte{0x6b}, seal.KeySize)

// MustOpen starts an edge node. With a non-nil now, the catalog and the server
// read that clock instead of the real one. It stops when the test ends. API
// keys are sealed with KEK; usage reports are not metered.
func MustOpen(tb testing.TB, now func() time.Time) *Edge {
	tb.Helper()
	return mustOpen(tb, now, false)
}

// MustOpenMetered is MustOpen with metering on: usage reports spend credits,
// obey Edge.Meter's limits and may suspend a Machine.
func MustOpenMetered(tb testing.TB, now func() time.Time) *Edge {
	tb.Helper()
	return mustOpen(tb, now, true)
}

func mustOpen(tb testing.TB, now func() time.Time, metered bool) *Edge {
	tb.Helper()
	db := sqlite.NewDB(filepath.Join(tb.TempDir(), "catalog.db"))
	if now != nil {
		db.Now = now
	}
	if err := db.Open(); err != nil {
		tb.Fatal(err)
	}
	logs := &Buffer{}
	s := api.NewServer()
	s.Addr = "127.0.0.1:0"
	s.Logger = slog.New(slog.NewJSONHandler(logs, nil))
	s.ServiceToken = ServiceToken
	if now != nil {
		s.Now = now
	}
	s.SkillVersionService = sqlite.NewSkillVersionService(db)
	s.SignatureService = sqlite.NewSignatureService(db)
	s.KeyService = sqlite.NewKeyService(db)
	s.MachineTokenService = sqlite.NewMachineTokenService(db)
	s.Tenancy = sqlite.NewTenancy(db, ServiceToken)
	s.PublisherService = sqlite.NewPublisherService(db)
	s.SubmissionService = sqlite.NewSubmissionService(db)
	kek, err := seal.NewFileKEK(KEK)
	if err != nil {
		tb.Fatal(err)
	}
	s.APIKeyService = sqlite.NewAPIKeyService(db, seal.New(kek))
	s.UserKeys = sqlite.NewUserKeyStore(seal.New(kek))
	s.SSH = sqlite.NewSSHStore(seal.New(kek))
	var meter *sqlite.Meter
	if metered {
		meter = sqlite.NewMeter(db)
		meter.Logger = s.Logger
		s.Meter = meter
	}
	if err := s.Open(); err != nil {
		db.Close()
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		s.Close()
		db.Close()
	})
	return &Edge{DB: db, Server: s, Logs: logs, Meter: meter}
}

// URL is the node's base URL.
func (e *Edge) URL() string { return e.Server.URL() }

// Client returns a client presenting token.
func (e *Edge) Client(token string) *edgeapi.Client { return edgeapi.NewClient(e.URL(), token) }

// ServiceClient returns a client presenting the service credential.
func (e *Edge) ServiceClient() *edgeapi.Client { return e.Client(ServiceToken) }

// Buffer is a bytes.Buffer safe for concurrent writers.
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
