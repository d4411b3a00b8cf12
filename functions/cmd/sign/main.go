// Command sign is the signing function as an AWS Lambda (HTTP API v2 events).
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
	h, err := functions.NewSignHandler(context.Background(), functions.ConfigFromEnv(os.Getenv), logger)
	if err != nil {
		logger.Error("sign function: configuration", "err", err)
		os.Exit(1)
	}
	lambda.Start(lambdahttp.New(h).Handle)
}
