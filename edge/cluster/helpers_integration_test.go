//go:build integration

package cluster_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/openagents/trust/edge/cluster"
	"github.com/openagents/trust/shared/digest"
	"github.com/openagents/trust/shared/edgeapi"
	"github.com/openagents/trust/shared/signing"
	"github.com/openagents/trust/shared/trust"
)

// ServiceToken is the cluster's service credential, a canary: tests check it
// never reaches a log.
const ServiceToken = "CANARY-cluster-service-credential-5f2d8e0c1b7a"

var (
	buildOnce sync.Once
	edgeBin   string
	buildErr  error
)

// root is the repository root.
func root(tb testing.TB) string {
	dir, err := filepath.Abs("../..")
	if err != nil {
		tb.Fatal(err)
	}
	return dir
}

// MustStart starts a 3-node cluster (node1 primary) with a freshly built
// trust-edge, and stops it — unmounting every mount — when the test ends,
// failed or not. It skips only when FUSE is unusable on this machine.
func MustStart(tb testing.TB, minReplicas int) *cluster.Cluster {
	tb.Helper()
	if err := cluster.FUSEUsable(); err != nil {
		tb.Skipf("LiteFS cluster tests need FUSE: %v", err)
	}
	litefsBin := os.Getenv(cluster.EnvLiteFSBin)
	if litefsBin == "" {
		litefsBin = filepath.Join(root(tb), ".cache", "bin", "litefs")
	}
	if _, err := os.Stat(litefsBin); err != nil {
		tb.Fatalf("litefs binary not found (%v): run through `make test`, which installs it, or set %s", err, cluster.EnvLiteFSBin)
	}
	buildOnce.Do(func() {
		edgeBin = filepath.Join(root(tb), ".cache", "cluster-test", "trust-edge")
		cmd := exec.Command("go", "build", "-o", edgeBin, "./edge/cmd/trust-edge")
		cmd.Dir = root(tb)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("build trust-edge: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		tb.Fatal(buildErr)
	}

	c, err := cluster.New(tb.TempDir(), 3)
	if err != nil {
		tb.Fatal(err)
	}
	c.LiteFSBin, c.EdgeBin = litefsBin, edgeBin
	c.ConfigPath = filepath.Join(root(tb), "infra", "local", "litefs-node.yml")
	c.ServiceToken = ServiceToken
	c.MinReplicas = minReplicas
	tb.Cleanup(func() {
		c.Close()
		if tb.Failed() {
			for _, n := range c.Nodes {
				tb.Logf("%s edge log:\n%s", n.Name, tailFile(n.EdgeLog()))
				tb.Logf("%s litefs log:\n%s", n.Name, tailFile(n.LiteFSLog()))
			}
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := c.Start(ctx); err != nil {
		tb.Fatal(err)
	}
	return c
}

func tailFile(path string) string {
	buf, _ := os.ReadFile(path)
	if len(buf) > 3000 {
		buf = buf[len(buf)-3000:]
	}
	return string(buf)
}

// Client returns a service client of node n.
func Client(n *cluster.Node) *edgeapi.Client { return edgeapi.NewClient(n.URL(), ServiceToken) }

// Signer is a published signing key.
type Signer struct {
	signer signing.Signer
	kv     *trust.KeyVersion
}

// MustPublishKey generates a key and publishes it through node n.
func MustPublishKey(tb testing.TB, n *cluster.Node, keyID string) *Signer {
	tb.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	s, err := signing.NewLocalSigner(priv)
	if err != nil {
		tb.Fatal(err)
	}
	pub, err := signing.EncodePublicKey(priv.Public().(ed25519.PublicKey))
	if err != nil {
		tb.Fatal(err)
	}
	nb := time.Now().UTC().Add(-time.Minute).Truncate(time.Second)
	kv, err := Client(n).CreateKeyVersion(context.Background(), &trust.KeyVersion{
		KeyID: keyID, Algorithm: trust.AlgorithmEd25519, PublicKey: pub,
		NotBefore: nb, NotAfter: nb.Add(24 * time.Hour), State: trust.KeyActive,
	})
	if err != nil {
		tb.Fatalf("publish key through %s: %v", n.Name, err)
	}
	return &Signer{signer: s, kv: kv}
}

// Sign records skill version name@version as approved and its signature,
// through client; it returns the envelope.
func (s *Signer) Sign(ctx context.Context, client *edgeapi.Client, name, version string) ([]byte, error) {
	perms := trust.Permissions{Tools: []string{"Read"}}
	pd, err := digest.Permissions(perms)
	if err != nil {
		return nil, err
	}
	cd := fmt.Sprintf("sha256:%x", sha256.Sum256([]byte(name+"@"+version)))
	if _, err := client.CreateSkillVersion(ctx, &trust.SkillVersion{
		Name: name, Version: version, Publisher: "acme", ContentDigest: cd,
		PermissionsDigest: pd, Permissions: perms, State: trust.SkillVersionApproved,
	}); err != nil {
		return nil, fmt.Errorf("record skill version: %w", err)
	}
	env, err := signing.Sign(ctx, s.signer, &trust.Statement{
		Type: trust.StatementType, Skill: name, Version: version, Publisher: "acme",
		ContentDigest: cd, PermissionsDigest: pd, KeyID: s.kv.KeyID, KeyVersion: s.kv.Version,
		IssuedAt: time.Now().UTC(),
	})
	if err != nil {
		return nil, err
	}
	if _, err := client.CreateSignature(ctx, env); err != nil {
		return nil, fmt.Errorf("record signature: %w", err)
	}
	return env, nil
}
