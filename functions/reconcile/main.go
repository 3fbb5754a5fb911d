// Command reconcile is the scheduled Lambda function that repairs drift
// between Teleport, the providers and the store. It only wires: see
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
	a, err := app.FromEnvironment(context.Background(), "reconcile")
	if err != nil {
		slog.New(slog.NewJSONHandler(os.Stdout, nil)).Error("reconcile cannot start", "error", err.Error())
		os.Exit(1)
	}
	lambda.Start(a.HandleReconcile)
}
