package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/google/uuid"

	"github.com/oncallgate/oncallgate/internal/app"
	"github.com/oncallgate/oncallgate/internal/config"
	"github.com/oncallgate/oncallgate/internal/core"
	"github.com/oncallgate/oncallgate/internal/logging"
	"github.com/oncallgate/oncallgate/internal/store"
)

const localDescription = `Runs the whole system on this machine against the real Teleport and providers of the configuration: the poller every --poll-interval (and at once when Teleport reports a new or changed request, with --watch), reconcile every --reconcile-interval, and the webhook that PagerDuty custom incident actions and Opsgenie/JSM webhook integrations call, on --listen. It is the same code as the Lambda functions, scheduled in-process.

State lives in a DynamoDB table (--table): in AWS with the default credentials, or in a local DynamoDB-compatible server with --dynamodb-endpoint (or AWS_ENDPOINT_URL). --create-table creates it.

The configuration comes from a local file (--config; it is read again when it changes) or from SSM and Secrets Manager below --prefix.

` + localFileHelp + `

SIGINT (Ctrl-C) or SIGTERM stops it cleanly: no new run starts, a running poll or reconcile finishes (for at most --grace), open webhook calls are answered, and it exits 0. The app's JSON logs go to stderr or to --log.

The webhook listens on localhost; for real providers to reach it, put a tunnel or reverse proxy with TLS in front.

Example:
  oncallgate local --config oncallgate.local.yaml --create-table`

// Bounds of one scheduled run, like the Lambda functions' timeouts.
const (
	pollRunTimeout      = time.Minute
	reconcileRunTimeout = 5 * time.Minute
	// watchMinGap spaces polls triggered by watch events.
	watchMinGap = time.Second
	// watchRetryMin and watchRetryMax bound the wait before watching again
	// after the watcher broke.
	watchRetryMin = 2 * time.Second
	watchRetryMax = time.Minute
	// readHeaderTimeout bounds a webhook client's request headers.
	readHeaderTimeout = 10 * time.Second
	// startTimeout bounds the checks made before serving.
	startTimeout = 30 * time.Second
	// closeTimeout bounds closing the Teleport connection at the end.
	closeTimeout = 5 * time.Second
)

// localFlags are local's settings.
type localFlags struct {
	file, prefix, table, listen, endpoint, logPath string
	pollEvery, reconcileEvery, grace               time.Duration
	createTable, watch                             bool
}

