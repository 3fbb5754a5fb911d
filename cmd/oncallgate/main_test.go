package main

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/oncallgate/oncallgate/internal/testenv"
)

// childEnv makes the test binary run the CLI itself (main), so that tests
// can start `oncallgate local` as a process and send it real signals.
const childEnv = "ONCALLGATE_CLI_TEST_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		os.Exit(cli(os.Args[1:]))
	}
	// Never let the AWS SDK ask the EC2 metadata service (a non-loopback
	// address) for credentials or a region.
	os.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	testenv.Main(m)
}

// runCLI runs the command line in-process and returns its exit code,
// stdout and stderr.
func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out, errOut bytes.Buffer
	code := run(ctx, args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestHelpListsCommandsAndDescribesEachOne(t *testing.T) {
	code, out, _ := runCLI(t, "--help")
	if code != exitOK {
		t.Fatalf("oncallgate --help exited %d", code)
	}
	for _, c := range commands {
		if !strings.Contains(out, "  "+c.name+" ") {
			t.Errorf("oncallgate --help does not list %s:\n%s", c.name, out)
		}
	}
	wantFlags := map[string][]string{
		"configure": {"-local", "-prefix"},
		"check":     {"-config", "-prefix", "-table", "-services", "-schedules", "-dynamodb-endpoint"},
		"local":     {"-config", "-prefix", "-table", "-listen", "-poll-interval", "-reconcile-interval", "-dynamodb-endpoint", "-create-table", "-watch", "-grace", "-log"},
		"sandbox":   {"-log", "-moto"},
		"actions":   {"-config", "-prefix", "-url", "-services"},
	}
	for _, c := range commands {
		t.Run(c.name, func(t *testing.T) {
			code, out, _ := runCLI(t, c.name, "--help")
			if code != exitOK {
				t.Fatalf("exit %d", code)
			}
			if !strings.HasPrefix(out, "Usage: oncallgate "+c.name) || !strings.Contains(out, "\nFlags:\n") {
				t.Errorf("help lacks usage line or flags:\n%s", out)
			}
			for _, f := range wantFlags[c.name] {
				if !strings.Contains(out, "  "+f+" ") && !strings.Contains(out, "  "+f+"\n") {
					t.Errorf("help does not document %s:\n%s", f, out)
				}
			}
		})
	}
}

func TestUsageErrorsExitTwo(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"no command", nil, "Usage: oncallgate <command>"},
		{"unknown command", []string{"deploy"}, `unknown command "deploy"`},
		{"unknown flag", []string{"check", "--nope"}, "flag provided but not defined: -nope"},
		{"check without a source", []string{"check"}, "give exactly one of --config FILE and --prefix PREFIX"},
		{"check with both sources", []string{"check", "--config", "x.yaml", "--prefix", "/p/"}, "give exactly one of"},
		{"local without a source", []string{"local"}, "give exactly one of --config FILE and --prefix PREFIX"},
		{"local with a zero interval", []string{"local", "--config", "x.yaml", "--poll-interval", "0s"}, "must be positive"},
		{"stray argument", []string{"configure", "extra"}, `unexpected argument "extra"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, errOut := runCLI(t, tt.args...)
			if code != exitUsage {
				t.Errorf("exit %d, want %d", code, exitUsage)
			}
			if !strings.Contains(errOut, tt.wantErr) {
				t.Errorf("stderr %q does not say %q", errOut, tt.wantErr)
			}
		})
	}
}
