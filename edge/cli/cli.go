// Package cli is trustctl: the Machine-side and operator command line. On a
// Machine it verifies skills at boot; for operators it generates and publishes
// signing keys, computes digests, signs first-party skills offline and manages
// the keyring.
//
// The service credential and Machine tokens never come from argv (visible to
// every process on the host): they are read from TRUST_SERVICE_TOKEN /
// TRUST_MACHINE_TOKEN or a file. A publisher's token may also be given as
// `submit --token` (the form publishers script), which prints a warning;
// TRUST_PUBLISHER_TOKEN or --token-file keep it out of argv.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/openagents/trust/shared/edgeapi"
	"github.com/openagents/trust/shared/httpapi"
	"github.com/openagents/trust/shared/trust"
)

// Exit codes.
const (
	ExitOK      = 0
	ExitFailure = 1 // a command failed, or a skill was refused
	ExitUsage   = 2
)

// Env is the process environment a command sees.
type Env struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	Getenv func(string) string
}

// OSEnv returns the real process environment.
func OSEnv() *Env {
	return &Env{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv}
}

type command struct {
	name    string
	summary string
	run     func(ctx context.Context, env *Env, args []string) error
}

func commands() []command {
	return []command{
		{"keygen", "generate an Ed25519 signing key (PEM files)", runKeygen},
		{"digest", "print a skill folder's content and permissions digests", runDigest},
		{"sign", "sign skill folders offline and record the signatures", runSign},
		{"verify", "verify skill folders against the edge catalog and a pinned keyring", runVerify},
		{"keys", "publish, list, export, watch, retire and revoke signing key versions", runKeys},
		{"tokens", "issue and revoke Machine tokens", runTokens},
		{"scan", "static analysis of skill folders: approve, flag or reject", runScan},
		{"submit", "submit a skill folder to the pipeline (publisher token)", runSubmit},
		{"status", "show a submission's state, decision and findings", runStatus},
		{"guard", "runtime guard: scan-text flags injection patterns in JSON Lines", runGuard},
		{"detonate", "run a skill in the behavioral sandbox and report what it did", runDetonate},
		{"apikey", "watch the API-key version this Machine should use (Machine token)", runAPIKey},
	}
}

// Main runs trustctl with args (without the program name) and returns the exit code.
func Main(ctx context.Context, env *Env, args []string) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(env.Stderr)
		if len(args) == 0 {
			return ExitUsage
		}
		return ExitOK
	}
	for _, c := range commands() {
		if c.name != args[0] {
			continue
		}
		err := c.run(ctx, env, args[1:])
		switch {
		case err == nil:
			return ExitOK
		case errors.Is(err, flag.ErrHelp):
			return ExitOK
		case errors.As(err, new(*usageError)):
			fmt.Fprintf(env.Stderr, "trustctl %s: %s\n", c.name, err)
			return ExitUsage
		case errors.Is(err, errRefused):
			return ExitFailure
		}
		fmt.Fprintf(env.Stderr, "trustctl %s: %s\n", c.name, describe(err))
		return ExitFailure
	}
	fmt.Fprintf(env.Stderr, "trustctl: unknown command %q\n", args[0])
	usage(env.Stderr)
	return ExitUsage
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: trustctl <command> [flags] [args]")
	fmt.Fprintln(w, "\ncommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun 'trustctl <command> -h' for a command's flags.")
}

// errRefused reports that the command already printed why it failed.
var errRefused = errors.New("refused")

type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// describe renders an error for the terminal: the coded message of a
// *trust.Error, else the wrapped chain (local errors carry no secrets).
func describe(err error) string {
	var te *trust.Error
	if errors.As(err, &te) {
		return te.Message
	}
	return err.Error()
}

// parse parses flags that may appear before, between or after positional
// arguments, and returns the positional ones.
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, usagef("%s", err)
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		if args[0] == "--" {
			return append(pos, args[1:]...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

func newFlagSet(env *Env, name, usageLine string) *flag.FlagSet {
	fs := flag.NewFlagSet("trustctl "+name, flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	fs.Usage = func() {
		fmt.Fprintf(env.Stderr, "usage: trustctl %s %s\n", name, usageLine)
		fs.PrintDefaults()
	}
	return fs
}

// edgeFlags are the flags of every command that talks to the edge node.
type edgeFlags struct {
	url       string
	tokenFile string
}

func (f *edgeFlags) register(fs *flag.FlagSet, env *Env, tokenHelp string) {
	fs.StringVar(&f.url, "edge", env.Getenv("TRUST_EDGE_URL"), "edge node URL (env TRUST_EDGE_URL)")
	fs.StringVar(&f.tokenFile, "token-file", "", tokenHelp)
}

// client returns an edge client with the credential from tokenFile or, when
// empty, from the first of envVars that is set.
func (f *edgeFlags) client(env *Env, envVars ...string) (*edgeapi.Client, error) {
	if f.url == "" {
		return nil, usagef("no edge URL: pass --edge or set TRUST_EDGE_URL")
	}
	if err := httpapi.CheckBaseURL(f.url); err != nil {
		return nil, usagef("edge URL: %s", trust.ErrorMessage(err))
	}
	var token string
	if f.tokenFile != "" {
		b, err := os.ReadFile(f.tokenFile)
		if err != nil {
			return nil, fmt.Errorf("read token file: %w", err)
		}
		token = strings.TrimSpace(string(b))
	} else {
		for _, name := range envVars {
			if token = strings.TrimSpace(env.Getenv(name)); token != "" {
				break
			}
		}
	}
	if token == "" {
		return nil, usagef("no credential: set %s or pass --token-file", strings.Join(envVars, " or "))
	}
	return edgeapi.NewClient(f.url, token), nil
}
