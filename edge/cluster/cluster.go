// Package cluster starts a local replicated catalog: LiteFS nodes on
// loopback, each with its own FUSE mount and a trust-edge process over it,
// with a static lease (node1 is the primary). The cluster tests and the
// replication measurements (`make bench-cluster`) use it; it needs root,
// /dev/fuse, fusermount3 and the litefs and trust-edge binaries.
package cluster

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Env is the variable naming the litefs binary (the Makefile sets it).
const EnvLiteFSBin = "TRUST_LITEFS_BIN"

// Cluster is a running local cluster.
type Cluster struct {
	// Dir holds every node's directories and logs.
	Dir string

	// LiteFSBin and EdgeBin are the binaries run; ConfigPath is the LiteFS
	// configuration template (infra/local/litefs-node.yml).
	LiteFSBin, EdgeBin, ConfigPath string

	// ServiceToken is the service credential of every node.
	ServiceToken string

	// MinReplicas is each node's -min-replicas.
	MinReplicas int

	Nodes []*Node
}

// Node is one LiteFS process and the trust-edge over its mount.
type Node struct {
	Name       string
	Primary    bool
	FuseDir    string
	DataDir    string
	LiteFSAddr string
	APIAddr    string

	c      *Cluster
	litefs *proc
	edge   *proc
}

// proc is a started process and the channel closed when it exits.
type proc struct {
	cmd  *exec.Cmd
	done chan struct{}
}

// start starts cmd in its own process group and reaps it in the background.
func start(cmd *exec.Cmd) (*proc, error) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &proc{cmd: cmd, done: make(chan struct{})}
	go func() { cmd.Wait(); close(p.done) }()
	return p, nil
}

// stop signals the process and waits for it, killing it after grace.
func (p *proc) stop(sig syscall.Signal, grace time.Duration) {
	if p == nil {
		return
	}
	p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
	case <-time.After(grace):
		p.cmd.Process.Kill()
		<-p.done
	}
}

// URL is the node's edge API.
func (n *Node) URL() string { return "http://" + n.APIAddr }

// LiteFSURL is the node's LiteFS HTTP API.
func (n *Node) LiteFSURL() string { return "http://" + n.LiteFSAddr }

// EdgeLog and LiteFSLog are the nodes' log files.
func (n *Node) EdgeLog() string   { return filepath.Join(n.c.Dir, n.Name+"-edge.log") }
func (n *Node) LiteFSLog() string { return filepath.Join(n.c.Dir, n.Name+"-litefs.log") }

// FUSEUsable reports why FUSE cannot be used here, or nil.
func FUSEUsable() error {
	f, err := os.OpenFile("/dev/fuse", os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("/dev/fuse unusable: %w", err)
	}
	f.Close()
	if _, err := exec.LookPath("fusermount3"); err != nil {
		return fmt.Errorf("fusermount3 not installed (apt-get install -y fuse3)")
	}
	return nil
}

// New returns a cluster of n nodes under dir with free loopback ports.
func New(dir string, n int) (*Cluster, error) {
	c := &Cluster{Dir: dir, MinReplicas: 1}
	for i := 1; i <= n; i++ {
		lp, err := freeAddr()
		if err != nil {
			return nil, err
		}
		ap, err := freeAddr()
		if err != nil {
			return nil, err
		}
		name := fmt.Sprintf("node%d", i)
		c.Nodes = append(c.Nodes, &Node{
			Name: name, Primary: i == 1, c: c,
			FuseDir: filepath.Join(dir, name, "mnt"), DataDir: filepath.Join(dir, name, "litefs"),
			LiteFSAddr: lp, APIAddr: ap,
		})
	}
	return c, nil
}

// Primary returns the primary node.
func (c *Cluster) Primary() *Node { return c.Nodes[0] }

// Start starts every node: LiteFS first (the primary, then the replicas),
// then trust-edge on the primary (which migrates), then on the replicas.
func (c *Cluster) Start(ctx context.Context) error {
	for _, n := range c.Nodes {
		if err := n.StartLiteFS(ctx); err != nil {
			return err
		}
	}
	for _, n := range c.Nodes {
		if err := n.StartEdge(ctx); err != nil {
			return err
		}
	}
	return nil
}

