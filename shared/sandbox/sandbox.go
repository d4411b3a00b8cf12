// Package sandbox detonates a skill: it runs the skill's scripts and the shell
// commands of its SKILL.md, one entry point at a time, inside fresh Linux user,
// mount, PID, network, UTS and IPC namespaces, feeds them canary credentials,
// traces every process with ptrace, answers DNS and HTTP from a loopback
// sinkhole, and turns what the processes really did into a Report: the exec
// list, network attempts, DNS names, HTTP requests, file effects, canary leaks,
// limits hit, findings in the shape of scan.Finding, and a verdict.
//
// The sandbox fails closed: if a namespace, mount or isolation check fails the
// skill does not run and Detonate returns an EUNAVAILABLE error. It never falls
// back to the host network. Only linux/amd64 is supported; elsewhere Detonate
// returns ENOTIMPLEMENTED. See docs/sandbox.md.
package sandbox

import (
	"time"

	"github.com/openagents/trust/shared/scan"
)

// Sandbox detonates skill folders. Create it with New, adjust the exported
// fields, then call Detonate; it holds no resources between runs and is safe
// for concurrent use.
type Sandbox struct {
	EntryTimeout time.Duration // wall time per entry point
	RunTimeout   time.Duration // wall time per skill: entries not started by then are skipped
	Grace        time.Duration // time left to background processes once an entry's main process exits
	MaxEntries   int           // entry points run per skill
	CPUSeconds   uint64        // RLIMIT_CPU of every sandboxed process
	MemoryBytes  uint64        // RLIMIT_DATA of every sandboxed process (heap and private writable mappings)
	MaxProcs     uint64        // RLIMIT_NPROC of the sandbox user
	MaxFileSize  uint64        // RLIMIT_FSIZE of every sandboxed process
	MaxOutput    int           // stdout+stderr bytes kept per entry; the rest is discarded
	TmpfsBytes   int64         // size of each writable tmpfs (workdir, home, /tmp)
	MaxEvents    int           // observations of each kind kept per run
	SkipSleeps   bool          // make nanosleep return at once, so delayed payloads show

	// HostSeverity is the severity of a connection to an undeclared named
	// host (DY002). Critical, the default, rejects. Raw public IP addresses
	// and paste or file-drop sites are always critical (DY011).
	HostSeverity scan.Severity
}

// New returns a Sandbox with the default limits.
func New() *Sandbox {
	return &Sandbox{
		EntryTimeout: 5 * time.Second,
		RunTimeout:   20 * time.Second,
		Grace:        time.Second,
		MaxEntries:   12,
		CPUSeconds:   5,
		MemoryBytes:  1 << 30,
		MaxProcs:     64,
		MaxFileSize:  16 << 20,
		MaxOutput:    64 << 10,
		TmpfsBytes:   64 << 20,
		MaxEvents:    500,
		SkipSleeps:   true,
		HostSeverity: scan.Critical,
	}
}

// Paths inside the sandbox.
const (
	WorkDir  = "/skill"      // a writable tmpfs holding a copy of the skill; every entry starts here
	HomeDir  = "/home/agent" // a writable tmpfs holding the canary files
	TmpDir   = "/tmp"        // a writable tmpfs
	userID   = 1000          // the unprivileged user entries run as, inside the user namespace
	userMap  = 1_000_000_000 // host ID of the namespace's root; the user is userMap+userID
	Sinkhole = "127.0.0.1"   // the sinkhole's DNS server; names resolve to 127.1.0.1 upwards, one address each
)

// Report is what a detonation observed, and the verdict.
type Report struct {
	Dir      string         `json:"dir"`
	Name     string         `json:"name,omitempty"`
	Verdict  scan.Decision  `json:"verdict"`
	Findings []scan.Finding `json:"findings"`
	Entries  []EntryResult  `json:"entries"`
	Execs    []Exec         `json:"execs"`
	Network  []NetAttempt   `json:"network"`
	DNS      []DNSQuery     `json:"dns"`
	HTTP     []HTTPRequest  `json:"http"`
	Files    []FileEffect   `json:"files"`
	Leaks    []Leak         `json:"leaks"`
	// Uses are canaries sent to the service they belong to (Canary.Hosts):
	// recorded, not leaks.
	Uses    []Leak     `json:"uses,omitempty"`
	Limits  []LimitHit `json:"limits"`
	Seconds float64    `json:"seconds"`
}

