package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The catalog version lets readers cache what they computed from the catalog:
// it changes whenever a change to the database file becomes visible to this
// process, whoever committed it — another connection of this DB, another DB
// handle on the same file, another process, or LiteFS applying a replicated
// transaction underneath this process.
//
// It comes from SQLite's PRAGMA data_version, read on one dedicated connection
// that never writes. SQLite changes that value when the connection's next read
// transaction finds the database changed by anyone else (in WAL mode through
// the wal-index header, in rollback mode through the file change counter) —
// the same check that makes a connection drop its page cache, so no reader can
// see new data without the version having moved. data_version values are only
// comparable on one connection, so Version turns them into a counter that only
// goes up and also moves whenever the dedicated connection has to be replaced.

// versionTracker reads data_version on its own connection.
type versionTracker struct {
	mu   sync.Mutex
	dsn  string
	pool *sql.DB   // its own pool: never shares a connection with the writers
	conn *sql.Conn // the one connection data_version is read on; nil until used
	raw  int64     // last data_version read on conn
	gen  uint64    // the version: moves whenever raw moves or conn is replaced
	done bool      // closed with its DB

	started uint64         // reads started so far
	flight  *versionFlight // the read in progress, if any

	// Poll mode (DB.VersionPoll > 0): Version answers from cur, which the
	// poller moves when data_version moves and InvalidateVersion moves at once.
	poll     time.Duration
	pollOnce sync.Once
	cur      atomic.Uint64
	healthy  atomic.Bool // the last poll read succeeded
}

// trackers holds each open DB's version tracker (a DB has no field for it).
var trackers sync.Map // *DB → *versionTracker

// Version returns the catalog version: equal values from two calls mean no
// change to the database became visible to this process between them; a
// changed value means something may have changed. Values only grow.
//
// A caller that caches a result computed from the catalog reads the version
// first, then the catalog, and keys the result by the version: the result is
// then at least as new as the version says. An in-memory database has no
// version (an error): its one connection is the writers' own.
func (db *DB) Version(ctx context.Context) (uint64, error) {
	if db.db == nil {
		return 0, fmt.Errorf("sqlite: database not open")
	} else if db.ctx.Err() != nil {
		return 0, fmt.Errorf("sqlite: database closed")
	} else if db.DSN == ":memory:" || strings.Contains(db.DSN, "mode=memory") {
		return 0, fmt.Errorf("sqlite: an in-memory database has no version")
	}
	t, err := db.versionTracker()
	if err != nil {
		return 0, err
	}
	if t.poll > 0 {
		return t.polled(ctx, db.ctx)
	}
	return t.version(ctx)
}

// InvalidateVersion moves the catalog version now. Commits through this DB
// call it; so does the edge after LiteFS reports a replicated transaction
// applied (read-your-writes on a replica), so that nothing cached before it is
// served after it. Moving the version when nothing changed only costs a cache
// miss.
func (db *DB) InvalidateVersion() {
	if v, ok := trackers.Load(db); ok {
		v.(*versionTracker).cur.Add(1)
	}
}

// polled answers Version in poll mode. The first call reads data_version
// itself and starts the poller; after that a call is an atomic load. While
// the poller cannot read data_version there is no version (an error), so
// callers stop caching rather than serve answers of unknown age.
func (t *versionTracker) polled(ctx, dbctx context.Context) (uint64, error) {
	var first error
	t.pollOnce.Do(func() {
		var gen uint64
		if gen, first = t.version(ctx); first == nil {
			t.healthy.Store(true)
		}
		go t.pollLoop(dbctx, gen)
	})
	if first != nil {
		return 0, first
	} else if !t.healthy.Load() {
		return 0, fmt.Errorf("sqlite: data version unavailable")
	}
	return t.cur.Load(), nil
}

// pollLoop reads data_version every t.poll until the DB closes, moving cur
// whenever it moved.
func (t *versionTracker) pollLoop(ctx context.Context, last uint64) {
	tick := time.NewTicker(t.poll)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			t.healthy.Store(false)
			return
		case <-tick.C:
		}
		gen, err := t.version(ctx)
		if err != nil {
			t.healthy.Store(false)
			t.cur.Add(1) // whatever comes back is a new era
			continue
		}
		if gen != last {
			last = gen
			t.cur.Add(1)
		}
		t.healthy.Store(true)
	}
}

// versionTracker returns the DB's tracker, creating it on first use. The
// tracker's connection closes with the DB.
func (db *DB) versionTracker() (*versionTracker, error) {
	if v, ok := trackers.Load(db); ok {
		return v.(*versionTracker), nil
	}
	dsn, err := db.versionDSN()
	if err != nil {
		return nil, err
	}
	t := &versionTracker{dsn: dsn, poll: db.VersionPoll}
	if v, loaded := trackers.LoadOrStore(db, t); loaded {
		return v.(*versionTracker), nil
	}
	go func() {
		<-db.ctx.Done()
		trackers.Delete(db)
		t.close()
	}()
	return t, nil
}

