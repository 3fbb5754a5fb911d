package config

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/oncallgate/oncallgate/internal/core"
	"github.com/oncallgate/oncallgate/internal/logging"
	"github.com/oncallgate/oncallgate/internal/testenv"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testenv.StopMoto()
	os.Exit(code)
}

var fixtureSeq atomic.Int64

// fixture is one test's private corner of moto: a unique parameter prefix
// and secret name.
type fixture struct {
	moto     *testenv.Moto
	ssm      *ssm.Client
	sm       *secretsmanager.Client
	prefix   string
	secretID string
	logs     *testenv.Stdout
	ctx      context.Context
	clock    *testenv.Clock
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	m := testenv.StartMoto(t)
	cfg := m.AWSConfig()
	n := fixtureSeq.Add(1)
	f := &fixture{
		moto:     m,
		ssm:      ssm.NewFromConfig(cfg),
		sm:       secretsmanager.NewFromConfig(cfg),
		prefix:   fmt.Sprintf("/test-%d-%d/oncallgate/", os.Getpid(), n),
		secretID: fmt.Sprintf("oncallgate-test-%d-%d", os.Getpid(), n),
		logs:     &testenv.Stdout{},
		clock:    testenv.NewClock(time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC)),
	}
	f.ctx = logging.WithLogger(t.Context(), logging.New(f.logs, slog.LevelDebug))
	return f
}

// listParams are stored as SSM StringList, the rest as String.
var listParams = map[string]bool{"opsgenie/tags": true, "jsm/tags": true, "webhook/approvers": true}

func (f *fixture) put(t *testing.T, name, value string, typ ssmtypes.ParameterType) {
	t.Helper()
	if typ == "" {
		typ = ssmtypes.ParameterTypeString
		if listParams[name] {
			typ = ssmtypes.ParameterTypeStringList
		}
	}
	_, err := f.ssm.PutParameter(f.ctx, &ssm.PutParameterInput{
		Name: aws.String(f.prefix + name), Value: aws.String(value), Type: typ, Overwrite: aws.Bool(true),
	})
	if err != nil {
		t.Fatalf("put parameter %s: %v", name, err)
	}
}

// putTree stores params plus secret_id pointing at the fixture's secret.
func (f *fixture) putTree(t *testing.T, params map[string]string) {
	t.Helper()
	for name, v := range params {
		f.put(t, name, v, "")
	}
	if _, ok := params["secret_id"]; !ok {
		f.put(t, "secret_id", f.secretID, "")
	}
}

// putSecret creates the secret or stores a new version of it, returning the
// version ID.
func (f *fixture) putSecret(t *testing.T, doc []byte) string {
	t.Helper()
	out, err := f.sm.PutSecretValue(f.ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String(f.secretID), SecretString: aws.String(string(doc))})
	if err == nil {
		return aws.ToString(out.VersionId)
	}
	created, cerr := f.sm.CreateSecret(f.ctx, &secretsmanager.CreateSecretInput{Name: aws.String(f.secretID), SecretString: aws.String(string(doc))})
	if cerr != nil {
		t.Fatalf("store secret: %v (put: %v)", cerr, err)
	}
	return aws.ToString(created.VersionId)
}

func (f *fixture) loader(ssmc SSMAPI) *Loader {
	if ssmc == nil {
		ssmc = f.ssm
	}
	return NewLoader(ssmc, f.sm, f.prefix, f.clock)
}

// countingSSM passes every call to the real client and counts them.
type countingSSM struct {
	SSMAPI
	calls, reloads atomic.Int32
}

func (c *countingSSM) GetParametersByPath(ctx context.Context, in *ssm.GetParametersByPathInput, opts ...func(*ssm.Options)) (*ssm.GetParametersByPathOutput, error) {
	c.calls.Add(1)
	if in.NextToken == nil {
		c.reloads.Add(1)
	}
	return c.SSMAPI.GetParametersByPath(ctx, in, opts...)
}

