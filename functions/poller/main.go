// Command poller is the scheduled Lambda function that opens, annotates and
// resolves alerts for Teleport access requests. It only wires: see
// internal/app and internal/core for what it does.
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/oncallgate/oncallgate/internal/app"
)

func main() {
	a, err := app.FromEnvironment(context.Background(), "poller")
	if err != nil {
		slog.New(slog.NewJSONHandler(os.Stdout, nil)).Error("poller cannot start", "error", err.Error())
		os.Exit(1)
	}
	lambda.Start(a.HandlePoll)
}
