// Command cluster-bench measures a local LiteFS cluster (`make bench-cluster`):
// the replication lag of a signature written at the primary until both
// replicas serve it, and one replica's batch-lookup throughput next to a
// minimal Go HTTP handler returning a constant (the HTTP floor, in its own
// process like the replica; also with a constant as large as the real
// answer), measured in the same run. It prints the figures; it never decides pass or fail.
package main

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"flag"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/openagents/trust/edge/cluster"
	"github.com/openagents/trust/shared/digest"
	"github.com/openagents/trust/shared/edgeapi"
	"github.com/openagents/trust/shared/signing"
	"github.com/openagents/trust/shared/trust"
)

const token = "bench-service-credential-0123456789abcdef"

func main() {
	litefsBin := flag.String("litefs", ".cache/bin/litefs", "litefs binary")
	edgeBin := flag.String("edge", "bin/trust-edge", "trust-edge binary")
	config := flag.String("config", "infra/local/litefs-node.yml", "LiteFS configuration template")
	writes := flag.Int("writes", 300, "signatures written for the lag figures")
	rotations := flag.Int("rotations", 200, "key versions published for the rotation-propagation figures")
	duration := flag.Duration("duration", 5*time.Second, "length of each throughput run")
	serveFloor := flag.String("serve-floor", "", "internal: serve the HTTP floor answering the contents of this file (\"-\" for {\"status\":\"ok\"})")
	flag.Parse()
	if *serveFloor != "" {
		if err := floorMain(*serveFloor); err != nil {
			fmt.Fprintln(os.Stderr, "cluster-bench floor:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(*litefsBin, *edgeBin, *config, *writes, *rotations, *duration); err != nil {
		fmt.Fprintln(os.Stderr, "cluster-bench:", err)
		os.Exit(1)
	}
}

func run(litefsBin, edgeBin, config string, writes, rotations int, duration time.Duration) error {
	if err := cluster.FUSEUsable(); err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "cluster-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	c, err := cluster.New(dir, 3)
	if err != nil {
		return err
	}
	c.LiteFSBin, c.EdgeBin, c.ConfigPath, c.ServiceToken = litefsBin, edgeBin, config, token
	defer c.Close()
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt)
	defer cancel()
	if err := c.Start(ctx); err != nil {
		return err
	}
	primary, replicas := c.Nodes[0], c.Nodes[1:]
	pc := edgeapi.NewClient(primary.URL(), token)

	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	signer, _ := signing.NewLocalSigner(priv)
	pub, _ := signing.EncodePublicKey(priv.Public().(ed25519.PublicKey))
	nb := time.Now().UTC().Add(-time.Minute).Truncate(time.Second)
	kv, err := pc.CreateKeyVersion(ctx, &trust.KeyVersion{KeyID: "bench", Algorithm: trust.AlgorithmEd25519,
		PublicKey: pub, NotBefore: nb, NotAfter: nb.Add(time.Hour), State: trust.KeyActive})
	if err != nil {
		return err
	}
	perms := trust.Permissions{Tools: []string{"Read"}}
	pd, _ := digest.Permissions(perms)

	// Lag: sign at the primary, poll both replicas until they serve it.
	var lag, ack []time.Duration
	var refs []trust.SkillRef
	for i := range writes {
		ref := trust.SkillRef{Name: "bench", Version: fmt.Sprintf("1.0.%d", i)}
		refs = append(refs, ref)
		cd := fmt.Sprintf("sha256:%x", sha256.Sum256([]byte(ref.String())))
		if _, err := pc.CreateSkillVersion(ctx, &trust.SkillVersion{Name: ref.Name, Version: ref.Version, Publisher: "acme",
			ContentDigest: cd, PermissionsDigest: pd, Permissions: perms, State: trust.SkillVersionApproved}); err != nil {
			return err
		}
		env, err := signing.Sign(ctx, signer, &trust.Statement{Type: trust.StatementType, Skill: ref.Name, Version: ref.Version,
			Publisher: "acme", ContentDigest: cd, PermissionsDigest: pd, KeyID: kv.KeyID, KeyVersion: kv.Version, IssuedAt: time.Now().UTC()})
		if err != nil {
			return err
		}
		start := time.Now()
		var wg sync.WaitGroup
		seen := make([]time.Duration, len(replicas))
		for j, r := range replicas {
			wg.Add(1)
			go func() {
				defer wg.Done()
				rc := edgeapi.NewClient(r.URL(), token)
				for time.Since(start) < 10*time.Second {
					if sigs, err := rc.FindSignatures(ctx, ref); err == nil && len(sigs) > 0 {
						seen[j] = time.Since(start)
						return
					}
					time.Sleep(200 * time.Microsecond)
				}
				seen[j] = time.Hour
			}()
		}
		if _, err := pc.CreateSignature(ctx, env); err != nil {
			return err
		}
		ack = append(ack, time.Since(start))
		wg.Wait()
		lag = append(lag, max(seen[0], seen[1]))
	}
	fmt.Printf("replication lag, sign at the primary -> served by both replicas, %d writes: p50 %s  p99 %s  max %s\n",
		writes, pct(lag, 50), pct(lag, 99), pct(lag, 100))
	fmt.Printf("acknowledged write at the primary (1 replica ack), %d writes: p50 %s  p99 %s\n", writes, pct(ack, 50), pct(ack, 99))

	// Key rotation: a Machine watching each replica (GET /v1/keyring/watch);
	// a new key version published at the primary; time until both watchers
	// have it.
	if err := rotation(ctx, pc, replicas, rotations); err != nil {
		return err
	}

	// Throughput: batch lookup of 50 at one replica vs the HTTP floor.
	batch := refs[:50]
	body := `{"skills":[`
	for i, r := range batch {
		if i > 0 {
			body += ","
		}
		body += fmt.Sprintf(`{"name":%q,"version":%q}`, r.Name, r.Version)
	}
	body += `]}`
	machine, err := pc.CreateMachineToken(ctx, "bench-machine", "bench-tenant")
	if err != nil {
		return err
	}
	batchURL := replicas[0].URL() + "/v1/signatures/batch"
	answer, err := fetch(batchURL, body, machine)
	if err != nil {
		return err
	}
	// The floors run in their own processes, as the replica does: a minimal
	// Go handler answering {"status":"ok"}, and one answering a constant as
	// large as the replica's real answer (same bytes on the wire, no work).
	small, err := startFloor(dir, nil)
	if err != nil {
		return err
	}
	defer small.stop()
	sized, err := startFloor(dir, answer)
	if err != nil {
		return err
	}
	defer sized.stop()
	for _, workers := range []int{2, 1} {
		f := throughput(small.url, body, machine, workers, duration)
		fs := throughput(sized.url, body, machine, workers, duration)
		r := throughput(batchURL, body, machine, workers, duration)
		fmt.Printf("%d client goroutine(s): replica batch lookup (50, %d-byte answer) %.0f req/s; HTTP floor %.0f req/s (ratio %.2f); same-size floor %.0f req/s (ratio %.2f)\n",
			workers, len(answer), r, f, r/f, fs, r/fs)
	}
	return nil
}

// rotation measures key-rotation propagation to Machines watching replicas.
func rotation(ctx context.Context, pc *edgeapi.Client, replicas []*cluster.Node, n int) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	seen := make([]atomic.Int64, len(replicas))
	kr, err := pc.FindKeyring(ctx)
	if err != nil {
		return err
	}
	for i, r := range replicas {
		seen[i].Store(kr.Sequence)
		go edgeapi.NewClient(r.URL(), token).WatchKeyring(ctx, kr.Sequence, func(k *trust.Keyring) error {
			seen[i].Store(k.Sequence)
			return nil
		})
	}
	time.Sleep(200 * time.Millisecond) // let the streams connect
	var took []time.Duration
	for range n {
		// A random pause, so writes do not fall in step with the replicas'
		// 100 ms keyring poll.
		time.Sleep(time.Duration(mrand.Int64N(int64(100 * time.Millisecond))))
		prev := min(seen[0].Load(), seen[1].Load())
		_, priv, _ := ed25519.GenerateKey(rand.Reader)
		pub, _ := signing.EncodePublicKey(priv.Public().(ed25519.PublicKey))
		nb := time.Now().UTC().Add(-time.Minute).Truncate(time.Second)
		start := time.Now()
		if _, err := pc.CreateKeyVersion(ctx, &trust.KeyVersion{KeyID: "rotate", Algorithm: trust.AlgorithmEd25519,
			PublicKey: pub, NotBefore: nb, NotAfter: nb.Add(time.Hour), State: trust.KeyActive}); err != nil {
			return err
		}
		for seen[0].Load() <= prev || seen[1].Load() <= prev {
			if time.Since(start) > 10*time.Second {
				return fmt.Errorf("a watcher did not see key rotation %d within 10s", len(took)+1)
			}
			time.Sleep(200 * time.Microsecond)
		}
		took = append(took, time.Since(start))
	}
	fmt.Printf("key rotation, published at the primary -> seen by watchers on both replicas, %d rotations: p50 %s  p99 %s  max %s\n",
		n, pct(took, 50), pct(took, 99), pct(took, 100))
	return nil
}