// fullTree sets every parameter to a value other than its default.
func fullTree() map[string]string {
	return map[string]string{
		"teleport/address":                                "teleport.example.com:3025",
		"teleport/proxy_web_address":                      "teleport.example.com:443",
		"providers":                                       "pagerduty,opsgenie,jsm",
		"pagerduty/api_url":                               "http://127.0.0.1:9001",
		"pagerduty/from_email":                            "oncall-bot@example.com",
		"pagerduty/urgency":                               "low",
		"pagerduty/auto_approval/enabled":                 "true",
		"pagerduty/auto_approval/require_active_incident": "false",
		"pagerduty/auto_approval/max_escalation_level":    "1",
		"pagerduty/auto_approval/allowed_roles":           "dev,staging-admin",
		"pagerduty/auto_approval/dry_run":                 "true",
		"opsgenie/api_url":                                "eu",
		"opsgenie/priority":                               "P2",
		"opsgenie/tags":                                   "teleport,access",
		"opsgenie/auto_approval/enabled":                  "false",
		"opsgenie/auto_approval/allowed_roles":            "dev",
		"opsgenie/auto_approval/dry_run":                  "false",
		"jsm/api_url":                                     "http://127.0.0.1:9002",
		"jsm/cloud_id":                                    "0f6c3e4e-1b2a-4c5d-9e8f-123456789abc",
		"jsm/user_email":                                  "jsm-bot@example.com",
		"jsm/priority":                                    "P4",
		"jsm/tags":                                        "jsm",
		"jsm/auto_approval/enabled":                       "true",
		"jsm/auto_approval/dry_run":                       "true",
		"poller/concurrency":                              "4",
		"poller/claim_lease":                              "90s",
		"poller/deadline_margin":                          "5s",
		"reconcile/reopen_closed":                         "false",
		"reconcile/retention":                             "168h",
		"webhook/require_on_call":                         "false",
		"webhook/approvers":                               "Alice@Example.com,bob@example.com",
		"webhook/delivery_ttl":                            "48h",
		"log_level":                                       "debug",
		"config_ttl":                                      "30s",
	}
}

func TestLoaderReadsFullTreeFromSSMAndSecretsManager(t *testing.T) {
	f := newFixture(t)
	tree := fullTree()
	f.putTree(t, tree)
	f.put(t, "jsm/user_email", "jsm-bot@example.com", ssmtypes.ParameterTypeSecureString)
	version := f.putSecret(t, mustJSON(t, fullSecret()))

	counter := &countingSSM{SSMAPI: f.ssm}
	cfg, err := f.loader(counter).Get(f.ctx)
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	if counter.calls.Load() < 4 {
		t.Errorf("GetParametersByPath called %d times for %d parameters; want every page read", counter.calls.Load(), len(tree)+1)
	}
	want := &Config{
		Prefix:    f.prefix,
		Providers: []core.Provider{core.PagerDuty, core.Opsgenie, core.JSM},
		Teleport:  TeleportConfig{Address: "teleport.example.com:3025", ProxyWebAddress: "teleport.example.com:443"},
		PagerDuty: PagerDutyConfig{
			APIURL: "http://127.0.0.1:9001", FromEmail: "oncall-bot@example.com", Urgency: "low",
			AutoApproval: core.ApprovalPolicy{Enabled: true, MaxEscalationLevel: 1, AllowedRoles: []string{"dev", "staging-admin"}, DryRun: true},
		},
		Opsgenie: OpsgenieConfig{
			APIURL: "https://api.eu.opsgenie.com", Priority: "P2", Tags: []string{"teleport", "access"},
			AutoApproval: core.ApprovalPolicy{AllowedRoles: []string{"dev"}},
		},
		JSM: JSMConfig{
			APIURL: "http://127.0.0.1:9002", CloudID: "0f6c3e4e-1b2a-4c5d-9e8f-123456789abc", UserEmail: "jsm-bot@example.com",
			Priority: "P4", Tags: []string{"jsm"}, AutoApproval: core.ApprovalPolicy{Enabled: true, DryRun: true},
		},
		Poller:    core.PollSettings{Concurrency: 4, ClaimLease: 90 * time.Second, DeadlineMargin: 5 * time.Second},
		Reconcile: ReconcileConfig{Retention: 168 * time.Hour},
		Webhook:   WebhookConfig{Approvers: []string{"alice@example.com", "bob@example.com"}, DeliveryTTL: 48 * time.Hour},
		LogLevel:  slog.LevelDebug,
		TTL:       30 * time.Second,
		SecretID:  f.secretID,
		Secrets: Secrets{
			TeleportIdentity: identityValue, PagerDutyAPIKey: pdKeyValue, PagerDutyWebhookSecret: pdHookValue,
			PagerDutySigningSecrets: []string{pdSign1Value, pdSign2Value}, OpsgenieAPIKey: ogKeyValue,
			OpsgenieWebhookSecret: ogHookValue, JSMAPIKey: jsmKeyValue, JSMAPIToken: jsmTokenValue, JSMWebhookSecret: jsmHookValue,
			Version: version,
		},
	}
	if !reflect.DeepEqual(cfg, want) {
		gotJSON, _ := json.MarshalIndent(cfg, "", " ")
		wantJSON, _ := json.MarshalIndent(want, "", " ")
		t.Fatalf("loaded config differs:\n got %s\nwant %s", gotJSON, wantJSON)
	}
	if cfg.Secrets.Version == "" {
		t.Error("secret version not recorded")
	}
	if !strings.Contains(f.logs.String(), "configuration loaded") {
		t.Errorf("no load log line: %s", f.logs)
	}
}

