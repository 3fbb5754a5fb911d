package config

import (
	"encoding/json"
	"errors"
	"log/slog"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/oncallgate/oncallgate/internal/core"
)

// Secret values used across the tests; none may ever show up in an error,
// a log line or a printed Config.
const (
	identityValue  = "IDENTITY-SENTINEL-7f3a"
	pdKeyValue     = "PDKEY-SENTINEL-91c2"
	pdHookValue    = "PDHOOK-SENTINEL-5d0e"
	pdSign1Value   = "PDSIGN1-SENTINEL-aa11"
	pdSign2Value   = "PDSIGN2-SENTINEL-bb22"
	ogKeyValue     = "OGKEY-SENTINEL-33cc"
	ogHookValue    = "OGHOOK-SENTINEL-44dd"
	jsmKeyValue    = "JSMKEY-SENTINEL-55ee"
	jsmTokenValue  = "JSMTOKEN-SENTINEL-66ff"
	jsmHookValue   = "JSMHOOK-SENTINEL-7788"
	sentinelMarker = "SENTINEL"
)

// minimalParams enables every provider with only the required parameters.
func minimalParams() map[string]string {
	return map[string]string{
		"teleport/address":     "teleport.example.com:443",
		"providers":            "pagerduty,opsgenie,jsm",
		"pagerduty/from_email": "oncall-bot@example.com",
		"jsm/cloud_id":         "0f6c3e4e-1b2a-4c5d-9e8f-123456789abc",
		"jsm/user_email":       "jsm-bot@example.com",
	}
}

