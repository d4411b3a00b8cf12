// Package functions wires the stateless function handlers (AWS Lambda in
// production, one plain HTTP server locally): configuration from the
// environment, the edge client holding the service credential, the signer,
// and the submission pipeline (intake, the resumable pipeline runner, its
// scheduled resumption).
//
// The service credential and the signing key exist only here, server-side; no
// handler ever returns or logs them.
package functions

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/openagents/trust/functions/notify"
	"github.com/openagents/trust/functions/pipeline"
	"github.com/openagents/trust/functions/provision"
	"github.com/openagents/trust/functions/review"
	"github.com/openagents/trust/functions/rotate"
	"github.com/openagents/trust/functions/sign"
	"github.com/openagents/trust/functions/submit"
	"github.com/openagents/trust/functions/webhook"
	"github.com/openagents/trust/shared/analyzers"
	"github.com/openagents/trust/shared/edgeapi"
	"github.com/openagents/trust/shared/httpapi"
	"github.com/openagents/trust/shared/scan"
	"github.com/openagents/trust/shared/signing"
	"github.com/openagents/trust/shared/trust"
	"github.com/openagents/trust/shared/vuln"

	// KMS providers TRUST_SIGNING_KEY may name: hashivault:// (and openbao://)
	// for production, localkms:// for the tested local path.
	_ "github.com/openagents/trust/shared/signing/hashivault"
	_ "github.com/openagents/trust/shared/signing/localkms"
)

// Config is the functions' configuration, read from the environment.
type Config struct {
	EdgeURL       string // TRUST_EDGE_URL: the primary edge node
	ServiceToken  string // TRUST_SERVICE_TOKEN: service credential for edge writes
	OperatorToken string // TRUST_OPERATOR_TOKEN: what callers of the functions present
	SigningKey    string // TRUST_SIGNING_KEY: PEM file or KMS URI

	// The submission pipeline (submit and pipeline functions).
	DataDir      string // TRUST_DATA_DIR: local state; the default registry is DataDir/images
	OCIBase      string // TRUST_OCI_BASE: OCI layout directory holding the pinned base image
	OCIBaseImage string // TRUST_OCI_BASE_IMAGE: the base's digest, sha256:… or name@sha256:…
	Registry     string // TRUST_REGISTRY: OCI layout directory or registry URL images are pushed to
	OSVDatabase  string // TRUST_OSV_DB: OSV database directory for the dependency check (optional)
	OSVCacheDir  string // TRUST_OSV_CACHE_DIR: where an indexed snapshot of it is kept (optional)
	WorkDir      string // TRUST_WORK_DIR: parent of temporary extraction directories (optional)
	StaleAfter   string // TRUST_STALE_AFTER: how long a submission sits before the schedule resumes it (Go duration; optional)

	ReviewerToken       string // TRUST_REVIEWER_TOKEN: the reviewer credential (review function)
	StripeWebhookSecret string // TRUST_STRIPE_WEBHOOK_SECRET: the Stripe endpoint's signing secret (webhook function)
	APIKeyOverlap       string // TRUST_API_KEY_OVERLAP: how long a rotated-out API key version stays valid (rotate function)
	Sandbox             string // TRUST_SANDBOX: "on" detonates high-risk submissions in the Linux sandbox (root, namespaces; not Lambda)
	SandboxMinScore     string // TRUST_SANDBOX_MIN_SCORE: static score from which a submission is detonated (default 40, the flag threshold)
}

// MinCredentialLength is the shortest credential accepted from configuration.
const MinCredentialLength = 32

