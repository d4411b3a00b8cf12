// Command notify is the notification delivery as an AWS Lambda run on an
// EventBridge schedule: each run makes one attempt at every pending publisher
// notification.
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/openagents/trust/functions"
	"github.com/openagents/trust/functions/notify"
)

func main() {
	logger := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	d, err := functions.NewDeliverer(functions.ConfigFromEnv(os.Getenv), logger)
	if err != nil {
		logger.Error("notify function: configuration", "err", err)
		os.Exit(1)
	}
	lambda.Start(func(ctx context.Context, ev events.EventBridgeEvent) (notify.Result, error) {
		return d.DeliverPending(ctx)
	})
}
