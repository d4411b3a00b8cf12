// Package functions wires the stateless function handlers (AWS Lambda in
// production, one plain HTTP server locally): configuration from the
// environment, the edge client holding the service credential, and the signer.
//
// The service credential and the signing key exist only here, server-side; no
// handler ever returns or logs them.
package functions

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/openagents/trust/functions/sign"
	"github.com/openagents/trust/shared/edgeapi"
	"github.com/openagents/trust/shared/httpapi"
	"github.com/openagents/trust/shared/signing"
	"github.com/openagents/trust/shared/trust"

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
	}
}

// Validate reports missing or weak settings by name, never by value.
func (c Config) Validate() error {
	switch {
	case c.EdgeURL == "":
		return fmt.Errorf("TRUST_EDGE_URL is not set")
	case httpapi.CheckBaseURL(c.EdgeURL) != nil:
		return fmt.Errorf("TRUST_EDGE_URL: %s", trust.ErrorMessage(httpapi.CheckBaseURL(c.EdgeURL)))
	case len(c.ServiceToken) < MinCredentialLength:
		return fmt.Errorf("TRUST_SERVICE_TOKEN must be set, at least %d characters", MinCredentialLength)
	case len(c.OperatorToken) < MinCredentialLength:
		return fmt.Errorf("TRUST_OPERATOR_TOKEN must be set, at least %d characters", MinCredentialLength)
	case c.SigningKey == "":
		return fmt.Errorf("TRUST_SIGNING_KEY is not set (a PEM file or a KMS URI)")
	}
	return nil
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

// Mux serves every function on one HTTP server, as `trust-functions` does
// locally. Each function keeps its own routes under /v1/.
func Mux(sign http.Handler) *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("/v1/sign", sign)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		httpapi.WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		httpapi.WriteError(w, r, nil, trust.Errorf(trust.ENOTFOUND, "no such route"))
	})
	return mux
}