func runLocal(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("local", "--config FILE | --prefix /oncallgate/ [flags]", localDescription)
	var f localFlags
	fs.StringVar(&f.file, "config", "", "local configuration file (see above)")
	fs.StringVar(&f.prefix, "prefix", "", "SSM prefix to read the configuration from instead, e.g. /oncallgate/")
	fs.StringVar(&f.table, "table", "", "DynamoDB table (default: the file's table, or $ONCALLGATE_TABLE)")
	fs.StringVar(&f.listen, "listen", "127.0.0.1:8080", "address the webhook listens on")
	fs.DurationVar(&f.pollEvery, "poll-interval", time.Minute, "time between polls")
	fs.DurationVar(&f.reconcileEvery, "reconcile-interval", 15*time.Minute, "time between reconcile runs")
	fs.StringVar(&f.endpoint, "dynamodb-endpoint", "", "DynamoDB endpoint URL of a local DynamoDB-compatible server")
	fs.BoolVar(&f.createTable, "create-table", false, "create the table (with its index and TTL) when it does not exist")
	fs.BoolVar(&f.watch, "watch", true, "watch Teleport and poll as soon as a request is created or changes")
	fs.DurationVar(&f.grace, "grace", 30*time.Second, "on SIGINT/SIGTERM, how long the running poll and open webhook calls may take to finish")
	fs.StringVar(&f.logPath, "log", "", "append the app's JSON logs to this file instead of stderr")
	if code, ok := parseFlags(fs, args, stdout, stderr); !ok {
		return code
	}
	switch {
	case (f.file == "") == (f.prefix == ""):
		return usageError(fs, stderr, "give exactly one of --config FILE and --prefix PREFIX")
	case f.pollEvery <= 0 || f.reconcileEvery <= 0:
		return usageError(fs, stderr, "--poll-interval and --reconcile-interval must be positive")
	case f.grace < 0:
		return usageError(fs, stderr, "--grace must not be negative")
	}
	con := &console{w: stdout}
	logs := stderr
	if f.logPath != "" {
		lf, err := os.OpenFile(f.logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
		if err != nil {
			fmt.Fprintf(stderr, "oncallgate local: open log file: %v\n", err)
			return exitFailure
		}
		defer lf.Close()
		logs = lf
	}

	ctx = logging.WithLogger(ctx, logging.New(logs, slog.LevelInfo))
	a, err := buildLocalApp(ctx, f, con, logs)
	if errors.Is(err, errNoTable) {
		return usageError(fs, stderr, "name the DynamoDB table with --table, the file's table, or $%s", config.EnvTable)
	}
	if err != nil {
		fmt.Fprintf(stderr, "oncallgate local: %v\n", err)
		return exitFailure
	}
	return serveLocal(ctx, a, f, con)
}

var errNoTable = errors.New("no table named")

// buildLocalApp builds the App from the flags and verifies, before
// serving, that the configuration is valid and the table answers.
func buildLocalApp(ctx context.Context, f localFlags, con *console, logs io.Writer) (*app.App, error) {
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	env := config.Env{Prefix: f.prefix, Table: firstNonEmpty(f.table, os.Getenv(config.EnvTable))}
	var source app.ConfigSource
	origin := "SSM below " + f.prefix
	if f.file != "" {
		fsrc := newFileSource(f.file)
		if _, err := fsrc.Get(ctx); err != nil {
			return nil, err
		}
		source, origin = fsrc, "config file "+f.file
		env.Table = firstNonEmpty(f.table, fsrc.File().Table, os.Getenv(config.EnvTable))
	}
	if env.Table == "" {
		return nil, errNoTable
	}
	awsCfg, err := config.LoadAWS(ctx)
	if err != nil {
		return nil, err
	}
	ddb, err := dynamoClient(ctx, f.endpoint)
	if err != nil {
		return nil, err
	}
	if f.createTable {
		if err := store.CreateTable(ctx, ddb, env.Table); err != nil {
			return nil, err
		}
		con.printf("table %s is ready", env.Table)
	}
	a, err := app.New(app.Options{Env: env, AWS: awsCfg, Config: source, DynamoDB: ddb, Function: "local", Stdout: logs, OwnWatcher: true})
	if err != nil {
		return nil, err
	}
	ctx = a.Context(ctx)
	s, err := a.Services(ctx)
	if err != nil {
		return nil, fmt.Errorf("%w (from %s)", err, origin)
	}
	_, err = a.Store.GetRequestRecord(ctx, "oncallgate-local-"+uuid.NewString())
	switch {
	case errors.Is(err, store.ErrTableNotFound):
		return nil, fmt.Errorf("table %s does not exist; pass --create-table to create it", env.Table)
	case err != nil && !errors.Is(err, core.ErrNotFound):
		return nil, fmt.Errorf("read table %s: %w", env.Table, err)
	}
	info, err := s.Teleport.Ping(ctx)
	if err != nil {
		return nil, fmt.Errorf("%w (oncallgate check tells what else is wrong)", err)
	}
	names := make([]string, len(s.Config.Providers))
	for i, p := range s.Config.Providers {
		names[i] = string(p)
	}
	con.printf("configuration from %s: providers %s; table %s", origin, strings.Join(names, ", "), env.Table)
	con.printf("teleport: connected to cluster %s (Teleport %s) at %s", info.ClusterName, info.Version, s.Config.Teleport.Address)
	if !info.ReviewsSupported {
		con.printf("teleport: this cluster takes no reviews (Teleport Community Edition): alerts work, approvals do not")
	}
	return a, nil
}

// serveLocal serves the webhook and runs the schedule until ctx ends.
func serveLocal(ctx context.Context, a *app.App, f localFlags, con *console) int {
	ln, err := net.Listen("tcp", f.listen)
	if err != nil {
		con.printf("cannot listen on %s: %v", f.listen, err)
		return exitFailure
	}
	srv := &http.Server{Handler: a.WebhookHandler(), ReadHeaderTimeout: readHeaderTimeout}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	con.printf("webhook listening on http://%s (POST /pagerduty?action=approve|deny, /opsgenie, /jsm; GET /healthz)", ln.Addr())
	watching := ""
	if f.watch {
		watching = ", and at once on Teleport changes"
	}
	con.printf("polling every %s%s; reconciling every %s; Ctrl-C or SIGTERM stops", f.pollEvery, watching, f.reconcileEvery)

	// loopCtx ends scheduling; runCtx ends the runs themselves, only when
	// the grace period is over.
	loopCtx, stopLoop := context.WithCancel(ctx)
	defer stopLoop()
	runCtx, cancelRuns := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelRuns()
	s := &scheduler{app: a, con: con, pollEvery: f.pollEvery, reconcileEvery: f.reconcileEvery, trigger: make(chan struct{}, 1)}
	var wg sync.WaitGroup
	if f.watch {
		wg.Add(1)
		go func() { defer wg.Done(); s.watch(loopCtx) }()
	}
	loopDone := make(chan struct{})
	go func() { defer close(loopDone); s.loop(loopCtx, runCtx) }()

	code := exitOK
	select {
	case <-ctx.Done():
		con.printf("stopping: no new runs; a running one and open webhook calls get up to %s", f.grace)
	case err := <-serveErr:
		con.printf("webhook server failed: %v; stopping", err)
		code = exitFailure
	}
	stopLoop()
	cutoff := time.AfterFunc(f.grace, cancelRuns)
	defer cutoff.Stop()
	<-loopDone
	wg.Wait()
	shCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), f.grace)
	defer cancel()
	if err := srv.Shutdown(shCtx); err != nil {
		con.printf("webhook calls still open after %s were cut off: %v", f.grace, err)
		code = exitFailure
	}
	closeCtx, cancelClose := context.WithTimeout(context.WithoutCancel(ctx), closeTimeout)
	defer cancelClose()
	if sv, err := a.Services(closeCtx); err == nil {
		_ = sv.Teleport.Close()
	}
	if runCtx.Err() != nil {
		con.printf("the running poll was cut off after %s; reconcile repairs what it left", f.grace)
	}
	if code == exitOK {
		con.printf("stopped cleanly")
	}
	return code
}

