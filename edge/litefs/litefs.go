// Package litefs adapts the edge node to LiteFS (github.com/superfly/litefs):
// the catalog database lives on a LiteFS FUSE mount, one node holds the lease
// and takes the writes, the others replicate it.
//
// A Node answers what the API needs to know about replication
// (trust.Replication): whether this node is the primary (asked of LiteFS,
// GET /info — never inferred from the .primary file being absent, which it
// also is while a replica cannot reach the primary), where the primary's API
// is (the .primary file's hostname, mapped to a URL by configuration, or a
// Fly Machine ID for a fly-replay answer), the local position (the TXID in
// the database's -pos file), waiting for a position, and how many replicas
// hold a transaction (by following each peer's LiteFS /events stream).
//
// The LiteFS HTTP API has no authentication: its URLs are loopback or private
// network addresses only, and nothing here sends it a credential.
package litefs

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/openagents/trust/shared/trust"
)

// Defaults of a Node.
const (
	DefaultPositionTimeout = 5 * time.Second
	DefaultAckTimeout      = 5 * time.Second
	DefaultInfoTimeout     = 2 * time.Second

	// PrimaryFilename is the file in the mount that names the primary.
	PrimaryFilename = ".primary"

	// pollInterval is how often WaitPosition reads the -pos file.
	pollInterval = time.Millisecond
)

var _ trust.Replication = (*Node)(nil)

// Node is this edge node's LiteFS mount and HTTP API.
type Node struct {
	// URL is this node's LiteFS HTTP API, e.g. "http://127.0.0.1:20202".
	URL string

	// Dir is the FUSE mount directory; DB is the database name in it.
	Dir string
	DB  string

	// PrimaryURLs maps a LiteFS hostname (the lease's hostname, as found in
	// the .primary file) to the base URL of that node's edge API.
	PrimaryURLs map[string]string

	// FlyReplay answers a write on a replica with a fly-replay header naming
	// the primary's hostname (on Fly, the Machine ID) instead of forwarding.
	FlyReplay bool

	// Peers are the LiteFS HTTP URLs of the cluster's nodes (this node's own
	// URL is skipped), followed to learn which transactions they hold.
	Peers []string

	// MinReplicas is how many replicas must hold a write before it is
	// acknowledged; 0 disables the wait.
	MinReplicas int

	// PositionTimeout bounds WaitPosition; AckTimeout bounds WaitReplicas.
	PositionTimeout time.Duration
	AckTimeout      time.Duration

	// HTTPClient calls the local LiteFS API (short requests); the event
	// streams use their own client without a timeout.
	HTTPClient *http.Client

	Logger *slog.Logger

	acks   *ackTracker
	cancel context.CancelFunc
	done   chan struct{}
}

// NewNode returns a Node with default timeouts; set URL, Dir and DB.
func NewNode() *Node {
	return &Node{
		MinReplicas:     1,
		PositionTimeout: DefaultPositionTimeout,
		AckTimeout:      DefaultAckTimeout,
		HTTPClient:      &http.Client{Timeout: DefaultInfoTimeout},
		Logger:          slog.Default(),
	}
}

// Open validates the configuration and starts following the peers.
func (n *Node) Open() error {
	if n.URL == "" || n.Dir == "" || n.DB == "" {
		return fmt.Errorf("litefs: URL, mount directory and database name required")
	}
	var peers []string
	for _, p := range n.Peers {
		if p = strings.TrimRight(p, "/"); p != "" && p != strings.TrimRight(n.URL, "/") {
			peers = append(peers, p)
		}
	}
	if n.MinReplicas > len(peers) {
		return fmt.Errorf("litefs: %d replica acknowledgements required but only %d peers configured", n.MinReplicas, len(peers))
	}
	ctx, cancel := context.WithCancel(context.Background())
	n.cancel, n.done = cancel, make(chan struct{})
	n.acks = newAckTracker(n.DB, peers, n.Logger)
	go func() {
		defer close(n.done)
		n.acks.run(ctx)
	}()
	return nil
}

// Close stops following the peers.
func (n *Node) Close() error {
	if n.cancel != nil {
		n.cancel()
		<-n.done
	}
	return nil
}

// Info is what LiteFS reports about this node (GET /info).
type Info struct {
	IsPrimary bool `json:"isPrimary"`
	Candidate bool `json:"candidate"`
	Primary   struct {
		Hostname string `json:"hostname"`
	} `json:"primary"`
}

// Info asks LiteFS about this node. EUNAVAILABLE when LiteFS does not answer.
func (n *Node) Info(ctx context.Context) (*Info, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(n.URL, "/")+"/info", nil)
	if err != nil {
		return nil, fmt.Errorf("litefs: info request: %w", err)
	}
	resp, err := n.HTTPClient.Do(req)
	if err != nil {
		return nil, errors.Join(trust.Errorf(trust.EUNAVAILABLE, "replication layer not reachable"), fmt.Errorf("litefs: info: %w", err))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, errors.Join(trust.Errorf(trust.EUNAVAILABLE, "replication layer not ready"), fmt.Errorf("litefs: info: status %d", resp.StatusCode))
	}
	var info Info
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<16)).Decode(&info); err != nil {
		return nil, fmt.Errorf("litefs: decode info: %w", err)
	}
	return &info, nil
}

