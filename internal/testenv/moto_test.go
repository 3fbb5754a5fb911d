package testenv

import (
	"context"
	"os"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
)

func TestMain(m *testing.M) {
	code := m.Run()
	StopMoto()
	os.Exit(code)
}

func TestMotoServesSSM(t *testing.T) {
	m := StartMoto(t)
	c := ssm.NewFromConfig(m.AWSConfig())
	ctx := context.Background()
	if _, err := c.PutParameter(ctx, &ssm.PutParameterInput{Name: aws.String("/testenv/x"), Value: aws.String("1"), Type: "String", Overwrite: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	out, err := c.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String("/testenv/x")})
	if err != nil {
		t.Fatal(err)
	}
	if got := aws.ToString(out.Parameter.Value); got != "1" {
		t.Fatalf("got %q", got)
	}
}