// versionDSN is the DSN of the version connection: the database's file with
// the busy timeout only. It never writes, so needs no write pragmas.
func (db *DB) versionDSN() (string, error) {
	base, query, _ := strings.Cut(db.DSN, "?")
	q, err := url.ParseQuery(query)
	if err != nil {
		return "", fmt.Errorf("sqlite: parse dsn parameters: %w", err)
	}
	q.Del("_pragma")
	q.Del("_txlock")
	timeout := db.BusyTimeout
	if timeout <= 0 {
		timeout = DefaultBusyTimeout
	}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", timeout.Milliseconds()))
	if !strings.HasPrefix(base, "file:") {
		base = "file:" + base
	}
	return base + "?" + q.Encode(), nil
}

// version returns the counter. Concurrent callers share reads: a read that
// started after a caller arrived sees every change visible at its arrival, so
// its answer serves that caller too; a caller that finds only an older read in
// flight waits for it and then starts (or joins) a newer one. Only the caller
// that started a read touches the connection, and reads never overlap.
func (t *versionTracker) version(ctx context.Context) (uint64, error) {
	t.mu.Lock()
	arrived := t.started
	for t.flight != nil {
		f := t.flight
		t.mu.Unlock()
		select {
		case <-f.done:
		case <-ctx.Done():
			return 0, ctx.Err()
		}
		if f.seq > arrived {
			return f.gen, f.err
		}
		t.mu.Lock()
	}
	if t.done {
		t.mu.Unlock()
		return 0, fmt.Errorf("sqlite: database closed")
	}
	t.started++
	f := &versionFlight{seq: t.started, done: make(chan struct{})}
	t.flight = f
	t.mu.Unlock()

	// The read is shared, so the caller's cancellation must not fail it for
	// the others; the busy timeout bounds it.
	f.gen, f.err = t.read(context.WithoutCancel(ctx))

	t.mu.Lock()
	t.flight = nil
	t.mu.Unlock()
	close(f.done)
	return f.gen, f.err
}

// versionFlight is one data_version read and its outcome.
type versionFlight struct {
	seq  uint64        // 1 + the number of reads started before it
	done chan struct{} // closed once gen and err are set
	gen  uint64
	err  error
}

// read reads data_version on the dedicated connection. Only the caller that
// owns the current flight calls it.
func (t *versionTracker) read(ctx context.Context) (uint64, error) {
	if t.conn == nil {
		if err := t.connect(ctx); err != nil {
			return 0, err
		}
	}
	var raw int64
	if err := t.conn.QueryRowContext(ctx, `PRAGMA data_version`).Scan(&raw); err != nil {
		// Whatever happened, this connection's numbering can no longer be
		// trusted: the next call starts a new one and a new version.
		t.conn.Close()
		t.conn = nil
		return 0, fmt.Errorf("sqlite: read data version: %w", err)
	}
	if raw != t.raw {
		t.raw = raw
		t.gen++
	}
	return t.gen, nil
}

// connect opens the dedicated connection and moves the version, since its
// data_version numbering is unrelated to the previous connection's.
func (t *versionTracker) connect(ctx context.Context) error {
	if t.pool == nil {
		pool, err := sql.Open("sqlite", t.dsn)
		if err != nil {
			return fmt.Errorf("sqlite: open version connection: %w", err)
		}
		pool.SetMaxOpenConns(1)
		t.pool = pool
	}
	conn, err := t.pool.Conn(ctx)
	if err != nil {
		return fmt.Errorf("sqlite: open version connection: %w", err)
	}
	var raw int64
	if err := conn.QueryRowContext(ctx, `PRAGMA data_version`).Scan(&raw); err != nil {
		conn.Close()
		return fmt.Errorf("sqlite: read data version: %w", err)
	}
	t.conn, t.raw = conn, raw
	t.gen++
	return nil
}

// close releases the connection.
func (t *versionTracker) close() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.done = true
	for t.flight != nil { // let the read in flight finish with the connection
		f := t.flight
		t.mu.Unlock()
		<-f.done
		t.mu.Lock()
	}
	if t.conn != nil {
		t.conn.Close()
		t.conn = nil
	}
	if t.pool != nil {
		t.pool.Close()
		t.pool = nil
	}
}

// CatalogVersion returns the version of the catalog the signatures are read
// from (see DB.Version).
func (s *SignatureService) CatalogVersion(ctx context.Context) (uint64, error) {
	return s.db.Version(ctx)
}

// CatalogVersion returns the version of the catalog the Machine tokens are
// read from (see DB.Version).
func (s *MachineTokenService) CatalogVersion(ctx context.Context) (uint64, error) {
	return s.db.Version(ctx)
}

// InvalidateCatalogVersion moves the catalog version (see
// DB.InvalidateVersion).
func (s *SignatureService) InvalidateCatalogVersion() { s.db.InvalidateVersion() }

// InvalidateCatalogVersion moves the catalog version (see
// DB.InvalidateVersion).
func (s *MachineTokenService) InvalidateCatalogVersion() { s.db.InvalidateVersion() }
