package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-lambda-go/lambdaurl"
)

// fixtureEnv makes this test binary, when invoke starts it with -bin, act
// as the Lambda function it names (aws-lambda-go's real runtime client
// talking to the emulator) instead of running tests.
const fixtureEnv = "INVOKE_TEST_FIXTURE"

func TestMain(m *testing.M) {
	if name := os.Getenv(fixtureEnv); name != "" {
		runFixture(name)
		return
	}
	os.Exit(m.Run())
}

// seen is what the echo fixture answers.
type seen struct {
	Event    json.RawMessage   `json:"event"`
	Function string            `json:"function"`
	Env      map[string]string `json:"env"`
}

func runFixture(name string) {
	switch name {
	case "echo":
		lambda.Start(func(ctx context.Context, ev json.RawMessage) (seen, error) {
			lc, _ := lambdacontext.FromContext(ctx)
			fmt.Printf("fixture handled %s\n", lc.AwsRequestID)
			env := map[string]string{}
			for _, k := range []string{"ONCALLGATE_TABLE", "AWS_REGION", "AWS_LAMBDA_LOG_LEVEL", "UNRELATED", "HOME", "EXTRA"} {
				env[k] = os.Getenv(k)
			}
			return seen{Event: ev, Function: lambdacontext.FunctionName, Env: env}, nil
		})
	case "fail":
		lambda.Start(func(context.Context, json.RawMessage) (string, error) {
			fmt.Println("about to fail")
			return "", errors.New("the handler failed on purpose")
		})
	case "url":
		lambdaurl.Start(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusAccepted)
			fmt.Fprintf(w, `{"path":%q}`, r.URL.Path)
		}))
	default:
		fmt.Fprintln(os.Stderr, "unknown fixture", name)
		os.Exit(2)
	}
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func invoke(t *testing.T, environ []string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out, errOut bytes.Buffer
	code = run(ctx, args, environ, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestInvokePrintsTheAnswerAndTheLogs(t *testing.T) {
	event := filepath.Join("..", "..", "events", "poller-schedule.json")
	environ := []string{
		"ONCALLGATE_TABLE=from-shell", "AWS_REGION=eu-west-1", "AWS_LAMBDA_LOG_LEVEL=DEBUG",
		"UNRELATED=leak", "HOME=/home/dev", "EXTRA=shell",
	}
	code, stdout, stderr := invoke(t, environ, "-fn", "poller", "-event", event, "-bin", os.Args[0],
		"-env", fixtureEnv+"=echo", "-env", "EXTRA=flag")
	if code != 0 {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	var got seen
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatalf("stdout is not the answer: %v\n%s", err, stdout)
	}
	want, _ := os.ReadFile(event)
	var compactWant, compactGot bytes.Buffer
	_ = json.Compact(&compactWant, want)
	_ = json.Compact(&compactGot, got.Event)
	wantEnv := map[string]string{
		"ONCALLGATE_TABLE": "from-shell", "AWS_REGION": "eu-west-1", "HOME": "/home/dev", "EXTRA": "flag",
		"AWS_LAMBDA_LOG_LEVEL": "", // Lambda's own variables are not inherited
		"UNRELATED":            "",
	}
	if compactGot.String() != compactWant.String() {
		t.Errorf("the function got %s, want the event file", got.Event)
	}
	if got.Function != "poller" {
		t.Errorf("function name = %q, want poller", got.Function)
	}
	for k, v := range wantEnv {
		if got.Env[k] != v {
			t.Errorf("function saw %s=%q, want %q", k, got.Env[k], v)
		}
	}
	if !strings.Contains(stderr, "fixture handled ") || !strings.Contains(stderr, "REPORT RequestId: ") {
		t.Errorf("stderr lacks the logs or the REPORT line:\n%s", stderr)
	}
}

func TestInvokeExitStatus(t *testing.T) {
	event := writeFile(t, "event.json", `{"rawPath":"/healthz","requestContext":{"http":{"method":"GET"}}}`)
	cases := []struct {
		name       string
		args       []string
		wantCode   int
		wantStdout string
		wantStderr string
	}{
		{"function error", []string{"-fn", "poller", "-event", event, "-bin", os.Args[0], "-env", fixtureEnv + "=fail"},
			exitFunctionError, `"errorMessage": "the handler failed on purpose"`, "about to fail"},
		{"streamed function URL response", []string{"-fn", "webhook", "-event", event, "-bin", os.Args[0], "-env", fixtureEnv + "=url"},
			0, `"statusCode": 202`, "REPORT RequestId"},
		{"function that exits at start", []string{"-fn", "poller", "-event", event, "-bin", os.Args[0], "-env", fixtureEnv + "=nonesuch"},
			exitFunctionError, `"errorType": "Runtime.ExitError"`, "unknown fixture nonesuch"},
		{"missing -fn", []string{"-event", event}, exitUsage, "", "usage:"},
		{"function name with a path", []string{"-fn", "../poller", "-event", event}, exitUsage, "", "usage:"},
		{"event file missing", []string{"-fn", "poller", "-event", "no-such.json"}, exitUsage, "", "read the event"},
		{"event that is not JSON", []string{"-fn", "poller", "-event", writeFile(t, "bad.json", "nope")}, exitUsage, "", "is not JSON"},
		{"bad -env", []string{"-fn", "poller", "-event", event, "-env", "NOEQUALS"}, exitUsage, "", "is not KEY=VALUE"},
		{"unknown function", []string{"-fn", "nonesuch", "-event", event}, exitUsage, "", "no function nonesuch"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, stdout, stderr := invoke(t, nil, c.args...)
			if code != c.wantCode || !strings.Contains(stdout, c.wantStdout) || !strings.Contains(stderr, c.wantStderr) {
				t.Errorf("exit %d, want %d\nstdout: %s\nstderr: %s", code, c.wantCode, stdout, stderr)
			}
		})
	}
}
