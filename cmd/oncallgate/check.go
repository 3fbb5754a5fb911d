package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/oncallgate/oncallgate/internal/config"
	"github.com/oncallgate/oncallgate/internal/core"
	"github.com/oncallgate/oncallgate/internal/jsm"
	"github.com/oncallgate/oncallgate/internal/logging"
	"github.com/oncallgate/oncallgate/internal/opsgenie"
	"github.com/oncallgate/oncallgate/internal/pagerduty"
	"github.com/oncallgate/oncallgate/internal/store"
	"github.com/oncallgate/oncallgate/internal/teleport"
)

const checkDescription = `Verifies, with the configuration oncallgate would use, that every outside system answers and accepts its credentials, and prints one PASS or FAIL line per check: Teleport (connection and version, listing access requests, submitting reviews, which needs Teleport Enterprise), PagerDuty (API key, the From user, each service named with --services), Opsgenie and JSM (API key, each schedule named with --schedules) and the DynamoDB table (--table). It changes nothing anywhere; the review check submits a review of a request that does not exist. It exits 1 when any check fails.

The configuration comes from SSM and Secrets Manager below --prefix, with the default AWS credentials and region (AWS_PROFILE, AWS_REGION, ...), or from a local file with --config.

` + localFileHelp + `

Examples:
  oncallgate check --prefix /oncallgate/ --table Oncallgate-Table --services "Teleport Notifications"
  oncallgate check --config oncallgate.local.yaml`

// Bounds of the checks.
const (
	// checkCallTimeout bounds each check's calls.
	checkCallTimeout = 20 * time.Second
	// checkHTTPTimeout bounds one HTTP exchange with a provider.
	checkHTTPTimeout = 10 * time.Second
	// reviewProbeReason is the reason of the review submitted on a request
	// that does not exist.
	reviewProbeReason = "oncallgate check: permission probe on a request that does not exist"
)

// source names for the result lines.
const (
	areaConfig    = "config"
	areaTeleport  = "teleport"
	areaPagerDuty = "pagerduty"
	areaOpsgenie  = "opsgenie"
	areaJSM       = "jsm"
	areaStore     = "store"
)

func runCheck(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("check", "--config FILE | --prefix /oncallgate/ [flags]", checkDescription)
	file := fs.String("config", "", "local configuration file (see above)")
	prefix := fs.String("prefix", "", "SSM prefix of the deployed configuration, e.g. /oncallgate/")
	table := fs.String("table", "", "DynamoDB table to check (default: the file's table, or $ONCALLGATE_TABLE)")
	services := fs.String("services", "", "comma-separated PagerDuty services to look up (default: the file's check.services)")
	schedules := fs.String("schedules", "", "comma-separated Opsgenie/JSM schedules to look up (default: the file's check.schedules)")
	endpoint := fs.String("dynamodb-endpoint", "", "DynamoDB endpoint URL, e.g. a local DynamoDB (default: AWS, or $AWS_ENDPOINT_URL)")
	if code, ok := parseFlags(fs, args, stdout, stderr); !ok {
		return code
	}
	if (*file == "") == (*prefix == "") {
		return usageError(fs, stderr, "give exactly one of --config FILE and --prefix PREFIX")
	}

	// Warnings of the adapters (a certificate about to expire, unknown
	// settings) go to stderr; the results go to stdout.
	ctx = logging.WithLogger(ctx, logging.New(stderr, slog.LevelWarn))
	r := &report{w: stdout}
	var (
		cfg    *config.Config
		err    error
		origin string
		want   = lookups{services: splitComma(*services), schedules: splitComma(*schedules)}
	)
	tableName := firstNonEmpty(*table, os.Getenv(config.EnvTable))
	if *file != "" {
		origin = "config file " + *file
		var f *localFile
		if f, err = readLocalFile(*file); err == nil {
			tableName = firstNonEmpty(*table, f.Table, os.Getenv(config.EnvTable))
			if len(want.services) == 0 {
				want.services = f.Services
			}
			if len(want.schedules) == 0 {
				want.schedules = f.Schedules
			}
			cfg, err = f.config()
		}
	} else {
		cfg, origin, err = loadFromSSM(ctx, *prefix)
	}
	if err != nil {
		r.fail(areaConfig, "load the configuration from %s: %v", origin, err)
		return r.finish()
	}
	names := make([]string, len(cfg.Providers))
	for i, p := range cfg.Providers {
		names[i] = string(p)
	}
	r.pass(areaConfig, "configuration from %s is valid (providers: %s)", origin, strings.Join(names, ", "))
	for _, w := range cfg.Warnings {
		r.warn(areaConfig, "%s", w)
	}

	hc := &http.Client{Timeout: checkHTTPTimeout}
	checkTeleport(ctx, r, cfg, origin)
	if cfg.Enabled(core.PagerDuty) {
		checkPagerDuty(ctx, r, cfg, hc, want.services)
	}
	if cfg.Enabled(core.Opsgenie) {
		og := opsgenie.New(opsgenie.Config{BaseURL: cfg.Opsgenie.APIURL, APIKey: cfg.Secrets.OpsgenieAPIKey, HTTPClient: hc})
		checkSchedules(ctx, r, areaOpsgenie, og, og, want.schedules)
	}
	if cfg.Enabled(core.JSM) {
		j := cfg.JSM
		jc := jsm.Config{BaseURL: j.APIURL, CloudID: j.CloudID, APIKey: cfg.Secrets.JSMAPIKey, UserEmail: j.UserEmail, APIToken: cfg.Secrets.JSMAPIToken, HTTPClient: hc}
		checkSchedules(ctx, r, areaJSM, jsm.NewNotifier(jc), jsm.NewDirectory(jc), want.schedules)
	}
	checkStore(ctx, r, tableName, *endpoint)
	return r.finish()
}