// StartLiteFS mounts the node's LiteFS and waits until its API answers.
func (n *Node) StartLiteFS(ctx context.Context) error {
	for _, d := range []string{n.FuseDir, n.DataDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return err
		}
	}
	log, err := os.OpenFile(n.LiteFSLog(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer log.Close()
	p := n.c.Primary()
	cmd := exec.Command(n.c.LiteFSBin, "mount", "-config", n.c.ConfigPath)
	cmd.Env = append(os.Environ(),
		"LITEFS_FUSE_DIR="+n.FuseDir, "LITEFS_DATA_DIR="+n.DataDir, "LITEFS_HTTP_ADDR="+n.LiteFSAddr,
		"LITEFS_PRIMARY_HOSTNAME="+p.Name, "LITEFS_PRIMARY_URL="+p.LiteFSURL(),
		fmt.Sprintf("LITEFS_CANDIDATE=%t", n.Primary))
	cmd.Stdout, cmd.Stderr = log, log
	if n.litefs, err = start(cmd); err != nil {
		return fmt.Errorf("start litefs %s: %w", n.Name, err)
	}
	return waitHTTP(ctx, n.LiteFSURL()+"/info", n.LiteFSLog(), n.litefs)
}

// StartEdge starts trust-edge over the node's mount and waits until it
// serves (a replica serves once the primary's schema reached it).
func (n *Node) StartEdge(ctx context.Context) error {
	log, err := os.OpenFile(n.EdgeLog(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer log.Close()
	var primaries, peers []string
	for _, o := range n.c.Nodes {
		primaries = append(primaries, o.Name+"="+o.URL())
		peers = append(peers, o.LiteFSURL())
	}
	cmd := exec.Command(n.c.EdgeBin, "-data-dir", n.FuseDir, "-addr", n.APIAddr,
		"-litefs-url", n.LiteFSURL(), "-primary-urls", strings.Join(primaries, ","),
		"-litefs-peers", strings.Join(peers, ","), fmt.Sprintf("-min-replicas=%d", n.c.MinReplicas))
	cmd.Env = append(os.Environ(), "TRUST_SERVICE_TOKEN="+n.c.ServiceToken)
	cmd.Stdout, cmd.Stderr = log, log
	if n.edge, err = start(cmd); err != nil {
		return fmt.Errorf("start trust-edge %s: %w", n.Name, err)
	}
	return waitHTTP(ctx, n.URL()+"/healthz", n.EdgeLog(), n.edge)
}

// Kill sends SIGKILL to the node's trust-edge and LiteFS, and lazily
// unmounts the dead mount.
func (n *Node) Kill() {
	n.edge.stop(syscall.SIGKILL, time.Minute)
	n.litefs.stop(syscall.SIGKILL, time.Minute)
	n.edge, n.litefs = nil, nil
	Unmount(n.FuseDir)
}

// Stop stops the node gracefully: SIGTERM to trust-edge, then to LiteFS
// (which unmounts), SIGKILL after a grace period.
func (n *Node) Stop() {
	n.edge.stop(syscall.SIGTERM, 15*time.Second)
	n.litefs.stop(syscall.SIGTERM, 15*time.Second)
	n.edge, n.litefs = nil, nil
	Unmount(n.FuseDir)
}

// Close stops every node, replicas first, and unmounts what remains.
func (c *Cluster) Close() {
	for i := len(c.Nodes) - 1; i >= 0; i-- {
		c.Nodes[i].Stop()
	}
}

// Unmount detaches a FUSE mount if one remains (a killed LiteFS leaves a
// dead one). It is quiet when nothing is mounted.
func Unmount(dir string) {
	if !mounted(dir) {
		return
	}
	exec.Command("fusermount3", "-u", "-z", dir).Run()
}

// mounted reports whether dir is a mount point, from /proc/self/mounts.
func mounted(dir string) bool {
	buf, err := os.ReadFile("/proc/self/mounts")
	if err != nil {
		return true
	}
	abs, _ := filepath.Abs(dir)
	for _, line := range strings.Split(string(buf), "\n") {
		if f := strings.Fields(line); len(f) > 1 && f[1] == abs {
			return true
		}
	}
	return false
}

// waitHTTP waits until url answers 200, failing early if p exits.
func waitHTTP(ctx context.Context, url, logPath string, p *proc) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	client := &http.Client{Timeout: time.Second}
	for {
		if resp, err := client.Get(url); err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-p.done:
			return fmt.Errorf("%s exited before %s answered; log:\n%s", p.cmd.Path, url, tail(logPath))
		case <-ctx.Done():
			return fmt.Errorf("%s not answering: %w; log:\n%s", url, ctx.Err(), tail(logPath))
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// tail returns the end of a log file.
func tail(path string) string {
	buf, _ := os.ReadFile(path)
	if len(buf) > 4000 {
		buf = buf[len(buf)-4000:]
	}
	return string(buf)
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}