func TestLoaderReportsEveryProblemByFullPath(t *testing.T) {
	for _, c := range problemCases() {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			params, secret := c.build(t)
			if _, ok := c.set["secret_id"]; ok {
				f.secretID = c.set["secret_id"] + fmt.Sprint(fixtureSeq.Add(1))
				params["secret_id"] = f.secretID
			}
			f.putTree(t, params)
			f.putSecret(t, secret)
			cfg, err := f.loader(nil).Get(f.ctx)
			if cfg != nil {
				t.Fatalf("Get returned a config for a broken tree: %+v", cfg)
			}
			want := make([]string, len(c.want))
			for i, w := range c.want {
				w = strings.ReplaceAll(w, "/oncallgate/", f.prefix)
				if strings.HasPrefix(c.set["secret_id"], "prod/") {
					w = strings.ReplaceAll(w, "secret prod/oncallgate:", "secret "+f.secretID+":")
				} else {
					w = strings.ReplaceAll(w, "secret oncallgate:", "secret "+f.secretID+":")
				}
				want[i] = w
			}
			checkProblem(t, err, want)
			if logs := f.logs.String(); strings.Contains(logs, sentinelMarker) {
				t.Errorf("logs leak a secret: %s", logs)
			}
		})
	}
}

func TestLoaderNeverShowsSecureStringValues(t *testing.T) {
	f := newFixture(t)
	f.putTree(t, minimalParams())
	f.put(t, "pagerduty/from_email", "bot-"+sentinelMarker, ssmtypes.ParameterTypeSecureString)
	f.putSecret(t, mustJSON(t, fullSecret()))
	_, err := f.loader(nil).Get(f.ctx)
	checkProblem(t, err, []string{"parameter " + f.prefix + "pagerduty/from_email: want an email address", "SecureString value (not shown)"})
}

