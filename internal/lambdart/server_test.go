package lambdart_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/oncallgate/oncallgate/internal/lambdart"
)

// startFixture serves the Runtime API and runs this test binary as the
// fixture function name.
func startFixture(t *testing.T, name string, env ...string) *lambdart.Server {
	t.Helper()
	s, err := lambdart.Start(t)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Run(os.Args[0], append([]string{fixtureEnv + "=" + name}, env...)); err != nil {
		t.Fatalf("run fixture %s: %v", name, err)
	}
	return s
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// waitExit waits for the function process to exit and returns how.
func waitExit(t *testing.T, s *lambdart.Server) error {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if done, err := s.Exited(); done {
			return err
		}
	}
	t.Fatal("the function process did not exit")
	return nil
}

func TestBufferedResponseCarriesTheInvocation(t *testing.T) {
	s := startFixture(t, "echo", "AWS_LAMBDA_FUNCTION_NAME=echo-fn", "AWS_REGION=eu-west-1", "FIXTURE_EXTRA=given")
	ctx := testContext(t)
	const timeout = 5 * time.Second
	var prevID string
	for i, ev := range []string{`{"n":1}`, `{"n":2,"nested":{"a":[1,2]}}`} {
		before := time.Now()
		res, err := s.Invoke(ctx, []byte(ev), timeout)
		if err != nil {
			t.Fatalf("invoke %d: %v", i, err)
		}
		if res.Error != nil {
			t.Fatalf("invoke %d failed: %v\nlogs:\n%s", i, res.Error, res.Logs)
		}
		var got echoReply
		if err := json.Unmarshal(res.Payload, &got); err != nil {
			t.Fatalf("payload %q: %v", res.Payload, err)
		}
		switch {
		case string(got.Event) != ev:
			t.Errorf("event = %s, want %s", got.Event, ev)
		case res.RequestID == "" || got.RequestID != res.RequestID || res.RequestID == prevID:
			t.Errorf("request ID: runtime saw %q, result says %q, previous %q", got.RequestID, res.RequestID, prevID)
		case got.ARN != "arn:aws:lambda:eu-west-1:123456789012:function:echo-fn":
			t.Errorf("function ARN = %q", got.ARN)
		case got.Function != "echo-fn" || got.Region != "eu-west-1" || got.Handler != "bootstrap" || got.Extra != "given":
			t.Errorf("environment: %+v", got)
		case got.DeadlineMs < before.Add(timeout).UnixMilli()-1 || got.DeadlineMs > time.Now().Add(timeout).UnixMilli():
			t.Errorf("deadline %d is not delivery + %s", got.DeadlineMs, timeout)
		case !strings.HasPrefix(got.TraceID, "Root=1-"):
			t.Errorf("trace ID = %q", got.TraceID)
		case res.HTTP != nil:
			t.Errorf("a buffered response decoded as HTTP: %+v", res.HTTP)
		}
		logs := string(res.Logs)
		if !strings.Contains(logs, "echo handled "+res.RequestID) {
			t.Errorf("logs of invocation %d lack its line: %q", i, logs)
		}
		if hasInit := strings.Contains(logs, "echo init"); hasInit != (i == 0) {
			t.Errorf("logs of invocation %d: init line present = %v: %q", i, hasInit, logs)
		}
		if prevID != "" && strings.Contains(logs, prevID) {
			t.Errorf("logs of invocation %d repeat the previous one: %q", i, logs)
		}
		prevID = res.RequestID
	}
	if !strings.Contains(string(s.Logs()), "echo init") {
		t.Errorf("Logs() lacks the init line: %q", s.Logs())
	}
}

