//go:build linux && amd64

package sandbox

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/openagents/trust/shared/skill"
	"github.com/openagents/trust/shared/trust"
)

// Limits on the skill copied into the sandbox.
const (
	maxSkillFiles = 2000
	maxSkillBytes = 32 << 20
)

// Detonate runs the skill folder dir in a fresh sandbox and reports what it
// did. Errors: EINVALID when dir is not a readable skill folder;
// EUNAVAILABLE when the sandbox cannot be built (namespaces, mounts, the
// network check) — the skill has then not run at all.
func (s *Sandbox) Detonate(ctx context.Context, dir string) (*Report, error) {
	r, _, err := s.detonateWith(ctx, dir)
	return r, err
}

// detonateWith is Detonate that also returns the run's canaries, for tests.
func (s *Sandbox) detonateWith(ctx context.Context, dir string) (*Report, []Canary, error) {
	start := time.Now()
	fi, err := os.Stat(dir)
	if err != nil || !fi.IsDir() {
		return nil, nil, trust.Errorf(trust.EINVALID, "sandbox: %s is not a skill folder", dir)
	}
	r := &Report{Dir: dir}
	var perms *trust.Permissions
	if m, err := skill.Load(dir); err == nil {
		r.Name, perms = m.Name, &m.Permissions
	}
	entries, err := Entries(dir, s.MaxEntries, func(prog string) bool { return hostHas(prog) })
	if err != nil {
		return nil, nil, fmt.Errorf("list entry points of %s: %w", dir, err)
	}
	cs := NewCanaries()
	obs := &observations{}
	if len(entries) > 0 {
		if obs, err = s.launch(ctx, dir, entries, cs); err != nil {
			return nil, nil, err
		}
	}
	interps := []string{}
	for _, e := range entries {
		if e.Kind != KindLink {
			interps = append(interps, e.Argv[0])
		}
	}
	analyze(r, obs, cs, perms, interps, s.HostSeverity)
	r.Seconds = time.Since(start).Seconds()
	return r, cs, nil
}

// nodeOptions returns the NODE_OPTIONS that let node's fetch start under the
// address-space limit, once per process: V8 reserves a ≈ 10 GiB guard region
// (PROT_NONE) for every WebAssembly memory while its trap handler is on, and
// undici's HTTP parser is WebAssembly, so `fetch` failed under 1 GiB. Node
// 20.15 and 22.2 onwards take --disable-wasm-trap-handler (V8 bounds-checks
// instead); an older node refuses an unknown NODE_OPTIONS flag and would not
// start at all, so the flag is passed only when the host's node accepts it.
var nodeOptions = sync.OnceValue(func() string {
	for _, d := range sandboxPath {
		node := filepath.Join(d, "node")
		if fi, err := os.Stat(node); err != nil || fi.Mode()&0o111 == 0 {
			continue
		}
		cmd := exec.Command(node, "-e", "0")
		cmd.Env = []string{"NODE_OPTIONS=--disable-wasm-trap-handler"}
		if cmd.Run() == nil {
			return "--disable-wasm-trap-handler"
		}
		return ""
	}
	return ""
})

// hostHas reports whether prog exists in the directories the sandbox binds.
func hostHas(prog string) bool {
	for _, d := range sandboxPath {
		if fi, err := os.Stat(filepath.Join(d, prog)); err == nil && fi.Mode()&0o111 != 0 {
			return true
		}
	}
	return false
}

func unavailable(format string, args ...any) error {
	return trust.Errorf(trust.EUNAVAILABLE, "sandbox: "+format+"; the skill was not run", args...)
}