// throughput posts body to url from workers goroutines for d and returns
// successful requests per second.
func throughput(url, body, bearer string, workers int, d time.Duration) float64 {
	var n atomic.Int64
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: workers}}
	deadline := time.Now().Add(d)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+bearer)
				req.Header.Set("Content-Type", "application/json")
				resp, err := client.Do(req)
				if err != nil {
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					n.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	return float64(n.Load()) / d.Seconds()
}

// pct returns the p-th percentile of ds.
func pct(ds []time.Duration, p int) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := (len(s)*p + 99) / 100
	if i > 0 {
		i--
	}
	return s[min(i, len(s)-1)].Round(10 * time.Microsecond)
}

// fetch posts body to url once and returns the answer.
func fetch(url, body, bearer string) ([]byte, error) {
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+bearer)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	} else if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("batch lookup: status %d: %s", resp.StatusCode, b)
	}
	return b, nil
}

// floorProc is an HTTP floor running in a child process.
type floorProc struct {
	cmd *exec.Cmd
	url string
}

// startFloor runs this program with -serve-floor in a child process,
// answering answer (nil for {"status":"ok"}), and returns its batch URL.
func startFloor(dir string, answer []byte) (*floorProc, error) {
	arg := "-"
	if answer != nil {
		f, err := os.CreateTemp(dir, "floor-*.json")
		if err != nil {
			return nil, err
		}
		if _, err := f.Write(answer); err != nil {
			return nil, err
		}
		f.Close()
		arg = f.Name()
	}
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self, "-serve-floor", arg)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	addr, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		return nil, fmt.Errorf("floor process: %w", err)
	}
	return &floorProc{cmd: cmd, url: "http://" + strings.TrimSpace(addr) + "/v1/signatures/batch"}, nil
}

func (p *floorProc) stop() {
	p.cmd.Process.Kill()
	p.cmd.Wait()
}

// floorMain serves the floor: read and discard the body, answer a constant.
// It prints its address on stdout and serves until killed.
func floorMain(file string) error {
	answer := []byte(`{"status":"ok"}`)
	if file != "-" {
		b, err := os.ReadFile(file)
		if err != nil {
			return err
		}
		answer = b
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	fmt.Println(ln.Addr().String())
	return http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", strconv.Itoa(len(answer)))
		w.Write(answer)
	}))
}