// ConfigFromEnv reads Config with getenv (os.Getenv in production).
func ConfigFromEnv(getenv func(string) string) Config {
	return Config{
		EdgeURL:       strings.TrimSpace(getenv("TRUST_EDGE_URL")),
		ServiceToken:  strings.TrimSpace(getenv("TRUST_SERVICE_TOKEN")),
		OperatorToken: strings.TrimSpace(getenv("TRUST_OPERATOR_TOKEN")),
		SigningKey:    strings.TrimSpace(getenv("TRUST_SIGNING_KEY")),
		DataDir:       strings.TrimSpace(getenv("TRUST_DATA_DIR")),
		OCIBase:       strings.TrimSpace(getenv("TRUST_OCI_BASE")),
		OCIBaseImage:  strings.TrimSpace(getenv("TRUST_OCI_BASE_IMAGE")),
		Registry:      strings.TrimSpace(getenv("TRUST_REGISTRY")),
		OSVDatabase:   strings.TrimSpace(getenv("TRUST_OSV_DB")),
		OSVCacheDir:   strings.TrimSpace(getenv("TRUST_OSV_CACHE_DIR")),
		WorkDir:       strings.TrimSpace(getenv("TRUST_WORK_DIR")),
		StaleAfter:    strings.TrimSpace(getenv("TRUST_STALE_AFTER")),

		ReviewerToken:       strings.TrimSpace(getenv("TRUST_REVIEWER_TOKEN")),
		StripeWebhookSecret: strings.TrimSpace(getenv("TRUST_STRIPE_WEBHOOK_SECRET")),
		APIKeyOverlap:       strings.TrimSpace(getenv("TRUST_API_KEY_OVERLAP")),
		Sandbox:             strings.TrimSpace(getenv("TRUST_SANDBOX")),
		SandboxMinScore:     strings.TrimSpace(getenv("TRUST_SANDBOX_MIN_SCORE")),
	}
}

// ValidateEdge reports a missing or weak edge setting: what a function that
// only talks to the edge (webhook, notify, rotate) needs.
func (c Config) ValidateEdge() error {
	switch {
	case c.EdgeURL == "":
		return fmt.Errorf("TRUST_EDGE_URL is not set")
	case httpapi.CheckBaseURL(c.EdgeURL) != nil:
		return fmt.Errorf("TRUST_EDGE_URL: %s", trust.ErrorMessage(httpapi.CheckBaseURL(c.EdgeURL)))
	case len(c.ServiceToken) < MinCredentialLength:
		return fmt.Errorf("TRUST_SERVICE_TOKEN must be set, at least %d characters", MinCredentialLength)
	}
	return nil
}

// Validate reports missing or weak settings by name, never by value.
func (c Config) Validate() error {
	if err := c.ValidateEdge(); err != nil {
		return err
	}
	switch {
	case len(c.OperatorToken) < MinCredentialLength:
		return fmt.Errorf("TRUST_OPERATOR_TOKEN must be set, at least %d characters", MinCredentialLength)
	case c.SigningKey == "":
		return fmt.Errorf("TRUST_SIGNING_KEY is not set (a PEM file or a KMS URI)")
	}
	return nil
}

// RegistryDest is where images are pushed: TRUST_REGISTRY, or the embedded
// default, an OCI layout under TRUST_DATA_DIR.
func (c Config) RegistryDest() string {
	if c.Registry != "" {
		return c.Registry
	} else if c.DataDir != "" {
		return filepath.Join(c.DataDir, "images")
	}
	return ""
}

// ValidatePipeline is Validate plus the submission pipeline's settings, by
// name, never by value.
func (c Config) ValidatePipeline() error {
	if err := c.Validate(); err != nil {
		return err
	}
	switch dest := c.RegistryDest(); {
	case c.OCIBase == "":
		return fmt.Errorf("TRUST_OCI_BASE is not set (the OCI layout directory holding the pinned base image)")
	case !isDir(c.OCIBase):
		return fmt.Errorf("TRUST_OCI_BASE is not a directory")
	case c.OCIBaseImage == "":
		return fmt.Errorf("TRUST_OCI_BASE_IMAGE is not set (the base image's digest, sha256:…)")
	case !pinned(c.OCIBaseImage):
		return fmt.Errorf("TRUST_OCI_BASE_IMAGE must end with a digest, sha256:<64 hex>: a tag is not pinned")
	case dest == "":
		return fmt.Errorf("TRUST_REGISTRY is not set (an OCI layout directory or a registry URL), nor TRUST_DATA_DIR for the default")
	case isURL(dest) && httpapi.CheckBaseURL(dest) != nil:
		return fmt.Errorf("TRUST_REGISTRY: %s", trust.ErrorMessage(httpapi.CheckBaseURL(dest)))
	case c.OSVDatabase != "" && !isDir(c.OSVDatabase) && !strings.HasSuffix(c.OSVDatabase, ".zip"):
		return fmt.Errorf("TRUST_OSV_DB is not a directory or a .zip export")
	case c.WorkDir != "" && !isDir(c.WorkDir):
		return fmt.Errorf("TRUST_WORK_DIR is not a directory")
	}
	if c.StaleAfter != "" {
		if d, err := time.ParseDuration(c.StaleAfter); err != nil || d < 0 {
			return fmt.Errorf("TRUST_STALE_AFTER must be a duration such as 10m")
		}
	}
	return nil
}

