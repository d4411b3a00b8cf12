//go:build linux && amd64

package sandbox

import (
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// initArg0 and initEnv mark a re-executed binary as the sandbox init.
const (
	initArg0 = "openagents-sandbox-init"
	initEnv  = "OPENAGENTS_SANDBOX_INIT"
)

func init() {
	if len(os.Args) > 0 && os.Args[0] == initArg0 && os.Getenv(initEnv) == "1" {
		os.Exit(initMain())
	}
}

// initMain runs as PID 1 of the new namespaces: it reads its config from fd 3,
// builds the filesystem, brings up loopback and the sinkhole, runs every entry
// under the tracer, and writes the observations to fd 4.
func initMain() int {
	runtime.LockOSThread() // the tracer: every ptrace call comes from this thread
	unix.CloseOnExec(3)
	unix.CloseOnExec(4)
	cfgFile, out := os.NewFile(3, "config"), os.NewFile(4, "report")
	var cfg initConfig
	obs := &observations{}
	if err := json.NewDecoder(io.LimitReader(cfgFile, 16<<20)).Decode(&cfg); err != nil {
		obs.Error = "read sandbox config: " + err.Error()
	} else if err := setup(&cfg); err != nil {
		obs.Error = err.Error()
	} else {
		obs = detonate(&cfg)
	}
	if err := json.NewEncoder(out).Encode(obs); err != nil {
		return 1
	}
	if obs.Error != "" {
		return 1
	}
	return 0
}

// setup isolates the init: checks the namespaces, builds and enters the new
// root, and brings up loopback. Every failure is fatal: the skill never runs
// on a half-built sandbox.
func setup(cfg *initConfig) error {
	if os.Getpid() != 1 {
		return errors.New("sandbox init is not PID 1 of a new PID namespace")
	}
	ca, err := newInterceptCA(time.Now())
	if err != nil {
		return fmt.Errorf("create the run's TLS interception CA: %w", err)
	}
	cfg.ca = ca
	if err := buildRoot(cfg); err != nil {
		return fmt.Errorf("build sandbox filesystem: %w", err)
	}
	if err := unix.Sethostname([]byte("sandbox")); err != nil {
		return fmt.Errorf("set hostname in the UTS namespace: %w", err)
	}
	if err := loopbackUp(); err != nil {
		return fmt.Errorf("bring up loopback: %w", err)
	}
	return checkNetwork()
}

func buildRoot(cfg *initConfig) error {
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("make mounts private: %w", err)
	}
	root := filepath.Join(cfg.Staging, "root")
	if err := unix.Mount("tmpfs", root, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "size=8m,mode=755"); err != nil {
		return fmt.Errorf("mount root tmpfs: %w", err)
	}
	for _, d := range []string{"usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32"} {
		fi, err := os.Lstat("/" + d)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			continue
		case err != nil:
			return err
		case fi.Mode()&fs.ModeSymlink != 0:
			t, err := os.Readlink("/" + d)
			if err != nil {
				return err
			}
			if err := os.Symlink(t, filepath.Join(root, d)); err != nil {
				return err
			}
		case fi.IsDir():
			if err := bindRO("/"+d, filepath.Join(root, d)); err != nil {
				return err
			}
		}
	}
	for _, d := range []string{"etc", "proc", "dev", "tmp", "skill", "home/agent", "var/tmp", "root"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			return err
		}
	}
	if err := writeEtc(filepath.Join(root, "etc"), cfg.ca.pem); err != nil {
		return err
	}
	for _, p := range []string{"/etc/alternatives", "/etc/ld.so.cache"} {
		if _, err := os.Stat(p); err == nil {
			if err := bindRO(p, filepath.Join(root, p)); err != nil {
				return err
			}
		}
	}
	if err := writeShims(filepath.Join(root, shimDir)); err != nil {
		return fmt.Errorf("write fallback modules: %w", err)
	}
	if err := buildDev(filepath.Join(root, "dev")); err != nil {
		return fmt.Errorf("build /dev: %w", err)
	}
	size := fmt.Sprintf("size=%d", cfg.TmpfsBytes)
	for _, m := range []struct{ dir, opts string }{
		{"skill", size + ",mode=755,uid=1000,gid=1000"},
		{"home/agent", size + ",mode=700,uid=1000,gid=1000"},
		{"tmp", size + ",mode=1777"},
		{"var/tmp", size + ",mode=1777"},
	} {
		if err := unix.Mount("tmpfs", filepath.Join(root, m.dir), "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, m.opts); err != nil {
			return fmt.Errorf("mount tmpfs %s: %w", m.dir, err)
		}
	}
	if err := copyTree(filepath.Join(cfg.Staging, "skill"), filepath.Join(root, "skill")); err != nil {
		return fmt.Errorf("copy the skill: %w", err)
	}
	if err := plantCanaries(filepath.Join(root, "home/agent"), cfg.Canaries); err != nil {
		return fmt.Errorf("plant canaries: %w", err)
	}
	// proc before pivot_root: the kernel lets a user namespace mount proc only
	// while a fully visible proc (the host's) is in its mount namespace.
	if err := unix.Mount("proc", filepath.Join(root, "proc"), "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return fmt.Errorf("mount proc for the new PID namespace: %w", err)
	}
	if err := pivot(root); err != nil {
		return err
	}
	if err := unix.Mount("", "/", "", unix.MS_REMOUNT|unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV, ""); err != nil {
		return fmt.Errorf("remount root read-only: %w", err)
	}
	return nil
}

