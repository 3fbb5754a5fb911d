// Command cdk is the AWS CDK app of oncallgate: one stack, "Oncallgate",
// with the DynamoDB table, the three Lambda functions and their schedules,
// the webhook function URL, the SSM parameters, the Secrets Manager secret,
// least-privilege roles, alarms and a dashboard.
//
// It only declares infrastructure from the deployment config file: it must
// not import the functions' code (internal/...) or hold business rules, so
// jsii and the CDK never enter the Lambda binaries' dependency graph (this
// is its own Go module for that reason).
//
// Run it through the CDK CLI from this directory (cdk.json: "go run ."):
//
//	npx cdk synth                      # config: ../../oncallgate.yaml, else ../../oncallgate.example.yaml
//	npx cdk synth -c config=path.yaml  # another config file
//	npx cdk synth -c lambda_dir=dir    # binaries in dir/<function>/bootstrap (default ../../bin/lambda)
package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"
)

// Context keys and defaults of the app (paths relative to infra/cdk, where
// the CDK CLI runs it).
const (
	contextConfig     = "config"
	contextLambdaDir  = "lambda_dir"
	defaultConfigPath = "../../oncallgate.yaml"
	exampleConfigPath = "../../oncallgate.example.yaml"
	defaultLambdaDir  = "../../bin/lambda"
	stackID           = "Oncallgate"
)

func main() {
	defer jsii.Close()
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "oncallgate cdk:", err)
		os.Exit(1)
	}
}

func run() error {
	app := awscdk.NewApp(nil)
	path, err := configPath(contextString(app, contextConfig))
	if err != nil {
		return err
	}
	cfg, err := LoadConfigFile(path)
	if err != nil {
		return err
	}
	lambdaDir := contextString(app, contextLambdaDir)
	if lambdaDir == "" {
		lambdaDir = defaultLambdaDir
	}
	// No Env: the template stays environment-agnostic and takes account and
	// region from the credentials `cdk deploy` runs with.
	_, err = NewStack(app, stackID, &StackProps{
		Config:    cfg,
		LambdaDir: lambdaDir,
	})
	if err != nil {
		return fmt.Errorf("stack %s: %w", stackID, err)
	}
	app.Synth(nil)
	return nil
}

// configPath picks the config file: the one named in context, else
// oncallgate.yaml at the repository root, else the documented example.
func configPath(fromContext string) (string, error) {
	if fromContext != "" {
		return fromContext, nil
	}
	if _, err := os.Stat(defaultConfigPath); err == nil {
		return defaultConfigPath, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("config file %s: %w", defaultConfigPath, err)
	}
	return exampleConfigPath, nil
}

func contextString(app awscdk.App, key string) string {
	v := app.Node().TryGetContext(jsii.String(key))
	if s, ok := v.(string); ok {
		return s
	}
	return ""
}
