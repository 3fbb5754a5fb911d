// Package app assembles oncallgate from its configuration: it builds the
// adapters once per cold start, rebuilds provider clients only when their
// settings change, and exposes the three Lambda handlers (poll, reconcile,
// webhook) that functions/*/main.go hand to the runtime. It holds no
// business rules: those are in internal/core.
package app

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/oncallgate/oncallgate/internal/config"
	"github.com/oncallgate/oncallgate/internal/core"
	"github.com/oncallgate/oncallgate/internal/jsm"
	"github.com/oncallgate/oncallgate/internal/logging"
	"github.com/oncallgate/oncallgate/internal/metrics"
	"github.com/oncallgate/oncallgate/internal/opsgenie"
	"github.com/oncallgate/oncallgate/internal/pagerduty"
	"github.com/oncallgate/oncallgate/internal/store"
	"github.com/oncallgate/oncallgate/internal/teleport"
)

// httpTimeout bounds any single outbound HTTP exchange; adapters set
// tighter per-call timeouts of their own.
const httpTimeout = 20 * time.Second

// Options are what a composition needs from its host (Lambda, the CLI, a
// test).
type Options struct {
	Env config.Env
	AWS aws.Config
	// Function names the host for logs and metrics ("poller", ...).
	Function string
	// HTTPClient for provider calls; nil means a client with httpTimeout.
	HTTPClient *http.Client
	Clock      core.Clock
	// Stdout receives JSON logs and EMF metric records; nil means os.Stdout.
	Stdout io.Writer
	// LogLevel before the configuration is read.
	LogLevel slog.Level
	// Config supplies the configuration; nil means a config.Loader reading
	// SSM and Secrets Manager below Env.Prefix through AWS (the Lambda
	// functions). The operator CLI passes one that reads a local file.
	Config ConfigSource
	// DynamoDB is the client of the store; nil means one built from AWS.
	// The CLI passes one pointed at a local DynamoDB-compatible endpoint.
	DynamoDB *dynamodb.Client
	// OwnWatcher says the host keeps a Teleport watcher of its own and
	// polls on every change (the CLI's local mode), so polls skip the
	// poller/watch_window instead of blocking for it.
	OwnWatcher bool
}

// ConfigSource supplies the current configuration. Get must return the
// same *config.Config while nothing changed (Services rebuilds clients when
// the pointer changes) and must fail closed: an error, never defaults.
// *config.Loader is the production source.
type ConfigSource interface {
	Get(ctx context.Context) (*config.Config, error)
}

var _ ConfigSource = (*config.Loader)(nil)

// App is one cold start's worth of oncallgate.
type App struct {
	opts Options
	// Loader reads SSM and Secrets Manager; nil when Options.Config
	// supplies the configuration.
	Loader  *config.Loader
	source  ConfigSource
	Store   *store.Store
	Logger  *slog.Logger
	Metrics *metrics.Emitter
	clock   core.Clock
	http    *http.Client

	mu       sync.Mutex
	services *Services
	prints   map[core.Provider]string
	teleport *teleport.Client
	tpAddr   string
	// community makes the "needs Teleport Enterprise" report once per cold
	// start, across configuration reloads.
	community sync.Once
}

// Services are the configuration-dependent parts, rebuilt when the
// configuration changes.
type Services struct {
	Config    *config.Config
	Teleport  *teleport.Client
	Notifiers map[core.Provider]core.Notifier
	Approvers map[core.Provider]core.Approver
	Schedules map[core.Provider]core.ScheduleDirectory
	PagerDuty *pagerduty.Client
}

