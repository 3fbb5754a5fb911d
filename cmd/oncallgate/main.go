// Command oncallgate is the operator CLI: it prints a commented
// configuration (configure), verifies Teleport, PagerDuty, Opsgenie/JSM and
// the DynamoDB table with the real credentials (check), runs the whole
// system on one machine (local) and tells the flow end to end over built-in
// simulated services (sandbox).
//
// It only parses flags, wires and prints: the system's behaviour lives in
// internal/ (app, core and the adapters), shared with the Lambda functions.
// It must never print a secret value.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

// Exit codes.
const (
	exitOK      = 0
	exitFailure = 1 // a check failed, the system could not start, ...
	exitUsage   = 2 // bad flags or arguments
)

// command is one subcommand.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) int
}

var commands = []command{
	{"configure", "print a commented configuration with every setting, its default and its SSM parameter", runConfigure},
	{"check", "verify Teleport, PagerDuty, Opsgenie/JSM and the DynamoDB table with a configuration", runCheck},
	{"local", "run the whole system on this machine: poller, reconcile and the webhook on localhost", runLocal},
	{"sandbox", "run a scripted tour of the flow over built-in simulated Teleport, PagerDuty and Opsgenie", runSandbox},
	{"actions", "install or update the PagerDuty \"Approve Request\"/\"Deny Request\" actions on services", runActions},
}

func main() { os.Exit(cli(os.Args[1:])) }

// cli runs the command line with SIGINT and SIGTERM cancelling its context.
func cli(args []string) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return run(ctx, args, os.Stdout, os.Stderr)
}

// run dispatches to the subcommand named by args[0].
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return exitUsage
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		usage(stdout)
		return exitOK
	}
	for _, c := range commands {
		if c.name == args[0] {
			return c.run(ctx, args[1:], stdout, stderr)
		}
	}
	fmt.Fprintf(stderr, "oncallgate: unknown command %q\n\n", args[0])
	usage(stderr)
	return exitUsage
}

func usage(w io.Writer) {
	fmt.Fprint(w, `oncallgate puts Teleport access requests in front of whoever is on call in
PagerDuty, Opsgenie or Jira Service Management Operations. It runs as AWS Lambda
functions (make deploy); this command helps set it up and try it.

Usage: oncallgate <command> [flags]

Commands:
`)
	for _, c := range commands {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprint(w, `
Run "oncallgate <command> --help" for a command's flags.
Start with "oncallgate sandbox" to see the whole flow in a minute.
`)
}

// newFlagSet returns a FlagSet whose help text is the command's synopsis,
// description and flags. Errors are printed by parseFlags, not by flag.
func newFlagSet(name, synopsis, description string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {
		w := fs.Output()
		fmt.Fprintf(w, "Usage: oncallgate %s %s\n\n%s\n\nFlags:\n", name, synopsis, wrap(description, 78))
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses args; ok is false when the command must end with code.
// --help prints the help to stdout (code 0); a bad flag prints the error
// and the help to stderr (code 2).
func parseFlags(fs *flag.FlagSet, args []string, stdout, stderr io.Writer) (code int, ok bool) {
	err := fs.Parse(args)
	switch {
	case err == flag.ErrHelp:
		fs.SetOutput(stdout)
		fs.Usage()
		return exitOK, false
	case err != nil:
		return usageError(fs, stderr, "%v", err), false
	case fs.NArg() > 0:
		return usageError(fs, stderr, "unexpected argument %q", fs.Arg(0)), false
	}
	return exitOK, true
}

// usageError reports a bad flag or flag combination.
func usageError(fs *flag.FlagSet, stderr io.Writer, format string, args ...any) int {
	fmt.Fprintf(stderr, "oncallgate %s: %s\nRun \"oncallgate %s --help\" for its flags.\n", fs.Name(), fmt.Sprintf(format, args...), fs.Name())
	return exitUsage
}

// wrap breaks text into lines of at most width characters, keeping blank
// lines (paragraphs) and lines that start with spaces (examples) as they
// are.
func wrap(text string, width int) string {
	var out []string
	for _, para := range strings.Split(text, "\n") {
		if para == "" || strings.HasPrefix(para, " ") {
			out = append(out, para)
			continue
		}
		line := ""
		for _, word := range strings.Fields(para) {
			switch {
			case line == "":
				line = word
			case len(line)+1+len(word) > width:
				out = append(out, line)
				line = word
			default:
				line += " " + word
			}
		}
		out = append(out, line)
	}
	return strings.Join(out, "\n")
}