func TestLoaderNeverLeaksSecrets(t *testing.T) {
	f := newFixture(t)
	f.putTree(t, fullTree())
	f.putSecret(t, mustJSON(t, fullSecret()))
	cfg, err := f.loader(nil).Get(f.ctx)
	if err != nil {
		t.Fatalf("Get: %v", err)
	}

	var jsonLog, textLog bytes.Buffer
	logging.New(&jsonLog, slog.LevelDebug).Info("config", "config", cfg, "secrets", cfg.Secrets, "value", *cfg)
	// A plain slog handler, without oncallgate's redaction rule: Secrets
	// must protect itself.
	slog.New(slog.NewTextHandler(&textLog, nil)).Info("config", "config", cfg, "creds", cfg.Secrets, "value", *cfg)
	slog.New(slog.NewJSONHandler(&textLog, nil)).Info("config", "config", cfg, "creds", cfg.Secrets, "value", *cfg)
	marshalled, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	outputs := map[string]string{
		"loader logs":         f.logs.String(),
		"logging.New JSON":    jsonLog.String(),
		"plain slog handlers": textLog.String(),
		"json.Marshal":        string(marshalled),
	}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x"} {
		outputs["Sprintf "+verb+" *Config"] = fmt.Sprintf(verb, cfg)
		outputs["Sprintf "+verb+" Config"] = fmt.Sprintf(verb, *cfg)
		outputs["Sprintf "+verb+" Secrets"] = fmt.Sprintf(verb, cfg.Secrets)
		outputs["Sprintf "+verb+" *Secrets"] = fmt.Sprintf(verb, &cfg.Secrets)
	}
	values := []string{identityValue, pdKeyValue, pdHookValue, pdSign1Value, pdSign2Value, ogKeyValue, ogHookValue, jsmKeyValue, jsmTokenValue, jsmHookValue}
	for name, out := range outputs {
		t.Run(name, func(t *testing.T) {
			for _, v := range values {
				if strings.Contains(out, v) || strings.Contains(out, fmt.Sprintf("%x", v)) {
					t.Fatalf("secret value %s leaked:\n%s", v, out)
				}
			}
		})
	}
	if s := cfg.Secrets.String(); !strings.Contains(s, "teleport_identity=[set]") || !strings.Contains(s, "pagerduty_signing_secrets=[2 set]") {
		t.Errorf("redacted form does not say what is set: %s", s)
	}
}

func TestLoaderCachesForTTLThenReloads(t *testing.T) {
	f := newFixture(t)
	tree := minimalParams()
	tree["config_ttl"] = "30s"
	f.putTree(t, tree)
	v1 := f.putSecret(t, mustJSON(t, fullSecret()))
	counter := &countingSSM{SSMAPI: f.ssm}
	l := f.loader(counter)

	first, err := l.Get(f.ctx)
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	if first.Poller.Concurrency != 8 || first.Secrets.Version != v1 {
		t.Fatalf("first load: concurrency %d version %s", first.Poller.Concurrency, first.Secrets.Version)
	}

	f.put(t, "poller/concurrency", "3", "")
	rotated := fullSecret()
	rotated["pagerduty_api_key"] = "PDKEY-SENTINEL-rotated"
	v2 := f.putSecret(t, mustJSON(t, rotated))
	if v2 == v1 {
		t.Fatalf("moto did not make a new secret version")
	}

	f.clock.Advance(29 * time.Second)
	cached, err := l.Get(f.ctx)
	if err != nil || cached != first {
		t.Fatalf("before the TTL Get must return the cached config (err %v, same %v)", err, cached == first)
	}
	if n := counter.reloads.Load(); n != 1 {
		t.Fatalf("SSM read %d times before the TTL, want 1", n)
	}

	f.clock.Advance(2 * time.Second)
	fresh, err := l.Get(f.ctx)
	if err != nil {
		t.Fatalf("Get after TTL: %v", err)
	}
	if fresh.Poller.Concurrency != 3 {
		t.Errorf("after the TTL concurrency = %d, want the new value 3", fresh.Poller.Concurrency)
	}
	if fresh.Secrets.Version != v2 || fresh.Secrets.PagerDutyAPIKey != "PDKEY-SENTINEL-rotated" {
		t.Errorf("after the TTL secret version = %s, want the rotated %s", fresh.Secrets.Version, v2)
	}
	if first.Poller.Concurrency != 8 {
		t.Errorf("a reload changed a config already handed out")
	}
}

