package lambdart_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"testing"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-lambda-go/lambdaurl"

	"github.com/oncallgate/oncallgate/internal/testenv"
)

// fixtureEnv makes the test binary, started by the emulator, act as the
// Lambda function it names instead of running tests: the emulator is then
// exercised by aws-lambda-go's own runtime client, in a binary that is
// already built.
const fixtureEnv = "LAMBDART_FIXTURE"

func TestMain(m *testing.M) {
	if name := os.Getenv(fixtureEnv); name != "" {
		runFixture(name)
		return
	}
	dir, err := os.MkdirTemp("", "lambdart-bin-*")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	testenv.StopMoto()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// echoReply is what the echo fixture answers: the event and what the
// runtime client made of the invocation's headers and environment.
type echoReply struct {
	Event      json.RawMessage `json:"event"`
	RequestID  string          `json:"request_id"`
	ARN        string          `json:"arn"`
	Function   string          `json:"function"`
	Region     string          `json:"region"`
	Handler    string          `json:"handler"`
	Extra      string          `json:"extra"`
	DeadlineMs int64           `json:"deadline_ms"`
	TraceID    string          `json:"trace_id"`
	PID        int             `json:"pid"`
}

// failingReader yields some bytes, then fails: the runtime client reports
// that in the response trailers.
type failingReader struct{ sent bool }

func (r *failingReader) Read(p []byte) (int, error) {
	if !r.sent {
		r.sent = true
		return copy(p, "partial "), nil
	}
	return 0, errors.New("the stream broke on purpose")
}

func runFixture(name string) {
	switch name {
	case "echo":
		fmt.Println("echo init")
		lambda.Start(func(ctx context.Context, ev json.RawMessage) (echoReply, error) {
			lc, _ := lambdacontext.FromContext(ctx)
			dl, _ := ctx.Deadline()
			trace, _ := ctx.Value("x-amzn-trace-id").(string)
			fmt.Printf("echo handled %s\n", lc.AwsRequestID)
			return echoReply{Event: ev, RequestID: lc.AwsRequestID, ARN: lc.InvokedFunctionArn, Function: lambdacontext.FunctionName,
				Region: os.Getenv("AWS_REGION"), Handler: os.Getenv("_HANDLER"), Extra: os.Getenv("FIXTURE_EXTRA"), DeadlineMs: dl.UnixMilli(), TraceID: trace, PID: os.Getpid()}, nil
		})
	case "fail":
		lambda.Start(func(context.Context, json.RawMessage) (string, error) {
			return "", errors.New("the handler failed on purpose")
		})
	case "panic":
		lambda.Start(func(context.Context, json.RawMessage) (string, error) {
			panic("kaput")
		})
	case "sleep":
		lambda.Start(func(ctx context.Context, _ json.RawMessage) (string, error) {
			<-ctx.Done()
			time.Sleep(time.Minute) // ignores its deadline
			return "too late", nil
		})
	case "big":
		lambda.Start(func(context.Context, json.RawMessage) (string, error) {
			return strings.Repeat("x", 7<<20), nil
		})
	case "midstream":
		lambda.Start(func(context.Context, json.RawMessage) (io.Reader, error) {
			return &failingReader{}, nil
		})
	case "url":
		lambdaurl.Start(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			w.Header().Set("Content-Type", "text/plain")
			w.Header().Set("X-Fixture", "yes")
			http.SetCookie(w, &http.Cookie{Name: "session", Value: "abc"})
			w.WriteHeader(http.StatusCreated)
			// NUL bytes in the body must not be taken for the separator.
			fmt.Fprintf(w, "%s %s?%s\x00\x00\x00\x00\x00\x00\x00\x00%s", r.Method, r.URL.Path, r.URL.RawQuery, body)
		}))
	case "exit":
		fmt.Fprintln(os.Stderr, "cannot start: missing configuration")
		os.Exit(3)
	case "init-error":
		// What custom runtimes do when their initialisation fails.
		url := "http://" + os.Getenv("AWS_LAMBDA_RUNTIME_API") + "/2018-06-01/runtime/init/error"
		req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader([]byte(`{"errorType":"Config.Missing","errorMessage":"parameter /x/teleport/address is missing"}`)))
		req.Header.Set("Lambda-Runtime-Function-Error-Type", "Config.Missing")
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != http.StatusAccepted {
			fmt.Fprintln(os.Stderr, "init/error not accepted:", err)
			os.Exit(2)
		}
		os.Exit(1)
	default:
		fmt.Fprintln(os.Stderr, "unknown fixture", name)
		os.Exit(2)
	}
}
