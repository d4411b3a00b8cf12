// Package rotate is the monthly rotation of the platform's LLM API keys, a
// Lambda triggered by an EventBridge schedule. Each run, per provider, it
//
//  1. makes the month's key version, unless the month already has one. In
//     production (StagedKeys) the edge promotes the key an operator staged
//     beforehand (POST /v1/service/api-keys/{provider}/staged): in one
//     transaction the staged key becomes the active version and the version
//     it replaces stays valid for the overlap window. The raw key never
//     leaves the edge. Any other KeySource hands the function a key, which
//     it stores through the edge;
//  2. retires the versions whose overlap window has passed.
//
// The month is the event's time (UTC), so a retried or duplicated event
// creates nothing new: running twice in a month creates one version. A
// provider with nothing staged is reported (and logged) and left as it is;
// the other providers still rotate. A raw key from a KeySource is in memory
// only between the source and the edge request; no key reaches a log line,
// an error or the Lambda's result.
package rotate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/openagents/trust/shared/edgeapi"
	"github.com/openagents/trust/shared/trust"
)

// Catalog is the part of the edge API rotation uses; *edgeapi.Client with
// the service credential implements it.
type Catalog interface {
	FindAPIKeyVersions(ctx context.Context, provider string) ([]*trust.APIKeyVersion, error)
	CreateAPIKeyVersion(ctx context.Context, provider string, req edgeapi.APIKeyVersionRequest) (*trust.APIKeyVersion, bool, error)
	RotateAPIKey(ctx context.Context, provider string, req edgeapi.RotateAPIKeyRequest) (*trust.APIKeyVersion, bool, error)
	RetireAPIKeyVersions(ctx context.Context, provider string) ([]*trust.APIKeyVersion, error)
}

var _ Catalog = (*edgeapi.Client)(nil)

// KeySource creates a new API key at a provider. name labels the key in the
// provider's console ("openagents-2026-11"). Implementations must not put
// the key in an error.
type KeySource interface {
	CreateKey(ctx context.Context, provider, name string) (key string, err error)
}

// StagedKeys is the production KeySource: the key an operator staged on the
// edge for the next rotation. It hands no key to the function — the handler
// asks the edge to promote the staged key instead — so CreateKey is never
// called by a Handler and answers ENOTIMPLEMENTED if called directly.
type StagedKeys struct{}

// CreateKey answers ENOTIMPLEMENTED: a staged key never leaves the edge.
func (StagedKeys) CreateKey(_ context.Context, provider, _ string) (string, error) {
	return "", trust.Errorf(trust.ENOTIMPLEMENTED, "staged %s keys are promoted on the edge, never read", provider)
}

// Handler rotates the keys of Providers.
type Handler struct {
	Catalog Catalog
	// Source is where the month's key comes from: StagedKeys (or nil)
	// promotes the key staged on the edge; any other source creates one.
	Source    KeySource
	Providers []string
	Overlap   time.Duration // how long a replaced version stays valid
	Logger    *slog.Logger
	Now       func() time.Time // when the event carries no time
}

// NewHandler returns a handler of every provider with the default overlap.
func NewHandler(catalog Catalog, source KeySource) *Handler {
	return &Handler{
		Catalog:   catalog,
		Source:    source,
		Providers: trust.Providers,
		Overlap:   trust.DefaultAPIKeyOverlap,
		Logger:    slog.Default(),
		Now:       time.Now,
	}
}

// Result is what one run did, per provider.
type Result struct {
	Period    string            `json:"period"`
	Providers []*ProviderResult `json:"providers"`
}

// ProviderResult is one provider's outcome.
type ProviderResult struct {
	Provider string `json:"provider"`
	Active   int    `json:"active_version,omitempty"`
	Created  bool   `json:"created"`
	Retired  []int  `json:"retired"`
	Error    string `json:"error,omitempty"` // the coded message only
}

