package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/oncallgate/oncallgate/internal/opsgenie/opsgenietest"
	"github.com/oncallgate/oncallgate/internal/teleport/teleporttest"
	"github.com/oncallgate/oncallgate/internal/testenv"
)

// awsEnv points the default AWS configuration chain at moto, with dummy
// credentials and no shared files.
func awsEnv(t *testing.T, m *testenv.Moto) {
	t.Helper()
	dir := t.TempDir()
	for k, v := range map[string]string{
		"AWS_ENDPOINT_URL":            m.Endpoint,
		"AWS_ACCESS_KEY_ID":           "testing",
		"AWS_SECRET_ACCESS_KEY":       "testing",
		"AWS_SESSION_TOKEN":           "",
		"AWS_REGION":                  testenv.Region,
		"AWS_PROFILE":                 "",
		"AWS_CONFIG_FILE":             filepath.Join(dir, "config"),
		"AWS_SHARED_CREDENTIALS_FILE": filepath.Join(dir, "credentials"),
		"AWS_EC2_METADATA_DISABLED":   "true",
		"ONCALLGATE_TABLE":            "",
	} {
		t.Setenv(k, v)
	}
}

// checkWorld is a test environment with the PagerDuty service and the
// Opsgenie schedule the checks look up.
func checkWorld(t *testing.T, opts ...testenv.EnvOption) *testenv.Env {
	t.Helper()
	e := testenv.NewEnv(t, append([]testenv.EnvOption{testenv.WithOpsgenie()}, opts...)...)
	e.PD.AddService("Teleport Notifications")
	e.OG.AddSchedule("Primary", "bob@example.com")
	awsEnv(t, e.Moto)
	return e
}

