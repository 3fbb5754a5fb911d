package store_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/oncallgate/oncallgate/internal/core"
	"github.com/oncallgate/oncallgate/internal/store"
	"github.com/oncallgate/oncallgate/internal/testenv"
)

// dynamoError serves DynamoDB's JSON error shape for every call, the way
// DynamoDB answers throttling, server errors and denied IAM actions.
func dynamoError(status int, code, message string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		w.Header().Set("x-amzn-ErrorType", code)
		w.WriteHeader(status)
		_, _ = w.Write([]byte(`{"__type":"com.amazonaws.dynamodb.v20120810#` + code + `","message":"` + message + `"}`))
	})
}

func storeAt(endpoint, table string) *store.Store {
	cfg := aws.Config{
		Region:           testenv.Region,
		Credentials:      credentials.NewStaticCredentialsProvider("testing", "testing", ""),
		BaseEndpoint:     aws.String(endpoint),
		RetryMaxAttempts: 1,
	}
	return store.New(dynamodb.NewFromConfig(cfg), table)
}

func TestFailuresAreClassified(t *testing.T) {
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := "http://" + closed.Addr().String()
	closed.Close()

	cases := []struct {
		name     string
		handler  http.Handler // nil: nothing listens
		kind     error
		mentions []string
	}{
		{"throttling is transient", dynamoError(400, "ThrottlingException", "Rate of requests exceeds the allowed throughput."), core.ErrTransient, []string{"PutItem", "tbl-x"}},
		{"provisioned throughput exceeded is transient", dynamoError(400, "ProvisionedThroughputExceededException", "slow down"), core.ErrTransient, nil},
		{"request limit exceeded is transient", dynamoError(400, "RequestLimitExceeded", "account limit"), core.ErrTransient, nil},
		{"internal server error is transient", dynamoError(500, "InternalServerError", "oops"), core.ErrTransient, nil},
		{"unavailable service is transient", dynamoError(503, "ServiceUnavailable", "down"), core.ErrTransient, nil},
		{"access denied names action and table", dynamoError(400, "AccessDeniedException", "User: arn:aws:sts::1:assumed-role/x is not authorized to perform: dynamodb:PutItem"), core.ErrPermission, []string{"dynamodb:PutItem", "tbl-x"}},
		{"missing table names the table", dynamoError(400, "ResourceNotFoundException", "Requested resource not found"), store.ErrTableNotFound, []string{`"tbl-x"`}},
		{"connection refused is transient", nil, core.ErrTransient, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			endpoint := deadAddr
			if tc.handler != nil {
				srv := httptest.NewServer(tc.handler)
				defer srv.Close()
				endpoint = srv.URL
			}
			s := storeAt(endpoint, "tbl-x")
			err := s.RecordDelivery(context.Background(), core.Delivery{ID: "d1", SeenAt: time.Now()})
			if !errors.Is(err, tc.kind) {
				t.Fatalf("err = %v, want kind %v", err, tc.kind)
			}
			for _, m := range tc.mentions {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("error %q does not mention %q", err, m)
				}
			}
			if tc.kind == store.ErrTableNotFound && errors.Is(err, core.ErrNotFound) {
				t.Errorf("a missing table must not look like a missing item: %v", err)
			}
		})
	}
}

func TestMissingTableAgainstMoto(t *testing.T) {
	m := testenv.StartMoto(t)
	s := store.New(dynamodb.NewFromConfig(m.AWSConfig()), "no-such-table")
	_, err := s.GetRequestRecord(context.Background(), "req-1")
	if !errors.Is(err, store.ErrTableNotFound) || errors.Is(err, core.ErrNotFound) {
		t.Fatalf("err = %v, want ErrTableNotFound and not ErrNotFound", err)
	}
	if !strings.Contains(err.Error(), "no-such-table") {
		t.Errorf("error %q does not name the table", err)
	}
}
