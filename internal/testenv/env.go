package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/oncallgate/oncallgate/internal/core"
	"github.com/oncallgate/oncallgate/internal/jsm"
	"github.com/oncallgate/oncallgate/internal/jsm/jsmtest"
	"github.com/oncallgate/oncallgate/internal/logging"
	"github.com/oncallgate/oncallgate/internal/opsgenie"
	"github.com/oncallgate/oncallgate/internal/opsgenie/opsgenietest"
	"github.com/oncallgate/oncallgate/internal/pagerduty"
	"github.com/oncallgate/oncallgate/internal/pagerduty/pagerdutytest"
	"github.com/oncallgate/oncallgate/internal/store"
	"github.com/oncallgate/oncallgate/internal/teleport"
	"github.com/oncallgate/oncallgate/internal/teleport/teleporttest"
)

// Main runs a package's tests and stops the shared moto_server afterwards.
// Use it as `func TestMain(m *testing.M) { testenv.Main(m) }`.
func Main(m *testing.M) {
	code := m.Run()
	StopMoto()
	os.Exit(code)
}

// PluginUser is the Teleport user oncallgate runs as in the sandbox.
const PluginUser = "access-plugin"

// FromEmail is the PagerDuty user oncallgate writes as.
const FromEmail = "oncallgate@example.com"

// Env is a whole oncallgate world on loopback: moto (DynamoDB, SSM, Secrets
// Manager), the Teleport sandbox over mutual TLS, and the provider sandboxes,
// with the production adapters pointed at them.
type Env struct {
	T     testing.TB
	Ctx   context.Context
	Clock *Clock

	Moto  *Moto
	DDB   *dynamodb.Client
	Table string
	Store *store.Store

	Teleport       *teleporttest.Server
	TeleportClient *teleport.Client
	identity       string

	PD       *pagerdutytest.Server
	PDClient *pagerduty.Client

	OG       *opsgenietest.Server
	OGClient *opsgenie.Client

	JSM          *jsmtest.Server
	JSMNotifier  core.Notifier
	JSMDirectory *jsm.Directory

	Policies map[core.Provider]core.ApprovalPolicy
	HTTP     *http.Client
}

// EnvOption adjusts an Env before it starts.
type EnvOption func(*envConfig)

type envConfig struct {
	pagerduty, opsgenie, jsm bool
	teleportOpts             []teleporttest.Option
	pdOpts                   []pagerdutytest.Option
	ogOpts                   []opsgenietest.Option
	callTimeout              time.Duration
	pdRate                   int
}

// WithPagerDutyRate sets the PagerDuty client's requests-per-minute limit
// (tests default to a limit high enough never to wait).
func WithPagerDutyRate(perMinute int) EnvOption { return func(c *envConfig) { c.pdRate = perMinute } }

// WithOpsgenie also starts the Opsgenie sandbox.
func WithOpsgenie(opts ...opsgenietest.Option) EnvOption {
	return func(c *envConfig) { c.opsgenie = true; c.ogOpts = append(c.ogOpts, opts...) }
}

// WithJSM also starts the JSM sandbox.
func WithJSM() EnvOption { return func(c *envConfig) { c.jsm = true } }

// WithoutPagerDuty leaves PagerDuty out.
func WithoutPagerDuty() EnvOption { return func(c *envConfig) { c.pagerduty = false } }

// WithTeleport passes options to the Teleport sandbox.
func WithTeleport(opts ...teleporttest.Option) EnvOption {
	return func(c *envConfig) { c.teleportOpts = append(c.teleportOpts, opts...) }
}

// WithPagerDutySandbox passes options to the PagerDuty sandbox.
func WithPagerDutySandbox(opts ...pagerdutytest.Option) EnvOption {
	return func(c *envConfig) { c.pdOpts = append(c.pdOpts, opts...) }
}

// WithCallTimeout sets the provider adapters' per-call timeout (tests of
// hanging providers use a short one).
func WithCallTimeout(d time.Duration) EnvOption { return func(c *envConfig) { c.callTimeout = d } }

