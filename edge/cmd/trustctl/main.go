// Command trustctl is the OpenAgents Trust command line: boot-time skill
// verification on Machines, and key and signing operations for operators.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/openagents/trust/edge/cli"

	// KMS providers `trustctl sign --key URI` may name.
	_ "github.com/openagents/trust/shared/signing/hashivault"
	_ "github.com/openagents/trust/shared/signing/localkms"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, cli.OSEnv(), os.Args[1:])
	stop()
	os.Exit(code)
}
