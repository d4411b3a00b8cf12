// Command retention is the audit-retention job as an AWS Lambda run daily on
// an EventBridge schedule: it deletes SSH command attempts older than the
// 90-day retention (trust.SSHAuditRetention) from the catalog.
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/openagents/trust/functions"
	"github.com/openagents/trust/shared/edgeapi"
)

func main() {
	logger := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	purge, err := functions.NewRetentionJob(functions.ConfigFromEnv(os.Getenv), logger)
	if err != nil {
		logger.Error("retention function: configuration", "err", err)
		os.Exit(1)
	}
	lambda.Start(func(ctx context.Context, ev events.EventBridgeEvent) (*edgeapi.SSHPurgeResponse, error) {
		return purge(ctx)
	})
}
