package litefs

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// reconnectDelay is the pause before a lost event stream is followed again.
const reconnectDelay = 200 * time.Millisecond

// ackTracker follows the LiteFS /events stream of every peer and records the
// highest TXID each has applied to the database. A peer's position is known
// from its first transaction after the stream connects; until then it counts
// as holding nothing, which can only delay an acknowledgement, never fake one.
type ackTracker struct {
	db     string
	peers  []string
	logger *slog.Logger
	client *http.Client

	mu      sync.Mutex
	pos     map[string]uint64
	changed chan struct{} // closed and replaced on every update
}

func newAckTracker(db string, peers []string, logger *slog.Logger) *ackTracker {
	return &ackTracker{
		db:      db,
		peers:   peers,
		logger:  logger,
		client:  &http.Client{}, // streams: no overall timeout
		pos:     make(map[string]uint64),
		changed: make(chan struct{}),
	}
}

// run follows every peer until ctx ends.
func (t *ackTracker) run(ctx context.Context) {
	var wg sync.WaitGroup
	for _, p := range t.peers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t.follow(ctx, p)
		}()
	}
	wg.Wait()
}

// follow reads one peer's event stream, reconnecting until ctx ends.
func (t *ackTracker) follow(ctx context.Context, peer string) {
	connected := true
	for ctx.Err() == nil {
		err := t.stream(ctx, peer)
		if ctx.Err() != nil {
			return
		}
		if connected {
			t.logger.Warn("replica event stream lost", "peer", peer, "err", err)
			connected = false
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(reconnectDelay):
		}
	}
}

// event is the part of a LiteFS event the tracker reads.
type event struct {
	Type string `json:"type"`
	DB   string `json:"db"`
	Data struct {
		TXID string `json:"txID"`
	} `json:"data"`
}

// stream reads one connection of a peer's event stream.
func (t *ackTracker) stream(ctx context.Context, peer string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, peer+"/events", nil)
	if err != nil {
		return err
	}
	resp, err := t.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for sc.Scan() {
		var e event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			return fmt.Errorf("decode event: %w", err)
		}
		if e.Type != "tx" || e.DB != t.db {
			continue
		}
		txid, err := strconv.ParseUint(e.Data.TXID, 16, 64)
		if err != nil {
			return fmt.Errorf("decode event txid %q: %w", e.Data.TXID, err)
		}
		t.update(peer, txid)
	}
	if err := sc.Err(); err != nil {
		return err
	}
	return fmt.Errorf("stream ended")
}

// update records that peer holds txid.
func (t *ackTracker) update(peer string, txid uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if txid <= t.pos[peer] {
		return
	}
	t.pos[peer] = txid
	close(t.changed)
	t.changed = make(chan struct{})
}

// count returns how many peers hold txid, and the channel closed on the
// next update.
func (t *ackTracker) count(txid uint64) (int, <-chan struct{}) {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for _, p := range t.pos {
		if p >= txid {
			n++
		}
	}
	return n, t.changed
}

// wait returns once min peers hold txid, or ctx's error.
func (t *ackTracker) wait(ctx context.Context, txid uint64, min int) error {
	for {
		n, changed := t.count(txid)
		if n >= min {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%d of %d confirmations: %w", n, min, ctx.Err())
		case <-changed:
		}
	}
}
