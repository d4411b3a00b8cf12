package edge

import (
	"context"
	"flag"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/openagents/trust/edge/api"
	"github.com/openagents/trust/edge/litefs"
	"github.com/openagents/trust/shared/trust"
)

// DefaultReadyTimeout bounds how long a starting node waits for LiteFS and,
// on a replica, for the primary's schema.
const DefaultReadyTimeout = 2 * time.Minute

// ReplicationConfig configures the catalog on a LiteFS mount. DataDir is then
// the mount directory.
type ReplicationConfig struct {
	// LiteFSURL is this node's LiteFS HTTP API (loopback or private network
	// only: it has no authentication). Empty: a single node, no replication.
	LiteFSURL string

	// PrimaryURLs maps a LiteFS lease hostname to that node's edge API URL,
	// where a replica forwards writes.
	PrimaryURLs map[string]string

	// FlyReplay answers writes on a replica with `fly-replay: instance=<id>`
	// (the primary's hostname is its Fly Machine ID) instead of forwarding.
	FlyReplay bool

	// Peers are the LiteFS HTTP URLs of every node of the cluster (this
	// node's own is skipped), followed for acknowledgements.
	Peers []string

	// MinReplicas is how many replicas must hold a write before it is
	// acknowledged (default 1; 0 disables the wait).
	MinReplicas int

	// AckTimeout bounds the wait for acknowledgements and for a replica to
	// hold a forwarded write.
	AckTimeout time.Duration
}

// Enabled reports whether the catalog is replicated.
func (c ReplicationConfig) Enabled() bool { return c.LiteFSURL != "" }

// Validate reports an unusable replication configuration.
func (c ReplicationConfig) Validate() error {
	if !c.Enabled() {
		return nil
	}
	if err := checkHTTPURL(c.LiteFSURL); err != nil {
		return fmt.Errorf("%s: %w", EnvLiteFSURL, err)
	}
	for _, p := range c.Peers {
		if err := checkHTTPURL(p); err != nil {
			return fmt.Errorf("%s: %w", EnvLiteFSPeers, err)
		}
	}
	for host, u := range c.PrimaryURLs {
		if err := checkHTTPURL(u); err != nil {
			return fmt.Errorf("%s: %s: %w", EnvPrimaryURLs, host, err)
		}
	}
	if c.MinReplicas < 0 {
		return fmt.Errorf("%s must be 0 or more", EnvMinReplicas)
	}
	if !c.FlyReplay && len(c.PrimaryURLs) == 0 {
		return fmt.Errorf("replicated catalog: set %s (hostname=url,…) or %s=1", EnvPrimaryURLs, EnvFlyReplay)
	}
	return nil
}

func checkHTTPURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%q is not an http(s) URL", raw)
	}
	return nil
}

// replicationEnv reads the replication settings from the environment.
func (m *Main) replicationEnv() error {
	c := &m.Config.Replication
	if v := m.Getenv(EnvLiteFSURL); v != "" {
		c.LiteFSURL = v
	}
	if v := m.Getenv(EnvPrimaryURLs); v != "" {
		urls, err := parseURLMap(v)
		if err != nil {
			return fmt.Errorf("%s: %w", EnvPrimaryURLs, err)
		}
		c.PrimaryURLs = urls
	}
	if v := m.Getenv(EnvLiteFSPeers); v != "" {
		c.Peers = splitList(v)
	}
	if v := m.Getenv(EnvMinReplicas); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return fmt.Errorf("%s: %q is not a number", EnvMinReplicas, v)
		}
		c.MinReplicas = n
	}
	if v := m.Getenv(EnvFlyReplay); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("%s: %q is not a boolean", EnvFlyReplay, v)
		}
		c.FlyReplay = b
	}
	return nil
}

