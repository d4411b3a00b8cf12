// Command trust-functions serves every function handler over plain HTTP on one
// port, for local use (the embedded default started by `make run`), and runs
// the scheduled functions (stale submissions, notification delivery) on a
// ticker.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/openagents/trust/functions"
	"github.com/openagents/trust/functions/review"
)

func main() {
	addr := flag.String("addr", envOr("TRUST_FUNCTIONS_ADDR", "127.0.0.1:8081"), "listen address")
	dev := flag.Bool("dev", false, "embedded default only: create and publish a local signing key, a local OCI base and a verified dev publisher on first start")
	every := flag.Duration("schedule", time.Minute, "how often the scheduled functions run (resume stale submissions, deliver notifications)")
	flag.Parse()

	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, logger, *addr, *dev, *every); err != nil {
		logger.Error("trust-functions", "err", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, logger *slog.Logger, addr string, dev bool, every time.Duration) error {
	cfg := functions.ConfigFromEnv(os.Getenv)
	if err := cfg.Validate(); err != nil {
		return err
	}
	if dev {
		if err := functions.EnsureDevKey(ctx, cfg, time.Now()); err != nil {
			return err
		}
		if cfg.DataDir == "" {
			return fmt.Errorf("-dev needs TRUST_DATA_DIR")
		}
		if cfg.OCIBase == "" {
			var err error
			if cfg.OCIBase, cfg.OCIBaseImage, err = ensureDevBase(cfg.DataDir); err != nil {
				return err
			}
		}
		if err := ensureDevPublisher(ctx, cfg, time.Now()); err != nil {
			return err
		}
	}
	signer, err := functions.NewSignHandler(ctx, cfg, logger)
	if err != nil {
		return err
	}
	h := functions.Handlers{Sign: signer}
	var scheduled []func(context.Context)

	deliver, err := functions.NewDeliverer(cfg, logger)
	if err != nil {
		return err
	}
	scheduled = append(scheduled, func(ctx context.Context) {
		if _, err := deliver.DeliverPending(ctx); err != nil {
			logger.Warn("notification delivery", "err", err)
		}
	})

	purge, err := functions.NewRetentionJob(cfg, logger)
	if err != nil {
		return err
	}
	scheduled = append(scheduled, func(ctx context.Context) {
		if _, err := purge(ctx); err != nil {
			logger.Warn("audit retention", "err", err)
		}
	})

	if cfg.OCIBase == "" {
		logger.Info("submission pipeline off: set TRUST_OCI_BASE and TRUST_OCI_BASE_IMAGE (or run with -dev)")
	} else {
		runner, err := functions.NewRunner(cfg, signer, logger)
		if err != nil {
			return err
		}
		runner.Notify = deliver.NotifyOne
		h.Submit = functions.NewSubmitHandler(cfg, runner, logger)
		scheduled = append(scheduled, func(ctx context.Context) {
			if _, err := runner.ResumeStale(ctx, runner.StaleAfter); err != nil {
				logger.Warn("resume stale submissions", "err", err)
			}
		})
		if cfg.ReviewerToken != "" {
			rh, err := functions.NewReviewHandler(cfg, runner, logger)
			if err != nil {
				return err
			}
			h.Review = review.NewPages(rh) // the JSON API and the HTML pages
		} else {
			logger.Info("review function off: set TRUST_REVIEWER_TOKEN")
		}
	}
	if cfg.StripeWebhookSecret != "" {
		if h.Webhook, err = functions.NewWebhookHandler(cfg, logger); err != nil {
			return err
		}
	} else {
		logger.Info("Stripe webhook function off: set TRUST_STRIPE_WEBHOOK_SECRET")
	}

	if os.Getenv("FLY_API_TOKEN") != "" {
		if h.Provision, err = functions.NewProvisionHandler(ctx, logger); err != nil {
			return err
		}
	} else {
		logger.Info("provisioning function off: set FLY_API_TOKEN (docs/provisioning.md)")
	}

	srv := &http.Server{Addr: addr, Handler: functions.Mux(h), ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout: 30 * time.Second, WriteTimeout: 60 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	go schedule(ctx, every, scheduled)
	logger.Info("functions listening", "url", fmt.Sprintf("http://%s", addr))
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// schedule runs jobs every interval until ctx ends, as EventBridge does for
// the Lambda deployment.
func schedule(ctx context.Context, every time.Duration, jobs []func(context.Context)) {
	if every <= 0 {
		return
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			for _, job := range jobs {
				job(ctx)
			}
		}
	}
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
