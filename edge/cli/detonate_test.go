package cli

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/openagents/trust/shared/sandbox"
	"github.com/openagents/trust/shared/scan"
)

func runDetonateCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	env := &Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb, Getenv: func(string) string { return "" }}
	err := runDetonate(context.Background(), env, args)
	switch {
	case err == nil:
		return ExitOK, out.String(), errb.String()
	case err == errRefused:
		return ExitFailure, out.String(), errb.String()
	default:
		return ExitUsage, out.String(), err.Error()
	}
}

func TestDetonateUsage(t *testing.T) {
	for _, tt := range []struct {
		name string
		args []string
	}{
		{"ErrNoDir", nil},
		{"ErrTimeout", []string{"--timeout", "0s", "x"}},
		{"ErrFlag", []string{"--nope", "x"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if code, _, _ := runDetonateCLI(t, tt.args...); code != ExitUsage {
				t.Fatalf("code = %d, want %d", code, ExitUsage)
			}
		})
	}
}

func TestDetonateNotAFolder(t *testing.T) {
	code, _, errs := runDetonateCLI(t, "../../testdata/sandbox/does-not-exist")
	if code != ExitFailure || !strings.Contains(errs, "not a skill folder") {
		t.Fatalf("code = %d, stderr %q", code, errs)
	}
}

func TestWriteDetonation(t *testing.T) {
	r := &sandbox.Report{Dir: "d", Name: "n", Verdict: scan.Reject, Seconds: 1.25,
		Entries:  []sandbox.EntryResult{{Name: "x.sh", Exit: -1, Signal: "SIGKILL", Procs: 3}},
		Execs:    []sandbox.Exec{{Path: "/usr/bin/curl", Argv: []string{"curl", "http://203.0.113.7/p"}}},
		Network:  []sandbox.NetAttempt{{Op: "connect", Addr: "203.0.113.7", Port: 80, Errno: "ENETUNREACH"}},
		DNS:      []sandbox.DNSQuery{{Name: "a.example", Type: "A", Via: "sinkhole"}},
		HTTP:     []sandbox.HTTPRequest{{Port: 80, Line: "GET / HTTP/1.1", Host: "a.example"}},
		Files:    []sandbox.FileEffect{{Op: "write", Path: "/home/agent/.bashrc"}},
		Leaks:    []sandbox.Leak{{Canary: "GITHUB_TOKEN", Where: "http", Evidence: "[canary:GITHUB_TOKEN]"}},
		Limits:   []sandbox.LimitHit{{Entry: 0, Limit: "wall"}},
		Findings: []scan.Finding{{RuleID: "DY001", Severity: scan.Critical, Why: "canary left"}},
	}
	var b bytes.Buffer
	writeDetonation(&b, r)
	for _, want := range []string{"reject  d (n): 1 entries in 1.2s", "killed by SIGKILL", "exec    curl http://203.0.113.7/p",
		"net     connect 203.0.113.7:80 (ENETUNREACH)", "dns     A a.example", "http    :80 GET / HTTP/1.1 host=a.example",
		"file    write /home/agent/.bashrc", "LEAK    GITHUB_TOKEN via http", "limit   wall (x.sh)", "finding DY001 critical"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, b.String())
		}
	}
}