// New builds an App. It does no network I/O: configuration and identity are
// read on first use, so a broken parameter is reported by the handler (and
// fixed in SSM without a redeploy) rather than crashing the cold start.
func New(opts Options) (*App, error) {
	if opts.Clock == nil {
		opts.Clock = core.SystemClock{}
	}
	if opts.Stdout == nil {
		opts.Stdout = os.Stdout
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = &http.Client{Timeout: httpTimeout}
	}
	if opts.Env.Table == "" {
		return nil, fmt.Errorf("environment variable ONCALLGATE_TABLE is empty: it must name the DynamoDB table")
	}
	a := &App{
		opts:    opts,
		clock:   opts.Clock,
		http:    opts.HTTPClient,
		Logger:  logging.New(opts.Stdout, opts.LogLevel),
		Metrics: metrics.New(opts.Stdout, opts.Function),
		prints:  map[core.Provider]string{},
	}
	a.source = opts.Config
	if a.source == nil {
		a.Loader = config.NewLoader(ssm.NewFromConfig(opts.AWS), secretsmanager.NewFromConfig(opts.AWS), opts.Env.Prefix, opts.Clock)
		a.source = a.Loader
	}
	ddb := opts.DynamoDB
	if ddb == nil {
		ddb = dynamodb.NewFromConfig(opts.AWS)
	}
	a.Store = store.New(ddb, opts.Env.Table)
	return a, nil
}

// identity feeds the Teleport client the identity file from the secret; the
// client rebuilds itself when the secret's version changes.
func (a *App) identity(ctx context.Context) (string, string, error) {
	cfg, err := a.source.Get(ctx)
	if err != nil {
		return "", "", err
	}
	return cfg.Secrets.TeleportIdentity, cfg.Secrets.Version, nil
}

// Context returns ctx carrying the App's logger at the configured level.
func (a *App) Context(ctx context.Context) context.Context {
	// Services replaces the logger under mu when log_level changes, while
	// concurrent webhook requests (the CLI serves them) read it here.
	a.mu.Lock()
	l := a.Logger
	a.mu.Unlock()
	return logging.WithLambdaRequestID(logging.WithLogger(ctx, l))
}