// lookups are the names check looks up at the providers.
type lookups struct {
	services, schedules []string
}

func splitComma(s string) []string { return trimAll(strings.Split(s, ",")) }

// checkTeleport connects with the plugin's identity and finds out what it
// may do.
func checkTeleport(ctx context.Context, r *report, cfg *config.Config, origin string) {
	ctx, cancel := context.WithTimeout(ctx, checkCallTimeout)
	defer cancel()
	identity, version := cfg.Secrets.TeleportIdentity, cfg.Secrets.Version
	tc, err := teleport.New(teleport.Config{
		Address:      cfg.Teleport.Address,
		Identity:     func(context.Context) (string, string, error) { return identity, version, nil },
		IdentityName: "the teleport_identity of " + origin,
	})
	if err != nil {
		r.fail(areaTeleport, "build the teleport client: %v", err)
		return
	}
	defer tc.Close()
	info, err := tc.Ping(ctx)
	switch {
	case err != nil && info.Version == "":
		r.fail(areaTeleport, "connect to %s: %v", cfg.Teleport.Address, err)
		r.skip(areaTeleport, "list and review checks: not connected")
		return
	case err != nil:
		r.fail(areaTeleport, "version: %v", err)
	default:
		r.pass(areaTeleport, "connected to %s: cluster %s, Teleport %s", cfg.Teleport.Address, info.ClusterName, info.Version)
	}
	perm, err := tc.CheckPermissions(ctx)
	if err != nil {
		r.fail(areaTeleport, "check permissions: %v", err)
		return
	}
	if perm.CanList {
		r.pass(areaTeleport, "can list access requests")
	} else {
		r.fail(areaTeleport, "cannot list access requests: the plugin role needs the rule access_request: list, read")
	}
	if !perm.CanReview {
		r.fail(areaTeleport, "cannot submit reviews: needs Teleport Enterprise (this cluster offers no advanced access workflows, as Teleport Community Edition; oncallgate can still open and resolve alerts)")
		return
	}
	// Teleport has no dry run for reviews: a review of a request that
	// does not exist changes nothing and is refused before the lookup when
	// the role may not review at all. Deny, in case the ID ever existed.
	err = tc.SubmitReview(ctx, core.ReviewSubmission{RequestID: uuid.NewString(), Proposed: core.StateDenied, Reason: reviewProbeReason})
	switch {
	case errors.Is(err, core.ErrNotFound):
		r.pass(areaTeleport, "can submit reviews (Teleport checks which roles the plugin may review at each request: review_requests.roles)")
	case errors.Is(err, core.ErrReviewsUnsupported):
		r.fail(areaTeleport, "cannot submit reviews: needs Teleport Enterprise: %v", err)
	case errors.Is(err, core.ErrPermission):
		r.fail(areaTeleport, "cannot submit reviews: %v", err)
	case err != nil:
		r.fail(areaTeleport, "submit a review probe: %v", err)
	default:
		r.fail(areaTeleport, "submit a review probe: Teleport accepted a review of a request that does not exist")
	}
}

// checkPagerDuty checks the API key, the From user and the services.
func checkPagerDuty(ctx context.Context, r *report, cfg *config.Config, hc *http.Client, services []string) {
	ctx, cancel := context.WithTimeout(ctx, checkCallTimeout)
	defer cancel()
	pd := cfg.PagerDuty
	c := pagerduty.New(pagerduty.Config{BaseURL: pd.APIURL, APIKey: cfg.Secrets.PagerDutyAPIKey, FromEmail: pd.FromEmail, HTTPClient: hc, DefaultRetryAfter: time.Second})
	u, err := c.FindUserByEmail(ctx, pd.FromEmail)
	switch {
	case errors.Is(err, core.ErrPermission):
		r.fail(areaPagerDuty, "API key rejected by %s: %v", pd.APIURL, err)
		r.skip(areaPagerDuty, "From user and services: no valid API key")
		return
	case errors.Is(err, core.ErrNotFound):
		r.pass(areaPagerDuty, "API key accepted by %s", pd.APIURL)
		r.fail(areaPagerDuty, "From user: no PagerDuty user has the email %s (pagerduty/from_email); incidents cannot be written", pd.FromEmail)
	case err != nil:
		r.fail(areaPagerDuty, "reach %s: %v", pd.APIURL, err)
		r.skip(areaPagerDuty, "From user and services: PagerDuty did not answer")
		return
	default:
		r.pass(areaPagerDuty, "API key accepted by %s", pd.APIURL)
		r.pass(areaPagerDuty, "From user %s exists (%s)", u.Email, u.ID)
	}
	if len(services) == 0 {
		r.skip(areaPagerDuty, "services: none named (--services or check.services in the file)")
	}
	for _, name := range services {
		svc, err := c.FindService(ctx, name)
		switch {
		case errors.Is(err, core.ErrNotFound):
			r.fail(areaPagerDuty, "service %q not found (names must match exactly, ignoring case)", name)
		case err != nil:
			r.fail(areaPagerDuty, "service %q: %v", name, err)
		default:
			r.pass(areaPagerDuty, "service %q found (%s, escalation policy %s)", svc.Name, svc.ID, svc.EscalationPolicyID)
		}
	}
}

