// Command invoke runs one of oncallgate's Lambda functions once on this
// machine, the way `sam local invoke` would but without Docker: it builds
// functions/<fn> for the host (or takes -bin), serves the Lambda Runtime API
// on 127.0.0.1 (internal/lambdart, a local stand-in never used in
// production), starts the binary against it with a Lambda environment,
// delivers the event, and prints the function's logs on stderr and its
// answer on stdout.
//
//	go run ./cmd/invoke -fn poller -event events/poller-schedule.json [-bin path] [-env KEY=VAL ...] [-timeout 60s]
//
// The function gets HOME, ONCALLGATE_* and AWS_* (but not AWS_LAMBDA_*)
// from this environment, so the configuration it reads is the one your
// shell points at (AWS_PROFILE, AWS_ENDPOINT_URL, ONCALLGATE_TABLE, ...),
// then every -env, which wins. Run it from the repository root.
//
// Exit status: 0 when the function answered, 1 when it failed (returned an
// error, panicked, crashed or timed out), 2 when it could not be run.
package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/oncallgate/oncallgate/internal/lambdart"
)

const (
	// defaultTimeout is the function timeout unless -timeout says otherwise.
	defaultTimeout = 60 * time.Second
	// initTimeout is Lambda's limit on a function's initialisation, added
	// to the wait for the answer.
	initTimeout = 10 * time.Second
	// buildTimeout bounds compiling the function (a cold build of a
	// function with the Teleport client takes about two minutes).
	buildTimeout = 10 * time.Minute

	exitFunctionError = 1
	exitUsage         = 2
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Environ(), os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// envFlag collects repeated -env KEY=VALUE flags.
type envFlag []string

func (e *envFlag) String() string { return strings.Join(*e, " ") }

func (e *envFlag) Set(v string) error {
	if k, _, ok := strings.Cut(v, "="); !ok || k == "" {
		return fmt.Errorf("%q is not KEY=VALUE", v)
	}
	*e = append(*e, v)
	return nil
}

// run is main without the process: it returns the exit status.
func run(ctx context.Context, args, environ []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("invoke", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fn := fs.String("fn", "", "function to run: the directory name under functions/ (poller, webhook, reconcile)")
	eventPath := fs.String("event", "", "file holding the event JSON (samples in events/)")
	bin := fs.String("bin", "", "function binary to run instead of building functions/<fn> for this machine")
	timeout := fs.Duration("timeout", defaultTimeout, "function timeout: the deadline the handler sees")
	var env envFlag
	fs.Var(&env, "env", "KEY=VALUE added to the function's environment (repeatable; wins over inherited variables)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: go run ./cmd/invoke -fn poller -event events/poller-schedule.json [-bin path] [-env KEY=VAL ...] [-timeout 60s]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if *fn == "" || *eventPath == "" || fs.NArg() > 0 || filepath.Base(*fn) != *fn {
		fs.Usage()
		return exitUsage
	}
	event, err := os.ReadFile(*eventPath)
	if err != nil {
		fmt.Fprintf(stderr, "invoke: read the event: %v\n", err)
		return exitUsage
	}
	if !json.Valid(event) {
		fmt.Fprintf(stderr, "invoke: %s is not JSON\n", *eventPath)
		return exitUsage
	}

	path := *bin
	if path == "" {
		dir, err := os.MkdirTemp("", "oncallgate-invoke-*")
		if err != nil {
			fmt.Fprintf(stderr, "invoke: %v\n", err)
			return exitUsage
		}
		defer os.RemoveAll(dir)
		if path, err = build(ctx, *fn, dir, stderr); err != nil {
			fmt.Fprintf(stderr, "invoke: %v\n", err)
			return exitUsage
		}
	}

	s, err := lambdart.Start()
	if err != nil {
		fmt.Fprintf(stderr, "invoke: %v\n", err)
		return exitUsage
	}
	defer s.Close()
	fullEnv := append([]string{"AWS_LAMBDA_FUNCTION_NAME=" + *fn}, inherited(environ)...)
	if err := s.Run(path, append(fullEnv, env...)); err != nil {
		fmt.Fprintf(stderr, "invoke: %v\n", err)
		return exitUsage
	}
	ictx, cancel := context.WithTimeout(ctx, initTimeout+*timeout+time.Second)
	defer cancel()
	res, err := s.Invoke(ictx, event, *timeout)
	if err != nil {
		fmt.Fprintf(stderr, "invoke: %v\n", err)
		fmt.Fprintf(stderr, "--- function logs ---\n%s", s.Logs())
		return exitUsage
	}
	report(res, stdout, stderr)
	if res.Error != nil {
		return exitFunctionError
	}
	return 0
}

// build compiles functions/<fn> of the module in the working directory.
func build(ctx context.Context, fn, dir string, stderr io.Writer) (string, error) {
	pkg := "./" + filepath.ToSlash(filepath.Join("functions", fn))
	if st, err := os.Stat(pkg); err != nil || !st.IsDir() {
		return "", fmt.Errorf("no function %s: %s is missing (run from the repository root, or pass -bin)", fn, pkg)
	}
	out := filepath.Join(dir, fn, "bootstrap")
	fmt.Fprintf(stderr, "building %s for %s/%s\n", pkg, runtime.GOOS, runtime.GOARCH)
	bctx, cancel := context.WithTimeout(ctx, buildTimeout)
	defer cancel()
	if err := lambdart.Build(bctx, ".", pkg, out); err != nil {
		return "", err
	}
	return out, nil
}

// inherited picks what the function may see of this environment.
func inherited(environ []string) []string {
	var out []string
	for _, kv := range environ {
		k, _, _ := strings.Cut(kv, "=")
		switch {
		case k == "HOME",
			strings.HasPrefix(k, "ONCALLGATE_"),
			strings.HasPrefix(k, "AWS_") && !strings.HasPrefix(k, "AWS_LAMBDA_"):
			out = append(out, kv)
		}
	}
	return out
}

// urlResponse prints a streamed function URL response in the shape of a
// buffered one (events.LambdaFunctionURLResponse).
type urlResponse struct {
	StatusCode      int               `json:"statusCode"`
	Headers         map[string]string `json:"headers,omitempty"`
	Cookies         []string          `json:"cookies,omitempty"`
	Body            string            `json:"body"`
	IsBase64Encoded bool              `json:"isBase64Encoded"`
}

// report writes the logs and a Lambda-style REPORT line to stderr and the
// answer (or the error document) to stdout.
func report(res lambdart.Result, stdout, stderr io.Writer) {
	fmt.Fprintf(stderr, "--- function logs ---\n%s", res.Logs)
	if len(res.Logs) > 0 && !bytes.HasSuffix(res.Logs, []byte("\n")) {
		fmt.Fprintln(stderr)
	}
	fmt.Fprintf(stderr, "REPORT RequestId: %s\tDuration: %.2f ms\n", res.RequestID, float64(res.Duration.Microseconds())/1000)

	var out []byte
	switch {
	case res.Error != nil:
		out, _ = json.MarshalIndent(res.Error, "", "  ")
	case res.HTTP != nil:
		r := urlResponse{StatusCode: res.HTTP.StatusCode, Headers: res.HTTP.Headers, Cookies: res.HTTP.Cookies}
		if utf8.Valid(res.HTTP.Body) {
			r.Body = string(res.HTTP.Body)
		} else {
			r.Body, r.IsBase64Encoded = base64.StdEncoding.EncodeToString(res.HTTP.Body), true
		}
		out, _ = json.MarshalIndent(r, "", "  ")
	default:
		var buf bytes.Buffer
		if err := json.Indent(&buf, res.Payload, "", "  "); err != nil {
			out = res.Payload // not JSON: as the function sent it
		} else {
			out = buf.Bytes()
		}
	}
	_, _ = stdout.Write(append(out, '\n'))
}
