// Command pipeline is the scheduled function as an AWS Lambda (EventBridge
// scheduled events): each run resumes the submissions a crash or an outage
// left mid-way (pipeline.Runner.ResumeStale).
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/openagents/trust/functions"
)

func main() {
	logger := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	cfg := functions.ConfigFromEnv(os.Getenv)
	signer, err := functions.NewSignHandler(context.Background(), cfg, logger)
	if err != nil {
		logger.Error("pipeline function: configuration", "err", err)
		os.Exit(1)
	}
	runner, err := functions.NewRunner(cfg, signer, logger)
	if err != nil {
		logger.Error("pipeline function: configuration", "err", err)
		os.Exit(1)
	}
	lambda.Start(runner.HandleSchedule)
}