func isDir(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}

func isURL(s string) bool { return strings.HasPrefix(s, "http://") || strings.HasPrefix(s, "https://") }

// pinned reports whether ref ends with "sha256:<64 hex>".
func pinned(ref string) bool {
	i := strings.LastIndex(ref, "sha256:")
	return i >= 0 && trust.ValidDigest(ref[i:]) && (i == 0 || ref[i-1] == '@')
}

// Edge returns the edge client with the service credential.
func (c Config) Edge() *edgeapi.Client { return edgeapi.NewClient(c.EdgeURL, c.ServiceToken) }

// NewSignHandler builds the signing function from c.
func NewSignHandler(ctx context.Context, c Config, logger *slog.Logger) (*sign.Handler, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	signer, err := signing.LoadSigner(ctx, c.SigningKey)
	if err != nil {
		return nil, fmt.Errorf("load signing key: %w", err)
	}
	h := sign.NewHandler()
	h.Catalog = c.Edge()
	h.Signer = signer
	h.OperatorToken = c.OperatorToken
	h.Logger = logger
	return h, nil
}

// Both catalog interfaces of the pipeline are served by the edge client.
var (
	_ pipeline.Catalog = (*edgeapi.Client)(nil)
	_ submit.Catalog   = (*edgeapi.Client)(nil)
)

// NewRunner builds the submission pipeline from c: the edge client, signer
// (the signing function, NewSignHandler), the pinned base, the registry and
// the dependency check.
func NewRunner(c Config, signer pipeline.Signer, logger *slog.Logger) (*pipeline.Runner, error) {
	if err := c.ValidatePipeline(); err != nil {
		return nil, err
	}
	// The same extra analyzers trustctl scan and make eval run.
	extra, err := analyzers.Default(analyzers.Options{OSVDir: c.OSVDatabase, OSVCacheDir: c.OSVCacheDir})
	if err != nil {
		return nil, fmt.Errorf("TRUST_OSV_DB: %w", err)
	}
	r := pipeline.NewRunner()
	r.Catalog = c.Edge()
	r.Signer = signer
	r.Analyzers = extra
	switch c.Sandbox {
	case "", "off":
	case "on":
		r.Behavior, r.BehaviorMinScore = pipeline.SandboxBehavior{}, scan.FlagScore
		if c.SandboxMinScore != "" {
			n, err := strconv.Atoi(c.SandboxMinScore)
			if err != nil || n < 0 {
				return nil, fmt.Errorf("TRUST_SANDBOX_MIN_SCORE: want a score ≥ 0")
			}
			r.BehaviorMinScore = n
		}
	default:
		return nil, fmt.Errorf("TRUST_SANDBOX: want on or off")
	}
	if c.OSVDatabase != "" { // the built image's packages are matched too (cached: loaded once)
		if r.VulnDB, err = vuln.OpenCached(c.OSVDatabase, c.OSVCacheDir); err != nil {
			return nil, fmt.Errorf("TRUST_OSV_DB: %w", err)
		}
	}
	r.BaseLayout, r.BaseImage = c.OCIBase, c.OCIBaseImage
	r.Registry = c.RegistryDest()
	r.WorkDir = c.WorkDir
	r.Logger = logger
	if c.StaleAfter != "" {
		r.StaleAfter, _ = time.ParseDuration(c.StaleAfter)
	}
	if err := r.Open(); err != nil {
		return nil, err
	}
	return r, nil
}

// NewSubmitHandler builds the intake function over runner.
func NewSubmitHandler(c Config, runner *pipeline.Runner, logger *slog.Logger) *submit.Handler {
	h := submit.NewHandler()
	h.Catalog = c.Edge()
	h.Pipeline = runner
	h.TempDir = c.WorkDir
	h.Limits = runner.Limits
	h.Logger = logger
	return h
}

// NewReviewHandler builds the reviewer function; decisions resume the
// pipeline through resumer.
func NewReviewHandler(c Config, resumer review.Resumer, logger *slog.Logger) (*review.Handler, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	} else if len(c.ReviewerToken) < MinCredentialLength {
		return nil, fmt.Errorf("TRUST_REVIEWER_TOKEN must be set, at least %d characters", MinCredentialLength)
	}
	h := review.NewHandler()
	h.Catalog = c.Edge()
	h.Resumer = resumer
	h.ReviewerToken = c.ReviewerToken
	h.Logger = logger
	return h, nil
}

