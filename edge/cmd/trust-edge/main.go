// Command trust-edge runs the edge node: the signing catalog and its HTTP API.
// It only wires edge.Main to signals and exit codes (0 ok or -h, 1 failure,
// 2 bad usage).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/openagents/trust/edge"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	m := edge.NewMain()
	m.Logger = slog.New(slog.NewJSONHandler(os.Stderr, nil))
	if err := m.ParseFlags(ctx, os.Args[1:]); errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	} else if err != nil {
		fmt.Fprintln(os.Stderr, "trust-edge:", err)
		os.Exit(2)
	}
	if err := m.Run(ctx); err != nil {
		m.Close()
		fmt.Fprintln(os.Stderr, "trust-edge:", err)
		os.Exit(1)
	}

	<-ctx.Done()
	stop()
	if err := m.Close(); err != nil {
		fmt.Fprintln(os.Stderr, "trust-edge:", err)
		os.Exit(1)
	}
}