// bindRO bind-mounts src on dst read-only, nosuid and nodev, keeping the flags
// the kernel locks on mounts inherited from the host.
func bindRO(src, dst string) error {
	fi, err := os.Stat(src)
	if err != nil {
		return err
	}
	if fi.IsDir() {
		err = os.MkdirAll(dst, 0o755)
	} else {
		err = os.WriteFile(dst, nil, 0o644)
	}
	if err != nil {
		return err
	}
	if err := unix.Mount(src, dst, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("bind %s: %w", src, err)
	}
	var st unix.Statfs_t
	if err := unix.Statfs(dst, &st); err != nil {
		return err
	}
	keep := uintptr(st.Flags) & (unix.MS_NOEXEC | unix.MS_NOATIME | unix.MS_NODIRATIME | unix.MS_RELATIME)
	flags := unix.MS_BIND | unix.MS_REMOUNT | unix.MS_RDONLY | unix.MS_NOSUID | unix.MS_NODEV | keep
	if err := unix.Mount("", dst, "", flags, ""); err != nil {
		return fmt.Errorf("remount %s read-only: %w", src, err)
	}
	if err := unix.Statfs(dst, &st); err != nil || st.Flags&unix.ST_RDONLY == 0 {
		return fmt.Errorf("%s is not read-only after remount", src)
	}
	return nil
}

func buildDev(dev string) error {
	if err := unix.Mount("tmpfs", dev, "tmpfs", unix.MS_NOSUID|unix.MS_NOEXEC, "size=1m,mode=755"); err != nil {
		return err
	}
	for _, d := range []string{"null", "zero", "full", "random", "urandom"} {
		dst := filepath.Join(dev, d)
		if err := os.WriteFile(dst, nil, 0o666); err != nil {
			return err
		}
		if err := unix.Mount("/dev/"+d, dst, "", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("bind /dev/%s: %w", d, err)
		}
	}
	for name, target := range map[string]string{"fd": "/proc/self/fd", "stdin": "/proc/self/fd/0",
		"stdout": "/proc/self/fd/1", "stderr": "/proc/self/fd/2"} {
		if err := os.Symlink(target, filepath.Join(dev, name)); err != nil {
			return err
		}
	}
	if err := os.Mkdir(filepath.Join(dev, "shm"), 0o1777); err != nil {
		return err
	}
	return unix.Mount("tmpfs", filepath.Join(dev, "shm"), "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "size=16m,mode=1777")
}

// shims are fallback modules for interpreters (see shims/python/sitecustomize.py).
//
//go:embed all:shims
var shims embed.FS

// shimDir is where the shims live in the sandbox; PYTHONPATH points there,
// and PATH starts with its bin directory.
const shimDir = "opt/agent-shims"

// writeShims writes the Python fallback modules (shims/python) to dst and the
// command shims (shims/bin, executable) to dst/bin.
func writeShims(dst string) error {
	return fs.WalkDir(shims, "shims", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, mode := strings.TrimPrefix(p, "shims/python"), fs.FileMode(0o644)
		if strings.HasPrefix(p, "shims/bin") {
			rel, mode = "bin"+strings.TrimPrefix(p, "shims/bin"), 0o755
		}
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		data, err := shims.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, data, mode)
	})
}

