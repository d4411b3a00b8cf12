// Command submit is the publisher intake function as an AWS Lambda (HTTP API
// v2 events): POST /v1/submissions and GET /v1/submissions/{id}. It runs the
// pipeline on each new submission within the request's deadline.
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/openagents/trust/functions"
	"github.com/openagents/trust/functions/lambdahttp"
)

func main() {
	logger := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	cfg := functions.ConfigFromEnv(os.Getenv)
	signer, err := functions.NewSignHandler(context.Background(), cfg, logger)
	if err != nil {
		logger.Error("submit function: configuration", "err", err)
		os.Exit(1)
	}
	runner, err := functions.NewRunner(cfg, signer, logger)
	if err != nil {
		logger.Error("submit function: configuration", "err", err)
		os.Exit(1)
	}
	lambda.Start(lambdahttp.New(functions.NewSubmitHandler(cfg, runner, logger)).Handle)
}