// fullSecret holds every key.
func fullSecret() map[string]any {
	return map[string]any{
		"teleport_identity":         identityValue,
		"pagerduty_api_key":         pdKeyValue,
		"pagerduty_webhook_secret":  pdHookValue,
		"pagerduty_signing_secrets": pdSign1Value + ", " + pdSign2Value,
		"opsgenie_api_key":          ogKeyValue,
		"opsgenie_webhook_secret":   ogHookValue,
		"jsm_api_key":               jsmKeyValue,
		"jsm_api_token":             jsmTokenValue,
		"jsm_webhook_secret":        jsmHookValue,
	}
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseAppliesDocumentedDefaults(t *testing.T) {
	cfg, err := Parse(minimalParams(), mustJSON(t, fullSecret()))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	want := &Config{
		Prefix:    "/oncallgate/",
		Providers: []core.Provider{core.PagerDuty, core.Opsgenie, core.JSM},
		Teleport:  TeleportConfig{Address: "teleport.example.com:443"},
		PagerDuty: PagerDutyConfig{
			APIURL: "https://api.pagerduty.com", FromEmail: "oncall-bot@example.com", Urgency: "high",
			AutoApproval: core.ApprovalPolicy{Enabled: true, RequireActiveIncident: true},
		},
		Opsgenie: OpsgenieConfig{
			APIURL: "https://api.opsgenie.com", Priority: "P3", Tags: []string{"TeleportAccessRequest"},
			AutoApproval: core.ApprovalPolicy{Enabled: true},
		},
		JSM: JSMConfig{
			APIURL: "https://api.atlassian.com", CloudID: "0f6c3e4e-1b2a-4c5d-9e8f-123456789abc", UserEmail: "jsm-bot@example.com",
			Priority: "P3", Tags: []string{"TeleportAccessRequest"}, AutoApproval: core.ApprovalPolicy{Enabled: true},
		},
		Poller:    core.PollSettings{Concurrency: 8, ClaimLease: 2 * time.Minute, DeadlineMargin: 10 * time.Second},
		Reconcile: ReconcileConfig{ReopenClosed: true, Retention: 720 * time.Hour},
		Webhook:   WebhookConfig{RequireOnCall: true, DeliveryTTL: 72 * time.Hour},
		LogLevel:  slog.LevelInfo,
		TTL:       60 * time.Second,
		SecretID:  "oncallgate",
		Secrets: Secrets{
			TeleportIdentity: identityValue, PagerDutyAPIKey: pdKeyValue, PagerDutyWebhookSecret: pdHookValue,
			PagerDutySigningSecrets: []string{pdSign1Value, pdSign2Value}, OpsgenieAPIKey: ogKeyValue,
			OpsgenieWebhookSecret: ogHookValue, JSMAPIKey: jsmKeyValue, JSMAPIToken: jsmTokenValue, JSMWebhookSecret: jsmHookValue,
		},
	}
	if !reflect.DeepEqual(cfg, want) {
		t.Fatalf("Parse with defaults:\n got %+v\nwant %+v", *cfg, *want)
	}
	if !cfg.Enabled(core.PagerDuty) || !cfg.Enabled(core.JSM) {
		t.Error("Enabled is false for a configured provider")
	}
}

func TestParseNormalizesValues(t *testing.T) {
	params := minimalParams()
	for k, v := range map[string]string{
		"providers":                             " PagerDuty , ,opsgenie,pagerduty,",
		"teleport/proxy_web_address":            "https://teleport.example.com/",
		"opsgenie/api_url":                      "EU",
		"opsgenie/priority":                     "p1",
		"opsgenie/tags":                         " a, ,b ,",
		"jsm/api_url":                           "http://127.0.0.1:8080/",
		"pagerduty/urgency":                     "LOW",
		"pagerduty/auto_approval/allowed_roles": "dev, ,prod-admin,",
		"pagerduty/auto_approval/enabled":       "FALSE",
		"pagerduty/auto_approval/dry_run":       "1",
		"webhook/approvers":                     "Alice@Example.com, bob@example.com,alice@example.com",
		"log_level":                             "WARNING",
		"poller/deadline_margin":                "0s",
		"poller/watch_window":                   "1m",
	} {
		params[k] = v
	}
	secret := fullSecret()
	secret["pagerduty_signing_secrets"] = []string{" " + pdSign1Value, "", pdSign2Value}
	cfg, err := Parse(params, mustJSON(t, secret))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"providers deduplicated, case folded", cfg.Providers, []core.Provider{core.PagerDuty, core.Opsgenie}},
		{"jsm disabled", cfg.Enabled(core.JSM), false},
		{"proxy web address trailing slash", cfg.Teleport.ProxyWebAddress, "https://teleport.example.com"},
		{"opsgenie eu shortcut", cfg.Opsgenie.APIURL, "https://api.eu.opsgenie.com"},
		{"priority upper-cased", cfg.Opsgenie.Priority, "P1"},
		{"tags trimmed, empties dropped", cfg.Opsgenie.Tags, []string{"a", "b"}},
		{"api url trailing slash", cfg.JSM.APIURL, "http://127.0.0.1:8080"},
		{"urgency lower-cased", cfg.PagerDuty.Urgency, "low"},
		{"allowed roles list", cfg.PagerDuty.AutoApproval.AllowedRoles, []string{"dev", "prod-admin"}},
		{"bool upper case", cfg.PagerDuty.AutoApproval.Enabled, false},
		{"bool 1", cfg.PagerDuty.AutoApproval.DryRun, true},
		{"approvers lower-cased and deduplicated", cfg.Webhook.Approvers, []string{"alice@example.com", "bob@example.com"}},
		{"log level warning", cfg.LogLevel, slog.LevelWarn},
		{"zero deadline margin allowed", cfg.Poller.DeadlineMargin, time.Duration(0)},
		{"watch window", cfg.Poller.WatchWindow, time.Minute},
		{"signing secrets array", cfg.Secrets.PagerDutySigningSecrets, []string{pdSign1Value, pdSign2Value}},
		{"policies of enabled providers", len(cfg.Policies()), 2},
		{"webhook settings", cfg.Webhook.Settings().Approvers, []string{"alice@example.com", "bob@example.com"}},
	}
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			if !reflect.DeepEqual(c.got, c.want) {
				t.Fatalf("got %#v, want %#v", c.got, c.want)
			}
		})
	}
}

// problemCase is one broken configuration and the texts its error must
// contain.
type problemCase struct {
	name   string
	set    map[string]string // parameters to set ("" deletes)
	secret func(map[string]any)
	raw    []byte // raw secret document instead of fullSecret
	want   []string
}