// replicationFlags registers the replication flags on fs.
func (m *Main) replicationFlags(fs *flag.FlagSet) {
	c := &m.Config.Replication
	fs.StringVar(&c.LiteFSURL, "litefs-url", c.LiteFSURL, "this node's LiteFS HTTP API; -data-dir is then the LiteFS mount (env "+EnvLiteFSURL+")")
	fs.Func("primary-urls", "hostname=url,… of every node's edge API, for forwarding writes (env "+EnvPrimaryURLs+")", func(v string) error {
		urls, err := parseURLMap(v)
		c.PrimaryURLs = urls
		return err
	})
	fs.Func("litefs-peers", "LiteFS HTTP URLs of the cluster's nodes, for acknowledgements (env "+EnvLiteFSPeers+")", func(v string) error {
		c.Peers = splitList(v)
		return nil
	})
	fs.IntVar(&c.MinReplicas, "min-replicas", c.MinReplicas, "replicas that must hold a write before it is acknowledged; 0 disables (env "+EnvMinReplicas+")")
	fs.BoolVar(&c.FlyReplay, "fly-replay", c.FlyReplay, "answer writes on a replica with fly-replay instead of forwarding (env "+EnvFlyReplay+")")
	fs.DurationVar(&c.AckTimeout, "ack-timeout", c.AckTimeout, "how long a write waits for replica acknowledgements (default 5s)")
}

// parseURLMap parses "host=url,host=url".
func parseURLMap(v string) (map[string]string, error) {
	m := make(map[string]string)
	for _, item := range splitList(v) {
		host, u, ok := strings.Cut(item, "=")
		if !ok || host == "" || u == "" {
			return nil, fmt.Errorf("%q is not hostname=url", item)
		}
		m[host] = u
	}
	return m, nil
}

// splitList splits a comma-separated list, dropping empty items.
func splitList(v string) []string {
	var out []string
	for _, item := range strings.Split(v, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

// openCatalog opens the catalog. On a single node it applies the migrations.
// On LiteFS only the primary migrates; a replica waits until the database and
// every migration have reached it before the node serves.
func (m *Main) openCatalog(ctx context.Context) error {
	c := m.Config.Replication
	if !c.Enabled() {
		if err := m.DB.Open(); err != nil {
			return fmt.Errorf("open catalog: %w", err)
		}
		return nil
	}
	if err := c.Validate(); err != nil {
		return err
	}
	node := litefs.NewNode()
	node.URL, node.Dir, node.DB = c.LiteFSURL, m.Config.DataDir, "catalog.db"
	node.PrimaryURLs, node.FlyReplay, node.Peers, node.MinReplicas = c.PrimaryURLs, c.FlyReplay, c.Peers, c.MinReplicas
	if c.AckTimeout > 0 {
		node.AckTimeout, node.PositionTimeout = c.AckTimeout, c.AckTimeout
	}
	node.Logger = m.Logger
	if err := node.Open(); err != nil {
		return err
	}
	m.LiteFS = node
	m.DB.AutoMigrate = false

	ctx, cancel := context.WithTimeout(ctx, DefaultReadyTimeout)
	defer cancel()
	info, err := node.WaitReady(ctx)
	if err != nil {
		return err
	}
	if !info.IsPrimary {
		if err := node.WaitDB(ctx); err != nil {
			return err
		}
	}
	if err := m.DB.Open(); err != nil {
		return fmt.Errorf("open catalog: %w", err)
	}
	for {
		if primary, err := node.IsPrimary(ctx); err != nil {
			return err
		} else if primary {
			if err := m.DB.Migrate(ctx); err != nil {
				return err
			}
			m.Logger.Info("catalog migrated on the primary")
			return nil
		}
		pending, err := m.DB.PendingMigrations(ctx)
		if err != nil {
			return err
		} else if len(pending) == 0 {
			m.Logger.Info("catalog schema replicated from the primary")
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("replica waited for migrations %v from the primary: %w", pending, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// replication returns the Replication the API routes writes with.
func (m *Main) replication() trust.Replication {
	if m.LiteFS == nil {
		return api.Standalone{}
	}
	return m.LiteFS
}
