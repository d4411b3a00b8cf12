// Command trustctl is the OpenAgents Trust command line: boot-time skill
// verification on Machines, and key and signing operations for operators.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/openagents/trust/edge/cli"

	// The KMS provider `trustctl sign --key localkms://…` may name. Vault
	// (hashivault://) is deliberately absent: this binary ships in every
	// Machine, and signing with the platform's Vault key is the sign
	// function's job (docs/signing.md).
	_ "github.com/openagents/trust/shared/signing/localkms"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, cli.OSEnv(), os.Args[1:])
	stop()
	os.Exit(code)
}
