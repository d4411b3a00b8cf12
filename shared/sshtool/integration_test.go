//go:build integration

package sshtool_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	_ "modernc.org/sqlite"

	"github.com/openagents/trust/edge/edgetest"
	"github.com/openagents/trust/shared/edgeapi"
	"github.com/openagents/trust/shared/sshtool"
	"github.com/openagents/trust/shared/trust"
)

// The integration test runs the whole path against a real OpenSSH server:
// an edge node in-process (credentials, grants, status, audit), the tool on
// the "Machine" side, and `sshd -D` on a loopback port with a generated
// host key, logging in as a test user with a plain shell.

const (
	sshdPath = "/usr/sbin/sshd"
	testUser = "oasshtest"
)

// sshd is a running OpenSSH server.
type sshd struct {
	dir, config string
	port        int
	cmd         *exec.Cmd
	log         *edgetest.Buffer
}

// mustTestUser returns the test user's home, creating the user (with a
// plain /bin/sh and a password field that is not locked, so key login
// works without PAM) when missing and deleting it when the test ends.
func mustTestUser(tb testing.TB) string {
	tb.Helper()
	if u, err := user.Lookup(testUser); err == nil {
		return u.HomeDir
	}
	if out, err := exec.Command("useradd", "-m", "-s", "/bin/sh", testUser).CombinedOutput(); err != nil {
		tb.Fatalf("useradd: %v\n%s", err, out)
	}
	tb.Cleanup(func() { exec.Command("userdel", "-r", testUser).Run() })
	if out, err := exec.Command("usermod", "-p", "*", testUser).CombinedOutput(); err != nil {
		tb.Fatalf("usermod: %v\n%s", err, out)
	}
	u, err := user.Lookup(testUser)
	if err != nil {
		tb.Fatal(err)
	}
	return u.HomeDir
}