// launch stages the skill, starts the init in new namespaces, sends it the
// config and reads back its observations.
func (s *Sandbox) launch(ctx context.Context, dir string, entries []Entry, cs []Canary) (*observations, error) {
	staging, err := os.MkdirTemp("", "trust-sandbox-")
	if err != nil {
		return nil, fmt.Errorf("create staging directory: %w", err)
	}
	defer os.RemoveAll(staging)
	if err := stage(dir, staging); err != nil {
		return nil, err
	}
	cfg := initConfig{Staging: staging, Entries: entries, Canaries: cs, EntryTimeout: s.EntryTimeout, RunTimeout: s.RunTimeout, Grace: s.Grace,
		CPUSeconds: s.CPUSeconds, MemoryBytes: s.MemoryBytes, MaxProcs: s.MaxProcs, MaxFileSize: s.MaxFileSize,
		MaxOutput: s.MaxOutput, TmpfsBytes: s.TmpfsBytes, MaxEvents: s.MaxEvents, SkipSleeps: s.SkipSleeps,
		NodeOptions: nodeOptions()}

	cfgR, cfgW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer cfgR.Close()
	defer cfgW.Close()
	repR, repW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer repR.Close()
	defer repW.Close()

	runs := len(entries)
	for _, e := range entries {
		if e.Kind == KindScript && len(e.Argv) == 2 {
			runs++ // may be run again with the arguments its usage message shows
		}
	}
	budget := min(time.Duration(runs)*(s.EntryTimeout+s.Grace+time.Second), s.RunTimeout+s.EntryTimeout+s.Grace) + 10*time.Second
	ctx, cancel := context.WithTimeout(ctx, budget)
	defer cancel()
	var stderr bytes.Buffer
	// /proc/self/exe rather than the path: the namespace's root may not
	// search the directories leading to the binary.
	cmd := exec.CommandContext(ctx, "/proc/self/exe")
	cmd.Args = []string{initArg0}
	cmd.Env = []string{initEnv + "=1", "PATH=" + strings.Join(sandboxPath, ":")}
	cmd.Dir = "/"
	cmd.Stdin, cmd.Stdout, cmd.Stderr = nil, nil, &cappedWriter{w: &stderr, n: 4096}
	cmd.ExtraFiles = []*os.File{cfgR, repW}
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags: syscall.CLONE_NEWUSER | syscall.CLONE_NEWNS | syscall.CLONE_NEWPID | syscall.CLONE_NEWNET |
			syscall.CLONE_NEWUTS | syscall.CLONE_NEWIPC,
		UidMappings:                []syscall.SysProcIDMap{{ContainerID: 0, HostID: userMap, Size: 1}, {ContainerID: userID, HostID: userMap + userID, Size: 1}},
		GidMappings:                []syscall.SysProcIDMap{{ContainerID: 0, HostID: userMap, Size: 1}, {ContainerID: userID, HostID: userMap + userID, Size: 1}},
		GidMappingsEnableSetgroups: true,
		Credential:                 &syscall.Credential{Uid: 0, Gid: 0, Groups: []uint32{}},
		Pdeathsig:                  syscall.SIGKILL,
	}
	// Pdeathsig fires when the thread that started the init exits: keep it.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := cmd.Start(); err != nil {
		return nil, unavailable("cannot create the user, mount, PID, network, UTS and IPC namespaces (%v)", err)
	}
	cfgR.Close()
	repW.Close()
	go func() {
		json.NewEncoder(cfgW).Encode(&cfg)
		cfgW.Close()
	}()
	data, readErr := io.ReadAll(io.LimitReader(repR, 256<<20))
	waitErr := cmd.Wait()
	if ctx.Err() != nil {
		return nil, unavailable("the sandbox did not finish within %s", budget)
	}
	obs := &observations{}
	if err := json.Unmarshal(data, obs); err != nil || readErr != nil {
		red := newRedactor(cs)
		return nil, unavailable("the sandbox init failed (%v): %s", waitErr, red.str(strings.TrimSpace(stderr.String())))
	}
	if obs.Error != "" {
		return nil, unavailable("%s", obs.Error)
	}
	return obs, nil
}

// stage copies the skill's regular files and directories (never links) into
// staging/skill and makes staging/root, all owned by the namespace's root.
func stage(dir, staging string) error {
	dst := filepath.Join(staging, "skill")
	root, err := os.OpenRoot(dir) // a link swapped in during the walk still cannot leave dir
	if err != nil {
		return fmt.Errorf("open skill folder %s: %w", dir, err)
	}
	defer root.Close()
	n, total := 0, int64(0)
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			if n := d.Name(); rel != "." && (n == ".git" || n == "node_modules") {
				return filepath.SkipDir
			}
			return os.MkdirAll(target, 0o755)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if n++; n > maxSkillFiles {
			return trust.Errorf(trust.EINVALID, "sandbox: skill has more than %d files", maxSkillFiles)
		}
		if total += info.Size(); total > maxSkillBytes {
			return trust.Errorf(trust.EINVALID, "sandbox: skill is larger than %d bytes", maxSkillBytes)
		}
		f, err := root.Open(rel)
		if err != nil {
			return err
		}
		defer f.Close()
		if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
			return nil
		}
		data, err := io.ReadAll(io.LimitReader(f, maxSkillBytes))
		if err != nil {
			return err
		}
		return os.WriteFile(target, data, info.Mode().Perm()&0o755|0o644)
	})
	if err != nil {
		var te *trust.Error
		if errors.As(err, &te) {
			return err
		}
		return fmt.Errorf("stage skill %s: %w", dir, err)
	}
	if err := os.Mkdir(filepath.Join(staging, "root"), 0o755); err != nil {
		return err
	}
	return filepath.WalkDir(staging, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, userMap, userMap)
	})
}

// cappedWriter keeps at most n bytes.
type cappedWriter struct {
	w io.Writer
	n int
}

func (c *cappedWriter) Write(b []byte) (int, error) {
	if c.n > 0 {
		k := min(len(b), c.n)
		c.w.Write(b[:k])
		c.n -= k
	}
	return len(b), nil
}