// Handle runs one rotation for an EventBridge scheduled event. An event
// that is not a scheduled event is refused (EINVALID). A provider's failure
// does not stop the others; the run then fails, so EventBridge retries it,
// and the retry only does what is left.
func (h *Handler) Handle(ctx context.Context, ev events.CloudWatchEvent) (*Result, error) {
	if ev.Source != "aws.events" || ev.DetailType != "Scheduled Event" {
		return nil, trust.Errorf(trust.EINVALID, "not an EventBridge scheduled event")
	}
	at := ev.Time
	if at.IsZero() {
		at = h.now()
	}
	res := &Result{Period: at.UTC().Format("2006-01")}
	var errs []error
	for _, p := range h.Providers {
		pr, err := h.rotate(ctx, p, res.Period)
		if err != nil {
			pr.Error = trust.ErrorMessage(err)
			h.logger().Error("rotate api key", "provider", p, "period", res.Period, "err", err)
			errs = append(errs, fmt.Errorf("rotate %s: %w", p, err))
		} else {
			h.logger().Info("rotate api key", "provider", p, "period", res.Period, "active_version", pr.Active, "created", pr.Created, "retired", pr.Retired)
		}
		res.Providers = append(res.Providers, pr)
	}
	if len(errs) > 0 {
		return res, errors.Join(errs...)
	}
	return res, nil
}

// rotate makes the period's version of one provider if missing, then
// retires what is due.
func (h *Handler) rotate(ctx context.Context, provider, period string) (*ProviderResult, error) {
	if _, staged := h.Source.(StagedKeys); staged || h.Source == nil {
		return h.promote(ctx, provider, period)
	}
	pr := &ProviderResult{Provider: provider, Retired: []int{}}
	vs, err := h.Catalog.FindAPIKeyVersions(ctx, provider)
	if err != nil {
		return pr, fmt.Errorf("list versions: %w", err)
	}
	var have *trust.APIKeyVersion
	for _, v := range vs {
		if v.Period == period {
			have = v
		}
		if v.State == trust.APIKeyActive {
			pr.Active = v.Version
		}
	}
	if have == nil {
		key, err := h.Source.CreateKey(ctx, provider, "openagents-"+period)
		if err != nil {
			return pr, fmt.Errorf("create key at the provider: %w", err)
		}
		v, created, err := h.Catalog.CreateAPIKeyVersion(ctx, provider, edgeapi.APIKeyVersionRequest{
			Key: key, Period: period, OverlapSeconds: int64(h.Overlap / time.Second),
		})
		if err != nil {
			return pr, fmt.Errorf("store key version: %w", err)
		}
		pr.Created = created
		if created {
			pr.Active = v.Version
		}
	}
	return pr, h.retire(ctx, pr)
}

// promote asks the edge to turn the provider's staged key into the period's
// version (a replay of the period answers the existing one), then retires
// what is due — also when nothing was staged, since retiring an expired
// version does not depend on the new one.
func (h *Handler) promote(ctx context.Context, provider, period string) (*ProviderResult, error) {
	pr := &ProviderResult{Provider: provider, Retired: []int{}}
	v, created, err := h.Catalog.RotateAPIKey(ctx, provider, edgeapi.RotateAPIKeyRequest{
		Period: period, OverlapSeconds: int64(h.Overlap / time.Second),
	})
	if err != nil {
		err = fmt.Errorf("promote staged key: %w", err)
	} else {
		pr.Active, pr.Created = v.Version, created
	}
	return pr, errors.Join(err, h.retire(ctx, pr))
}

// retire retires the provider's versions whose window has passed.
func (h *Handler) retire(ctx context.Context, pr *ProviderResult) error {
	retired, err := h.Catalog.RetireAPIKeyVersions(ctx, pr.Provider)
	if err != nil {
		return fmt.Errorf("retire versions: %w", err)
	}
	for _, v := range retired {
		pr.Retired = append(pr.Retired, v.Version)
	}
	return nil
}

func (h *Handler) now() time.Time {
	if h.Now == nil {
		return time.Now()
	}
	return h.Now()
}

func (h *Handler) logger() *slog.Logger {
	if h.Logger == nil {
		return slog.Default()
	}
	return h.Logger
}
