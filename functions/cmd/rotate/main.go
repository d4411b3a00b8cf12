// Command rotate is the monthly API-key rotation as an AWS Lambda run on an
// EventBridge schedule: it creates each provider's next key version, keeps the
// previous one valid for the overlap window, and retires versions whose window
// has passed. Running it twice in a month creates one version.
package main

import (
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/openagents/trust/functions"
)

func main() {
	logger := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	h, err := functions.NewRotateHandler(functions.ConfigFromEnv(os.Getenv), logger)
	if err != nil {
		logger.Error("rotate function: configuration", "err", err)
		os.Exit(1)
	}
	lambda.Start(h.Handle)
}
