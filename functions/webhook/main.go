// Command webhook is the Lambda function behind the function URL that
// PagerDuty and Opsgenie/JSM call when a responder presses Approve or Deny.
// It only wires: see internal/webhook, internal/app and internal/core.
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambdaurl"

	"github.com/oncallgate/oncallgate/internal/app"
)

func main() {
	a, err := app.FromEnvironment(context.Background(), "webhook")
	if err != nil {
		slog.New(slog.NewJSONHandler(os.Stdout, nil)).Error("webhook cannot start", "error", err.Error())
		os.Exit(1)
	}
	lambdaurl.Start(a.WebhookHandler())
}