func TestLoaderServesStaleConfigWhenReloadFails(t *testing.T) {
	f := newFixture(t)
	tree := minimalParams()
	tree["config_ttl"] = "30s"
	f.putTree(t, tree)
	f.putSecret(t, mustJSON(t, fullSecret()))
	l := f.loader(nil)
	good, err := l.Get(f.ctx)
	if err != nil {
		t.Fatalf("Get: %v", err)
	}

	f.put(t, "poller/concurrency", "abc", "")
	steps := []struct {
		name    string
		advance time.Duration // from the good load
		stale   bool
	}{
		{"just after the TTL", 31 * time.Second, true},
		{"retried later, still within 5 TTLs", 149 * time.Second, true},
		{"past 5 TTLs fails closed", 151 * time.Second, false},
	}
	start := f.clock.Now()
	for _, s := range steps {
		f.clock.Set(start.Add(s.advance))
		cfg, err := l.Get(f.ctx)
		if s.stale {
			if err != nil || cfg != good {
				t.Fatalf("%s: want the previous config, got %v, %v", s.name, cfg, err)
			}
			continue
		}
		if cfg != nil {
			t.Fatalf("%s: got a config, want an error", s.name)
		}
		checkProblem(t, err, []string{"parameter " + f.prefix + `poller/concurrency: want a whole number ≥ 1, got "abc"`})
	}
	logs := f.logs.String()
	if !strings.Contains(logs, "configuration reload failed; serving the previous configuration") || !strings.Contains(logs, f.prefix+"poller/concurrency") {
		t.Errorf("stale serving not logged with the cause:\n%s", logs)
	}

	f.put(t, "poller/concurrency", "5", "")
	cfg, err := l.Get(f.ctx)
	if err != nil || cfg.Poller.Concurrency != 5 {
		t.Fatalf("after the fix: %v, %v", cfg, err)
	}
}

func TestLoaderWaitsBeforeRetryingAFailedReload(t *testing.T) {
	f := newFixture(t)
	tree := minimalParams()
	tree["config_ttl"] = "30s"
	f.putTree(t, tree)
	f.putSecret(t, mustJSON(t, fullSecret()))
	l := f.loader(nil)
	if _, err := l.Get(f.ctx); err != nil {
		t.Fatalf("Get: %v", err)
	}
	f.put(t, "poller/concurrency", "abc", "")
	f.clock.Advance(31 * time.Second)
	if cfg, err := l.Get(f.ctx); err != nil || cfg.Poller.Concurrency != 8 {
		t.Fatalf("want stale config: %v %v", cfg, err)
	}
	f.put(t, "poller/concurrency", "6", "")
	f.clock.Advance(time.Second)
	if cfg, _ := l.Get(f.ctx); cfg.Poller.Concurrency != 8 {
		t.Fatalf("retried within %s of a failure", retryAfterFailure)
	}
	f.clock.Advance(retryAfterFailure)
	if cfg, err := l.Get(f.ctx); err != nil || cfg.Poller.Concurrency != 6 {
		t.Fatalf("no retry after %s: %v %v", retryAfterFailure, cfg, err)
	}
}

