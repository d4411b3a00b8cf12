// Command provision is the provisioning function as an AWS Lambda (HTTP API
// v2 events): tenants' apps and agents' Machines on Fly (docs/provisioning.md).
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/openagents/trust/functions/lambdahttp"
	"github.com/openagents/trust/functions/provision"
)

func main() {
	logger := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	h, err := provision.ConfigFromEnv(os.Getenv).NewHandler(context.Background(), logger)
	if err != nil {
		logger.Error("provision function: configuration", "err", err)
		os.Exit(1)
	}
	lambda.Start(lambdahttp.New(h).Handle)
}
