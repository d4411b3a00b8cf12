package edge_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/openagents/trust/edge"
)

func TestMain_ParseFlags_Replication(t *testing.T) {
	ctx := context.Background()

	t.Run("OKFlags", func(t *testing.T) {
		m := edge.NewMain()
		m.Getenv = env(map[string]string{"TRUST_SERVICE_TOKEN": serviceToken})
		err := m.ParseFlags(ctx, []string{
			"-litefs-url", "http://127.0.0.1:20202",
			"-primary-urls", "node1=http://127.0.0.1:8101, node2=http://127.0.0.1:8102",
			"-litefs-peers", "http://127.0.0.1:20201,http://127.0.0.1:20203",
			"-min-replicas", "2", "-ack-timeout", "3s",
		})
		if err != nil {
			t.Fatal(err)
		}
		c := m.Config.Replication
		if !c.Enabled() || c.LiteFSURL != "http://127.0.0.1:20202" || c.MinReplicas != 2 || c.AckTimeout != 3*time.Second {
			t.Fatalf("config = %+v", c)
		}
		if got := c.PrimaryURLs["node2"]; got != "http://127.0.0.1:8102" || len(c.PrimaryURLs) != 2 {
			t.Fatalf("primary URLs = %v", c.PrimaryURLs)
		}
		if len(c.Peers) != 2 {
			t.Fatalf("peers = %v", c.Peers)
		}
		if err := c.Validate(); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("OKEnv", func(t *testing.T) {
		m := edge.NewMain()
		m.Getenv = env(map[string]string{
			"TRUST_SERVICE_TOKEN": serviceToken,
			edge.EnvLiteFSURL:     "http://127.0.0.1:20201",
			edge.EnvFlyReplay:     "true",
			edge.EnvMinReplicas:   "0",
			edge.EnvLiteFSPeers:   "http://127.0.0.1:20202",
		})
		if err := m.ParseFlags(ctx, nil); err != nil {
			t.Fatal(err)
		}
		c := m.Config.Replication
		if !c.FlyReplay || c.MinReplicas != 0 || c.Validate() != nil {
			t.Fatalf("config = %+v (validate: %v)", c, c.Validate())
		}
	})

	t.Run("OKStandalone", func(t *testing.T) {
		m := edge.NewMain()
		m.Getenv = env(map[string]string{"TRUST_SERVICE_TOKEN": serviceToken})
		if err := m.ParseFlags(ctx, nil); err != nil {
			t.Fatal(err)
		}
		if m.Config.Replication.Enabled() || m.Config.Replication.Validate() != nil {
			t.Fatalf("the embedded default is not replicated: %+v", m.Config.Replication)
		}
	})

	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"ErrMinReplicasEnv", map[string]string{edge.EnvMinReplicas: "many"}, nil, "not a number"},
		{"ErrFlyReplayEnv", map[string]string{edge.EnvFlyReplay: "perhaps"}, nil, "not a boolean"},
		{"ErrPrimaryURLsEnv", map[string]string{edge.EnvPrimaryURLs: "node1"}, nil, "hostname=url"},
		{"ErrPrimaryURLsFlag", nil, []string{"-primary-urls", "=http://x"}, "hostname=url"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vars := map[string]string{"TRUST_SERVICE_TOKEN": serviceToken}
			for k, v := range tc.env {
				vars[k] = v
			}
			m := edge.NewMain()
			m.Getenv = env(vars)
			err := m.ParseFlags(ctx, tc.args)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one mentioning %q", err, tc.want)
			}
		})
	}

	for _, tc := range []struct {
		name string
		cfg  edge.ReplicationConfig
		want string
	}{
		{"ErrLiteFSURL", edge.ReplicationConfig{LiteFSURL: "ftp://x", FlyReplay: true}, edge.EnvLiteFSURL},
		{"ErrPeer", edge.ReplicationConfig{LiteFSURL: "http://127.0.0.1:1", FlyReplay: true, Peers: []string{"nope"}}, edge.EnvLiteFSPeers},
		{"ErrPrimaryURL", edge.ReplicationConfig{LiteFSURL: "http://127.0.0.1:1", PrimaryURLs: map[string]string{"n": "x"}}, edge.EnvPrimaryURLs},
		{"ErrNegativeReplicas", edge.ReplicationConfig{LiteFSURL: "http://127.0.0.1:1", FlyReplay: true, MinReplicas: -1}, edge.EnvMinReplicas},
		{"ErrNoRoute", edge.ReplicationConfig{LiteFSURL: "http://127.0.0.1:1"}, edge.EnvPrimaryURLs},
	} {
		t.Run("Validate"+tc.name, func(t *testing.T) {
			if err := tc.cfg.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate = %v, want one mentioning %s", err, tc.want)
			}
		})
	}
}