func TestLoaderFailsClosedWithoutGoodConfig(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, f *fixture)
		is    error
		want  string
	}{
		{"invalid parameter", func(t *testing.T, f *fixture) {
			p := minimalParams()
			p["providers"] = "pagerduty,victorops"
			f.putTree(t, p)
			f.putSecret(t, mustJSON(t, fullSecret()))
		}, core.ErrInvalid, "providers: want pagerduty, opsgenie or jsm"},
		{"no parameters at all", func(t *testing.T, f *fixture) {
			f.putSecret(t, mustJSON(t, fullSecret()))
		}, core.ErrNotFound, "no parameters found below /test-"},
		{"only optional parameters", func(t *testing.T, f *fixture) {
			f.putTree(t, map[string]string{"log_level": "debug"})
			f.putSecret(t, mustJSON(t, fullSecret()))
		}, core.ErrInvalid, "teleport/address: is required but not set"},
		{"secret does not exist", func(t *testing.T, f *fixture) {
			f.putTree(t, minimalParams())
		}, core.ErrNotFound, "read secret "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			tt.setup(t, f)
			cfg, err := f.loader(nil).Get(f.ctx)
			if cfg != nil || err == nil {
				t.Fatalf("got %v, %v; want an error", cfg, err)
			}
			if !errors.Is(err, tt.is) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %q: want %v containing %q", err, tt.is, tt.want)
			}
			if !strings.Contains(f.logs.String(), "configuration could not be loaded") {
				t.Errorf("failure not logged: %s", f.logs)
			}
		})
	}
}

func TestLoaderReloadsOnceForConcurrentCallers(t *testing.T) {
	f := newFixture(t)
	f.putTree(t, fullTree())
	f.putSecret(t, mustJSON(t, fullSecret()))
	counter := &countingSSM{SSMAPI: f.ssm}
	l := f.loader(counter)

	get := func() {
		var wg sync.WaitGroup
		errs := make(chan error, 16)
		for range 16 {
			wg.Go(func() {
				cfg, err := l.Get(f.ctx)
				if err == nil && cfg.Poller.Concurrency != 4 {
					err = fmt.Errorf("concurrency %d", cfg.Poller.Concurrency)
				}
				if err != nil {
					errs <- err
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
	}
	get()
	if n := counter.reloads.Load(); n != 1 {
		t.Fatalf("cold start: %d concurrent reloads, want 1", n)
	}
	f.clock.Advance(31 * time.Second)
	get()
	if n := counter.reloads.Load(); n != 2 {
		t.Fatalf("after the TTL: %d reloads in total, want 2", n)
	}
}

func TestLoaderGivesUpWhenCallerContextEnds(t *testing.T) {
	f := newFixture(t)
	f.putTree(t, minimalParams())
	f.putSecret(t, mustJSON(t, fullSecret()))
	ctx, cancel := context.WithCancel(f.ctx)
	cancel()
	if _, err := f.loader(nil).Get(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Get with a cancelled context: %v", err)
	}
}

func TestLoaderLogsWhatItLoaded(t *testing.T) {
	f := newFixture(t)
	f.putTree(t, minimalParams())
	f.put(t, "poller/concurency", "4", "") // a typo: warned about, not fatal
	version := f.putSecret(t, mustJSON(t, fullSecret()))
	l := f.loader(nil)
	if _, err := l.Get(f.ctx); err != nil {
		t.Fatalf("Get: %v", err)
	}
	var loaded, warned map[string]any
	for line := range strings.SplitSeq(strings.TrimSpace(f.logs.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line not JSON: %s", line)
		}
		switch m["msg"] {
		case "configuration loaded":
			loaded = m
		case "configuration warning":
			warned = m
		}
	}
	if loaded["credentials_id"] != f.secretID || loaded["credentials_version"] != version || loaded["ssm_prefix"] != f.prefix {
		t.Errorf("load line lacks prefix, secret name or version: %v", loaded)
	}
	if p, _ := warned["problem"].(string); !strings.Contains(p, f.prefix+"poller/concurency is not a known setting") {
		t.Errorf("unknown parameter not warned about: %v", warned)
	}

	// The same warning is not repeated on every reload.
	f.clock.Advance(61 * time.Second)
	if _, err := l.Get(f.ctx); err != nil {
		t.Fatalf("Get: %v", err)
	}
	if n := strings.Count(f.logs.String(), "configuration warning"); n != 1 {
		t.Errorf("warning logged %d times over two loads, want once", n)
	}
}
