package cli

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/openagents/trust/shared/digest"
	"github.com/openagents/trust/shared/httpapi"
	"github.com/openagents/trust/shared/trust"
)

// publisherTokenEnv is where trustctl submit and status look for the
// publisher token when no flag gives it.
const publisherTokenEnv = "TRUST_PUBLISHER_TOKEN"

// apiFlags are the flags of the publisher commands, which talk to the
// functions' HTTP API (not to the edge node).
type apiFlags struct {
	url       string
	token     string
	tokenFile string
}

func (f *apiFlags) register(fs *flag.FlagSet, env *Env) {
	fs.StringVar(&f.url, "api", env.Getenv("TRUST_FUNCTIONS_URL"), "functions API URL (env TRUST_FUNCTIONS_URL)")
	fs.StringVar(&f.token, "token", "", "publisher token (prefer env "+publisherTokenEnv+" or --token-file: argv is visible to other processes)")
	fs.StringVar(&f.tokenFile, "token-file", "", "file holding the publisher token")
}

// publisherClient calls the submission routes with a publisher token.
type publisherClient struct {
	base  string
	token string
	http  *http.Client
}

func (f *apiFlags) client(env *Env) (*publisherClient, error) {
	if f.url == "" {
		return nil, usagef("no API URL: pass --api or set TRUST_FUNCTIONS_URL")
	}
	if err := httpapi.CheckBaseURL(f.url); err != nil {
		return nil, usagef("API URL: %s", trust.ErrorMessage(err))
	}
	token := strings.TrimSpace(f.token)
	switch {
	case token != "":
		fmt.Fprintf(env.Stderr, "trustctl: warning: --token is visible to other processes on this host; prefer %s or --token-file\n", publisherTokenEnv)
	case f.tokenFile != "":
		b, err := os.ReadFile(f.tokenFile)
		if err != nil {
			return nil, fmt.Errorf("read token file: %w", err)
		}
		token = strings.TrimSpace(string(b))
	default:
		token = strings.TrimSpace(env.Getenv(publisherTokenEnv))
	}
	if token == "" {
		return nil, usagef("no publisher token: set %s, or pass --token-file or --token", publisherTokenEnv)
	}
	return &publisherClient{base: strings.TrimRight(f.url, "/"), token: token,
		http: &http.Client{Timeout: 2 * time.Minute}}, nil
}

// do sends one request and decodes a submission from a 2xx answer.
func (c *publisherClient) do(ctx context.Context, method, path, contentType string, body []byte) (*trust.Submission, int, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, bytes.NewReader(body))
	if err != nil {
		return nil, 0, fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "application/json")
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		// The URL is ours and the token is in a header: neither is in err.
		return nil, 0, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return nil, resp.StatusCode, httpapi.ReadError(resp)
	}
	var sub trust.Submission
	if err := json.NewDecoder(io.LimitReader(resp.Body, 8<<20)).Decode(&sub); err != nil {
		return nil, resp.StatusCode, fmt.Errorf("decode answer: %w", err)
	}
	return &sub, resp.StatusCode, nil
}

// PackSkill returns the skill folder dir as a .tar.gz: digest.WriteTar's
// deterministic tar (sorted entries, fixed modes and times, no owners), gzipped
// at a fixed level with an empty header, so the same folder always gives the
// same bytes and a re-submission is recognised as the same upload.
func PackSkill(dir string) ([]byte, error) {
	var buf bytes.Buffer
	gz, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return nil, err
	}
	if err := digest.WriteTar(gz, dir); err != nil {
		return nil, err
	}
	if err := gz.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// runSubmit is `trustctl submit --api URL DIR`: pack the skill folder, submit
// it, print where the pipeline took it. It exits 1 when the submission was
// rejected or failed.
func runSubmit(ctx context.Context, env *Env, args []string) error {
	fs := newFlagSet(env, "submit", "--api URL [--json] DIR")
	var af apiFlags
	af.register(fs, env)
	asJSON := fs.Bool("json", false, "print the submission as JSON")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	} else if len(pos) != 1 {
		return usagef("exactly one skill folder required")
	}
	c, err := af.client(env)
	if err != nil {
		return err
	}
	archive, err := PackSkill(pos[0])
	if err != nil {
		return fmt.Errorf("pack %s: %w", pos[0], err)
	}
	if len(archive) > trust.MaxArchiveSize {
		return fmt.Errorf("pack %s: %d bytes packed, more than the %d accepted", pos[0], len(archive), trust.MaxArchiveSize)
	}
	sub, status, err := c.do(ctx, http.MethodPost, "/v1/submissions", "application/gzip", archive)
	if err != nil {
		return err
	}
	if status == http.StatusOK && !*asJSON {
		fmt.Fprintln(env.Stdout, "already submitted: the same archive was received before")
	}
	return printSubmission(env, sub, *asJSON)
}

// runStatus is `trustctl status --api URL ID`.
func runStatus(ctx context.Context, env *Env, args []string) error {
	fs := newFlagSet(env, "status", "--api URL [--json] ID")
	var af apiFlags
	af.register(fs, env)
	asJSON := fs.Bool("json", false, "print the submission as JSON")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	} else if len(pos) != 1 || pos[0] == "" {
		return usagef("exactly one submission ID required")
	}
	c, err := af.client(env)
	if err != nil {
		return err
	}
	sub, _, err := c.do(ctx, http.MethodGet, "/v1/submissions/"+url.PathEscape(pos[0]), "", nil)
	if err != nil {
		return err
	}
	return printSubmission(env, sub, *asJSON)
}

// printSubmission prints sub and returns errRefused for a rejected or failed one.
func printSubmission(env *Env, sub *trust.Submission, asJSON bool) error {
	if asJSON {
		b, err := json.Marshal(sub)
		if err != nil {
			return err
		}
		fmt.Fprintln(env.Stdout, string(b))
	} else {
		w := env.Stdout
		fmt.Fprintf(w, "submission  %s\n", sub.ID)
		if sub.Name != "" {
			fmt.Fprintf(w, "skill       %s@%s\n", sub.Name, sub.Version)
		}
		fmt.Fprintf(w, "state       %s\n", sub.State)
		if sub.Decision != "" {
			fmt.Fprintf(w, "decision    %s (score %d)\n", sub.Decision, sub.Score)
		}
		if sub.ImageDigest != "" {
			fmt.Fprintf(w, "image       %s\n", sub.ImageDigest)
		}
		if sub.Reason != "" {
			fmt.Fprintf(w, "reason      %s\n", sub.Reason)
		}
		if sub.Reviewer != "" {
			fmt.Fprintf(w, "reviewer    %s\n", sub.Reviewer)
		}
		fmt.Fprintf(w, "findings    %d\n", len(sub.Findings))
		for _, f := range sub.Findings {
			fmt.Fprintf(w, "  %-8s %-8s %s:%d  %s\n", f.Severity, f.RuleID, f.File, f.Line, f.Why)
		}
	}
	if sub.State == trust.SubmissionRejected || sub.State == trust.SubmissionFailed {
		return errRefused
	}
	return nil
}
