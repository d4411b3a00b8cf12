// Command webhook is the Stripe Connect KYC webhook function as an AWS Lambda
// (HTTP API v2 events): POST /v1/webhooks/stripe.
package main

import (
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/openagents/trust/functions"
	"github.com/openagents/trust/functions/lambdahttp"
)

func main() {
	logger := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	h, err := functions.NewWebhookHandler(functions.ConfigFromEnv(os.Getenv), logger)
	if err != nil {
		logger.Error("webhook function: configuration", "err", err)
		os.Exit(1)
	}
	lambda.Start(lambdahttp.New(h).Handle)
}