func problemCases() []problemCase {
	del := func(keys ...string) func(map[string]any) {
		return func(m map[string]any) {
			for _, k := range keys {
				delete(m, k)
			}
		}
	}
	return []problemCase{
		{name: "missing teleport address", set: map[string]string{"teleport/address": ""},
			want: []string{"parameter /oncallgate/teleport/address: is required but not set"}},
		{name: "watch window longer than a Lambda runs", set: map[string]string{"poller/watch_window": "16m"},
			want: []string{`parameter /oncallgate/poller/watch_window: want at most 15m (the longest a Lambda function runs), got "16m"`}},
		{name: "negative watch window", set: map[string]string{"poller/watch_window": "-1s"},
			want: []string{`parameter /oncallgate/poller/watch_window: want a duration`}},
		{name: "missing providers", set: map[string]string{"providers": ""},
			want: []string{"parameter /oncallgate/providers: is required but not set"}},
		{name: "missing pagerduty from_email", set: map[string]string{"pagerduty/from_email": ""},
			want: []string{"parameter /oncallgate/pagerduty/from_email: is required when pagerduty is enabled"}},
		{name: "missing jsm cloud_id", set: map[string]string{"jsm/cloud_id": ""},
			want: []string{"parameter /oncallgate/jsm/cloud_id: is required when jsm is enabled"}},
		{name: "missing jsm user_email", set: map[string]string{"jsm/user_email": "  "},
			want: []string{"parameter /oncallgate/jsm/user_email: is required when jsm is enabled"}},
		{name: "teleport address without port", set: map[string]string{"teleport/address": "teleport.example.com"},
			want: []string{`parameter /oncallgate/teleport/address: want host:port`, `got "teleport.example.com"`}},
		{name: "teleport address bad port", set: map[string]string{"teleport/address": "teleport.example.com:http"},
			want: []string{`parameter /oncallgate/teleport/address: want host:port`}},
		{name: "proxy web address not a url", set: map[string]string{"teleport/proxy_web_address": "ftp://teleport.example.com"},
			want: []string{`parameter /oncallgate/teleport/proxy_web_address: want host[:port] or an https URL`}},
		{name: "unknown provider", set: map[string]string{"providers": "pagerduty,victorops"},
			want: []string{`parameter /oncallgate/providers: want pagerduty, opsgenie or jsm, got unknown provider "victorops"`}},
		{name: "providers only commas", set: map[string]string{"providers": ", ,"},
			want: []string{`parameter /oncallgate/providers: want at least one of pagerduty, opsgenie, jsm`}},
		{name: "bad from_email", set: map[string]string{"pagerduty/from_email": "Oncall Bot <bot@example.com>"},
			want: []string{`parameter /oncallgate/pagerduty/from_email: want an email address`}},
		{name: "bad jsm user_email", set: map[string]string{"jsm/user_email": "jsm-bot"},
			want: []string{`parameter /oncallgate/jsm/user_email: want an email address`, `got "jsm-bot"`}},
		{name: "api url not http", set: map[string]string{"pagerduty/api_url": "ftp://api.pagerduty.com"},
			want: []string{`parameter /oncallgate/pagerduty/api_url: want an http or https URL, got "ftp://api.pagerduty.com"`}},
		{name: "opsgenie api url unknown shortcut", set: map[string]string{"opsgenie/api_url": "apac"},
			want: []string{`parameter /oncallgate/opsgenie/api_url: want an http or https URL or one of eu, us, got "apac"`}},
		{name: "jsm api url without host", set: map[string]string{"jsm/api_url": "https://"},
			want: []string{`parameter /oncallgate/jsm/api_url: want an http or https URL`}},
		{name: "bad urgency", set: map[string]string{"pagerduty/urgency": "critical"},
			want: []string{`parameter /oncallgate/pagerduty/urgency: want high or low, got "critical"`}},
		{name: "bad opsgenie priority", set: map[string]string{"opsgenie/priority": "P6"},
			want: []string{`parameter /oncallgate/opsgenie/priority: want a priority P1, P2, P3, P4 or P5, got "P6"`}},
		{name: "bad jsm priority", set: map[string]string{"jsm/priority": "high"},
			want: []string{`parameter /oncallgate/jsm/priority: want a priority`}},
		{name: "too many tags", set: map[string]string{"opsgenie/tags": strings.Repeat("t,", 21) + "t"},
			want: []string{`parameter /oncallgate/opsgenie/tags: want at most 20 tags`}},
		{name: "bad cloud id", set: map[string]string{"jsm/cloud_id": "../admin"},
			want: []string{`parameter /oncallgate/jsm/cloud_id: want an Atlassian cloud ID`}},
		{name: "bad bool", set: map[string]string{"pagerduty/auto_approval/enabled": "yes please"},
			want: []string{`parameter /oncallgate/pagerduty/auto_approval/enabled: want true or false, got "yes please"`}},
		{name: "bad dry_run bool", set: map[string]string{"jsm/auto_approval/dry_run": "maybe"},
			want: []string{`parameter /oncallgate/jsm/auto_approval/dry_run: want true or false, got "maybe"`}},
		{name: "concurrency not a number", set: map[string]string{"poller/concurrency": "abc"},
			want: []string{`parameter /oncallgate/poller/concurrency: want a whole number ≥ 1, got "abc"`}},
		{name: "concurrency zero", set: map[string]string{"poller/concurrency": "0"},
			want: []string{`parameter /oncallgate/poller/concurrency: want a whole number ≥ 1, got "0"`}},
		{name: "negative escalation level", set: map[string]string{"pagerduty/auto_approval/max_escalation_level": "-1"},
			want: []string{`parameter /oncallgate/pagerduty/auto_approval/max_escalation_level: want a whole number ≥ 0, got "-1"`}},
		{name: "bad duration", set: map[string]string{"poller/claim_lease": "2 minutes"},
			want: []string{`parameter /oncallgate/poller/claim_lease: want a duration such as 90s, 2m or 720h, got "2 minutes"`}},
		{name: "zero retention", set: map[string]string{"reconcile/retention": "0"},
			want: []string{`parameter /oncallgate/reconcile/retention: want a duration greater than zero`}},
		{name: "negative deadline margin", set: map[string]string{"poller/deadline_margin": "-5s"},
			want: []string{`parameter /oncallgate/poller/deadline_margin: want a duration`}},
		{name: "bad config ttl", set: map[string]string{"config_ttl": "soon"},
			want: []string{`parameter /oncallgate/config_ttl: want a duration`}},
		{name: "bad delivery ttl", set: map[string]string{"webhook/delivery_ttl": "3d"},
			want: []string{`parameter /oncallgate/webhook/delivery_ttl: want a duration`}},
		{name: "bad approver", set: map[string]string{"webhook/approvers": "alice@example.com,bob"},
			want: []string{`parameter /oncallgate/webhook/approvers: want comma-separated email addresses, got "bob"`}},
		{name: "bad require_on_call", set: map[string]string{"webhook/require_on_call": "sometimes"},
			want: []string{`parameter /oncallgate/webhook/require_on_call: want true or false`}},
		{name: "bad reopen_closed", set: map[string]string{"reconcile/reopen_closed": "2"},
			want: []string{`parameter /oncallgate/reconcile/reopen_closed: want true or false`}},
		{name: "bad log level", set: map[string]string{"log_level": "verbose"},
			want: []string{`parameter /oncallgate/log_level: want debug, info, warn or error, got "verbose"`}},
		{name: "missing teleport identity", secret: del("teleport_identity"),
			want: []string{"secret oncallgate: key teleport_identity is missing"}},
		{name: "missing pagerduty api key", secret: del("pagerduty_api_key"),
			want: []string{"secret oncallgate: key pagerduty_api_key is missing"}},
		{name: "missing opsgenie api key", secret: del("opsgenie_api_key"),
			want: []string{"secret oncallgate: key opsgenie_api_key is missing"}},
		{name: "missing jsm keys", secret: del("jsm_api_key", "jsm_api_token"),
			want: []string{"secret oncallgate: key jsm_api_key is missing", "secret oncallgate: key jsm_api_token is missing"}},
		{name: "empty pagerduty api key", secret: func(m map[string]any) { m["pagerduty_api_key"] = "  " },
			want: []string{"secret oncallgate: key pagerduty_api_key is empty"}},
		{name: "identity not a string", secret: func(m map[string]any) { m["teleport_identity"] = map[string]string{"cert": identityValue} },
			want: []string{"secret oncallgate: key teleport_identity is not a JSON string"}},
		{name: "signing secrets wrong type", secret: func(m map[string]any) { m["pagerduty_signing_secrets"] = map[string]string{"a": pdSign1Value} },
			want: []string{"secret oncallgate: key pagerduty_signing_secrets is neither a JSON string nor an array of strings"}},
		{name: "secret not json", raw: []byte("teleport_identity=" + identityValue),
			want: []string{"secret oncallgate: is not a JSON object"}},
		{name: "secret json array", raw: []byte(`["` + identityValue + `"]`),
			want: []string{"secret oncallgate: is not a JSON object"}},
		{name: "secret empty", raw: []byte(" "),
			want: []string{"secret oncallgate: is empty"}},
		{name: "custom secret id named", set: map[string]string{"secret_id": "prod/oncallgate"}, secret: del("teleport_identity"),
			want: []string{"secret prod/oncallgate: key teleport_identity is missing"}},
		{name: "several problems reported together",
			set:    map[string]string{"teleport/address": "", "poller/concurrency": "abc", "log_level": "loud", "providers": "pagerduty"},
			secret: del("pagerduty_api_key"),
			want: []string{
				"parameter /oncallgate/teleport/address: is required",
				`parameter /oncallgate/poller/concurrency: want a whole number ≥ 1, got "abc"`,
				`parameter /oncallgate/log_level: want debug`,
				"secret oncallgate: key pagerduty_api_key is missing",
			}},
	}
}