// writeLocalConfig writes a local file with the configuration WriteConfig
// would store for e, changed by params and secret ("" deletes).
func writeLocalConfig(t *testing.T, e *testenv.Env, table string, params, secret map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "identity"), []byte(e.Identity()), 0o600); err != nil {
		t.Fatal(err)
	}
	p := map[string]any{
		"teleport/address":           e.Teleport.Addr(),
		"teleport/proxy_web_address": "teleport.example.com",
		"providers":                  []string{"pagerduty"},
		"pagerduty/api_url":          e.PD.URL(),
		"pagerduty/from_email":       testenv.FromEmail,
		"config_ttl":                 "1s",
	}
	s := map[string]any{
		"teleport_identity_file":   "identity",
		"pagerduty_api_key":        e.PD.APIKey(),
		"pagerduty_webhook_secret": "pd-webhook-secret",
	}
	if e.OG != nil {
		p["providers"] = []string{"pagerduty", "opsgenie"}
		p["opsgenie/api_url"] = e.OG.URL
		s["opsgenie_api_key"] = opsgenietest.DefaultAPIKey
	}
	for k, v := range params {
		if v == "" {
			delete(p, k)
		} else {
			p[k] = v
		}
	}
	for k, v := range secret {
		if v == "" {
			delete(s, k)
		} else {
			s[k] = v
		}
	}
	doc := map[string]any{"table": table, "parameters": p, "secret": s,
		"check": map[string]any{"services": []string{"Teleport Notifications"}, "schedules": []string{"Primary"}}}
	raw, err := yaml.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "oncallgate.local.yaml")
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestCheckNamesEachFailure(t *testing.T) {
	e := checkWorld(t)
	identityOf := func(user string, a teleporttest.Access) string {
		e.Teleport.SetAccess(user, a)
		return e.Teleport.IdentityFile(t, user, time.Hour)
	}
	tests := []struct {
		name   string
		params map[string]string
		secret map[string]string
		file   bool     // a local file instead of SSM
		args   []string // besides --prefix/--config and --table
		code   int
		want   []string // lines (or parts of lines) expected in the output
	}{
		{
			name: "everything answers",
			args: []string{"--services", "Teleport Notifications", "--schedules", "Primary"},
			code: exitOK,
			want: []string{
				"PASS  config     configuration from SSM below /oncallgate-test-",
				"PASS  teleport   connected to " + e.Teleport.Addr() + ": cluster sandbox.example.com, Teleport 17.4.2",
				"PASS  teleport   can list access requests",
				"PASS  teleport   can submit reviews",
				"PASS  pagerduty  API key accepted",
				"PASS  pagerduty  From user oncallgate@example.com exists",
				`PASS  pagerduty  service "Teleport Notifications" found`,
				"PASS  opsgenie   API key accepted",
				`PASS  opsgenie   schedule "Primary" found (on call now: bob@example.com)`,
				"PASS  store      table " + e.Table + " answers",
				"All 10 checks passed.",
			},
		},
		{
			name: "everything answers, from a local file",
			file: true,
			code: exitOK,
			want: []string{
				"PASS  config     configuration from config file ",
				"PASS  teleport   can submit reviews",
				`PASS  pagerduty  service "Teleport Notifications" found`,
				`PASS  opsgenie   schedule "Primary" found`,
				"PASS  store      table " + e.Table + " answers",
				"All 10 checks passed.",
			},
		},
		{
			name:   "wrong pagerduty key",
			secret: map[string]string{"pagerduty_api_key": "not-the-key"},
			args:   []string{"--services", "Teleport Notifications"},
			code:   exitFailure,
			want: []string{
				"FAIL  pagerduty  API key rejected by " + e.PD.URL(),
				"SKIP  pagerduty  From user and services: no valid API key",
				"PASS  teleport   can submit reviews",
				"1 of ",
			},
		},
		{
			name:   "wrong pagerduty key, from a local file",
			file:   true,
			secret: map[string]string{"pagerduty_api_key": "not-the-key"},
			code:   exitFailure,
			want:   []string{"FAIL  pagerduty  API key rejected by "},
		},
		{
			name: "a service that does not exist",
			args: []string{"--services", "Teleport Notifications, Billing"},
			code: exitFailure,
			want: []string{
				`PASS  pagerduty  service "Teleport Notifications" found`,
				`FAIL  pagerduty  service "Billing" not found`,
				"1 of 10 checks failed.",
			},
		},
		{
			name:   "from user that does not exist",
			params: map[string]string{"pagerduty/from_email": "ghost@example.com"},
			code:   exitFailure,
			want: []string{
				"PASS  pagerduty  API key accepted",
				"FAIL  pagerduty  From user: no PagerDuty user has the email ghost@example.com",
			},
		},
		{
			name:   "plugin role without review rights",
			secret: map[string]string{"teleport_identity": identityOf("reviewless", teleporttest.Access{List: true})},
			code:   exitFailure,
			want: []string{
				"PASS  teleport   can list access requests",
				"FAIL  teleport   cannot submit reviews: ",
				"review_requests",
			},
		},
		{
			name:   "plugin role without access_request rights",
			secret: map[string]string{"teleport_identity": identityOf("blind", teleporttest.Access{Review: true})},
			code:   exitFailure,
			want:   []string{"FAIL  teleport   cannot list access requests: the plugin role needs the rule access_request: list, read"},
		},
		{
			name: "a schedule that does not exist",
			args: []string{"--schedules", "Primary,Nope"},
			code: exitFailure,
			want: []string{`PASS  opsgenie   schedule "Primary" found`, `FAIL  opsgenie   schedule "Nope" not found`},
		},
		{
			name:   "wrong opsgenie key",
			secret: map[string]string{"opsgenie_api_key": "not-the-key"},
			args:   []string{"--schedules", "Primary"},
			code:   exitFailure,
			want:   []string{"FAIL  opsgenie   API key rejected", "SKIP  opsgenie   schedules: no valid API key"},
		},
		{
			name: "a table that does not exist",
			args: []string{"--table", "no-such-table"},
			code: exitFailure,
			want: []string{"FAIL  store      table no-such-table does not exist"},
		},
		{
			name:   "an invalid configuration",
			params: map[string]string{"teleport/address": "", "pagerduty/urgency": "whenever"},
			code:   exitFailure,
			want:   []string{"FAIL  config     load the configuration from SSM below", "teleport/address: is required but not set", "pagerduty/urgency"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var args []string
			if tt.file {
				args = []string{"check", "--config", writeLocalConfig(t, e, e.Table, tt.params, tt.secret), "--dynamodb-endpoint", e.Moto.Endpoint}
			} else {
				args = []string{"check", "--prefix", e.WriteConfig(tt.params, tt.secret), "--table", e.Table}
			}
			code, out, errOut := runCLI(t, append(args, tt.args...)...)
			if code != tt.code {
				t.Errorf("exit %d, want %d", code, tt.code)
			}
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q", w)
				}
			}
			for _, secret := range []string{e.PD.APIKey(), opsgenietest.DefaultAPIKey, "BEGIN"} {
				if strings.Contains(out+errOut, secret) {
					t.Errorf("output shows secret material %q", secret)
				}
			}
			if t.Failed() {
				t.Logf("output:\n%s%s", out, errOut)
			}
		})
	}
}

func TestCheckSaysCommunityEditionNeedsEnterprise(t *testing.T) {
	e := checkWorld(t, testenv.WithTeleport(teleporttest.Community()))
	code, out, _ := runCLI(t, "check", "--prefix", e.WriteConfig(nil, nil), "--table", e.Table)
	if code != exitFailure {
		t.Errorf("exit %d, want %d", code, exitFailure)
	}
	for _, w := range []string{"PASS  teleport   can list access requests", "FAIL  teleport   cannot submit reviews: needs Teleport Enterprise"} {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks %q:\n%s", w, out)
		}
	}
}