func TestFunctionFailuresAreReported(t *testing.T) {
	cases := []struct {
		name, fixture string
		timeout       time.Duration
		wantType      string
		wantMessage   string
		wantLog       string
		// exits: the process is gone afterwards and the next invocation
		// reports Runtime.ExitError; otherwise it answers the next one.
		exits bool
	}{
		{name: "returned error", fixture: "fail", wantType: "errorString", wantMessage: "the handler failed on purpose"},
		{name: "panic, then the runtime exits", fixture: "panic", wantType: "string", wantMessage: "kaput", exits: true},
		{name: "exit during init", fixture: "exit", wantType: lambdart.ErrorTypeExit, wantMessage: "Runtime exited with error: exit status 3", wantLog: "cannot start: missing configuration", exits: true},
		{name: "init error posted by the runtime", fixture: "init-error", wantType: "Config.Missing", wantMessage: "parameter /x/teleport/address is missing", exits: true},
		{name: "error after the stream started", fixture: "midstream", wantType: "errorString", wantMessage: "the stream broke on purpose"},
		{name: "response over 6 MB", fixture: "big", wantType: lambdart.ErrorTypeTooLarge, wantMessage: "(6291456 bytes)", exits: true},
		{name: "deadline passes", fixture: "sleep", timeout: 300 * time.Millisecond, wantType: lambdart.ErrorTypeTimeout, wantMessage: "Task timed out after 0.30 seconds", exits: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := startFixture(t, c.fixture)
			ctx := testContext(t)
			res, err := s.Invoke(ctx, []byte(`{}`), c.timeout)
			if err != nil {
				t.Fatal(err)
			}
			if res.Error == nil {
				t.Fatalf("no error; payload %q", res.Payload)
			}
			if res.Error.Type != c.wantType || !strings.Contains(res.Error.Message, c.wantMessage) {
				t.Errorf("error = %q / %q, want %q / ...%q...", res.Error.Type, res.Error.Message, c.wantType, c.wantMessage)
			}
			if !strings.Contains(string(res.Logs), c.wantLog) {
				t.Errorf("logs lack %q: %q", c.wantLog, res.Logs)
			}
			if c.exits {
				waitExit(t, s)
			}
			again, err := s.Invoke(ctx, []byte(`{}`), c.timeout)
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case again.Error == nil:
				t.Errorf("second invocation succeeded: %q", again.Payload)
			case c.fixture == "init-error" && again.Error.Type != c.wantType:
				t.Errorf("after the init error: %v, want it again", again.Error)
			case c.exits && c.fixture != "init-error" && again.Error.Type != lambdart.ErrorTypeExit:
				t.Errorf("after the exit: %v, want %s", again.Error, lambdart.ErrorTypeExit)
			case !c.exits && again.Error.Type != c.wantType:
				t.Errorf("warm process answered %v, want the same failure", again.Error)
			}
		})
	}
}