// EntryResult is how one entry point ran.
type EntryResult struct {
	Name     string   `json:"name"` // "scripts/x.py" or "SKILL.md:12"
	Kind     string   `json:"kind"` // script, markdown or link
	Argv     []string `json:"argv"`
	Exit     int      `json:"exit"`             // exit status of the main process, -1 when killed
	Signal   string   `json:"signal,omitempty"` // the signal that ended it
	Seconds  float64  `json:"seconds"`
	Procs    int      `json:"procs"`    // processes and threads traced
	Syscalls int      `json:"syscalls"` // system calls traced
	Output   string   `json:"output,omitempty"`
	Sleeps   int      `json:"sleeps_skipped,omitempty"`
	Truncate bool     `json:"output_truncated,omitempty"`
}

// Exec is one execve attempt.
type Exec struct {
	Entry int      `json:"entry"`
	PID   int      `json:"pid"`
	Path  string   `json:"path"`
	Argv  []string `json:"argv"`
	Errno string   `json:"errno,omitempty"`
	// TCPStdio lists the standard streams (0, 1, 2) that were TCP sockets
	// when the program was executed: a shell run that way is a reverse shell.
	TCPStdio []int `json:"tcp_stdio,omitempty"`
}

// NetAttempt is one connect, sendto or sendmsg seen by the tracer.
type NetAttempt struct {
	Entry   int    `json:"entry"`
	PID     int    `json:"pid"`
	Op      string `json:"op"`   // connect, sendto, sendmsg
	Addr    string `json:"addr"` // IP address, or a unix socket path
	Port    int    `json:"port"`
	Errno   string `json:"errno,omitempty"`
	Payload []byte `json:"-"`
	Preview string `json:"payload,omitempty"` // printable prefix, canaries redacted
}

// DNSQuery is one name looked up, at the sinkhole or in a raw packet.
type DNSQuery struct {
	Name string `json:"name"`
	Type string `json:"type"`
	Via  string `json:"via"` // "sinkhole" or the destination address
}

// HTTPRequest is what a client sent to the sinkhole's TCP listeners.
type HTTPRequest struct {
	Port    int      `json:"port"`
	Line    string   `json:"line"`            // the request line, or "TLS ClientHello" when the handshake failed
	Host    string   `json:"host,omitempty"`  // Host header, else the TLS SNI
	TLS     bool     `json:"tls,omitempty"`   // sent over TLS, decrypted by the sinkhole's interception CA
	SNI     string   `json:"sni,omitempty"`   // the server name the TLS client asked for
	Dest    string   `json:"dest,omitempty"`  // the name whose sinkhole address the client connected to ("" when no lookup gave it)
	Stage   string   `json:"stage,omitempty"` // the marker of the stand-in second stage served to it, if one was
	Headers []string `json:"headers,omitempty"`
	Raw     []byte   `json:"-"`
	Body    string   `json:"body,omitempty"` // printable prefix, canaries redacted
}

// FileEffect is a file operation outside the workdir, or any open of a canary file.
type FileEffect struct {
	Entry int    `json:"entry"`
	PID   int    `json:"pid"`
	Op    string `json:"op"`             // write, unlink, rename, chmod, symlink, link, truncate, read-canary
	Prog  string `json:"prog,omitempty"` // the program that did it
	Path  string `json:"path"`
	To    string `json:"to,omitempty"`
	Errno string `json:"errno,omitempty"`
}

// Leak is a canary value seen leaving the process.
type Leak struct {
	Canary   string `json:"canary"` // the canary's name: an env var or a home path
	Where    string `json:"where"`  // dns, http, network, argv, file
	Evidence string `json:"evidence"`
}

// LimitHit records a resource limit that stopped the skill.
type LimitHit struct {
	Entry int    `json:"entry"`
	Limit string `json:"limit"` // wall, cpu, nproc, memory, fsize, output
}