// build applies a case to the minimal valid configuration.
func (c problemCase) build(t testing.TB) (map[string]string, []byte) {
	params := minimalParams()
	for k, v := range c.set {
		if v == "" {
			delete(params, k)
		} else {
			params[k] = v
		}
	}
	if c.raw != nil {
		return params, c.raw
	}
	secret := fullSecret()
	if c.secret != nil {
		c.secret(secret)
	}
	return params, mustJSON(t, secret)
}

// checkProblem asserts err reports every wanted problem, is classified
// invalid, and leaks no secret.
func checkProblem(t *testing.T, err error, want []string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want %q", want)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error does not contain %q:\n%v", w, err)
		}
	}
	if !errors.Is(err, core.ErrInvalid) {
		t.Errorf("error does not match core.ErrInvalid: %v", err)
	}
	if strings.Contains(err.Error(), sentinelMarker) {
		t.Errorf("error text leaks a secret value:\n%v", err)
	}
}

func TestParseReportsEveryProblemByName(t *testing.T) {
	for _, c := range problemCases() {
		t.Run(c.name, func(t *testing.T) {
			params, secret := c.build(t)
			cfg, err := Parse(params, secret)
			if cfg != nil {
				t.Errorf("Parse returned a config along with the error")
			}
			checkProblem(t, err, c.want)
		})
	}
}