// IsPrimary reports whether this node holds the lease, as LiteFS says.
func (n *Node) IsPrimary(ctx context.Context) (bool, error) {
	info, err := n.Info(ctx)
	if err != nil {
		return false, err
	}
	return info.IsPrimary, nil
}

// PrimaryHostname returns the primary's hostname from the .primary file.
// EUNAVAILABLE when the file is absent: this node is the primary, or a
// replica not connected to one — ask IsPrimary to tell them apart.
func (n *Node) PrimaryHostname() (string, error) {
	buf, err := os.ReadFile(filepath.Join(n.Dir, PrimaryFilename))
	if errors.Is(err, fs.ErrNotExist) {
		return "", trust.Errorf(trust.EUNAVAILABLE, "primary unknown: this replica is not connected to a primary")
	} else if err != nil {
		return "", fmt.Errorf("litefs: read %s: %w", PrimaryFilename, err)
	}
	host := strings.TrimSpace(string(buf))
	if host == "" {
		return "", trust.Errorf(trust.EUNAVAILABLE, "primary unknown: empty %s", PrimaryFilename)
	}
	return host, nil
}

// WriteRoute implements trust.Replication.
func (n *Node) WriteRoute(ctx context.Context) (trust.WriteRoute, error) {
	if primary, err := n.IsPrimary(ctx); err != nil {
		return trust.WriteRoute{}, err
	} else if primary {
		return trust.WriteRoute{Local: true}, nil
	}
	host, err := n.PrimaryHostname()
	if err != nil {
		return trust.WriteRoute{}, err
	}
	if n.FlyReplay {
		return trust.WriteRoute{FlyInstance: host}, nil
	}
	u, ok := n.PrimaryURLs[host]
	if !ok {
		return trust.WriteRoute{}, errors.Join(trust.Errorf(trust.EUNAVAILABLE, "primary not reachable from this node"),
			fmt.Errorf("litefs: no API URL configured for primary %q", host))
	}
	return trust.WriteRoute{URL: u}, nil
}

// Position implements trust.Replication: the TXID in the -pos file, 0 when
// the database does not exist yet.
func (n *Node) Position(ctx context.Context) (uint64, error) {
	buf, err := os.ReadFile(filepath.Join(n.Dir, n.DB+"-pos"))
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	} else if err != nil {
		return 0, fmt.Errorf("litefs: read position: %w", err)
	}
	return ParsePos(buf)
}

// ParsePos returns the TXID of a -pos file's content, "TXID/checksum" with
// the TXID as 16 hex digits.
func ParsePos(buf []byte) (uint64, error) {
	txid, _, ok := bytes.Cut(bytes.TrimSpace(buf), []byte("/"))
	if !ok || len(txid) != 16 {
		return 0, fmt.Errorf("litefs: malformed position %q", buf)
	}
	v, err := strconv.ParseUint(string(txid), 16, 64)
	if err != nil {
		return 0, fmt.Errorf("litefs: malformed position %q", buf)
	}
	return v, nil
}

// WaitPosition implements trust.Replication by polling the -pos file.
func (n *Node) WaitPosition(ctx context.Context, txid uint64) error {
	ctx, cancel := context.WithTimeout(ctx, n.positionTimeout())
	defer cancel()
	t := time.NewTicker(pollInterval)
	defer t.Stop()
	for {
		pos, err := n.Position(ctx)
		if err != nil {
			return err
		} else if pos >= txid {
			return nil
		}
		select {
		case <-ctx.Done():
			return errors.Join(trust.Errorf(trust.EUNAVAILABLE, "the write was committed on the primary but has not reached this node yet; retry the read"),
				fmt.Errorf("litefs: wait for txid %d at %d: %w", txid, pos, ctx.Err()))
		case <-t.C:
		}
	}
}

// WaitReplicas implements trust.Replication: it returns once MinReplicas
// peers hold txid.
func (n *Node) WaitReplicas(ctx context.Context, txid uint64) error {
	if n.MinReplicas <= 0 {
		return nil
	}
	timeout := n.AckTimeout
	if timeout <= 0 {
		timeout = DefaultAckTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := n.acks.wait(ctx, txid, n.MinReplicas); err != nil {
		return errors.Join(trust.Errorf(trust.EUNAVAILABLE, "the write was committed on the primary but no replica confirmed it in time: it may or may not be durable"),
			fmt.Errorf("litefs: wait for %d replicas at txid %d: %w", n.MinReplicas, txid, err))
	}
	return nil
}

// WaitReady waits until LiteFS answers /info.
func (n *Node) WaitReady(ctx context.Context) (*Info, error) {
	for {
		info, err := n.Info(ctx)
		if err == nil {
			return info, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("litefs at %s not ready: %w", n.URL, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// WaitDB waits until the database file exists in the mount (a replica gets
// it from the primary's first transaction).
func (n *Node) WaitDB(ctx context.Context) error {
	for {
		if _, err := os.Stat(filepath.Join(n.Dir, n.DB)); err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("litefs: database %s not replicated yet: %w", n.DB, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (n *Node) positionTimeout() time.Duration {
	if n.PositionTimeout <= 0 {
		return DefaultPositionTimeout
	}
	return n.PositionTimeout
}

// FormatTXID formats a TXID as LiteFS does: 16 hex digits.
func FormatTXID(txid uint64) string { return fmt.Sprintf("%016x", txid) }