// checkSchedules checks an Opsgenie/JSM key (a lookup of an alert that
// does not exist must answer "not found", not "unauthorized") and the
// schedules.
func checkSchedules(ctx context.Context, r *report, area string, n core.Notifier, dir core.ScheduleDirectory, schedules []string) {
	ctx, cancel := context.WithTimeout(ctx, checkCallTimeout)
	defer cancel()
	_, err := n.Get(ctx, uuid.NewString())
	switch {
	case errors.Is(err, core.ErrNotFound):
		r.pass(area, "API key accepted")
	case errors.Is(err, core.ErrPermission):
		r.fail(area, "API key rejected: %v", err)
		r.skip(area, "schedules: no valid API key")
		return
	case err != nil:
		r.fail(area, "reach the API: %v", err)
		r.skip(area, "schedules: the API did not answer")
		return
	default:
		r.pass(area, "API key accepted")
	}
	if len(schedules) == 0 {
		r.skip(area, "schedules: none named (--schedules or check.schedules in the file)")
	}
	for _, s := range schedules {
		emails, err := dir.OnCallEmails(ctx, s)
		switch {
		case errors.Is(err, core.ErrEmailHidden):
			r.warn(area, "schedule %q found, but an on-call responder's email is hidden by their privacy settings: %v", s, err)
		case errors.Is(err, core.ErrNotFound):
			r.fail(area, "schedule %q not found", s)
		case err != nil:
			r.fail(area, "schedule %q: %v", s, err)
		case len(emails) == 0:
			r.pass(area, "schedule %q found (nobody on call now)", s)
		default:
			r.pass(area, "schedule %q found (on call now: %s)", s, strings.Join(emails, ", "))
		}
	}
}

// checkStore reads an item that cannot exist: "not found" proves the table
// answers with the expected key schema.
func checkStore(ctx context.Context, r *report, table, endpoint string) {
	if table == "" {
		r.skip(areaStore, "no table named (--table, the file's table, or $%s)", config.EnvTable)
		return
	}
	ctx, cancel := context.WithTimeout(ctx, checkCallTimeout)
	defer cancel()
	ddb, err := dynamoClient(ctx, endpoint)
	if err != nil {
		r.fail(areaStore, "%v", err)
		return
	}
	_, err = store.New(ddb, table).GetRequestRecord(ctx, "oncallgate-check-"+uuid.NewString())
	switch {
	case errors.Is(err, core.ErrNotFound):
		r.pass(areaStore, "table %s answers", table)
	case errors.Is(err, store.ErrTableNotFound):
		r.fail(areaStore, "table %s does not exist (oncallgate local --create-table creates one; the stack creates its own)", table)
	default:
		r.fail(areaStore, "read table %s: %v", table, err)
	}
}

// report prints the result lines and counts them.
type report struct {
	w              io.Writer
	passed, failed int
}

func (r *report) line(status, area, format string, args ...any) {
	msg := strings.ReplaceAll(fmt.Sprintf(format, args...), "\n", "\n                  ")
	fmt.Fprintf(r.w, "%-4s  %-9s  %s\n", status, area, msg)
}

func (r *report) pass(area, format string, args ...any) {
	r.passed++
	r.line("PASS", area, format, args...)
}

func (r *report) fail(area, format string, args ...any) {
	r.failed++
	r.line("FAIL", area, format, args...)
}

func (r *report) skip(area, format string, args ...any) { r.line("SKIP", area, format, args...) }

func (r *report) warn(area, format string, args ...any) { r.line("WARN", area, format, args...) }

// finish prints the summary and returns the exit code.
func (r *report) finish() int {
	if r.failed > 0 {
		fmt.Fprintf(r.w, "\n%d of %d checks failed.\n", r.failed, r.passed+r.failed)
		return exitFailure
	}
	fmt.Fprintf(r.w, "\nAll %d checks passed.\n", r.passed)
	return exitOK
}
