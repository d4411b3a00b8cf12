// Command review is the reviewer function as an AWS Lambda (HTTP API v2
// events): the queue of flagged submissions and a reviewer's decision, after
// which the pipeline resumes (signs or notifies).
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/openagents/trust/functions"
	"github.com/openagents/trust/functions/lambdahttp"
	"github.com/openagents/trust/functions/review"
)

func main() {
	logger := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	cfg := functions.ConfigFromEnv(os.Getenv)
	fail := func(err error) {
		logger.Error("review function: configuration", "err", err)
		os.Exit(1)
	}
	signer, err := functions.NewSignHandler(context.Background(), cfg, logger)
	if err != nil {
		fail(err)
	}
	runner, err := functions.NewRunner(cfg, signer, logger)
	if err != nil {
		fail(err)
	}
	deliver, err := functions.NewDeliverer(cfg, logger)
	if err != nil {
		fail(err)
	}
	runner.Notify = deliver.NotifyOne
	h, err := functions.NewReviewHandler(cfg, runner, logger)
	if err != nil {
		fail(err)
	}
	lambda.Start(lambdahttp.New(review.NewPages(h)).Handle) // the JSON API and the HTML pages
}
