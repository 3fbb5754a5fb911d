package config

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
)

// Lambda environment variables: the only settings not in SSM.
const (
	EnvPrefix = "ONCALLGATE_SSM_PREFIX"
	EnvTable  = "ONCALLGATE_TABLE"
)

// Env is what a Lambda function reads from its environment.
type Env struct {
	// Prefix is the SSM prefix, normalized (default DefaultPrefix).
	Prefix string
	// Table is the DynamoDB table name.
	Table string
}

// FromEnv reads ONCALLGATE_SSM_PREFIX (default /oncallgate/) and
// ONCALLGATE_TABLE (required). The error names the missing variable and
// matches ErrMissingEnv.
func FromEnv() (Env, error) {
	env := Env{Prefix: normalizePrefix(os.Getenv(EnvPrefix)), Table: strings.TrimSpace(os.Getenv(EnvTable))}
	if env.Table == "" {
		return env, fmt.Errorf("read lambda environment: %s (the DynamoDB table name): %w", EnvTable, ErrMissingEnv)
	}
	return env, nil
}

// LoadAWS loads the AWS SDK configuration the standard way: region,
// credentials and endpoint overrides (AWS_ENDPOINT_URL,
// AWS_ENDPOINT_URL_SSM, ...) from the environment and shared files.
func LoadAWS(ctx context.Context) (aws.Config, error) {
	cfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		return aws.Config{}, fmt.Errorf("load aws sdk configuration: %w", err)
	}
	return cfg, nil
}
