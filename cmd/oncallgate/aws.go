package main

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/oncallgate/oncallgate/internal/config"
)

// localRegion is the region used with a local DynamoDB endpoint when none
// is configured.
const localRegion = "us-east-1"

// loadFromSSM reads the deployed configuration below prefix with the
// default AWS configuration, as a Lambda function does. origin names where
// it came from.
func loadFromSSM(ctx context.Context, prefix string) (cfg *config.Config, origin string, err error) {
	awsCfg, err := config.LoadAWS(ctx)
	if err != nil {
		return nil, "SSM below " + prefix, err
	}
	loader := config.NewAWSLoader(awsCfg, prefix, nil)
	origin = "SSM below " + loader.Prefix()
	cfg, err = loader.Get(ctx)
	return cfg, origin, err
}

// dynamoClient returns a DynamoDB client: AWS through the default
// configuration chain, or endpoint when one is given (a local DynamoDB,
// DynamoDB Local, moto...). Local endpoints accept any credentials, so
// when none are configured dummy ones are used, and the EC2 metadata
// service is never asked.
func dynamoClient(ctx context.Context, endpoint string) (*dynamodb.Client, error) {
	if endpoint == "" {
		cfg, err := config.LoadAWS(ctx)
		if err != nil {
			return nil, err
		}
		return dynamodb.NewFromConfig(cfg), nil
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx, awsconfig.WithEC2IMDSClientEnableState(imds.ClientDisabled))
	if err != nil {
		return nil, fmt.Errorf("load aws sdk configuration: %w", err)
	}
	if cfg.Region == "" {
		cfg.Region = localRegion
	}
	if cfg.Credentials == nil {
		cfg.Credentials = credentials.NewStaticCredentialsProvider("local", "local", "")
	} else if _, err := cfg.Credentials.Retrieve(ctx); err != nil {
		cfg.Credentials = credentials.NewStaticCredentialsProvider("local", "local", "")
	}
	return dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) { o.BaseEndpoint = aws.String(endpoint) }), nil
}