// writeEtc writes the minimal /etc: names resolve through the sinkhole, and
// the system CA bundles hold only the run's interception CA (caPEM).
func writeEtc(etc string, caPEM []byte) error {
	files := map[string]string{
		"passwd":        "root:x:0:0:root:/root:/bin/sh\nagent:x:1000:1000:agent:/home/agent:/bin/bash\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n",
		"group":         "root:x:0:\nagent:x:1000:\nnogroup:x:65534:\n",
		"hosts":         "127.0.0.1\tlocalhost sandbox\n::1\tlocalhost ip6-localhost\n",
		"resolv.conf":   "nameserver " + Sinkhole + "\noptions timeout:1 attempts:1\n",
		"nsswitch.conf": "passwd: files\ngroup: files\nhosts: files dns\n",
		"hostname":      "sandbox\n",
	}
	for _, p := range caBundlePaths {
		files[p] = string(caPEM)
	}
	for name, content := range files {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(etc, name)), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(etc, name), []byte(content), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// copyTree copies regular files and directories (no links) from src to dst,
// owned by the sandbox user.
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		switch {
		case d.IsDir():
			if rel != "." {
				if err := os.Mkdir(target, 0o755); err != nil {
					return err
				}
			}
		case d.Type().IsRegular():
			info, err := d.Info()
			if err != nil {
				return err
			}
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			if err := os.WriteFile(target, data, info.Mode().Perm()|0o600); err != nil {
				return err
			}
		default:
			return nil
		}
		return os.Lchown(target, userID, userID)
	})
}

func plantCanaries(home string, cs []Canary) error {
	for _, c := range cs {
		if c.Env {
			continue
		}
		p := filepath.Join(home, c.Name)
		if err := mkdirOwned(home, filepath.Dir(p)); err != nil {
			return err
		}
		if err := os.WriteFile(p, []byte(c.Value), 0o600); err != nil {
			return err
		}
		if err := os.Chown(p, userID, userID); err != nil {
			return err
		}
	}
	return nil
}

// mkdirOwned creates dir and its missing parents below home, owned by the user.
func mkdirOwned(home, dir string) error {
	if dir == home || !strings.HasPrefix(dir, home) {
		return nil
	}
	if err := mkdirOwned(home, filepath.Dir(dir)); err != nil {
		return err
	}
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	return os.Chown(dir, userID, userID)
}

func pivot(root string) error {
	if err := os.Chdir(root); err != nil {
		return err
	}
	if err := os.Mkdir(".oldroot", 0o700); err != nil {
		return err
	}
	if err := unix.PivotRoot(".", ".oldroot"); err != nil {
		return fmt.Errorf("pivot_root: %w", err)
	}
	if err := os.Chdir("/"); err != nil {
		return err
	}
	if err := unix.Unmount("/.oldroot", unix.MNT_DETACH); err != nil {
		return fmt.Errorf("detach the host root: %w", err)
	}
	return os.Remove("/.oldroot")
}

func loopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return err
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP | unix.IFF_RUNNING)
	return unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr)
}

// checkNetwork refuses a network namespace with anything but loopback, or one
// from which a non-loopback address is reachable.
func checkNetwork() error {
	ifs, err := net.Interfaces()
	if err != nil {
		return fmt.Errorf("list interfaces: %w", err)
	}
	for _, i := range ifs {
		if i.Name != "lo" {
			return fmt.Errorf("network namespace has interface %q besides loopback", i.Name)
		}
	}
	c, err := net.Dial("udp", "192.0.2.1:9")
	if err == nil {
		c.Close()
		return errors.New("a non-loopback address is routable from the sandbox")
	}
	return nil
}