// scheduler runs polls and reconciles one at a time, as the EventBridge
// schedules would (without their overlap).
type scheduler struct {
	app                       *app.App
	con                       *console
	pollEvery, reconcileEvery time.Duration
	// trigger asks for a poll soon (watch events); it holds at most one.
	trigger chan struct{}
}

// loop polls at once, then on every tick and trigger, until stop ends.
// Runs get runCtx, so a run that started finishes after stop.
func (s *scheduler) loop(stop, runCtx context.Context) {
	pollT := time.NewTicker(s.pollEvery)
	defer pollT.Stop()
	recT := time.NewTicker(s.reconcileEvery)
	defer recT.Stop()
	s.poll(runCtx, "start")
	last := time.Now()
	for {
		select {
		case <-stop.Done():
			return
		case <-pollT.C:
			if stop.Err() != nil {
				return
			}
			s.poll(runCtx, "")
			last = time.Now()
		case <-s.trigger:
			if d := watchMinGap - time.Since(last); d > 0 {
				select {
				case <-stop.Done():
					return
				case <-time.After(d):
				}
			}
			if stop.Err() != nil {
				return
			}
			s.poll(runCtx, "teleport reported a change")
			last = time.Now()
		case <-recT.C:
			if stop.Err() != nil {
				return
			}
			s.reconcile(runCtx)
		}
	}
}

// poll runs the poller once and reports what it did (nothing when it did
// nothing).
func (s *scheduler) poll(runCtx context.Context, why string) {
	ctx, cancel := context.WithTimeout(runCtx, pollRunTimeout)
	defer cancel()
	rep, _ := s.app.HandlePoll(ctx, events.EventBridgeEvent{})
	if why != "" {
		why = " (" + why + ")"
	}
	r := rep.Result
	switch {
	case !rep.OK:
		s.con.printf("poll failed%s: %s", why, rep.Error)
	case r.AlertsCreated+r.AlertsResolved+r.NotesPosted+r.AutoApproved+r.NotApproved+r.Errors > 0 || why == " (start)":
		s.con.printf("poll%s: %d pending, %d alerts created, %d resolved, %d notes, %d auto-approved, %d errors (%d ms)",
			why, r.Pending, r.AlertsCreated, r.AlertsResolved, r.NotesPosted, r.AutoApproved, r.Errors, rep.DurationMs)
	}
}

func (s *scheduler) reconcile(runCtx context.Context) {
	ctx, cancel := context.WithTimeout(runCtx, reconcileRunTimeout)
	defer cancel()
	rep, _ := s.app.HandleReconcile(ctx, events.EventBridgeEvent{})
	r := rep.Repairs
	switch {
	case !rep.OK:
		s.con.printf("reconcile failed: %s", rep.Error)
	default:
		s.con.printf("reconcile: %d open alerts checked, %d missed resolutions, %d claims recovered, %d reopened, %d errors (%d ms)",
			r.Checked, r.ResolvedMissed, r.ClaimsRecovered, r.Reopened, r.Errors, rep.DurationMs)
	}
}

// watch keeps a Teleport watcher open and triggers a poll on every change,
// so new requests get their alert within a second instead of a poll
// interval. The schedule keeps running when the watcher breaks.
func (s *scheduler) watch(ctx context.Context) {
	ctx = s.app.Context(ctx)
	wait := watchRetryMin
	for {
		started := time.Now()
		svc, err := s.app.Services(ctx)
		if err == nil {
			err = svc.Teleport.Watch(ctx, nil, func(core.Request, bool) {
				select {
				case s.trigger <- struct{}{}:
				default:
				}
			})
		}
		if ctx.Err() != nil {
			return
		}
		if time.Since(started) > watchRetryMax {
			wait = watchRetryMin
		}
		s.con.printf("teleport watch ended (%v); polls continue every %s; watching again in %s", err, s.pollEvery, wait)
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, watchRetryMax)
	}
}

// console prints timestamped lines for people, one at a time.
type console struct {
	mu sync.Mutex
	w  io.Writer
}

func (c *console) printf(format string, args ...any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	fmt.Fprintf(c.w, "%s %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}