func TestParseErrorsAreTyped(t *testing.T) {
	params := minimalParams()
	params["poller/concurrency"] = "abc"
	secret := fullSecret()
	delete(secret, "pagerduty_api_key")
	_, err := Parse(params, mustJSON(t, secret))
	var pe *ParameterError
	if !errors.As(err, &pe) || pe.Path != "/oncallgate/poller/concurrency" {
		t.Errorf("errors.As ParameterError: %#v", pe)
	}
	var se *SecretError
	if !errors.As(err, &se) || se.Key != "pagerduty_api_key" || se.SecretID != "oncallgate" {
		t.Errorf("errors.As SecretError: %#v", se)
	}
}

func TestParseUnderNamesFullPath(t *testing.T) {
	params := minimalParams()
	params["poller/concurrency"] = "abc"
	_, err := ParseUnder("team-a/oncallgate", params, mustJSON(t, fullSecret()))
	checkProblem(t, err, []string{`parameter /team-a/oncallgate/poller/concurrency: want a whole number ≥ 1, got "abc"`})
}

func TestParseHidesSecureStringValues(t *testing.T) {
	params := minimalParams()
	params["pagerduty/from_email"] = "not-an-email-" + sentinelMarker
	_, err := parse(DefaultPrefix, params, map[string]bool{"pagerduty/from_email": true}, mustJSON(t, fullSecret()))
	checkProblem(t, err, []string{"parameter /oncallgate/pagerduty/from_email: want an email address", "a SecureString value (not shown)"})
}

func TestParseOnlyRequiresWhatEnabledProvidersNeed(t *testing.T) {
	params := map[string]string{"teleport/address": "teleport.example.com:3025", "providers": "opsgenie"}
	secret := map[string]any{"teleport_identity": identityValue, "opsgenie_api_key": ogKeyValue}
	cfg, err := Parse(params, mustJSON(t, secret))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if cfg.Enabled(core.PagerDuty) || cfg.Enabled(core.JSM) || !cfg.Enabled(core.Opsgenie) {
		t.Fatalf("providers = %v", cfg.Providers)
	}
}

func TestParseWarnsAboutUnknownNames(t *testing.T) {
	params := minimalParams()
	params["poller/concurency"] = "4"
	secret := fullSecret()
	secret["pagerduty_apikey"] = pdKeyValue
	cfg, err := Parse(params, mustJSON(t, secret))
	if err != nil {
		t.Fatalf("unknown names must not be errors: %v", err)
	}
	joined := strings.Join(cfg.Warnings, "\n")
	for _, w := range []string{"parameter /oncallgate/poller/concurency is not a known setting", "secret oncallgate: key pagerduty_apikey is not a known setting"} {
		if !strings.Contains(joined, w) {
			t.Errorf("warnings %q do not contain %q", cfg.Warnings, w)
		}
	}
	if strings.Contains(joined, sentinelMarker) {
		t.Errorf("warnings leak a secret: %q", cfg.Warnings)
	}
}

func TestNormalizePrefix(t *testing.T) {
	for in, want := range map[string]string{"": "/oncallgate/", "oncallgate": "/oncallgate/", "/a/b": "/a/b/", "/a/b/": "/a/b/", " /x// ": "/x/", "/": "/"} {
		if got := normalizePrefix(in); got != want {
			t.Errorf("normalizePrefix(%q) = %q, want %q", in, got, want)
		}
	}
}