// Services returns the configuration-dependent services, rebuilding
// provider clients only when their own settings changed (so per-cold-start
// caches such as PagerDuty service lookups survive configuration reloads).
func (a *App) Services(ctx context.Context) (*Services, error) {
	cfg, err := a.source.Get(ctx)
	if err != nil {
		return nil, fmt.Errorf("load configuration: %w", err)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.services != nil && a.services.Config == cfg {
		return a.services, nil
	}
	prev := a.services
	// The Teleport client lives as long as its address: it follows identity
	// rotations by itself.
	if a.teleport == nil || a.tpAddr != cfg.Teleport.Address {
		if a.teleport != nil {
			_ = a.teleport.Close()
		}
		tc, err := teleport.New(teleport.Config{Address: cfg.Teleport.Address, Identity: a.identity, Clock: a.clock})
		if err != nil {
			return nil, fmt.Errorf("build teleport client for %s: %w", cfg.Teleport.Address, err)
		}
		a.teleport, a.tpAddr = tc, cfg.Teleport.Address
	}
	s := &Services{
		Config:    cfg,
		Teleport:  a.teleport,
		Notifiers: map[core.Provider]core.Notifier{},
		Approvers: map[core.Provider]core.Approver{},
		Schedules: map[core.Provider]core.ScheduleDirectory{},
	}
	reuse := func(p core.Provider, print string) bool {
		ok := prev != nil && a.prints[p] == print && prev.Notifiers[p] != nil
		a.prints[p] = print
		return ok
	}
	if cfg.Enabled(core.PagerDuty) {
		pd := cfg.PagerDuty
		if reuse(core.PagerDuty, fingerprint(pd.APIURL, cfg.Secrets.PagerDutyAPIKey, pd.FromEmail, pd.Urgency)) {
			s.PagerDuty = prev.PagerDuty
		} else {
			s.PagerDuty = pagerduty.New(pagerduty.Config{BaseURL: pd.APIURL, APIKey: cfg.Secrets.PagerDutyAPIKey, FromEmail: pd.FromEmail, Urgency: pd.Urgency, HTTPClient: a.http, Clock: a.clock})
		}
		s.Notifiers[core.PagerDuty] = s.PagerDuty
		s.Approvers[core.PagerDuty] = core.PagerDutyApprover{Directory: s.PagerDuty}
	}
	if cfg.Enabled(core.Opsgenie) {
		og := cfg.Opsgenie
		if reuse(core.Opsgenie, fingerprint(og.APIURL, cfg.Secrets.OpsgenieAPIKey, og.Priority, strings.Join(og.Tags, ","))) {
			s.Notifiers[core.Opsgenie] = prev.Notifiers[core.Opsgenie]
			s.Schedules[core.Opsgenie] = prev.Schedules[core.Opsgenie]
		} else {
			c := opsgenie.New(opsgenie.Config{BaseURL: og.APIURL, APIKey: cfg.Secrets.OpsgenieAPIKey, Priority: og.Priority, Tags: og.Tags, HTTPClient: a.http, Clock: a.clock})
			s.Notifiers[core.Opsgenie], s.Schedules[core.Opsgenie] = c, c
		}
		s.Approvers[core.Opsgenie] = core.ScheduleApprover{Directory: s.Schedules[core.Opsgenie]}
	}
	if cfg.Enabled(core.JSM) {
		j := cfg.JSM
		if reuse(core.JSM, fingerprint(j.APIURL, cfg.Secrets.JSMAPIKey, cfg.Secrets.JSMAPIToken, j.CloudID, j.UserEmail, j.Priority, strings.Join(j.Tags, ","))) {
			s.Notifiers[core.JSM] = prev.Notifiers[core.JSM]
			s.Schedules[core.JSM] = prev.Schedules[core.JSM]
		} else {
			jc := jsm.Config{BaseURL: j.APIURL, CloudID: j.CloudID, APIKey: cfg.Secrets.JSMAPIKey, UserEmail: j.UserEmail, APIToken: cfg.Secrets.JSMAPIToken, Priority: j.Priority, Tags: j.Tags, HTTPClient: a.http, Clock: a.clock}
			s.Notifiers[core.JSM] = jsm.NewNotifier(jc)
			s.Schedules[core.JSM] = jsm.NewDirectory(jc)
		}
		s.Approvers[core.JSM] = core.ScheduleApprover{Directory: s.Schedules[core.JSM]}
	}
	if lvl := cfg.LogLevel; lvl != a.opts.LogLevel {
		a.opts.LogLevel = lvl
		a.Logger = logging.New(a.opts.Stdout, lvl)
	}
	a.services = s
	return s, nil
}

// fingerprint summarises settings (secrets included) so a change can be
// detected without keeping or logging the values.
func fingerprint(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Poller returns the poll use case for the current configuration. owner
// names this worker in claims.
func (a *App) Poller(ctx context.Context, owner string) (*core.Poller, *Services, error) {
	s, err := a.Services(ctx)
	if err != nil {
		return nil, nil, err
	}
	cfg := s.Config
	settings := cfg.Poller
	if a.opts.OwnWatcher {
		settings.WatchWindow = 0
	}
	return &core.Poller{
		Teleport:      s.Teleport,
		Watcher:       s.Teleport,
		Store:         a.Store,
		Notifiers:     s.Notifiers,
		Approvers:     s.Approvers,
		Policies:      cfg.Policies(),
		Settings:      settings,
		ProxyAddr:     cfg.Teleport.ProxyWebAddress,
		Actions:       cfg.Secrets.PagerDutyWebhookSecret != "" || cfg.Secrets.OpsgenieWebhookSecret != "" || cfg.Secrets.JSMWebhookSecret != "",
		Retention:     cfg.Reconcile.Retention,
		Clock:         a.clock,
		Owner:         owner,
		CommunityOnce: &a.community,
	}, s, nil
}

// NewOwner returns a claim owner ID: the Lambda request ID when known, plus
// a random suffix.
func NewOwner(prefix string) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	if prefix == "" {
		prefix = "worker"
	}
	return prefix + "-" + hex.EncodeToString(b)
}

// FromEnvironment builds the App of a Lambda function from its environment
// (ONCALLGATE_SSM_PREFIX, ONCALLGATE_TABLE) and the default AWS
// configuration chain.
func FromEnvironment(ctx context.Context, function string) (*App, error) {
	env, err := config.FromEnv()
	if err != nil {
		return nil, err
	}
	awsCfg, err := config.LoadAWS(ctx)
	if err != nil {
		return nil, fmt.Errorf("load AWS configuration: %w", err)
	}
	return New(Options{Env: env, AWS: awsCfg, Function: function})
}