// NewWebhookHandler builds the Stripe Connect KYC webhook function.
func NewWebhookHandler(c Config, logger *slog.Logger) (*webhook.Handler, error) {
	if err := c.ValidateEdge(); err != nil {
		return nil, err
	} else if c.StripeWebhookSecret == "" {
		return nil, fmt.Errorf("TRUST_STRIPE_WEBHOOK_SECRET is not set (the endpoint's signing secret, whsec_…)")
	}
	h := webhook.NewHandler()
	h.Catalog = c.Edge()
	h.Secret = c.StripeWebhookSecret
	h.Logger = logger
	return h, nil
}

// NewDeliverer builds the notification delivery (publisher webhooks).
func NewDeliverer(c Config, logger *slog.Logger) (*notify.Deliverer, error) {
	if err := c.ValidateEdge(); err != nil {
		return nil, err
	}
	d := notify.NewDeliverer()
	d.Catalog = c.Edge()
	d.Logger = logger
	return d, nil
}

// NewRetentionJob builds the audit-retention job (a daily schedule): it asks
// the edge to delete SSH command attempts older than the 90-day retention.
func NewRetentionJob(c Config, logger *slog.Logger) (func(context.Context) (*edgeapi.SSHPurgeResponse, error), error) {
	if err := c.ValidateEdge(); err != nil {
		return nil, err
	}
	edge := c.Edge()
	return func(ctx context.Context) (*edgeapi.SSHPurgeResponse, error) {
		resp, err := edge.PurgeSSHAttempts(ctx, time.Time{}) // zero: the edge's retention
		if err != nil {
			return nil, fmt.Errorf("purge SSH attempts: %w", err)
		}
		logger.Info("audit retention", "ssh_attempts_deleted", resp.Deleted, "before", resp.Before)
		return resp, nil
	}, nil
}

// NewRotateHandler builds the monthly API-key rotation (an EventBridge
// schedule). TRUST_API_KEY_OVERLAP (a Go duration, default 72h) is how long a
// replaced key version stays valid. Each month it promotes the key an
// operator staged on the edge for each provider (rotate.StagedKeys,
// docs/apikeys.md); a provider with nothing staged is reported and left as is.
func NewRotateHandler(c Config, logger *slog.Logger) (*rotate.Handler, error) {
	if err := c.ValidateEdge(); err != nil {
		return nil, err
	}
	h := rotate.NewHandler(c.Edge(), rotate.StagedKeys{})
	h.Logger = logger
	if c.APIKeyOverlap != "" {
		d, err := time.ParseDuration(c.APIKeyOverlap)
		if err != nil || d <= 0 || d > 2160*time.Hour {
			return nil, fmt.Errorf("TRUST_API_KEY_OVERLAP: want a duration between 1s and 2160h, like 72h")
		}
		h.Overlap = d
	}
	return h, nil
}

// NewProvisionHandler builds the provisioning function from its own
// environment (FLY_API_TOKEN, TRUST_FLY_ORG, … : docs/provisioning.md).
func NewProvisionHandler(ctx context.Context, logger *slog.Logger) (*provision.Handler, error) {
	return provision.ConfigFromEnv(os.Getenv).NewHandler(ctx, logger)
}

// Handlers are the function handlers one local server serves; nil ones are
// left out.
type Handlers struct {
	Sign      http.Handler // POST /v1/sign
	Submit    http.Handler // POST /v1/submissions, GET /v1/submissions/{id}
	Review    http.Handler // /v1/review/…
	Webhook   http.Handler // POST /v1/webhooks/stripe
	Provision http.Handler // /v1/provision/…
}

// Mux serves every function on one HTTP server, as `trust-functions` does
// locally. Each function keeps its own routes under /v1/.
func Mux(h Handlers) *http.ServeMux {
	mux := http.NewServeMux()
	for _, r := range []struct {
		patterns []string
		h        http.Handler
	}{
		{[]string{"/v1/sign"}, h.Sign},
		{[]string{"/v1/submissions", "/v1/submissions/"}, h.Submit},
		{[]string{"/v1/review/", "/review/"}, h.Review},
		{[]string{"/v1/webhooks/"}, h.Webhook},
		{[]string{"/v1/provision/"}, h.Provision},
	} {
		if r.h == nil {
			continue
		}
		for _, p := range r.patterns {
			mux.Handle(p, r.h)
		}
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		httpapi.WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		httpapi.WriteError(w, r, nil, trust.Errorf(trust.ENOTFOUND, "no such route"))
	})
	return mux
}