// NewEnv starts an Env; everything stops when the test ends.
func NewEnv(t testing.TB, opts ...EnvOption) *Env {
	t.Helper()
	cfg := envConfig{pagerduty: true, callTimeout: 2 * time.Second, pdRate: 600000}
	for _, o := range opts {
		o(&cfg)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	if _, bench := t.(*testing.B); bench {
		// Benchmarks print their results on stdout: keep it clean.
		ctx = logging.WithLogger(ctx, logging.New(os.Stderr, slog.LevelWarn))
	}
	e := &Env{
		T:     t,
		Ctx:   ctx,
		Clock: NewClock(time.Now().UTC().Truncate(time.Second)),
		Moto:  StartMoto(t),
		Table: "oncallgate-" + RandomName(),
		HTTP:  &http.Client{Timeout: 10 * time.Second},
		Policies: map[core.Provider]core.ApprovalPolicy{
			core.PagerDuty: {Enabled: true, RequireActiveIncident: true},
			core.Opsgenie:  {Enabled: true},
			core.JSM:       {Enabled: true},
		},
	}
	e.DDB = dynamodb.NewFromConfig(e.Moto.AWSConfig())
	if err := store.CreateTable(ctx, e.DDB, e.Table); err != nil {
		t.Fatalf("create table: %v", err)
	}
	e.Store = store.New(e.DDB, e.Table, store.WithClock(e.Clock))

	e.Teleport = teleporttest.Start(t, cfg.teleportOpts...)
	e.Teleport.SetAccess(PluginUser, teleporttest.Access{List: true, Review: true})
	e.identity = e.Teleport.IdentityFile(t, PluginUser, 24*time.Hour)
	tc, err := teleport.New(teleport.Config{
		Address:  e.Teleport.Addr(),
		Identity: func(context.Context) (string, string, error) { return e.identity, "v1", nil },
	})
	if err != nil {
		t.Fatalf("teleport client: %v", err)
	}
	t.Cleanup(func() { _ = tc.Close() })
	e.TeleportClient = tc

	if cfg.pagerduty {
		e.PD = pagerdutytest.Start(t, append([]pagerdutytest.Option{pagerdutytest.WithClock(e.Clock)}, cfg.pdOpts...)...)
		e.PD.AddUser(FromEmail, "oncallgate")
		e.PDClient = pagerduty.New(pagerduty.Config{BaseURL: e.PD.URL(), APIKey: e.PD.APIKey(), FromEmail: FromEmail, HTTPClient: e.HTTP, Clock: e.Clock, CallTimeout: cfg.callTimeout, DefaultRetryAfter: time.Second, RequestsPerMinute: cfg.pdRate})
	}
	if cfg.opsgenie {
		e.OG = opsgenietest.Start(t, cfg.ogOpts...)
		e.OGClient = opsgenie.New(opsgenie.Config{BaseURL: e.OG.URL, APIKey: opsgenietest.DefaultAPIKey, HTTPClient: e.HTTP, Clock: e.Clock, CallTimeout: cfg.callTimeout, CompleteInterval: 10 * time.Millisecond})
	}
	if cfg.jsm {
		e.JSM = jsmtest.Start(t)
		jc := jsm.Config{BaseURL: e.JSM.URL, CloudID: e.JSM.CloudID, APIKey: jsmtest.DefaultAPIKey, UserEmail: jsmtest.DefaultEmail, APIToken: jsmtest.DefaultAPIToken, HTTPClient: e.HTTP, Clock: e.Clock, CallTimeout: cfg.callTimeout, CompleteInterval: 10 * time.Millisecond}
		e.JSMNotifier = jsm.NewNotifier(jc)
		e.JSMDirectory = jsm.NewDirectory(jc)
	}
	return e
}

// Notifiers returns the configured providers' notifiers.
func (e *Env) Notifiers() map[core.Provider]core.Notifier {
	out := map[core.Provider]core.Notifier{}
	if e.PDClient != nil {
		out[core.PagerDuty] = e.PDClient
	}
	if e.OGClient != nil {
		out[core.Opsgenie] = e.OGClient
	}
	if e.JSMNotifier != nil {
		out[core.JSM] = e.JSMNotifier
	}
	return out
}

// Poller returns a poller over the Env's adapters, as production wires it.
func (e *Env) Poller(owner string) *core.Poller {
	approvers := map[core.Provider]core.Approver{}
	if e.PDClient != nil {
		approvers[core.PagerDuty] = core.PagerDutyApprover{Directory: e.PDClient}
	}
	if e.OGClient != nil {
		approvers[core.Opsgenie] = core.ScheduleApprover{Directory: e.OGClient}
	}
	if e.JSMDirectory != nil {
		approvers[core.JSM] = core.ScheduleApprover{Directory: e.JSMDirectory}
	}
	return &core.Poller{
		Teleport:  e.TeleportClient,
		Watcher:   e.TeleportClient,
		Store:     e.Store,
		Notifiers: e.Notifiers(),
		Approvers: approvers,
		Policies:  e.Policies,
		Settings:  core.PollSettings{Concurrency: 8, ClaimLease: 2 * time.Minute, DeadlineMargin: time.Second},
		ProxyAddr: "teleport.example.com:443",
		Retention: 30 * 24 * time.Hour,
		Clock:     e.Clock,
		Owner:     owner,
	}
}

// Reconciler returns a reconciler over the Env's adapters.
func (e *Env) Reconciler(owner string, reopen bool) *core.Reconciler {
	return &core.Reconciler{Poller: e.Poller(owner), ReopenClosed: reopen}
}

// Decider returns the webhook use case over the Env's adapters.
func (e *Env) Decider(s core.WebhookSettings) *core.Decider {
	d := &core.Decider{
		Teleport:     e.TeleportClient,
		Store:        e.Store,
		Notifiers:    e.Notifiers(),
		Schedules:    map[core.Provider]core.ScheduleDirectory{},
		IncidentKeys: map[core.Provider]core.IncidentKeys{},
		Settings:     s,
		Clock:        e.Clock,
	}
	if e.PDClient != nil {
		d.PagerDuty, d.PagerDutyUsers = e.PDClient, e.PDClient
		d.IncidentKeys[core.PagerDuty] = e.PDClient
	}
	if e.OGClient != nil {
		d.Schedules[core.Opsgenie] = e.OGClient
	}
	if e.JSMDirectory != nil {
		d.Schedules[core.JSM] = e.JSMDirectory
	}
	return d
}

// Request creates a pending access request in the Teleport sandbox.
func (e *Env) Request(user string, roles []string, ann map[string][]string) string {
	e.T.Helper()
	return e.Teleport.MustCreateRequest(e.T, teleporttest.NewRequest{User: user, Roles: roles, Reason: "investigating an incident", Annotations: ann})
}

// Identity is the plugin's identity file content.
func (e *Env) Identity() string { return e.identity }

// WriteConfig stores an oncallgate configuration in moto (SSM parameters
// below a fresh prefix, and one secret) pointing at the Env's sandboxes, with
// the given overrides, and returns the SSM prefix that finds it (the
// table is e.Table). A value of "" in params or secret deletes a default.
func (e *Env) WriteConfig(params map[string]string, secret map[string]string) (prefix string) {
	e.T.Helper()
	prefix = "/oncallgate-test-" + RandomName() + "/"
	secretID := "oncallgate-" + RandomName()
	var providers []string
	all := map[string]string{
		"teleport/address":           e.Teleport.Addr(),
		"teleport/proxy_web_address": "teleport.example.com:443",
		"secret_id":                  secretID,
		"config_ttl":                 "1s",
		"poller/deadline_margin":     "1s",
	}
	sec := map[string]string{"teleport_identity": e.identity}
	if e.PD != nil {
		providers = append(providers, "pagerduty")
		all["pagerduty/api_url"] = e.PD.URL()
		all["pagerduty/from_email"] = FromEmail
		sec["pagerduty_api_key"] = e.PD.APIKey()
		sec["pagerduty_webhook_secret"] = "pd-webhook-secret"
	}
	if e.OG != nil {
		providers = append(providers, "opsgenie")
		all["opsgenie/api_url"] = e.OG.URL
		sec["opsgenie_api_key"] = opsgenietest.DefaultAPIKey
		sec["opsgenie_webhook_secret"] = "og-webhook-secret"
	}
	if e.JSM != nil {
		providers = append(providers, "jsm")
		all["jsm/api_url"] = e.JSM.URL
		all["jsm/cloud_id"] = e.JSM.CloudID
		all["jsm/user_email"] = jsmtest.DefaultEmail
		sec["jsm_api_key"] = jsmtest.DefaultAPIKey
		sec["jsm_api_token"] = jsmtest.DefaultAPIToken
		sec["jsm_webhook_secret"] = "jsm-webhook-secret"
	}
	all["providers"] = strings.Join(providers, ",")
	for k, v := range params {
		if v == "" {
			delete(all, k)
			continue
		}
		all[k] = v
	}
	for k, v := range secret {
		if v == "" {
			delete(sec, k)
			continue
		}
		sec[k] = v
	}
	cfg := e.Moto.AWSConfig()
	sc := ssm.NewFromConfig(cfg)
	for k, v := range all {
		if _, err := sc.PutParameter(e.Ctx, &ssm.PutParameterInput{Name: aws.String(prefix + k), Value: aws.String(v), Type: ssmtypes.ParameterTypeString, Overwrite: aws.Bool(true)}); err != nil {
			e.T.Fatalf("put parameter %s: %v", k, err)
		}
	}
	body, _ := json.Marshal(sec)
	if _, err := secretsmanager.NewFromConfig(cfg).CreateSecret(e.Ctx, &secretsmanager.CreateSecretInput{Name: aws.String(secretID), SecretString: aws.String(string(body))}); err != nil {
		e.T.Fatalf("create secret: %v", err)
	}
	return prefix
}

// RandomName returns a short random lower-case hex name.
func RandomName() string {
	b := make([]byte, 5)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