func TestStreamedFunctionURLResponseIsDecoded(t *testing.T) {
	s := startFixture(t, "url")
	req := events.LambdaFunctionURLRequest{
		Version: "2.0", RawPath: "/hello", RawQueryString: "a=1", Body: "payload",
		Headers: map[string]string{"content-type": "text/plain"},
		RequestContext: events.LambdaFunctionURLRequestContext{
			DomainName: "abcdefg.lambda-url.us-east-1.on.aws",
			HTTP:       events.LambdaFunctionURLRequestContextHTTPDescription{Method: http.MethodPost, Path: "/hello"},
		},
	}
	ev, _ := json.Marshal(req)
	for i := range 2 {
		res, err := s.Invoke(testContext(t), ev, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if res.Error != nil || res.HTTP == nil {
			t.Fatalf("invoke %d: error %v, HTTP %v, payload %q", i, res.Error, res.HTTP, res.Payload)
		}
		h := res.HTTP
		wantBody := "POST /hello?a=1\x00\x00\x00\x00\x00\x00\x00\x00payload"
		switch {
		case res.ContentType != "application/vnd.awslambda.http-integration-response":
			t.Errorf("content type = %q", res.ContentType)
		case h.StatusCode != http.StatusCreated:
			t.Errorf("status = %d", h.StatusCode)
		case h.Headers["X-Fixture"] != "yes" || h.Headers["Content-Type"] != "text/plain":
			t.Errorf("headers = %v", h.Headers)
		case !slices.Equal(h.Cookies, []string{"session=abc"}):
			t.Errorf("cookies = %v", h.Cookies)
		case string(h.Body) != wantBody:
			t.Errorf("body = %q, want %q", h.Body, wantBody)
		}
	}
}

func TestRunStopRun(t *testing.T) {
	s := startFixture(t, "echo")
	if err := s.Run(os.Args[0], []string{fixtureEnv + "=echo"}); !errors.Is(err, lambdart.ErrRunning) {
		t.Fatalf("second Run = %v, want ErrRunning", err)
	}
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	if done, err := s.Exited(); !done || err == nil {
		t.Fatalf("after Stop: exited=%v err=%v", done, err)
	}
	if err := s.Run(os.Args[0], []string{fixtureEnv + "=echo"}); err != nil {
		t.Fatalf("Run after Stop: %v", err)
	}
	res, err := s.Invoke(testContext(t), []byte(`{"again":true}`), 0)
	if err != nil || res.Error != nil {
		t.Fatalf("invoke after restart: %v %v", err, res.Error)
	}
	if !strings.Contains(string(res.Logs), "echo init") {
		t.Errorf("the restarted process's first invocation lacks its init logs: %q", res.Logs)
	}
}

func TestPIDNamesTheRunningFunctionProcess(t *testing.T) {
	s, err := lambdart.Start(t)
	if err != nil {
		t.Fatal(err)
	}
	if pid := s.PID(); pid != 0 {
		t.Fatalf("PID before Run = %d, want 0", pid)
	}
	// Each run's process, seen from inside, is the one PID names.
	for run := range 2 {
		if err := s.Run(os.Args[0], []string{fixtureEnv + "=echo"}); err != nil {
			t.Fatal(err)
		}
		res, err := s.Invoke(testContext(t), []byte(`{}`), 0)
		if err != nil || res.Error != nil {
			t.Fatalf("run %d: invoke: %v %v", run, err, res.Error)
		}
		var got echoReply
		if err := json.Unmarshal(res.Payload, &got); err != nil {
			t.Fatalf("payload %q: %v", res.Payload, err)
		}
		if pid := s.PID(); pid <= 0 || pid != got.PID {
			t.Fatalf("run %d: PID() = %d, the function says it is %d", run, pid, got.PID)
		}
		if err := s.Stop(); err != nil {
			t.Fatal(err)
		}
		if pid := s.PID(); pid != got.PID {
			t.Errorf("run %d: PID() after Stop = %d, want the last process's %d", run, pid, got.PID)
		}
	}
}

func TestInvokeRefusals(t *testing.T) {
	t.Run("event that is not JSON", func(t *testing.T) {
		s, _ := lambdart.Start(t)
		if _, err := s.Invoke(testContext(t), []byte("not json"), 0); !errors.Is(err, lambdart.ErrInvalidEvent) {
			t.Fatalf("err = %v, want ErrInvalidEvent", err)
		}
	})
	t.Run("no runtime asks before the context ends", func(t *testing.T) {
		s, _ := lambdart.Start(t)
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		if _, err := s.Invoke(ctx, []byte(`{}`), 0); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v, want context.DeadlineExceeded", err)
		}
	})
	t.Run("closed server", func(t *testing.T) {
		s, _ := lambdart.Start(t)
		_ = s.Close()
		if _, err := s.Invoke(testContext(t), []byte(`{}`), 0); !errors.Is(err, lambdart.ErrClosed) {
			t.Fatalf("Invoke = %v, want ErrClosed", err)
		}
		if err := s.Run(os.Args[0], nil); !errors.Is(err, lambdart.ErrClosed) {
			t.Fatalf("Run = %v, want ErrClosed", err)
		}
	})
}

func TestRuntimeAPIRefusesWhatItCannotHonour(t *testing.T) {
	s, err := lambdart.Start(t)
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + s.Addr() + "/2018-06-01/runtime"
	cases := []struct {
		name, method, path string
		wantStatus         int
		wantType           string
	}{
		{"response for an unknown request ID", http.MethodPost, "/invocation/no-such-id/response", http.StatusBadRequest, "InvalidRequestID"},
		{"error for an unknown request ID", http.MethodPost, "/invocation/no-such-id/error", http.StatusBadRequest, "InvalidRequestID"},
		{"init error without a process", http.MethodPost, "/init/error", http.StatusForbidden, "InvalidStateTransition"},
		{"unknown resource", http.MethodGet, "/extension/register", http.StatusNotFound, "UnknownResource"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req, _ := http.NewRequest(c.method, base+c.path, strings.NewReader(`{}`))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var fe lambdart.FunctionError
			_ = json.NewDecoder(resp.Body).Decode(&fe)
			if resp.StatusCode != c.wantStatus || fe.Type != c.wantType {
				t.Errorf("%s %s = %d %q, want %d %q", c.method, c.path, resp.StatusCode, fe.Type, c.wantStatus, c.wantType)
			}
		})
	}
}
