package provision_test

import (
	"bytes"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"

	"github.com/openagents/trust/edge/sqlite"
)

func newLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// mustMachineTokens opens the edge's Machine token store on a temporary
// SQLite catalog: the real issue, check and revoke.
func mustMachineTokens(tb testing.TB) *sqlite.MachineTokenService {
	tb.Helper()
	db := sqlite.NewDB(filepath.Join(tb.TempDir(), "catalog.db"))
	if err := db.Open(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return sqlite.NewMachineTokenService(db)
}

// syncBuffer is a bytes.Buffer safe for concurrent writers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
