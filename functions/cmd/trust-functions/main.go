// Command trust-functions serves every function handler over plain HTTP on one
// port, for local use (the embedded default started by `make run`).
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
)

func main() {
	addr := flag.String("addr", envOr("TRUST_FUNCTIONS_ADDR", "127.0.0.1:8081"), "listen address")
	dev := flag.Bool("dev", false, "create and publish a local signing key on first start (embedded default only)")
	flag.Parse()

	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, logger, *addr, *dev); err != nil {
		logger.Error("trust-functions", "err", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, logger *slog.Logger, addr string, dev bool) error {
	cfg := functions.ConfigFromEnv(os.Getenv)
	if err := cfg.Validate(); err != nil {
		return err
	}
	if dev {
		if err := functions.EnsureDevKey(ctx, cfg, time.Now()); err != nil {
			return err
		}
	}
	h, err := functions.NewSignHandler(ctx, cfg, logger)
	if err != nil {
		return err
	}
	srv := &http.Server{Addr: addr, Handler: functions.Mux(h), ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout: 30 * time.Second, WriteTimeout: 60 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
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

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