// mustHostKey writes a new ed25519 host key into dir and returns its path
// and public key.
func mustHostKey(tb testing.TB, dir, name string) (string, ssh.PublicKey) {
	tb.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		tb.Fatal(err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		tb.Fatal(err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		tb.Fatal(err)
	}
	return path, signer.PublicKey()
}

// freePort returns a loopback port nothing listens on (now).
func freePort(tb testing.TB) int {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// start runs sshd with hostKey and waits until it accepts connections.
func (d *sshd) start(tb testing.TB, hostKey string) {
	tb.Helper()
	config := fmt.Sprintf(`Port %d
ListenAddress 127.0.0.1
HostKey %s
PidFile %s
AuthorizedKeysFile %s
StrictModes no
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
PermitRootLogin no
AllowUsers %s
LogLevel VERBOSE
`, d.port, hostKey, filepath.Join(d.dir, "sshd.pid"), filepath.Join(d.dir, "authorized_keys"), testUser)
	d.config = filepath.Join(d.dir, "sshd_config")
	if err := os.WriteFile(d.config, []byte(config), 0o644); err != nil {
		tb.Fatal(err)
	}
	d.cmd = exec.Command(sshdPath, "-D", "-e", "-f", d.config)
	d.cmd.Stdout, d.cmd.Stderr = d.log, d.log
	if err := d.cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	for i := 0; i < 100; i++ {
		if c, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(d.port))); err == nil {
			c.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	tb.Fatalf("sshd did not start:\n%s", d.log)
}

// stop ends this sshd (the one process the test started) and waits for it.
func (d *sshd) stop() {
	if d.cmd != nil && d.cmd.Process != nil {
		d.cmd.Process.Kill()
		d.cmd.Wait()
		d.cmd = nil
	}
}

// expected is an attempt the test made and the decision it expects recorded.
type expected struct{ command, decision string }

func TestIntegration_SSH(t *testing.T) {
	if _, err := os.Stat(sshdPath); err != nil {
		t.Skip("OpenSSH server not installed (/usr/sbin/sshd missing): apt-get install -y openssh-server")
	} else if os.Geteuid() != 0 {
		t.Skip("needs root: sshd must switch to the test user")
	}
	ctx := context.Background()
	started := time.Now()
	home := mustTestUser(t)
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "oa-sshd-*")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil { // sshd reads authorized_keys as the user
		t.Fatal(err)
	}
	hostKeyPath, hostKey := mustHostKey(t, dir, "host_ed25519")
	d := &sshd{dir: dir, port: freePort(t), log: &edgetest.Buffer{}}

	// The edge: a tenant, its user's session, an agent and a Machine.
	e := edgetest.MustOpen(t, nil)
	svc := e.ServiceClient()
	if _, err := svc.CreateTenant(ctx, "ssh-it", "SSH integration"); err != nil {
		t.Fatal(err)
	}
	u, err := svc.CreateUser(ctx, "ssh-it", "owner@ssh-it.example")
	if err != nil {
		t.Fatal(err)
	}
	userCred, err := svc.CreateUserCredential(ctx, "ssh-it", u.ID)
	if err != nil {
		t.Fatal(err)
	}
	sess, err := e.Client(userCred).CreateSession(ctx)
	if err != nil {
		t.Fatal(err)
	}
	userClient := e.Client(sess.Token)
	agent, err := userClient.CreateAgentInstance(ctx, "ops", "model: x\n")
	if err != nil {
		t.Fatal(err)
	}
	machineToken, err := svc.CreateMachineToken(ctx, "m-ssh-it", "ssh-it")
	if err != nil {
		t.Fatal(err)
	}
	machine := e.Client(machineToken)

	cred, err := userClient.CreateSSHCredential(ctx, edgeapi.SSHCredentialRequest{
		AgentID: agent.ID, Host: "127.0.0.1", Port: d.port, User: testUser,
		HostKey: string(ssh.MarshalAuthorizedKey(hostKey)),
		Allow:   []string{"echo", "ls", "sleep", "true", "cat", "sh"},
		Deny:    []string{"rm", "shutdown"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "authorized_keys"), []byte(cred.PublicKey+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	d.start(t, hostKeyPath)
	t.Cleanup(d.stop)

	// A marker file smuggled commands would delete.
	marker := filepath.Join(home, "marker")
	if err := os.WriteFile(marker, []byte("still here\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if uu, err := user.Lookup(testUser); err == nil {
		uid, _ := strconv.Atoi(uu.Uid)
		gid, _ := strconv.Atoi(uu.Gid)
		os.Chown(marker, uid, gid)
	}

	// The Machine: a grant from the user's session, the key from the edge.
	grant, err := userClient.CreateSSHGrant(ctx, cred.ID)
	if err != nil {
		t.Fatal(err)
	}
	key, err := machine.UnsealSSHKey(ctx, cred.ID, agent.ID, grant.Token)
	if err != nil {
		t.Fatal(err)
	}
	keyLines := keyNeedles(t, key.PrivateKey)
	clock := time.Now()
	var clockMu sync.Mutex
	now := func() time.Time { clockMu.Lock(); defer clockMu.Unlock(); return clock }
	advance := func(dt time.Duration) { clockMu.Lock(); clock = clock.Add(dt); clockMu.Unlock() }
	approver, err := sshtool.NewApprover(bytes.Repeat([]byte{9}, 32))
	if err != nil {
		t.Fatal(err)
	}
	approver.Now = now
	toolLog := &edgetest.Buffer{}
	tool := sshtool.NewTool()
	tool.Edge, tool.Approvals, tool.Now = machine, approver, now
	tool.SessionID, tool.UserID = "conv-it", u.ID
	tool.Timeout = 2 * time.Second
	tool.Logger = slog.New(slog.NewJSONHandler(toolLog, nil))
	if err := tool.Open(key, []byte(key.PrivateKey)); err != nil {
		t.Fatal(err)
	}
	key.PrivateKey = "" // the tool holds the only parsed copy

	var want []expected
	run := func(command string, decision string) (*sshtool.Result, error) {
		t.Helper()
		tok, err := approver.Approve(sshtool.Scope{SessionID: "conv-it", UserID: u.ID, CredentialID: cred.ID}, command)
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, expected{command, decision})
		return tool.Run(ctx, sshtool.Request{Command: command, Approval: tok})
	}

	t.Run("AllowedWithExitCode", func(t *testing.T) {
		res, err := run("echo hello", trust.SSHAllowed)
		if err != nil {
			t.Fatalf("%v\nsshd log:\n%s", err, d.log)
		} else if res.ExitCode == nil || *res.ExitCode != 0 || res.Output != "hello\n" {
			t.Fatalf("got %+v", res)
		}
		res, err = run("ls /nonexistent-oa-test", trust.SSHAllowed)
		if err != nil {
			t.Fatal(err)
		} else if res.ExitCode == nil || *res.ExitCode != 2 || !strings.Contains(res.Output, "No such file") {
			t.Fatalf("got %+v, want exit 2", res)
		}
		res, err = run(`sh -c 'exit 7'`, trust.SSHRefused) // exit is not allowed
		if err == nil {
			t.Fatalf("sh -c 'exit 7' ran: %+v", res)
		}
	})
	t.Run("Denied", func(t *testing.T) {
		if _, err := run("rm -f ~/marker", trust.SSHRefused); trust.ErrorCode(err) != trust.EFORBIDDEN {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("Smuggling", func(t *testing.T) {
		for _, c := range []string{
			"ls; rm -f ~/marker",
			"ls && rm -f ~/marker",
			"echo $(rm -f ~/marker)",
			"echo `rm -f ~/marker`",
			"cat <(rm -f ~/marker)",
			`sh -c "rm -f ~/marker"`,
			`\rm -f ~/marker`,
			`/bin/rm -f ~/marker`,
			`$(echo rm) -f ~/marker`,
			"ls\nrm -f ~/marker",
			"echo x > ~/marker",
		} {
			if _, err := run(c, trust.SSHRefused); trust.ErrorCode(err) != trust.EFORBIDDEN {
				t.Errorf("%q: got %v, want EFORBIDDEN", c, err)
			}
		}
		if _, err := os.Stat(marker); err != nil {
			t.Fatalf("marker gone: a smuggled command ran: %v", err)
		}
	})
	t.Run("Timeout", func(t *testing.T) {
		res, err := run("sleep 30", trust.SSHAllowed)
		if err != nil {
			t.Fatal(err)
		} else if res.ExitCode != nil || !strings.Contains(res.Reason, "timed out") {
			t.Fatalf("got %+v", res)
		}
		// The kill reached the remote process group: no sleep is left.
		for i := 0; ; i++ {
			out, _ := exec.Command("pgrep", "-u", testUser, "sleep").Output()
			if len(bytes.TrimSpace(out)) == 0 {
				break
			} else if i == 50 {
				t.Fatalf("the timed-out command still runs: pids %s", out)
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
	t.Run("RateLimit", func(t *testing.T) {
		advance(time.Hour) // a fresh window
		for i := 0; i < sshtool.DefaultRateLimit; i++ {
			if _, err := run("true", trust.SSHAllowed); err != nil {
				t.Fatalf("command %d: %v", i+1, err)
			}
			advance(time.Second)
		}
		advance(49 * time.Second) // 59 s after the first
		if _, err := run("true", trust.SSHRefused); trust.ErrorCode(err) != trust.ERATELIMIT {
			t.Fatalf("11th command within a minute: %v", err)
		}
		advance(time.Second) // 60 s after the first
		if _, err := run("true", trust.SSHAllowed); err != nil {
			t.Fatalf("after the window: %v", err)
		}
	})
	t.Run("HostKeyChanged", func(t *testing.T) {
		advance(time.Hour)
		d.stop()
		otherKey, _ := mustHostKey(t, dir, "other_ed25519")
		d.start(t, otherKey)
		_, err := run("echo hi", trust.SSHRefused)
		if trust.ErrorCode(err) != trust.EFORBIDDEN || !strings.Contains(err.Error(), "host key") {
			t.Fatalf("got %v, want a host key refusal", err)
		}
		d.stop()
		d.start(t, hostKeyPath)
		if _, err := run("echo back", trust.SSHAllowed); err != nil {
			t.Fatalf("with the pinned key again: %v", err)
		}
	})
	t.Run("RevokeMidSession", func(t *testing.T) {
		if _, err := run("echo before", trust.SSHAllowed); err != nil {
			t.Fatal(err)
		}
		if err := userClient.RevokeSSHCredential(ctx, cred.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := run("echo after", trust.SSHRefused); trust.ErrorCode(err) != trust.EFORBIDDEN {
			t.Fatalf("after revocation: %v", err)
		}
		list, err := userClient.FindSSHCredentials(ctx)
		if err != nil || len(list) != 0 {
			t.Fatalf("credentials after revocation: %d, %v", len(list), err)
		}
		raw, err := sql.Open("sqlite", e.DB.DSN)
		if err != nil {
			t.Fatal(err)
		}
		defer raw.Close()
		var n int
		if err := raw.QueryRow(`SELECT COUNT(*) FROM ssh_credentials WHERE sealed_key IS NOT NULL`).Scan(&n); err != nil || n != 0 {
			t.Fatalf("%d sealed keys in the catalog after revocation (%v)", n, err)
		}
	})
	t.Run("AuditComplete", func(t *testing.T) {
		got, err := userClient.FindSSHAttempts(ctx, cred.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want) {
			t.Fatalf("%d attempts recorded, %d made", len(got), len(want))
		}
		for i, a := range got {
			if a.Command != want[i].command || a.Decision != want[i].decision || a.Reason == "" {
				t.Errorf("attempt %d: %q %s (%s), want %q %s", i, a.Command, a.Decision, a.Reason, want[i].command, want[i].decision)
			}
		}
		if c := got[1].ExitCode; c == nil || *c != 2 {
			t.Errorf("exit code of ls on a missing path: %v", c)
		}
	})
	t.Run("NoPrivateKeyAnywhere", func(t *testing.T) {
		jsonl, err := userClient.ExportSSHAttempts(ctx, edgeapi.SSHExportJSONL)
		if err != nil {
			t.Fatal(err)
		}
		csvOut, err := userClient.ExportSSHAttempts(ctx, edgeapi.SSHExportCSV)
		if err != nil {
			t.Fatal(err)
		}
		texts := map[string]string{
			"edge log": e.Logs.String(), "sshd log": d.log.String(), "tool log": toolLog.String(),
			"audit JSONL": string(jsonl), "audit CSV": string(csvOut),
		}
		for name, text := range texts {
			for _, line := range keyLines {
				if strings.Contains(text, line) {
					t.Errorf("private key in the %s", name)
					break
				}
			}
		}
		// Every file on disk the test's parties could have written.
		roots := []string{dir, filepath.Dir(e.DB.DSN), home, os.TempDir()}
		scanned := 0
		for _, root := range roots {
			filepath.WalkDir(root, func(path string, de fs.DirEntry, err error) error {
				if err != nil || de.IsDir() || !de.Type().IsRegular() {
					return nil
				}
				if info, err := de.Info(); err != nil || info.Size() > 64<<20 || info.ModTime().Before(started) {
					return nil
				}
				buf, err := os.ReadFile(path)
				if err != nil {
					return nil
				}
				scanned++
				for _, line := range keyLines {
					if bytes.Contains(buf, []byte(line)) {
						t.Errorf("private key on disk: %s", path)
						break
					}
				}
				return nil
			})
		}
		if scanned == 0 {
			t.Fatal("no file scanned")
		}
		t.Logf("scanned %d files, %d log bytes, %d attempts", scanned, len(texts["edge log"])+len(texts["sshd log"])+len(texts["tool log"]), len(want))
	})
}

// keyNeedles returns what would betray the private key: the base64 body
// lines of its PEM except the first (a header every unencrypted ed25519 key
// shares), and its 32-byte seed raw, in hex and in base64.
func keyNeedles(tb testing.TB, p string) []string {
	tb.Helper()
	var out []string
	lines := strings.Split(strings.TrimSpace(p), "\n")
	for _, l := range lines[2 : len(lines)-1] {
		if len(l) >= 40 {
			out = append(out, l)
		}
	}
	raw, err := ssh.ParseRawPrivateKey([]byte(p))
	if err != nil {
		tb.Fatal(err)
	}
	seed := raw.(*ed25519.PrivateKey).Seed()
	return append(out, string(seed), hex.EncodeToString(seed), base64.StdEncoding.EncodeToString(seed)[:40], base64.RawURLEncoding.EncodeToString(seed)[:40])
}
